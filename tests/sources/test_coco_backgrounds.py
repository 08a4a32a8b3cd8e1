"""COCO background selection and fetch, end to end against coco_tiny served on 127.0.0.1."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pyimagesearch.datatools.coco_backgrounds import (
    coco_image_url,
    fetch_coco_backgrounds,
    resolve_categories,
    select_backgrounds,
)
from pyimagesearch.datatools.download import DownloadOptions, part_path
from pyimagesearch.io.images import list_images, read_image
from pyimagesearch.sources.coco import CategoryError, load_coco

from ..conftest import DATASETS, ROOT
from .test_download import MirrorServer

DATA = DATASETS.resolve()
COCO = DATA / "coco_tiny"
ANNOTATIONS = COCO / "annotations/instances_train2017.json"
SCRIPT = ROOT / "scripts/coco_backgrounds.py"
EXCLUDE = dict(exclude=["person", "car"], exclude_supercategories=["vehicle"])


def expected_backgrounds(names=("person", "car"), supers=("vehicle",), unannotated=False):
    """Independent selection with plain json and sets (no pycocotools)."""
    data = json.loads(ANNOTATIONS.read_text())
    bad = {
        c["id"] for c in data["categories"] if c["name"] in names or c["supercategory"] in supers
    }
    cats_of: dict[int, set[int]] = {img["id"]: set() for img in data["images"]}
    for ann in data["annotations"]:
        cats_of[ann["image_id"]].add(ann["category_id"])
    return sorted(i for i, cats in cats_of.items() if not cats & bad and (cats or unannotated))


def images_by_id() -> dict[int, dict]:
    return {img["id"]: img for img in json.loads(ANNOTATIONS.read_text())["images"]}


def mirror_files() -> dict[str, Path]:
    """URL path of every coco_url -> the real file in coco_tiny (wherever it is stored)."""
    files = {}
    for img in images_by_id().values():
        (local,) = COCO.glob(f"images/*/{img['file_name']}")
        files[urlsplit(img["coco_url"]).path] = local
    return files


def url_path(img_id: int) -> str:
    return urlsplit(images_by_id()[img_id]["coco_url"]).path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def check_output_folder(out: Path, ids: list[int]) -> None:
    """Every selected image decodes, has an empty label, and a correct manifest row."""
    imgs = images_by_id()
    names = sorted(imgs[i]["file_name"] for i in ids)
    assert sorted(p.name for p in (out / "images").iterdir()) == names
    assert [p.name for p in list_images(out)] == names  # usable as image_distractions
    with open(out / "manifest.csv", newline="") as fh:
        rows = {int(r["image_id"]): r for r in csv.DictReader(fh)}
    assert sorted(rows) == sorted(ids)
    for img_id in ids:
        path = out / "images" / imgs[img_id]["file_name"]
        image = read_image(path)
        assert image.shape[:2] == (imgs[img_id]["height"], imgs[img_id]["width"])
        label = out / "labels" / f"{path.stem}.txt"
        assert label.is_file() and label.stat().st_size == 0
        row = rows[img_id]
        assert int(row["bytes"]) == path.stat().st_size
        assert row["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert (int(row["width"]), int(row["height"])) == (image.shape[1], image.shape[0])
    assert sorted(p.stem for p in (out / "labels").iterdir()) == [Path(n).stem for n in names]


@pytest.fixture(scope="module")
def coco():
    return load_coco(ANNOTATIONS)


@pytest.mark.needs_data
def test_selection_matches_independent_computation(coco):
    expected = expected_backgrounds()
    assert len(expected) == 11
    cats = resolve_categories(coco, ["person", "car"], ["vehicle"])
    assert set(cats.values()) >= {"person", "car", "bus", "train", "truck", "bicycle"}
    ids, n = select_backgrounds(coco, cats)
    assert ids == expected and n == 11
    ids, n = select_backgrounds(coco, cats, include_unannotated=True)
    assert ids == expected_backgrounds(unannotated=True) and len(ids) == 13
    # names alone, supercategory alone
    ids, _ = select_backgrounds(coco, resolve_categories(coco, ["person", "car"]))
    assert ids == expected_backgrounds(supers=())
    ids, _ = select_backgrounds(coco, resolve_categories(coco, supercategories=["vehicle"]))
    assert ids == expected_backgrounds(names=())


@pytest.mark.needs_data
def test_exclusion_is_a_union_not_an_intersection(coco):
    person, car = coco.getCatIds(catNms=["person"]), coco.getCatIds(catNms=["car"])
    both = set(coco.getImgIds(catIds=person + car))  # the pycocotools intersection
    ids, _ = select_backgrounds(coco, person + car)
    either = set(coco.getImgIds(catIds=person)) | set(coco.getImgIds(catIds=car))
    assert both < either and not either & set(ids)


@pytest.mark.needs_data
def test_num_takes_lowest_ids_or_a_seeded_sample(coco):
    cats = resolve_categories(coco, **{"names": ["person", "car"], "supercategories": ["vehicle"]})
    expected = expected_backgrounds()
    assert select_backgrounds(coco, cats, num=3)[0] == expected[:3]
    sample = select_backgrounds(coco, cats, num=4, seed=7)[0]
    assert sample == select_backgrounds(coco, cats, num=4, seed=7)[0]
    assert sample == sorted(sample) and set(sample) <= set(expected) and len(sample) == 4


@pytest.mark.needs_data
def test_misspelled_names_fail_with_close_matches(coco):
    with pytest.raises(CategoryError, match=r"unknown category 'persn' \(did you mean 'person'"):
        resolve_categories(coco, ["persn"])
    with pytest.raises(CategoryError, match=r"valid names: .*airplane"):
        resolve_categories(coco, ["persn"])
    with pytest.raises(CategoryError, match=r"unknown supercategory 'vehicles'.*'vehicle'"):
        resolve_categories(coco, supercategories=["vehicles"])


def test_base_url_replaces_scheme_and_host_only():
    img = {"id": 1, "coco_url": "http://images.cocodataset.org/train2017/000000000001.jpg"}
    assert coco_image_url(img, "http://127.0.0.1:8000/") == (
        "http://127.0.0.1:8000/train2017/000000000001.jpg"
    )
    assert coco_image_url(img, "https://mirror.example/coco") == (
        "https://mirror.example/coco/train2017/000000000001.jpg"
    )
    assert coco_image_url(img) == img["coco_url"]


@pytest.mark.needs_data
def test_cli_end_to_end_and_rerun_downloads_nothing(tmp_path):
    out = tmp_path / "bg"
    expected = expected_backgrounds()
    with MirrorServer(mirror_files()) as server:
        args = ["--annotations", str(ANNOTATIONS), "--exclude", "person", "car",
                "--exclude-supercategory", "vehicle", "--num", "1000", "--out", str(out),
                "--base-url", server.url, "--workers", "4", "--no-progress"]  # fmt: skip
        first = run_cli(*args)
        assert first.returncode == 0, first.stderr
        assert "downloaded: 11" in first.stdout and "failed: 0" in first.stdout
        assert sorted(server.requests) == sorted(url_path(i) for i in expected)
        assert set(server.requests.values()) == {1}
        check_output_folder(out, expected)
        manifest = (out / "manifest.csv").read_text()
        assert f"{server.url}/val2017/" in manifest  # the coco_url path, kept
        second = run_cli(*args)
        assert second.returncode == 0, second.stderr
        assert server.total() == 11  # nothing fetched again
        assert "skipped (already complete): 11" in second.stdout
    check_output_folder(out, expected)


@pytest.mark.needs_data
def test_retried_503_and_discarded_truncated_image(tmp_path):
    expected = expected_backgrounds()
    flaky = [url_path(i) for i in expected[:3]]
    broken_id = expected[5]
    broken = url_path(broken_id)
    files = mirror_files()
    with MirrorServer(files) as server:
        server.fail_first = dict.fromkeys(flaky, 1)
        server.truncate = {broken: files[broken].stat().st_size - 4000}
        report = fetch_coco_backgrounds(
            ANNOTATIONS,
            tmp_path,
            **EXCLUDE,
            base_url=server.url,
            options=DownloadOptions(retries=3, backoff=0.0, progress=False),
        )
        assert all(server.requests[p] == 2 for p in flaky)
        assert [int(r.task.key) for r in report.summary.failed] == [broken_id]
        assert "truncated JPEG" in report.summary.failed[0].reason
        assert "failed: 1" in report.format()
        name = images_by_id()[broken_id]["file_name"]
        assert not (tmp_path / "images" / name).exists()
        assert not part_path(tmp_path / "images" / name).exists()
        assert not (tmp_path / "labels" / f"{Path(name).stem}.txt").exists()
        check_output_folder(tmp_path, [i for i in expected if i != broken_id])
        # the server is fixed: a re-run fetches the missing image only
        server.truncate, before = {}, server.total()
        report = fetch_coco_backgrounds(
            ANNOTATIONS,
            tmp_path,
            **EXCLUDE,
            base_url=server.url,
            options=DownloadOptions(backoff=0.0, progress=False),
        )
        assert server.total() - before == 1 and server.requests[broken] == 2
    assert len(report.summary.downloaded) == 1 and len(report.summary.skipped) == 10
    check_output_folder(tmp_path, expected)


@pytest.mark.needs_data
def test_interrupted_run_fetches_only_what_is_missing(tmp_path):
    expected = expected_backgrounds()
    imgs, files = images_by_id(), mirror_files()
    done, partial = expected[:4], expected[4]
    for img_id in done:  # completed by an earlier run (no manifest yet: it crashed)
        dest = tmp_path / "images" / imgs[img_id]["file_name"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(files[url_path(img_id)], dest)
    stale = part_path(tmp_path / "images" / imgs[partial]["file_name"])
    stale.write_bytes(files[url_path(partial)].read_bytes()[:3000])
    with MirrorServer(files) as server:
        report = fetch_coco_backgrounds(
            ANNOTATIONS,
            tmp_path,
            **EXCLUDE,
            base_url=server.url,
            options=DownloadOptions(backoff=0.0, progress=False),
        )
    assert sorted(server.requests) == sorted(url_path(i) for i in expected[4:])
    assert server.ranges == [(url_path(partial), 3000)]
    assert len(report.summary.skipped) == 4 and len(report.summary.downloaded) == 7
    assert not stale.exists()
    check_output_folder(tmp_path, expected)


@pytest.mark.needs_data
def test_copy_from_local_images_dir(tmp_path):
    report = fetch_coco_backgrounds(
        ANNOTATIONS,
        tmp_path,
        **EXCLUDE,
        num=5,
        images_dir=COCO / "images",
        options=DownloadOptions(progress=False),
    )
    assert report.selected == expected_backgrounds()[:5]
    assert len(report.summary.downloaded) == 5
    check_output_folder(tmp_path, report.selected)
    assert str(COCO / "images" / "train2017") in (tmp_path / "manifest.csv").read_text()


@pytest.mark.needs_data
def test_images_left_from_another_selection_are_reported_and_pruned(tmp_path):
    fetch_coco_backgrounds(
        ANNOTATIONS,
        tmp_path,
        exclude=["person"],
        images_dir=COCO / "images",
        options=DownloadOptions(progress=False),
    )
    report = fetch_coco_backgrounds(
        ANNOTATIONS,
        tmp_path,
        **EXCLUDE,
        images_dir=COCO / "images",
        options=DownloadOptions(progress=False),
    )
    extra = set(expected_backgrounds(names=("person",), supers=())) - set(expected_backgrounds())
    assert len(report.stale) == len(extra) > 0 and "--prune" in report.format()
    report = fetch_coco_backgrounds(
        ANNOTATIONS,
        tmp_path,
        **EXCLUDE,
        prune=True,
        images_dir=COCO / "images",
        options=DownloadOptions(progress=False),
    )
    assert report.pruned == len(extra)
    check_output_folder(tmp_path, expected_backgrounds())


@pytest.mark.needs_data
def test_bad_input_is_a_one_line_error(tmp_path):
    res = run_cli("--annotations", str(ANNOTATIONS), "--exclude", "persn", "--out",
                  str(tmp_path / "x"))  # fmt: skip
    assert res.returncode == 2
    assert res.stderr.startswith("error: ") and len(res.stderr.strip().splitlines()) == 1
    assert "did you mean 'person'" in res.stderr
    with pytest.raises(CategoryError, match="at least one"):
        fetch_coco_backgrounds(ANNOTATIONS, tmp_path, options=DownloadOptions(progress=False))


def test_help():
    res = run_cli("--help")
    assert res.returncode == 0
    for option in ("--annotations", "--exclude-supercategory", "--base-url", "--images-dir",
                   "--include-unannotated", "--workers", "--num"):  # fmt: skip
        assert option in res.stdout
