"""Reading COCO instances JSON: one loader and one error for a misspelled category name."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..infrastructure.errors import AnnotationError, did_you_mean
from ..io.data_files import read_json

if TYPE_CHECKING:
    from pycocotools.coco import COCO


class CategoryError(AnnotationError):
    """A category or supercategory name that the annotation file does not have."""


def load_coco(path: str | os.PathLike) -> COCO:
    """Load a COCO instances JSON with pycocotools (its progress prints are swallowed)."""
    from pycocotools.coco import COCO  # only the COCO format needs pycocotools

    path = Path(path)
    if not os.path.lexists(path):
        raise AnnotationError(f"{path}: COCO annotation file does not exist")
    doc = read_json(path, AnnotationError, "COCO annotation file")
    if not isinstance(doc, dict):
        raise AnnotationError(f"{path}: not a COCO annotation file (not a JSON object)")
    if "images" not in doc or "categories" not in doc:
        raise AnnotationError(f"{path}: no 'images' or 'categories' (not COCO instances)")
    _check_records(path, doc)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO()
            coco.dataset = doc
            coco.createIndex()
    except (ValueError, AssertionError, KeyError, TypeError, AttributeError) as exc:
        raise AnnotationError(f"{path}: not a COCO annotation file ({exc!r})") from None
    return coco


def _check_records(path: Path, doc: dict) -> None:
    """The ids that tie a COCO file together: every image and category has a whole-number
    ``id`` (images a ``file_name``), every annotation names an image and a category of
    the file. Anything else is refused naming the record and the field."""
    images = _records(path, doc, "images")
    categories = _records(path, doc, "categories")
    annotations = _records(path, doc, "annotations") if "annotations" in doc else []
    for i, image in enumerate(images):
        _whole(path, f"images[{i}]", image, "id")
        if not isinstance(image.get("file_name"), str) or not image["file_name"]:
            raise AnnotationError(f"{path}: images[{i}]: 'file_name' must be a file name")
    for i, category in enumerate(categories):
        _whole(path, f"categories[{i}]", category, "id")
    known = {
        "image_id": ({im["id"] for im in images}, "images"),
        "category_id": ({c["id"] for c in categories}, "categories"),
    }
    for i, ann in enumerate(annotations):
        for key, (ids, kind) in known.items():
            if ann.get(key) not in ids:
                raise AnnotationError(
                    f"{path}: annotations[{i}] (id {ann.get('id')}): '{key}' "
                    f"{ann.get(key)!r:.40} is not an id of the file's {kind}"
                )


def _records(path: Path, doc: dict, key: str) -> list[dict]:
    """``doc[key]``: a list of JSON objects, or an error naming the key."""
    records = doc.get(key)
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise AnnotationError(f"{path}: '{key}' must be a list of objects")
    return records


def _whole(path: Path, where: str, record: dict, key: str) -> None:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise AnnotationError(f"{path}: {where}: '{key}' must be a whole number, got {value!r:.40}")


def unknown_category(kind: str, name: str, valid: Iterable[str], where: object) -> CategoryError:
    """An error naming a misspelled category with close matches and the valid names."""
    valid = sorted(set(valid))
    return CategoryError(
        f"{where}: unknown {kind} '{name}'{did_you_mean(name, valid, n=3)}; "
        f"valid names: {', '.join(valid)}"
    )
