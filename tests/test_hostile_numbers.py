"""Numbers that are not numbers: every reader of a data file gets the same bad values.

Each reader below reads a file whose first record is good and whose second holds a bad
value in one field. A reader of annotations refuses the file; a reader of an image
table or a URL list skips that record with a warning. Either way the one line names the
file, the record and the field, and no conversion error escapes as a traceback.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from pyimagesearch.datatools.openimages import (
    read_bbox_csv,
    read_image_labels,
    read_image_sources,
)
from pyimagesearch.evaluation.oid_evaluation import read_subset_truth
from pyimagesearch.infrastructure.errors import PyImageSearchError
from pyimagesearch.infrastructure.numbers import read_number
from pyimagesearch.sources.caltech import read_caltech_mat
from pyimagesearch.sources.formats import (
    read_coco_json,
    read_dlib_xml,
    read_voc_xml,
    read_yolo_txt,
    yolo_class_id,
)
from pyimagesearch.sources.image_lists import list_image_refs

#: The bad values every reader is fed, as a user's file may hold them.
BAD_VALUES = {
    "empty": "",
    "blank": "   ",
    "NaN": "nan",
    "NaN capitalised": "NaN",
    "infinite": "inf",
    "minus infinite": "-Infinity",
    "overflowing": "1e999",
    "text": "car",
    "hexadecimal": "0x1A",
    "decimal comma": "0,5",
    "far too large": "1e12",
    "far too small": "-1e12",
}


def _json_value(text: str) -> object:
    """``text`` as a JSON writer would store it: a number when it parses, else a string."""
    try:
        return float(text)  # NaN and infinities too: Python's json writes NaN / Infinity
    except ValueError:
        return text


def _csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# ---- one writer and one reader per format ----------------------------------------------


def _caltech(folder: Path, bad: dict[str, object]) -> Path:
    path = folder / "annotation_0001.mat"
    row = {"y1": "3", "y2": "60", "x1": "2", "x2": "200", **bad}
    try:
        values = [float(row[k]) for k in ("y1", "y2", "x1", "x2")]
    except ValueError:  # text cannot sit in a numeric array: the whole array is text
        scipy.io.savemat(path, {"box_coord": str(bad.get("x1", ""))})
        return path
    scipy.io.savemat(path, {"box_coord": np.array([[3, 60, 2, 200], values], np.float64)})
    return path


def _voc(folder: Path, bad: dict[str, object]) -> Path:
    def obj(values: dict[str, object]) -> str:
        corners = "".join(f"<{k}>{v}</{k}>" for k, v in values.items())
        return f"<object><name>car</name><bndbox>{corners}</bndbox></object>"

    good = {"xmin": 10, "ymin": 20, "xmax": 110, "ymax": 80}
    path = folder / "a.xml"
    path.write_text(
        f"<annotation><filename>a.jpg</filename>{obj(good)}{obj({**good, **bad})}</annotation>"
    )
    return path


def _yolo(folder: Path, bad: dict[str, object]) -> Path:
    values = {"class": 0, "cx": 0.5, "cy": 0.5, "w": 0.2, "h": 0.3, **bad}
    path = folder / "a.txt"
    path.write_text("0 0.4 0.4 0.1 0.1\n" + " ".join(str(v) for v in values.values()) + "\n")
    return path


def _coco(folder: Path, bad: dict[str, object]) -> Path:
    bbox = {"x": 1, "y": 2, "width": 30, "height": 40}
    bbox.update({k: _json_value(str(v)) for k, v in bad.items()})
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": list(bbox.values()), "iscrowd": 0},
        ],
    }
    path = folder / "instances.json"
    path.write_text(json.dumps(doc))  # NaN and Infinity as Python writes them
    return path


def _dlib(folder: Path, bad: dict[str, object]) -> Path:
    (folder / "a.jpg").write_bytes(b"")  # only its name is needed
    values = {"top": 1, "left": 2, "width": 30, "height": 40, **bad}
    box = " ".join(f"{k}='{v}'" for k, v in values.items())
    path = folder / "training.xml"
    path.write_text(
        "<dataset><images><image file='a.jpg'>"
        f"<box top='1' left='2' width='3' height='4'/><box {box}/>"
        "</image></images></dataset>"
    )
    return path


_OI_HEADER = ["ImageID", "Source", "LabelName", "Confidence", "XMin", "XMax", "YMin", "YMax",
              "IsOccluded", "IsTruncated", "IsGroupOf", "IsDepiction", "IsInside"]  # fmt: skip


def _oi_rows(bad: dict[str, object]) -> list[list[object]]:
    good = dict(zip(_OI_HEADER, ["aa", "x", "/m/car", 1, 0.1, 0.5, 0.2, 0.6, 0, 0, 0, 0, 0]))
    return [list(good.values()), list({**good, "ImageID": "bb", **bad}.values())]


def _oi_bbox(folder: Path, bad: dict[str, object]) -> Path:
    return _csv(folder / "boxes-train.csv", _OI_HEADER, _oi_rows(bad))


def _subset_boxes(folder: Path, bad: dict[str, object]) -> Path:
    return _csv(folder / "boxes.csv", _OI_HEADER, _oi_rows(bad))


def _image_labels(folder: Path, bad: dict[str, object]) -> Path:
    rows = [["aa", "x", "/m/car", 1], ["bb", "x", "/m/car", bad.get("Confidence", 1)]]
    return _csv(folder / "labels.csv", ["ImageID", "Source", "LabelName", "Confidence"], rows)


def _image_table(folder: Path, bad: dict[str, object]) -> Path:
    header = ["ImageID", "OriginalURL", "OriginalSize", "Rotation"]
    good = {"ImageID": "aa", "OriginalURL": "http://h/aa.jpg", "OriginalSize": 10, "Rotation": 0}
    rows = [list(good.values()), list({**good, "ImageID": "bb", **bad}.values())]
    return _csv(folder / "images.csv", header, rows)


def _url_list(folder: Path, bad: dict[str, object]) -> Path:
    rows = [["aa", "http://h/aa.jpg"], ["bb", bad.get("url", "http://h/bb.jpg")]]
    return _csv(folder / "urls.csv", ["ImageID", "url"], rows)


@dataclass(frozen=True)
class Reader:
    """A reader, the field the bad value goes to, and the words naming its record and field.

    ``read(path)`` returns what was read; a reader that ``skips`` must then hold the good
    record only (``kept``), others must raise. ``inverted`` makes the bad record's box
    inverted (or negative in size).
    """

    name: str
    write: Callable[[Path, dict[str, object]], Path]
    read: Callable[[Path], object]
    key: str
    record: str
    field: str
    inverted: dict[str, object] = field(default_factory=dict)
    skips: bool = False
    kept: Callable[[object], list] | None = None


def _subset_truth(path: Path):
    return read_subset_truth(path.parent, ["aa", "bb"])


READERS = [
    Reader("caltech .mat", _caltech, read_caltech_mat, "x1", "'box_coord' row 2", "(x1)",
           {"x1": 300}),
    Reader("voc xml", _voc, lambda p: read_voc_xml(p, None), "xmin", "<object> 2 ('car')",
           "<xmin>", {"xmin": 300, "xmax": 200}),
    Reader("yolo txt", _yolo, lambda p: read_yolo_txt(p, None, 100, 80), "cx", ":2: ",
           "column 2 (cx)", {"w": -0.2}),
    Reader("coco json", _coco, lambda p: read_coco_json(p, None), "x", "annotation id 2",
           "'bbox'[0] (x)", {"width": -5}),
    Reader("dlib xml", _dlib, lambda p: read_dlib_xml(p, None), "left",
           "<image file='a.jpg'> <box> 2", "'left'", {"width": -5}),
    Reader("open images bbox csv", _oi_bbox, lambda p: read_bbox_csv(p, {"/m/car"}), "XMin",
           ":3: ", "column 'XMin'", {"XMin": 0.9, "XMax": 0.1}),
    Reader("open images subset boxes.csv", _subset_boxes, _subset_truth, "XMin", ":3: ",
           "column 'XMin'", {"YMin": 0.9, "YMax": 0.1}),
    Reader("open images image labels", _image_labels, read_image_labels, "Confidence",
           ":3: ", "column 'Confidence'"),
    Reader("open images image table", _image_table, read_image_sources, "Rotation", ":3: ",
           "column 'Rotation'", skips=True, kept=lambda sources: sorted(sources)),
    Reader("url list csv", _url_list, list_image_refs, "url", ":3: ", "column 'url'",
           skips=True, kept=lambda refs: [str(r) for r in refs]),
]  # fmt: skip

#: What a skipping reader keeps of the good record.
KEPT = {"open images image table": ["aa"], "url list csv": ["http://h/aa.jpg"]}


def _outcome(reader: Reader, path: Path, caplog) -> str:
    """The one message of reading ``path``: the error, or the warning of a skipped record."""
    caplog.clear()
    if not reader.skips:
        with pytest.raises(PyImageSearchError) as info:
            reader.read(path)
        return str(info.value)
    with caplog.at_level(logging.WARNING):
        result = reader.read(path)
    assert reader.kept(result) == KEPT[reader.name]  # the good record only
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    return warnings[0]


def _check_one_line(message: str, path: Path, *needles: str) -> None:
    assert "\n" not in message and "Traceback" not in message, message
    assert message.startswith(str(path)), message
    for needle in needles:
        assert needle in message, (needle, message)


def _field_named(reader: Reader, value: str) -> tuple[str, ...]:
    """The words the message must hold: record and field, where the format can tell them."""
    if reader.name == "caltech .mat" and not _is_float(value):
        return ("'box_coord' must hold numbers",)  # a text array: the whole field
    if reader.name == "yolo txt" and not value.strip():
        return (reader.record, "expected 'class cx cy w h'")  # a blank is no column at all
    return (reader.record, reader.field)


#: Blank fields that mean "not given" rather than a bad number: what is then read.
BLANK_IS_NOT_GIVEN = {
    "url list csv": ["http://h/aa.jpg"],  # a blank line of a list is no entry
    "open images image table": ["aa", "bb"],  # no Rotation given: not rotated
}


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("value", list(BAD_VALUES.values()), ids=list(BAD_VALUES))
@pytest.mark.parametrize("reader", READERS, ids=[r.name for r in READERS])
def test_every_reader_names_file_record_and_field(tmp_path, caplog, reader, value):
    if reader.name == "open images image table" and _is_float(value):
        value = f"{value} degrees" if math.isfinite(float(value)) else value  # any angle is one
    path = reader.write(tmp_path, {reader.key: value})
    if reader.name in BLANK_IS_NOT_GIVEN and not value.strip():
        assert reader.kept(reader.read(path)) == BLANK_IS_NOT_GIVEN[reader.name]
        return
    _check_one_line(_outcome(reader, path, caplog), path, *_field_named(reader, value))


@pytest.mark.parametrize("reader", [r for r in READERS if r.inverted], ids=lambda r: r.name)
def test_inverted_or_negative_boxes_are_refused(tmp_path, caplog, reader):
    path = reader.write(tmp_path, reader.inverted)
    message = _outcome(reader, path, caplog)
    _check_one_line(message, path, reader.record)
    assert "inverted" in message or "is outside" in message, message


def test_good_files_are_read_as_written(tmp_path):
    """The writers above make readable files when nothing is bad (the tests can fail)."""
    np.testing.assert_array_equal(
        read_caltech_mat(_caltech(tmp_path, {})), [[2, 3, 200, 60], [2, 3, 200, 60]]
    )
    np.testing.assert_array_equal(read_voc_xml(_voc(tmp_path, {}), None)[1], [9, 19, 110, 80])
    np.testing.assert_allclose(read_yolo_txt(_yolo(tmp_path, {}), 0, 100, 80)[1],
                               [40, 28, 60, 52])  # fmt: skip
    assert read_coco_json(_coco(tmp_path, {}), None)["a.jpg"].tolist()[1] == [1, 2, 31, 42]
    assert read_dlib_xml(_dlib(tmp_path, {}), None)[0].boxes.tolist()[1] == [2, 1, 32, 41]
    ids, boxes = read_bbox_csv(_oi_bbox(tmp_path, {}), {"/m/car"})
    assert ids == {"aa", "bb"} and boxes["bb"][0].xmax == 0.5
    assert read_subset_truth(_subset_boxes(tmp_path, {}).parent, ["bb"])[0].boxes.tolist() == [
        [0.1, 0.2, 0.5, 0.6]
    ]
    assert sorted(read_image_labels(_image_labels(tmp_path, {}))) == ["aa", "bb"]
    assert sorted(read_image_sources(_image_table(tmp_path, {}))) == ["aa", "bb"]
    assert len(list_image_refs(_url_list(tmp_path, {}))) == 2


# ---- the one reading function itself ------------------------------------------------------


@pytest.mark.parametrize(
    "value, problem",
    [
        (None, "missing (a number is needed)"),
        ("", "empty (a number is needed)"),
        (True, "not a number (true/false 'True')"),
        ([1, 2], "not a number (list '[1, 2]')"),
        ("12px", "not a number ('12px')"),
        (float("nan"), "NaN or infinite value ('nan')"),
        ("-inf", "NaN or infinite value ('-inf')"),
        (10**400, "is too large"),
        ("2.5", "'2.5' is not a whole number"),
        ("-3", "'-3' is outside 0..10"),
        ("x" * 100, "not a number ('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...')"),
    ],
)
def test_read_number_refuses_in_one_line(value, problem):
    with pytest.raises(PyImageSearchError) as info:
        read_number(value, "f.csv:4", "column 'n'", 0, 10, integer=True)
    assert str(info.value).startswith("f.csv:4: column 'n': ")
    assert problem in str(info.value)


@pytest.mark.parametrize("value", ["7", " 7 ", 7, 7.0, np.float32(7), np.uint8(7), b"7"])
def test_read_number_reads_numbers_in_any_form(value):
    assert read_number(value, "f", "n", 0, 10, integer=True) == 7.0


def test_yolo_class_given_as_unicode_digits_is_a_name_not_a_crash(tmp_path):
    (tmp_path / "classes.txt").write_text("car\n")
    with pytest.raises(PyImageSearchError, match=r"no class '²' in the names file"):
        yolo_class_id(tmp_path, "²")
    assert yolo_class_id(tmp_path, "0") == 0 and math.isfinite(yolo_class_id(tmp_path, "car"))
