"""Ids and paths from data files never lead a reader or fetcher outside the named folders.

Every reader and fetcher gets hostile names (``../../x``, absolute paths, ``..``,
symlinks leading out): each is refused with a one-line message naming the data file
and the row, and a sentinel file outside the output folder is neither created,
changed nor deleted.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyimagesearch.datatools.coco_backgrounds import fetch_coco_backgrounds
from pyimagesearch.datatools.download import (
    DownloadOptions,
    DownloadTask,
    download_files,
    read_manifest,
)
from pyimagesearch.datatools.openimages import (
    OpenImagesFiles,
    SubsetSpec,
    build_subset,
    read_image_sources,
)
from pyimagesearch.infrastructure.errors import AnnotationError, UnsafePathError
from pyimagesearch.io.safe_paths import (
    check_relative,
    is_inside,
    safe_child,
    safe_file_name,
    safe_id,
)
from pyimagesearch.sources.export import write_yolo_txt
from pyimagesearch.sources.formats import read_coco, read_dlib_xml, read_voc, read_yolo

from .conftest import DATASETS, ROOT, annotation_options
from .sources.test_download import MirrorServer

META = DATASETS / "openimages"
COCO_JPGS = sorted((DATASETS / "coco_tiny/images/train2017").glob("*.jpg"))
CAR = "/m/0k4j"
HOSTILE = ["../../victim", "../victim", "/abs/victim", "..", "a/../../victim", "..\\victim"]


# ---- helpers -------------------------------------------------------------------------


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple[bytes, int]]:
    """Content and mtime of every file under ``root`` (except under ``skip``)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(root))] = (path.read_bytes(), path.stat().st_mtime_ns)
    return out


@pytest.fixture
def sentinel(tmp_path):
    """A real JPEG outside every folder the tools are given: it must never change."""
    path = tmp_path / "victim.jpg"
    shutil.copyfile(COCO_JPGS[0], path)
    return path


def assert_one_line(text: str, *needles: str) -> None:
    """The message is one line, no traceback, and names every needle."""
    assert "Traceback" not in text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# ---- the helper module ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../../x", "/etc/passwd", "..", "a/../../b", "C:\\x", "C:x", "..\\..\\x", "a\0b", ""]
)
def test_unsafe_relative_names_are_refused(tmp_path, name):
    with pytest.raises(UnsafePathError) as err:
        safe_child(tmp_path, name, what="data.csv:7: file")
    assert str(err.value).startswith("data.csv:7: file ")
    assert "refused" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["a.jpg", "sub/a.jpg", "./a.jpg", "a..b.jpg", "...jpg"])
def test_safe_relative_names_are_kept(tmp_path, name):
    assert safe_child(tmp_path, name, what="x") == tmp_path / name
    assert check_relative(name, what="x") == name


@pytest.mark.needs_data
def test_symlink_leading_outside_is_refused(tmp_path, sentinel):
    base = tmp_path / "base"
    base.mkdir()
    (base / "link.jpg").symlink_to(sentinel)
    (base / "dir").symlink_to(tmp_path)
    assert not is_inside(base / "link.jpg", base)
    for name in ("link.jpg", "dir/victim.jpg"):
        with pytest.raises(UnsafePathError, match="resolves outside"):
            safe_child(base, name, what="f.json: image 3")


@pytest.mark.parametrize(
    "value", ["../x", "a/b", ".", "..", "", "a b", "x\0", None, "é", "a" * 201]
)
def test_unsafe_ids_are_refused(value):
    with pytest.raises(UnsafePathError, match=r"^ids\.csv:4: ImageID "):
        safe_id(value, what="ids.csv:4: ImageID")


def test_safe_ids_and_file_names():
    assert safe_id("0a1B-2_c.d", what="x") == "0a1B-2_c.d"
    assert safe_id(123, what="x") == "123"
    assert safe_file_name("a.jpg", what="x") == "a.jpg"
    for name in ("a/b.jpg", "a\\b.jpg", "..", "."):
        with pytest.raises(UnsafePathError):
            safe_file_name(name, what="x")


# ---- Open Images -----------------------------------------------------------------------


def write_openimages(tmp_path: Path, image_id: str, size: int = 1, url: str = "") -> None:
    """A bbox CSV with one Car box in ``image_id`` and an image CSV pointing at ``url``."""
    with open(tmp_path / "bbox.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax"])
        writer.writerow(["good0000000001", CAR, 0.1, 0.9, 0.1, 0.9])
        writer.writerow([image_id, CAR, 0.1, 0.9, 0.1, 0.9])
    md5 = base64.b64encode(hashlib.md5(b"x").digest()).decode()
    with open(tmp_path / "images.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ImageID", "OriginalURL", "OriginalSize", "OriginalMD5"])
        for iid in ("good0000000001", image_id):
            writer.writerow([iid, url or "http://127.0.0.1:9/x.jpg", size, md5])


def run_openimages(tmp_path: Path, out: Path, mode: str = "positives"):
    files = OpenImagesFiles(tmp_path / "bbox.csv", tmp_path / "images.csv",
                            META / "class-descriptions-boxable.csv",
                            META / "bbox_labels_600_hierarchy.json")  # fmt: skip
    options = DownloadOptions(retries=0, backoff=0.0, progress=False)
    return build_subset(SubsetSpec(["Car"], mode=mode), files, out, options)


@pytest.mark.needs_data
@pytest.mark.parametrize("image_id", HOSTILE + [None])
@pytest.mark.parametrize("mode", ["positives", "backgrounds"])
def test_openimages_hostile_image_id_is_refused(tmp_path, sentinel, image_id, mode):
    image_id = str(sentinel.with_suffix("")) if image_id == "/abs/victim" else image_id
    write_openimages(tmp_path, image_id or "")
    before = snapshot(tmp_path)
    with pytest.raises(UnsafePathError) as err:
        run_openimages(tmp_path, tmp_path / "deep/er/out", mode)
    assert_one_line(str(err.value), f"{tmp_path / 'bbox.csv'}:3: ImageID", "refused")
    assert snapshot(tmp_path) == before  # nothing written, changed or deleted anywhere
    assert not (tmp_path / "deep").exists()


def test_openimages_image_csv_row_is_named(tmp_path):
    write_openimages(tmp_path, "../../victim")
    with pytest.raises(UnsafePathError, match=r"images\.csv:3: ImageID '\.\./\.\./victim'"):
        read_image_sources(tmp_path / "images.csv")


@pytest.mark.needs_data
def test_openimages_existing_file_outside_out_is_never_deleted(tmp_path, sentinel):
    """The "existing file fails its checks -> delete" branch: the id that reaches it is refused."""
    out = tmp_path / "a/b/out"
    (out / "images").mkdir(parents=True)
    write_openimages(tmp_path, "../../../../victim", size=7)  # the wrong size would delete
    with pytest.raises(UnsafePathError):
        run_openimages(tmp_path, out)
    assert sentinel.read_bytes() == COCO_JPGS[0].read_bytes()


@pytest.mark.needs_data
def test_openimages_cli_one_line(tmp_path, sentinel):
    write_openimages(tmp_path, str(sentinel.with_suffix("")))
    before = snapshot(tmp_path)
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/openimages_subset.py"), "Car",
         "--bbox-csv", str(tmp_path / "bbox.csv"), "--images-csv", str(tmp_path / "images.csv"),
         "--out", str(tmp_path / "out"), "--class-descriptions",
         str(META / "class-descriptions-boxable.csv"), "--no-progress"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode != 0
    assert_one_line(result.stderr, "bbox.csv:3: ImageID", str(sentinel.with_suffix("")))
    assert snapshot(tmp_path) == before


# ---- the downloader and manifests --------------------------------------------------------


@pytest.mark.needs_data
def test_download_files_refuses_a_destination_outside_root(tmp_path, sentinel):
    out = tmp_path / "out"
    (out / "images").mkdir(parents=True)
    before = snapshot(tmp_path)
    task = DownloadTask("k1", COCO_JPGS[1], out / "images/../../victim.jpg", size=1)
    with pytest.raises(UnsafePathError, match=r"k1: refused: .* outside the output folder"):
        download_files([task], DownloadOptions(workers=1, progress=False), root=out)
    assert snapshot(tmp_path) == before  # the failing existing file was not deleted


@pytest.mark.needs_data
def test_download_files_refuses_a_symlinked_destination(tmp_path, sentinel):
    out = tmp_path / "out"
    (out / "images").mkdir(parents=True)
    (out / "images/x.jpg").symlink_to(sentinel)
    task = DownloadTask("k2", COCO_JPGS[1], out / "images/x.jpg", size=1)
    with pytest.raises(UnsafePathError, match="k2: refused"):
        download_files([task], DownloadOptions(workers=1, progress=False), root=out)
    assert sentinel.read_bytes() == COCO_JPGS[0].read_bytes()


def test_manifest_rows_with_unsafe_names_are_ignored(tmp_path, caplog):
    path = tmp_path / "manifest.csv"
    path.write_text(
        "image_id,file_name,source\n1,ok.jpg,u\n2,../../x.jpg,u\n3,/etc/passwd,u\n4,a/b.jpg,u\n"
    )
    with caplog.at_level(logging.WARNING):
        rows = read_manifest(path)
    assert list(rows) == ["ok.jpg"]
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"{path}:3: file_name '../../x.jpg' refused" in m for m in messages)
    assert any(f"{path}:4: file_name '/etc/passwd' refused" in m for m in messages)
    assert any(f"{path}:5: file_name 'a/b.jpg' refused" in m for m in messages)


# ---- COCO backgrounds ---------------------------------------------------------------------


def write_coco(path: Path, file_names: list[str], url_paths: list[str] | None = None) -> Path:
    """A COCO JSON whose images each hold one 'dog' (so none is excluded by 'person')."""
    images = [
        {"id": i + 1, "file_name": name, "width": 64, "height": 48,
         "coco_url": f"http://images.cocodataset.org/{(url_paths or file_names)[i]}"}
        for i, name in enumerate(file_names)
    ]  # fmt: skip
    anns = [
        {"id": i + 1, "image_id": i + 1, "category_id": 2, "bbox": [1, 1, 5, 5], "area": 25,
         "iscrowd": 0}
        for i in range(len(file_names))
    ]  # fmt: skip
    cats = [{"id": 1, "name": "person", "supercategory": "person"},
            {"id": 2, "name": "dog", "supercategory": "animal"}]  # fmt: skip
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


@pytest.fixture
def coco_dirs(tmp_path):
    """An images folder holding one good image, and an output folder."""
    images = tmp_path / "coco/images"
    images.mkdir(parents=True)
    shutil.copyfile(COCO_JPGS[1], images / "good.jpg")
    return images, tmp_path / "out"


@pytest.mark.needs_data
@pytest.mark.parametrize("hostile", ["../../victim.jpg", "ABS", "..", "sub/../../../victim.jpg"])
def test_coco_images_dir_hostile_file_name_is_refused(tmp_path, sentinel, coco_dirs, hostile):
    images, out = coco_dirs
    hostile = str(sentinel) if hostile == "ABS" else hostile
    ann = write_coco(tmp_path / "ann.json", ["good.jpg", hostile])
    before = snapshot(tmp_path)
    with pytest.raises(UnsafePathError) as err:
        fetch_coco_backgrounds(
            ann, out, exclude=["person"], images_dir=images, options=DownloadOptions(progress=False)
        )
    assert_one_line(str(err.value), f"{ann}: image id 2: file_name", "refused")
    assert snapshot(tmp_path) == before
    assert not out.exists()


@pytest.mark.needs_data
def test_coco_images_dir_symlink_and_url_path_leading_out_are_refused(
    tmp_path, sentinel, coco_dirs
):
    images, out = coco_dirs
    (images / "link.jpg").symlink_to(sentinel)
    ann = write_coco(tmp_path / "ann.json", ["link.jpg"])
    with pytest.raises(UnsafePathError, match=r"ann\.json: image id 1: file_name 'link.jpg'"):
        fetch_coco_backgrounds(
            ann, out, exclude=["person"], images_dir=images, options=DownloadOptions(progress=False)
        )
    ann = write_coco(tmp_path / "ann2.json", ["missing.jpg"], ["x/../../../victim.jpg"])
    with pytest.raises(UnsafePathError, match=r"ann2\.json: image id 1: url"):
        fetch_coco_backgrounds(
            ann, out, exclude=["person"], images_dir=images, options=DownloadOptions(progress=False)
        )
    assert not (out / "images").exists() or not list((out / "images").iterdir())


@pytest.mark.needs_data
@pytest.mark.parametrize("hostile", ["..", "../victim.jpg", "ABS"])
@pytest.mark.slow
def test_coco_base_url_hostile_file_name_leaves_no_part_file(tmp_path, sentinel, hostile):
    hostile = str(sentinel) if hostile == "ABS" else hostile
    ann = write_coco(tmp_path / "ann.json", ["good.jpg", hostile], ["train/good.jpg", "train/x"])
    out = tmp_path / "out"
    before = snapshot(tmp_path)
    with MirrorServer({"/train/good.jpg": COCO_JPGS[1], "/train/x": COCO_JPGS[2]}) as server:
        result = subprocess.run(
            [sys.executable, str(ROOT / "scripts/coco_backgrounds.py"), "--annotations", str(ann),
             "--exclude", "person", "--out", str(out), "--base-url", server.url, "--no-progress"],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
        )  # fmt: skip
        assert server.total() == 0  # refused before any request
    assert result.returncode != 0
    assert_one_line(result.stderr, "ann.json: image id 2: file_name", "refused")
    assert snapshot(tmp_path) == before
    assert not list(tmp_path.rglob("*.part"))


# ---- annotation readers --------------------------------------------------------------------


def voc_xml(filename: str) -> str:
    return (
        f"<annotation><filename>{filename}</filename><object><name>car</name>"
        "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox>"
        "</object></annotation>"
    )


@pytest.fixture
def dataset(tmp_path):
    """images/ with one image, annotations/ empty; the sentinel sits beside them."""
    (tmp_path / "data/images").mkdir(parents=True)
    (tmp_path / "data/annotations").mkdir()
    shutil.copyfile(COCO_JPGS[1], tmp_path / "data/images/ok.jpg")
    return tmp_path / "data/images", tmp_path / "data/annotations"


@pytest.mark.needs_data
@pytest.mark.parametrize("hostile", ["../../victim.jpg", "ABS", "..", "ok.jpg/../../../victim.jpg"])
def test_voc_hostile_filename_is_refused(tmp_path, sentinel, dataset, hostile):
    images, anns = dataset
    hostile = str(sentinel) if hostile == "ABS" else hostile
    (anns / "a.xml").write_text(voc_xml(hostile))
    with pytest.raises(UnsafePathError) as err:
        read_voc(annotation_options("voc-xml", images, anns))
    assert_one_line(str(err.value), f"{anns / 'a.xml'}: <filename>", "refused")


@pytest.mark.needs_data
def test_voc_filename_symlinked_outside_is_refused(tmp_path, sentinel, dataset):
    images, anns = dataset
    (images / "link.jpg").symlink_to(sentinel)
    (anns / "a.xml").write_text(voc_xml("link.jpg"))
    with pytest.raises(UnsafePathError, match=r"a\.xml: <filename> 'link\.jpg' refused: resolves"):
        read_voc(annotation_options("voc-xml", images, anns))


@pytest.mark.needs_data
@pytest.mark.parametrize("hostile", ["../../victim.jpg", "ABS", ".."])
def test_coco_json_reader_hostile_file_name_is_refused(tmp_path, sentinel, dataset, hostile):
    images, _ = dataset
    hostile = str(sentinel) if hostile == "ABS" else hostile
    ann = write_coco(tmp_path / "ann.json", ["ok.jpg", hostile])
    with pytest.raises(UnsafePathError) as err:
        read_coco(annotation_options("coco-json", images, ann))
    assert_one_line(str(err.value), f"{ann}: image id 2: file_name", "refused")


def dlib_xml(file: str) -> str:
    return (
        f"<dataset><images><image file='{file}'>"
        "<box top='1' left='1' width='4' height='4'/></image></images></dataset>"
    )


@pytest.mark.needs_data
@pytest.mark.parametrize("hostile", ["../victim.jpg", "ABS", "..", "images/../../victim.jpg"])
def test_dlib_hostile_file_is_refused(tmp_path, sentinel, dataset, hostile):
    images, anns = dataset
    hostile = str(sentinel) if hostile == "ABS" else hostile
    xml = anns / "boxes.xml"
    xml.write_text(dlib_xml(hostile))
    with pytest.raises(UnsafePathError) as err:
        read_dlib_xml(xml, None, images)
    assert_one_line(str(err.value), f"{xml}: <image file>", "refused")


@pytest.mark.needs_data
def test_dlib_file_symlinked_outside_is_refused(tmp_path, sentinel, dataset):
    images, anns = dataset
    (images / "link.jpg").symlink_to(sentinel)
    xml = anns / "boxes.xml"
    xml.write_text(dlib_xml("link.jpg"))
    with pytest.raises(UnsafePathError, match=r"boxes\.xml: <image file> 'link\.jpg' refused"):
        read_dlib_xml(xml, None, images)
    xml.write_text(dlib_xml("ok.jpg"))  # a plain name beside or in the image folder still works
    assert read_dlib_xml(xml, None, images)[0].path == images / "ok.jpg"


@pytest.mark.needs_data
def test_yolo_label_symlinked_outside_is_refused(tmp_path, dataset):
    images, labels = dataset
    secret = tmp_path / "secret.txt"
    secret.write_text("0 0.5 0.5 0.2 0.2\n")
    (labels / "ok.txt").symlink_to(secret)
    with pytest.raises(AnnotationError, match=r"ok\.txt: label file refused: it resolves outside"):
        read_yolo(annotation_options("yolo-txt", images, labels))


@pytest.mark.needs_data
def test_yolo_export_never_writes_outside_out(tmp_path, sentinel):
    out = tmp_path / "labels"
    out.mkdir()
    (out / "victim.txt").symlink_to(sentinel)
    before = snapshot(tmp_path)
    dets = {"/x/y/victim.jpg": [{"box": [1, 1, 5, 5], "probability": 0.9}]}
    with pytest.raises(UnsafePathError, match=r"detections: image '/x/y/victim\.jpg'"):
        write_yolo_txt(dets, out, {"/x/y/victim.jpg": (10, 10)}, 0)
    assert snapshot(tmp_path) == before
    written = write_yolo_txt({"../../z.jpg": []}, out, {"../../z.jpg": (10, 10)}, 0)
    assert written == [out / "z.txt"] and (out / "z.txt").read_text() == ""


def test_every_reader_module_uses_the_helper():
    """Each module that turns names from data files into paths imports safe_paths."""
    for module in (
        "datatools/openimages",
        "datatools/coco_backgrounds",
        "datatools/download",
        "sources/formats",
        "sources/export",
    ):
        text = (ROOT / "pyimagesearch" / f"{module}.py").read_text()
        assert "safe_paths import" in text, module
    assert os.sep == "/"  # the symlink cases above assume POSIX


# ---- stores: sources recorded in a mining round ------------------------------------------


@pytest.mark.needs_data
def test_review_reads_no_image_outside_the_config_folders(tmp_path, sentinel, monkeypatch, caplog):
    """A store from elsewhere naming an outside image: the review never reads it."""
    import numpy as np

    from pyimagesearch.descriptor.hog import HogParams
    from pyimagesearch.features.store import hard_negative_group, replace_group, write_store
    from pyimagesearch.infrastructure.config import load_config
    from pyimagesearch.report import gallery, review

    from .conftest import SCENES, cars_conf_dict

    conf_path = tmp_path / "conf.json"
    conf_path.write_text(json.dumps(cars_conf_dict(tmp_path, hn_suspect_probability=0.5)))
    conf = load_config(conf_path)
    hog = HogParams.from_config(conf)
    d = hog.descriptor_size((96, 32))
    feats = np.zeros((2, d), np.float32)
    write_store(conf["features_path"], hog, (96, 32), {"positives": {"features": feats}})
    inside = str(sorted((SCENES / "kitchen").glob("*.jpg"))[0])
    replace_group(conf["features_path"], hard_negative_group(1), {
        "features": feats, "source": np.array([str(sentinel), inside]),
        "box": np.array([[0, 0, 96, 32]] * 2, float), "scale": np.ones(2),
        "score": np.array([3.0, 2.0]), "probability": np.array([0.99, 0.98]),
    })  # fmt: skip
    read: list[str] = []
    for module, name in ((gallery, "read_image"), (review, "read_gray")):
        original = getattr(module, name)
        monkeypatch.setattr(
            module, name, lambda p, *a, _f=original: read.append(str(p)) or _f(p, *a)
        )
    with caplog.at_level(logging.WARNING):
        result = review.review_round(conf, 1, tmp_path / "review")
    assert result.n_mined == 1 and read and str(sentinel) not in read
    assert any(
        "1 mined window(s) left out of the review" in r.getMessage()
        and str(sentinel) in r.getMessage()
        for r in caplog.records
    )
