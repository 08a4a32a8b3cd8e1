"""Export detections as COCO results JSON or YOLO txt files, for other evaluation tools.

Detections are ``{image_path: [{"box": [x1, y1, x2, y2], "probability": p}, ...]}``,
the format ``test_model.py --json`` writes (0-based pixels, x2/y2 exclusive).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

from ..infrastructure.errors import PyImageSearchError
from ..io.atomic import write_text_atomic
from ..io.data_files import read_json
from ..io.safe_paths import safe_child
from .annotated_image import AnnotatedImage

Detections = Mapping[str, Sequence[Mapping[str, object]]]


class ExportError(PyImageSearchError, ValueError):
    """Detections that cannot be exported (unknown image, malformed box)."""


def _box(path: str, det: Mapping[str, object]) -> tuple[float, float, float, float, float]:
    try:
        x1, y1, x2, y2 = (float(v) for v in det["box"])  # type: ignore[union-attr]
        score = float(det["probability"])  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):
        raise ExportError(
            f"{path}: detection {det!r} needs 'box' [x1,y1,x2,y2] and 'probability'"
        ) from None
    if x2 < x1 or y2 < y1:
        raise ExportError(f"{path}: box {det['box']} has x2 < x1 or y2 < y1")
    return x1, y1, x2, y2, score


def _lookup(table: Mapping[str, object], image: str, what: str) -> object:
    """``table[image]``, else by resolved path, else by file name."""
    for key in (image, str(Path(image)), Path(image).name):
        if key in table:
            return table[key]
    raise ExportError(f"{image}: no {what} given for this image")


def _class_id(image: str, det: Mapping[str, object], ids: int | Mapping[str, int]) -> int:
    """The id of a detection's class: ``ids`` itself, or ``ids[det["label"]]`` (several
    classes: YOLO's index in ``classes.txt``, COCO's ``category_id``)."""
    if not isinstance(ids, Mapping):
        return int(ids)
    label = det.get("label")
    if label not in ids:
        raise ExportError(
            f"{image}: detection of class {label!r} has no id (classes: {', '.join(ids)})"
        )
    return int(ids[label])  # type: ignore[index]


def image_ids_from_coco(path: str | os.PathLike) -> dict[str, int]:
    """``file_name -> image id`` from a COCO annotation JSON (for ``to_coco_results``)."""
    data = read_json(path, ExportError, "COCO annotation file")
    try:
        return {img["file_name"]: int(img["id"]) for img in data["images"]}
    except (ValueError, KeyError, TypeError, OverflowError, AttributeError) as exc:
        raise ExportError(f"{path}: cannot read image ids ({exc!r})") from None


def check_image_ids(
    image_ids: Mapping[str, int], images: Sequence[object], source: str | os.PathLike
) -> None:
    """Refuse, before any work, images that ``image_ids`` (read from ``source``) lacks."""
    missing = []
    for image in images:
        try:
            _lookup(image_ids, str(image), "COCO image id")
        except ExportError:
            missing.append(str(image))
    if missing:
        raise ExportError(
            f"{source}: no image (file_name) for {len(missing)} of the {len(images)} "
            f"images to detect in, e.g. {missing[0]}"
        )


def to_coco_results(
    detections: Detections, image_ids: Mapping[str, int], category_id: int | Mapping[str, int]
) -> list[dict]:
    """COCO results records ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``.

    ``image_ids`` maps an image path or file name to its COCO id; ``category_id`` is one
    id, or maps each detection's ``label`` to its id.
    """
    results = []
    for image in sorted(detections):
        image_id = int(_lookup(image_ids, image, "COCO image id"))  # type: ignore[arg-type]
        for det in detections[image]:
            x1, y1, x2, y2, score = _box(image, det)
            results.append(
                {
                    "image_id": image_id,
                    "category_id": _class_id(image, det, category_id),
                    "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                    "score": round(score, 5),
                }
            )
    return results


def write_coco_results(path: str | os.PathLike, results: list[dict]) -> Path:
    """Write COCO results (as for ``COCO.loadRes``) atomically."""
    return write_text_atomic(path, json.dumps(results))


def write_yolo_txt(
    detections: Detections,
    out_dir: str | os.PathLike,
    image_sizes: Mapping[str, tuple[int, int]],
    class_id: int | Mapping[str, int],
    with_score: bool = True,
    label_names: Mapping[str, str] | None = None,
) -> list[Path]:
    """One ``<stem>.txt`` per image: ``class cx cy w h [score]`` normalised, boxes clipped.

    ``class_id`` is one id, or maps each detection's ``label`` to its id.

    ``image_sizes`` maps an image path or file name to ``(width, height)``. An image
    with no detection gets an empty file (a YOLO background). ``label_names`` maps an
    image to its label file's path relative to ``out_dir`` (e.g. ``a/car.txt``, to
    mirror sub-folders) instead of ``<stem>.txt``.
    """
    out = Path(out_dir)
    stems: dict[str, str] = {}
    written = []
    for image in sorted(detections):
        name = label_names[image] if label_names else f"{Path(image).stem}.txt"
        if name in stems:
            raise ExportError(f"{image} and {stems[name]} would both write {name}")
        stems[name] = image
        width, height = _lookup(image_sizes, image, "image size")  # type: ignore[misc]
        if width <= 0 or height <= 0:
            raise ExportError(f"{image}: bad image size {width}x{height}")
        lines = []
        for det in detections[image]:
            x1, y1, x2, y2, score = _box(image, det)
            x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
            y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
            if x2 <= x1 or y2 <= y1:
                continue  # entirely outside the image
            values = [
                (x1 + x2) / 2 / width,
                (y1 + y2) / 2 / height,
                (x2 - x1) / width,
                (y2 - y1) / height,
            ]
            text = f"{_class_id(image, det, class_id)} " + " ".join(f"{v:.6f}" for v in values)
            lines.append(text + (f" {score:.5f}" if with_score else ""))
        dest = safe_child(out, name, what=f"detections: image {image!r}: label file")
        written.append(write_text_atomic(dest, "".join(f"{ln}\n" for ln in lines)))
    return written


def dlib_xml(items: Sequence[AnnotatedImage], images_dir: Path, decimals: int | None = None) -> str:
    """A dlib imglab XML of the items (file names relative to ``images_dir``); box edges
    exact (``repr``), or rounded to ``decimals``."""

    def number(v: float) -> str:
        return repr(float(v)) if decimals is None else f"{v:.{decimals}f}"

    lines = ["<?xml version='1.0' encoding='UTF-8'?>", "<dataset>", "<images>"]
    for item in items:
        lines.append(f"  <image file={quoteattr(str(item.path.relative_to(images_dir)))}>")
        marks = [""] * len(item.boxes) + [" ignore='1'"] * len(item.ignore)
        for (x1, y1, x2, y2), mark in zip(np.vstack([item.boxes, item.ignore]), marks):
            lines.append(
                f"    <box top='{number(y1)}' left='{number(x1)}' width='{number(x2 - x1)}' "
                f"height='{number(y2 - y1)}'{mark}/>"
            )
        lines.append("  </image>")
    lines += ["</images>", "</dataset>", ""]
    return "\n".join(lines)
