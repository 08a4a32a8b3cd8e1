"""Annotation readers: files written from known boxes are read back; COCO against plain json."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import json5
import numpy as np
import pytest
from PIL import Image

from pyimagesearch.infrastructure.config import config_from_dict
from pyimagesearch.infrastructure.errors import AnnotationError
from pyimagesearch.sources.annotations import read_annotations, reader
from pyimagesearch.sources.formats import (
    read_coco_json,
    read_crops_folder,
    read_dlib_xml,
    read_voc_xml,
    read_yolo_txt,
)

from ..conftest import DATASETS, ROOT, annotation_options

pytestmark = pytest.mark.needs_data

DATA = DATASETS.resolve()
CARS = sorted((DATA / "caltech101/101_ObjectCategories/car_side").glob("*.jpg"))[:3]
COCO_JSON = DATA / "coco_tiny/annotations/instances_train2017.json"
COCO_IMAGES = DATA / "coco_tiny/images/train2017"

# 0-based, x2/y2 exclusive; one or two cars per image, plus a "wheel" in the first
CAR_BOXES = {0: [[10, 20, 110, 80], [150, 30, 250, 100]], 1: [[5, 6, 205, 126]], 2: []}
WHEEL = [40, 60, 70, 80]


def sizes() -> list[tuple[int, int]]:
    return [Image.open(p).size for p in CARS]


def conf_for(**keys):
    """A validated config based on conf/cars.json with some keys replaced."""
    raw = json5.loads((ROOT / "conf/cars.json").read_text())
    raw.update(keys)
    return config_from_dict(raw, ROOT / "conf/cars.json", resolve=False)


def copy_images(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(p, folder / p.name)) for p in CARS]


# ---- VOC ------------------------------------------------------------------------------


def voc_xml(filename: str, objects: list[tuple[str, list[float]]]) -> str:
    """A Pascal VOC file; boxes given 0-based exclusive are written 1-based inclusive."""
    body = "".join(
        f"<object><name>{name}</name><difficult>0</difficult><bndbox>"
        f"<xmin>{x1 + 1}</xmin><ymin>{y1 + 1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax>"
        "</bndbox></object>"
        for name, (x1, y1, x2, y2) in objects
    )
    return f"<annotation><folder>cars</folder><filename>{filename}</filename>{body}</annotation>"


def write_voc(tmp_path: Path) -> Path:
    ann = tmp_path / "Annotations"
    ann.mkdir()
    for i, path in enumerate(CARS):
        objects = [("car", b) for b in CAR_BOXES[i]] + ([("wheel", WHEEL)] if i == 0 else [])
        (ann / f"{path.stem}.xml").write_text(voc_xml(path.name, objects))
    return ann


def test_voc_reader_converts_one_based_coordinates(tmp_path):
    ann = write_voc(tmp_path)
    np.testing.assert_array_equal(read_voc_xml(ann / f"{CARS[0].stem}.xml", "car"), CAR_BOXES[0])
    np.testing.assert_array_equal(read_voc_xml(ann / f"{CARS[0].stem}.xml", "wheel"), [WHEEL])
    assert read_voc_xml(ann / f"{CARS[0].stem}.xml", None).shape == (3, 4)
    conf = conf_for(annotation_format="voc-xml", annotation_class="car",
                    image_dataset=str(CARS[0].parent), image_annotations=str(ann))  # fmt: skip
    items = read_annotations(conf.options.annotations)
    assert [i.path for i in items] == CARS
    for i, item in enumerate(items):
        np.testing.assert_array_equal(item.boxes, np.reshape(CAR_BOXES[i], (-1, 4)))
    assert items[2].boxes.shape == (0, 4)  # no car: kept with no boxes


def test_voc_errors_name_the_file(tmp_path):
    ann = tmp_path / "ann"
    ann.mkdir()
    (ann / "bad.xml").write_text("<annotation><object><name>car</name>")
    with pytest.raises(AnnotationError, match=r"bad\.xml"):
        read_voc_xml(ann / "bad.xml", "car")
    (ann / "bad.xml").write_text(voc_xml("missing.jpg", [("car", [1, 2, 3, 4])]))
    options = annotation_options("voc-xml", CARS[0].parent, ann, "car")
    with pytest.raises(AnnotationError, match=r"bad.xml: its image .*missing.jpg"):
        reader("voc-xml")(options)
    (ann / "bad.xml").write_text(
        "<annotation><filename>x.jpg</filename><object><name>car</name><bndbox><xmin>a</xmin>"
        "</bndbox></object></annotation>"
    )
    with pytest.raises(AnnotationError, match=r"bad.xml: <object> 1 \('car'\): <xmin>: not a num"):
        read_voc_xml(ann / "bad.xml", "car")


# ---- COCO -------------------------------------------------------------------------------


def test_coco_reader_matches_plain_json():
    data = json.loads(COCO_JSON.read_text())
    car = next(c["id"] for c in data["categories"] if c["name"] == "car")
    expected = {img["file_name"]: [] for img in data["images"]}
    name_of = {img["id"]: img["file_name"] for img in data["images"]}
    for ann in data["annotations"]:
        if ann["category_id"] == car and not ann["iscrowd"]:
            x, y, w, h = ann["bbox"]
            expected[name_of[ann["image_id"]]].append([x, y, x + w, y + h])
    got = read_coco_json(COCO_JSON, "car")
    assert sorted(got) == sorted(expected)
    for name, boxes in expected.items():
        np.testing.assert_allclose(
            got[name][np.lexsort(got[name].T[::-1])],
            np.reshape(sorted(boxes), (-1, 4)),
        )
    assert sum(len(b) > 0 for b in got.values()) == 7  # images with a car
    conf = conf_for(annotation_format="coco-json", annotation_class="car",
                    image_dataset=str(COCO_IMAGES), image_annotations=str(COCO_JSON))  # fmt: skip
    items = read_annotations(conf.options.annotations)
    assert len(items) == len(data["images"])  # images without a car are kept, empty
    assert sum(len(i.boxes) for i in items) == sum(len(b) for b in expected.values())
    assert all(i.path.is_file() for i in items)


def test_coco_unknown_class_names_close_matches():
    with pytest.raises(AnnotationError, match=r"unknown category 'cars' \(did you mean 'car'"):
        read_coco_json(COCO_JSON, "cars")


# ---- YOLO -------------------------------------------------------------------------------


def yolo_line(cls: int, box: list[float], size: tuple[int, int]) -> str:
    (x1, y1, x2, y2), (w, h) = box, size
    values = ((x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h)
    return f"{cls} " + " ".join(f"{v:.8f}" for v in values)


def write_yolo(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "images"
    labels = tmp_path / "labels"
    labels.mkdir(parents=True)
    copy_images(images)
    for i, (path, size) in enumerate(zip(CARS, sizes(), strict=True)):
        if i == 2:
            continue  # no label file: a background image
        lines = [yolo_line(2, b, size) for b in CAR_BOXES[i]]
        lines += [yolo_line(0, WHEEL, size)] if i == 0 else []
        (labels / f"{path.stem}.txt").write_text("\n".join(lines) + "\n")
    (labels / "classes.txt").write_text("wheel\nperson\ncar\n")
    return images, labels


@pytest.mark.parametrize("cls", ["car", "2"])
def test_yolo_reader_by_name_or_id(tmp_path, cls):
    images, labels = write_yolo(tmp_path)
    conf = conf_for(annotation_format="yolo-txt", annotation_class=cls,
                    image_dataset=str(images), image_annotations=str(labels))  # fmt: skip
    items = read_annotations(conf.options.annotations)
    assert [i.path.name for i in items] == [p.name for p in CARS]
    for i, item in enumerate(items):
        np.testing.assert_allclose(item.boxes, np.reshape(CAR_BOXES[i], (-1, 4)), atol=1e-4)
    width, height = sizes()[0]
    wheel = read_yolo_txt(labels / f"{CARS[0].stem}.txt", 0, width, height)
    np.testing.assert_allclose(wheel, [WHEEL], atol=1e-4)


def test_yolo_errors(tmp_path):
    images, labels = write_yolo(tmp_path)
    options = annotation_options("yolo-txt", images, labels, "cra")
    with pytest.raises(AnnotationError, match=r"no class 'cra'.*did you mean 'car'"):
        reader("yolo-txt")(options)
    (labels / "classes.txt").unlink()
    with pytest.raises(AnnotationError, match=r"classes\.txt"):
        reader("yolo-txt")(replace(options, class_name="car"))
    bad = labels / "bad.txt"
    bad.write_text("2 0.5 0.5 0.2\n")
    with pytest.raises(AnnotationError, match=r"bad.txt:1: expected 'class cx cy w h'"):
        read_yolo_txt(bad, 2, 100, 100)
    bad.write_text("\n2 150 40 20 10\n")
    with pytest.raises(AnnotationError, match=r"bad.txt:2: .*normalised"):
        read_yolo_txt(bad, 2, 100, 100)


# ---- dlib ---------------------------------------------------------------------------------


def test_dlib_reader_skips_ignored_boxes(tmp_path):
    copy_images(tmp_path / "imgs")
    parts = []
    for i, path in enumerate(CARS):
        boxes = "".join(
            f"<box top='{y1}' left='{x1}' width='{x2 - x1}' height='{y2 - y1}'/>"
            for x1, y1, x2, y2 in CAR_BOXES[i]
        )
        if i == 1:
            boxes += "<box top='1' left='2' width='30' height='40' ignore='1'/>"
        parts.append(f"<image file='imgs/{path.name}'>{boxes}</image>")
    xml = tmp_path / "training.xml"
    xml.write_text(f"<?xml version='1.0'?><dataset><name>cars</name><images>{''.join(parts)}"
                   "</images></dataset>")  # fmt: skip
    items = read_dlib_xml(xml, None)
    for i, item in enumerate(items):
        assert item.path == tmp_path / "imgs" / CARS[i].name
        np.testing.assert_array_equal(item.boxes, np.reshape(CAR_BOXES[i], (-1, 4)))
    # relative to image_dataset when not beside the XML
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.move(xml, other / "training.xml")
    conf = conf_for(annotation_format="dlib-xml", image_dataset=str(tmp_path),
                    image_annotations=str(other / "training.xml"))  # fmt: skip
    assert [len(i.boxes) for i in read_annotations(conf.options.annotations)] == [2, 1, 0]
    (other / "broken.xml").write_text("<dataset><images><image/></images></dataset>")
    with pytest.raises(AnnotationError, match=r"broken.xml: <image> without a 'file'"):
        read_dlib_xml(other / "broken.xml", None)


def test_dlib_labels_select_the_class(tmp_path):
    copy_images(tmp_path)
    xml = tmp_path / "l.xml"
    xml.write_text(
        f"<dataset><images><image file='{CARS[0].name}'>"
        "<box top='1' left='2' width='3' height='4'><label>car</label></box>"
        "<box top='5' left='6' width='7' height='8'><label>wheel</label></box>"
        "</image></images></dataset>"
    )
    np.testing.assert_array_equal(read_dlib_xml(xml, "car")[0].boxes, [[2, 1, 5, 5]])
    np.testing.assert_array_equal(read_dlib_xml(xml, "wheel")[0].boxes, [[6, 5, 13, 13]])


# ---- crops --------------------------------------------------------------------------------


def test_crops_reader_boxes_cover_each_image(tmp_path):
    folder = tmp_path / "crops"
    copy_images(folder / "sub")
    (folder / "Thumbs.db").write_bytes(b"junk")
    conf = conf_for(annotation_format="crops", image_dataset=str(folder),
                    image_annotations=str(folder))  # fmt: skip
    items = read_annotations(conf.options.annotations)
    assert [i.path.name for i in items] == [p.name for p in CARS]
    for item, (w, h) in zip(items, sizes(), strict=True):
        np.testing.assert_array_equal(item.boxes, [[0, 0, w, h]])
    assert len(read_crops_folder(folder)) == 3
