"""The same boxes in any annotation format give the same positives (issue 14, item 1).

The CALTECH ``.mat`` boxes of real car photos are written as Pascal VOC (1-based,
inclusive integers, as VOC files are), YOLO (normalised centres and sizes with 8
decimals, plus ``classes.txt``) and dlib imglab XML; each is read back through the
config's reader, and the positive descriptors are compared with those of the
``.mat`` run: they must be identical, bit for bit.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from pyimagesearch.features.extract import positives_of_image
from pyimagesearch.infrastructure.config import config_from_dict
from pyimagesearch.io.images import header_size
from pyimagesearch.sources.annotated_image import AnnotatedImage
from pyimagesearch.sources.annotations import read_annotations
from pyimagesearch.sources.export import dlib_xml

from .conftest import cars_conf_dict

pytestmark = pytest.mark.needs_data

N_IMAGES = 16


def _voc(name: str, boxes: np.ndarray) -> str:
    objects = "".join(
        f"<object><name>car</name><bndbox><xmin>{int(x1) + 1}</xmin><ymin>{int(y1) + 1}</ymin>"
        f"<xmax>{int(x2)}</xmax><ymax>{int(y2)}</ymax></bndbox></object>"
        for x1, y1, x2, y2 in boxes
    )
    return f"<annotation><filename>{name}</filename>{objects}</annotation>"


def _yolo(boxes: np.ndarray, width: int, height: int) -> str:
    lines = []
    for x1, y1, x2, y2 in boxes:
        values = ((x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width,
                  (y2 - y1) / height)  # fmt: skip
        lines.append("0 " + " ".join(f"{v:.8f}" for v in values))
    return "\n".join(lines) + "\n"


def _positives(conf) -> dict[str, np.ndarray]:
    out = {}
    for item in read_annotations(conf.options.annotations):
        rows = positives_of_image(
            item, conf.options.descriptor, tuple(conf["window_dim"]), conf["offset"], True
        )
        out[item.path.name] = np.asarray(rows["features"])
    return out


def test_mat_voc_yolo_and_dlib_boxes_give_identical_positives(tmp_path):
    mat = config_from_dict(cars_conf_dict(tmp_path))
    items = read_annotations(mat.options.annotations)[:N_IMAGES]
    # boxes on whole pixels, as a VOC file can hold them (the .mat ones are)
    assert all(np.array_equal(i.boxes, np.round(i.boxes)) for i in items)
    images = tmp_path / "images"
    voc, yolo = tmp_path / "voc", tmp_path / "yolo"
    for folder in (images, voc, yolo):
        folder.mkdir()
    copied = []
    for item in items:
        shutil.copy(item.path, images / item.path.name)
        width, height = header_size(item.path)
        (voc / f"{item.path.stem}.xml").write_text(_voc(item.path.name, item.boxes))
        (yolo / f"{item.path.stem}.txt").write_text(_yolo(item.boxes, width, height))
        copied.append(AnnotatedImage(images / item.path.name, item.boxes))
    (yolo / "classes.txt").write_text("car\n")
    (tmp_path / "boxes.xml").write_text(dlib_xml(copied, images))

    reference = {i.path.name: i for i in items}
    expected = {}
    for name, item in reference.items():
        rows = positives_of_image(
            item, mat.options.descriptor, tuple(mat["window_dim"]), mat["offset"], True
        )
        expected[name] = np.asarray(rows["features"])

    formats = {
        "voc-xml": str(voc),
        "yolo-txt": str(yolo),
        "dlib-xml": str(tmp_path / "boxes.xml"),
    }
    for fmt, where in formats.items():
        conf = config_from_dict(
            cars_conf_dict(
                tmp_path,
                image_dataset=str(images),
                image_annotations=where,
                annotation_format=fmt,
                annotation_class="car" if fmt != "dlib-xml" else None,
            )
        )
        got = _positives(conf)
        assert sorted(got) == sorted(expected), fmt
        for name in expected:
            assert got[name].shape == expected[name].shape, (fmt, name)
            assert np.array_equal(got[name], expected[name]), (fmt, name)
