"""Open Images subsets with the real class list and hierarchy, images served on 127.0.0.1."""

from __future__ import annotations

import base64
import csv
import hashlib
import subprocess
import sys

import cv2
import numpy as np
import pytest

from pyimagesearch.datatools.download import DownloadOptions
from pyimagesearch.datatools.openimages import (
    OpenImagesError,
    OpenImagesFiles,
    SubsetSpec,
    build_subset,
    expand_descendants,
    placeholder_reason,
    read_class_descriptions,
    read_hierarchy,
    read_image_sources,
    resolve_classes,
)
from pyimagesearch.io.images import list_images, read_image
from pyimagesearch.sources.formats import read_crops_folder

from ..conftest import DATASETS, ROOT
from .test_download import MirrorServer

DATA = DATASETS.resolve()
META = DATA / "openimages"
DESCRIPTIONS = META / "class-descriptions-boxable.csv"
HIERARCHY = META / "bbox_labels_600_hierarchy.json"
COCO_JPGS = sorted((DATA / "coco_tiny/images/train2017").glob("*.jpg"))
SCRIPT = ROOT / "scripts/openimages_subset.py"

BBOX_HEADER = (
    "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,"
    "IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside"
)
# image id -> [(display name, xmin, xmax, ymin, ymax, group_of, depiction)]
BOXES = {
    "car0000000000001": [("Car", 0.1, 0.5, 0.2, 0.6, 0, 0), ("Car", 0.0, 1.0, 0.0, 1.0, 1, 0)],
    "cardepiction0001": [("Car", 0.2, 0.7, 0.3, 0.9, 0, 1)],
    "limousine0000001": [
        ("Limousine", 0.25, 0.75, 0.1, 0.5, 0, 0),
        ("Person", 0, 0.2, 0, 0.9, 0, 0),
    ],
    "taxi000000000001": [("Taxi", 0.3, 0.6, 0.3, 0.6, 0, 0)],
    "ambulance0000001": [("Ambulance", 0.1, 0.4, 0.1, 0.4, 0, 0)],
    "dog0000000000001": [("Dog", 0.2, 0.6, 0.2, 0.6, 0, 0)],
    "tree000000000001": [("Tree", 0.0, 0.5, 0.0, 1.0, 0, 0)],
    "person0000000001": [("Person", 0.4, 0.6, 0.1, 0.9, 0, 0)],
    "placeholder00001": [("Tree", 0.1, 0.2, 0.1, 0.2, 0, 0)],
    "deleted000000001": [("Dog", 0.1, 0.2, 0.1, 0.2, 0, 0)],
    "badmd50000000001": [("Dog", 0.1, 0.2, 0.1, 0.2, 0, 0)],
    "nourl00000000001": [("Dog", 0.1, 0.2, 0.1, 0.2, 0, 0)],
}
CAR_LIKE = {"Car", "Limousine", "Taxi", "Ambulance"}


def make_placeholder() -> bytes:
    """A Flickr-like "photo unavailable" image: 500x374, flat grey, a line of text."""
    image = np.full((374, 500, 3), 236, np.uint8)
    cv2.rectangle(image, (225, 120), (275, 160), (180, 180, 180), -1)
    cv2.putText(image, "This photo is no longer available", (60, 220),
                cv2.FONT_HERSHEY_SIMPLEX, 0.6, (90, 90, 90), 1)  # fmt: skip
    return cv2.imencode(".png", image)[1].tobytes()


@pytest.fixture(scope="module")
def names():
    return read_class_descriptions(DESCRIPTIONS)


@pytest.fixture
def dataset(tmp_path, names):
    """Bbox and image CSVs in tmp_path, and a server holding their images."""
    mid = {v: k for k, v in names.items()}
    with open(tmp_path / "bbox.csv", "w", newline="") as fh:
        fh.write(BBOX_HEADER + "\n")
        writer = csv.writer(fh)
        for image_id, boxes in BOXES.items():
            for name, x1, x2, y1, y2, group, depiction in boxes:
                writer.writerow([image_id, "xclick", mid[name], 1, x1, x2, y1, y2,
                                 0, 0, group, depiction, 0])  # fmt: skip
    files, rows = {}, []
    photos = iter(COCO_JPGS)
    for image_id in BOXES:
        if image_id == "nourl00000000001":
            continue
        path = f"/oi/{image_id}.jpg"
        data = make_placeholder() if image_id.startswith("placeholder") else next(photos)
        if not image_id.startswith("deleted"):
            files[path] = data
        raw = data if isinstance(data, bytes) else data.read_bytes()
        md5 = hashlib.md5(b"other" if image_id.startswith("badmd5") else raw).digest()
        rows.append([image_id, "train", f"SERVER{path}", len(raw), base64.b64encode(md5).decode()])
    server = MirrorServer(files)
    with open(tmp_path / "images.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ImageID", "Subset", "OriginalURL", "OriginalSize", "OriginalMD5"])
        for row in rows:
            writer.writerow([row[0], row[1], row[2].replace("SERVER", server.url), *row[3:]])
    with server:
        yield tmp_path, server


def subset(tmp_path, out, classes, mode, **kw):
    files = OpenImagesFiles(tmp_path / "bbox.csv", tmp_path / "images.csv", DESCRIPTIONS,
                            HIERARCHY)  # fmt: skip
    options = DownloadOptions(backoff=0.0, retries=1, progress=False)
    return build_subset(SubsetSpec(classes, mode=mode, **kw), files, out, options)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)  # fmt: skip


def display(names, labels):
    return {names[m] for m in labels}


@pytest.mark.needs_data
def test_vehicle_expands_to_its_descendants(names):
    children = read_hierarchy(HIERARCHY)
    vehicle = resolve_classes(["Vehicle"], names)
    expanded = display(names, expand_descendants(vehicle, children))
    assert {"Vehicle", "Land vehicle", "Car", "Taxi", "Ambulance", "Limousine"} <= expanded
    assert "Entity" not in expanded and "Dog" not in expanded
    car = display(names, expand_descendants(resolve_classes(["car"], names), children))
    assert "Limousine" in car and "Taxi" not in car  # Taxi is Car's sibling, not its child
    person = display(names, expand_descendants(resolve_classes(["Person"], names), children))
    assert "Human face" not in person  # 'Part' edges are not kinds of


@pytest.mark.needs_data
def test_misspelled_class_errors_with_close_matches(names):
    with pytest.raises(OpenImagesError, match=r"unknown Open Images class 'Carr'.*Car"):
        resolve_classes(["Carr"], names)
    with pytest.raises(OpenImagesError, match=r"'vehicel'.*Vehicle"):
        resolve_classes(["vehicel"], names)
    assert resolve_classes(["/m/0k4j", "taxi"], names) == {"/m/0k4j": "Car", "/m/0pg52": "Taxi"}


@pytest.mark.needs_data
def test_backgrounds_without_car_via_cli(dataset, names):
    tmp_path, server = dataset
    out = tmp_path / "bg"
    args = ["Car", "--mode", "backgrounds", "--bbox-csv", str(tmp_path / "bbox.csv"),
            "--images-csv", str(tmp_path / "images.csv"), "--out", str(out),
            "--class-descriptions", str(DESCRIPTIONS), "--hierarchy", str(HIERARCHY),
            "--backoff", "0", "--retries", "1", "--no-progress",
            "--no-look-alikes"]  # fmt: skip
    res = run_cli(*args)
    assert res.returncode == 1, res.stderr  # some files failed: reported, not kept
    kept = {p.stem for p in (out / "images").iterdir()}
    assert kept == {"taxi000000000001", "ambulance0000001", "dog0000000000001",
                    "tree000000000001", "person0000000001"}  # fmt: skip
    for image_id in kept:  # no image with a Car box or a box of a descendant of Car
        assert not {b[0] for b in BOXES[image_id]} & {"Car", "Limousine"}
        assert (out / "labels" / f"{image_id}.txt").read_text() == ""
        read_image(out / "images" / f"{image_id}.jpg")
    assert "Limousine" in res.stdout  # the descendants that were excluded too
    assert "NOT excluded" in res.stdout and "Taxi" in res.stdout  # siblings are named
    assert "placeholder-like 500x374" in res.stdout
    assert "deleted000000001" in res.stdout and "HTTP 404" in res.stdout
    assert "badmd50000000001" in res.stdout and "md5 mismatch" in res.stdout
    assert "no URL for 1" in res.stdout
    assert [p.stem for p in list_images(out)] == sorted(kept)
    before = server.total()
    assert run_cli(*args).returncode == 1
    assert server.total() - before == 3  # only the failed ones are tried again


@pytest.mark.needs_data
def test_backgrounds_without_car_drop_look_alikes_by_default(dataset, names):
    tmp_path, _ = dataset
    out = tmp_path / "bg-default"
    report = subset(tmp_path, out, ["Car"], "backgrounds")
    kept = {r.task.key for r in report.summary.kept}
    assert kept == {"dog0000000000001", "tree000000000001", "person0000000001"}
    for image_id in report.selected:  # no Car, Taxi, Limousine, Ambulance ... box
        assert not {b[0] for b in BOXES[image_id]} & CAR_LIKE
    assert "look-alikes excluded too" in report.format() and "Taxi" in report.format()


@pytest.mark.needs_data
def test_backgrounds_without_vehicle_drop_every_car_like_image(dataset, names):
    tmp_path, _ = dataset
    out = tmp_path / "bg"
    # an earlier, laxer run into the same folder
    subset(tmp_path, out, ["Car"], "backgrounds", look_alikes=False)
    report = subset(tmp_path, out, ["Vehicle"], "backgrounds")
    kept = {r.task.key for r in report.summary.kept}
    assert kept == {"dog0000000000001", "tree000000000001", "person0000000001"}
    for image_id in report.selected:
        assert not {b[0] for b in BOXES[image_id]} & CAR_LIKE
    assert {p.stem for p in report.stale} == {"taxi000000000001", "ambulance0000001"}
    assert "--prune" in report.format()
    report = subset(tmp_path, out, ["Vehicle"], "backgrounds", prune=True)
    assert report.pruned == 2 and {p.stem for p in (out / "images").iterdir()} == kept
    assert {p.stem for p in (out / "labels").iterdir()} == kept
    with open(out / "manifest.csv", newline="") as fh:
        assert {r["image_id"] for r in csv.DictReader(fh)} == kept


def _pixels(v: float, n: int) -> int:
    return int(np.floor(v * n + 0.5))


@pytest.mark.needs_data
def test_positive_crops(dataset, names):
    tmp_path, _ = dataset
    out = tmp_path / "pos"
    report = subset(tmp_path, out, ["Car"], "positives", descendants=True,
                    drop_group_of=True, drop_depiction=True)  # fmt: skip
    assert report.boxes_dropped["group-of"] == 1 and report.boxes_dropped["depiction"] == 1
    assert sorted(report.selected) == ["car0000000000001", "limousine0000001"]
    crops = sorted(p.name for p in (out / "crops").iterdir())
    assert crops == ["car0000000000001_0.jpg", "limousine0000001_0.jpg"]
    for name in crops:
        image_id = name.split("_")[0]
        _, x1, x2, y1, y2, _, _ = BOXES[image_id][0]
        h, w = read_image(out / "images" / f"{image_id}.jpg").shape[:2]
        crop = read_image(out / "crops" / name)
        assert crop.shape[:2] == (_pixels(y2, h) - _pixels(y1, h), _pixels(x2, w) - _pixels(x1, w))
    items = read_crops_folder(out / "crops")  # usable with annotation_format "crops"
    assert [i.path.name for i in items] == crops
    with open(out / "crops.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["display_name"] for r in rows] == ["Car", "Limousine"]

    # without descendants and with group-of boxes kept
    report = subset(tmp_path, out, ["Car"], "positives")
    assert sorted(report.selected) == ["car0000000000001", "cardepiction0001"]
    assert sorted(p.name for p in (out / "crops").iterdir()) == [
        "car0000000000001_0.jpg", "car0000000000001_1.jpg", "cardepiction0001_0.jpg"
    ]  # the stale limousine crop is gone  # fmt: skip


@pytest.mark.needs_data
def test_placeholder_rule():
    placeholder = cv2.imdecode(np.frombuffer(make_placeholder(), np.uint8), cv2.IMREAD_UNCHANGED)
    assert "placeholder-like 500x374" in placeholder_reason(placeholder)
    photo = read_image(COCO_JPGS[0])
    assert placeholder_reason(photo) is None
    assert placeholder_reason(cv2.resize(photo, (500, 375))) is None  # a real 500x375 photo
    assert placeholder_reason(cv2.resize(photo, (20, 30))).startswith("tiny")
    assert placeholder_reason(np.full((300, 400), 7, np.uint8)).startswith("single flat")
    assert "known placeholder" in placeholder_reason(photo, "abc", extra_sha256=["abc"])


def test_image_csv_accepts_url_columns(tmp_path):
    (tmp_path / "a.csv").write_text("ImageID,url\nx,http://h/x.jpg\ny,\n")
    (tmp_path / "b.csv").write_text("image_url,ImageID\nhttp://h/z.jpg,z\n")
    assert read_image_sources(tmp_path / "a.csv") == {
        "x": read_image_sources(tmp_path / "a.csv")["x"]
    }
    assert read_image_sources(tmp_path / "a.csv")["x"].url == "http://h/x.jpg"
    assert read_image_sources(tmp_path / "b.csv")["z"].url == "http://h/z.jpg"
    (tmp_path / "c.csv").write_text("ImageID,Link\nx,http://h/x.jpg\n")
    with pytest.raises(OpenImagesError, match="OriginalURL"):
        read_image_sources(tmp_path / "c.csv")


@pytest.mark.needs_data
def test_cli_errors_and_help(tmp_path):
    res = run_cli("Carr", "--bbox-csv", "x.csv", "--images-csv", "y.csv", "--out",
                  str(tmp_path / "o"), "--class-descriptions", str(DESCRIPTIONS),
                  "--hierarchy", str(HIERARCHY))  # fmt: skip
    assert res.returncode == 2 and res.stderr.startswith("error: unknown Open Images class")
    assert "Car" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = run_cli("--help")
    assert res.returncode == 0
    for option in ("--mode", "--descendants", "--drop-group-of", "--drop-depiction",
                   "--drop-truncated", "--bbox-csv", "--images-csv"):  # fmt: skip
        assert option in res.stdout
