"""Export of detections as COCO results and YOLO txt files."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO

from pyimagesearch.sources.export import (
    ExportError,
    image_ids_from_coco,
    to_coco_results,
    write_coco_results,
    write_yolo_txt,
)
from pyimagesearch.sources.formats import read_yolo_txt

from ..conftest import DATASETS

DATA = DATASETS.resolve()
COCO_JSON = DATA / "coco_tiny/annotations/instances_train2017.json"
IMAGES = DATA / "coco_tiny/images/train2017"

DETECTIONS = {
    str(IMAGES / "000000174482.jpg"): [
        {"box": [10, 20, 110, 70], "probability": 0.91},
        {"box": [600, 400, 700, 500], "probability": 0.6},  # partly outside a 640x427 image
    ],
    str(IMAGES / "000000397133.jpg"): [{"box": [0.5, 1.5, 30.5, 11.5], "probability": 0.75}],
    str(IMAGES / "000000006818.jpg"): [],
}


@pytest.mark.needs_data
def test_coco_results_convert_boxes_and_load_in_pycocotools(tmp_path):
    ids = image_ids_from_coco(COCO_JSON)
    results = to_coco_results(DETECTIONS, ids, category_id=3)
    assert results[0] == {
        "image_id": 174482, "category_id": 3, "bbox": [10.0, 20.0, 100.0, 50.0], "score": 0.91
    }  # fmt: skip
    assert results[2] == {
        "image_id": 397133, "category_id": 3, "bbox": [0.5, 1.5, 30.0, 10.0], "score": 0.75
    }  # fmt: skip
    assert len(results) == 3
    path = write_coco_results(tmp_path / "results.json", results)
    assert json.loads(path.read_text()) == results
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # no temp left
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(COCO_JSON))
        dt = gt.loadRes(str(path))
    assert len(dt.getAnnIds()) == 3


def test_coco_results_need_every_image_id():
    with pytest.raises(ExportError, match=r"000000174482\.jpg: no COCO image id"):
        to_coco_results(DETECTIONS, {"000000397133.jpg": 1, "000000006818.jpg": 2}, 3)
    with pytest.raises(ExportError, match="needs 'box'"):
        to_coco_results({"a.jpg": [{"box": [1, 2, 3]}]}, {"a.jpg": 1}, 3)


def test_yolo_txt_round_trip(tmp_path):
    sizes = {name: (640, 427) for name in ("000000174482.jpg", "000000397133.jpg")}
    sizes["000000006818.jpg"] = (427, 640)
    written = write_yolo_txt(DETECTIONS, tmp_path, sizes, class_id=2)
    assert sorted(p.name for p in written) == [
        "000000006818.txt", "000000174482.txt", "000000397133.txt"
    ]  # fmt: skip
    assert (tmp_path / "000000006818.txt").read_text() == ""  # no detection: background
    lines = (tmp_path / "000000174482.txt").read_text().splitlines()
    assert lines[0].split() == ["2", "0.093750", "0.105386", "0.156250", "0.117096", "0.91000"]
    boxes = read_yolo_txt(tmp_path / "000000174482.txt", 2, 640, 427)
    np.testing.assert_allclose(boxes, [[10, 20, 110, 70], [600, 400, 640, 427]], atol=1e-3)
    assert not list(tmp_path.glob(".*"))


def test_yolo_txt_errors(tmp_path):
    with pytest.raises(ExportError, match="no image size"):
        write_yolo_txt(DETECTIONS, tmp_path, {}, 0)
    clash = {"a/x.jpg": [], "b/x.jpg": []}
    with pytest.raises(ExportError, match=r"would both write x\.txt"):
        write_yolo_txt(clash, tmp_path, {"x.jpg": (10, 10)}, 0)
