"""Run a detector on an Open Images-style subset and score it with the Open Images protocol.

The subset is what ``scripts/openimages_subset.py --mode positives`` writes:
``images/<ImageID>.jpg``, ``boxes.csv`` (Open Images bbox columns, coordinates
normalised 0..1, ``IsGroupOf``), ``classes.csv`` (``LabelName,DisplayName`` of the
classes asked for) and, when image-level labels were given, ``image-labels.csv``
(``ImageID,Source,LabelName,Confidence``). The detector finds one class; its detections
carry that class and, through the hierarchy, its ancestors
(:mod:`.openimages` has the rules).
"""

from __future__ import annotations

import csv
import logging
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..detection.files import detect_files
from ..infrastructure.errors import Skipped
from ..infrastructure.numbers import read_box, read_number
from ..io.data_files import open_regular
from ..io.images import list_images
from ..model.linear import LinearModel
from .oid_metric import (
    BOX_CORNERS,
    Hierarchy,
    ImageDetections,
    ImageTruth,
    OpenImagesProtocolError,
    evaluate_protocol,
    read_hierarchy_file,
)

if TYPE_CHECKING:
    from ..infrastructure.config import Config

log = logging.getLogger(__name__)

BOX_COLUMNS = ("ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax", "IsGroupOf")


def _open_csv(path: Path, what: str = "CSV"):
    """A CSV opened for reading (a FIFO or a folder refused, never blocking)."""
    return open_regular(path, OpenImagesProtocolError, what, "r", newline="", encoding="utf-8")


def _rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with _open_csv(path) as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise OpenImagesProtocolError(f"{path}: lacks column(s) {', '.join(missing)}")
            return list(reader)
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise OpenImagesProtocolError(f"{path}: cannot read ({exc})") from None


def read_names(path: str | os.PathLike) -> dict[str, str]:
    """``LabelName -> DisplayName`` from a headerless two-column CSV (classes, descriptions)."""
    path = Path(path)
    try:
        with _open_csv(path, "class names") as fh:
            rows = [(n, row) for n, row in enumerate(csv.reader(fh), start=1) if any(row)]
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise OpenImagesProtocolError(f"{path}: cannot read class names ({exc})") from None
    for n, row in rows:  # a header, another table, a shifted column: said, not guessed
        if len(row) < 2 or not row[0].startswith("/m/"):
            raise OpenImagesProtocolError(
                f"{path}:{n}: expected 'LabelName,DisplayName' with a /m/ label (no header), "
                f"got {','.join(row)[:60]!r}"
            )
    if not rows:
        raise OpenImagesProtocolError(f"{path}: no class names (an empty file)")
    return {row[0]: row[1] for _, row in rows}


def _zero_one(row: dict[str, str], column: str, where: str, unknown: bool = False) -> int:
    """A 0/1 column (-1 or empty too when ``unknown`` is allowed: the flag is not known)."""
    value = row[column]
    if unknown and not (value or "").strip():
        return -1
    low = -1 if unknown else 0
    field = f"column '{column}'"
    return int(read_number(value, where, field, low, 1, True, OpenImagesProtocolError))


def read_subset_truth(subset: str | os.PathLike, image_ids: list[str]) -> list[ImageTruth]:
    """Ground truth of each image (normalised boxes) from the subset's CSVs."""
    subset = Path(subset)
    boxes: dict[str, list[list[float]]] = defaultdict(list)
    labels: dict[str, list[str]] = defaultdict(list)
    group: dict[str, list[bool]] = defaultdict(list)
    for line, row in enumerate(_rows(subset / "boxes.csv", BOX_COLUMNS), start=2):
        where = f"{subset / 'boxes.csv'}:{line}"
        x1, y1, x2, y2 = read_box(
            row, BOX_CORNERS, where, 0.0, 1.0, OpenImagesProtocolError, "column '{}'"
        )
        boxes[row["ImageID"]].append([x1, y1, x2, y2])
        labels[row["ImageID"]].append(row["LabelName"])
        group[row["ImageID"]].append(_zero_one(row, "IsGroupOf", where, unknown=True) == 1)
    positive: dict[str, set[str]] = defaultdict(set)
    negative: dict[str, set[str]] = defaultdict(set)
    if os.path.lexists(subset / "image-labels.csv"):  # there, even if broken: read it
        labels_csv = subset / "image-labels.csv"
        rows = _rows(labels_csv, ("ImageID", "LabelName", "Confidence"))
        for line, row in enumerate(rows, start=2):
            verified = _zero_one(row, "Confidence", f"{labels_csv}:{line}")
            side = positive if verified == 1 else negative
            side[row["ImageID"]].add(row["LabelName"])
    else:
        log.warning("%s: no image-level labels; only boxed classes count", subset)
    return [
        ImageTruth(
            np.asarray(boxes[i], np.float64).reshape(-1, 4),
            labels[i],
            np.asarray(group[i], bool),
            frozenset(positive[i]),
            frozenset(negative[i]),
        )
        for i in image_ids
    ]


def detector_label(subset: str | os.PathLike, names: dict[str, str], wanted: str | None) -> str:
    """The LabelName the detector's boxes carry: ``wanted`` (display name or /m/ id), or
    the subset's one class."""
    if wanted is None:
        classes = read_names(Path(subset) / "classes.csv")
        if len(classes) != 1:
            raise OpenImagesProtocolError(
                f"{subset}: classes.csv names {len(classes)} classes; say which one the "
                "detector finds with --oi-class"
            )
        return next(iter(classes))
    if wanted in names:
        return wanted
    by_name = {v.lower(): k for k, v in names.items()}
    if wanted.strip().lower() not in by_name:
        raise OpenImagesProtocolError(f"unknown Open Images class '{wanted}'")
    return by_name[wanted.strip().lower()]


def evaluate_openimages(
    conf: Config,
    model: LinearModel,
    subset: str | os.PathLike,
    hierarchy: str | os.PathLike | Hierarchy,
    class_descriptions: str | os.PathLike | None = None,
    detector_class: str | None = None,
    progress: bool = True,
) -> dict:
    """Detect on every image of the subset and return the protocol's figures (JSON-ready).

    Per class (the detector's class and its ancestors): AP (None without ground truth),
    objects, group-of boxes, evaluated entries, true positives, ignored detections (in
    group-of boxes) and dropped ones (class not verified in their image); the mean AP;
    and each image's detections (normalised boxes) so the figures can be recomputed.
    """
    subset = Path(subset)
    if not (subset / "images").is_dir() or not (subset / "boxes.csv").is_file():
        raise OpenImagesProtocolError(
            f"{subset}: not an Open Images subset (need images/ and boxes.csv, as written "
            "by openimages_subset.py --mode positives)"
        )
    tree = hierarchy if isinstance(hierarchy, Hierarchy) else read_hierarchy_file(hierarchy)
    names = read_names(class_descriptions) if class_descriptions else {}
    classes = subset / "classes.csv"
    names.update(read_names(classes) if os.path.lexists(classes) else {})
    label = detector_label(subset, names, detector_class)
    paths = list_images(subset / "images")
    ids = [p.stem for p in paths]  # the ground truth is read (and checked) before detecting
    truth_of = dict(zip(ids, read_subset_truth(subset, ids)))
    floor = conf.options.evaluation.curve_floor
    image_ids, dets, listed, skipped = [], [], [], []
    for path, res in detect_files(
        paths, model, conf.options.window, conf.options.execution, floor, progress
    ):
        if isinstance(res, Skipped):
            log.warning("skipped: %s", res)
            skipped.append(res.message)
            continue
        height, width = res["shape"][:2]
        boxes = np.asarray(res["boxes"], np.float64).reshape(-1, 4) / np.array(
            [width, height, width, height], np.float64
        )
        scores = np.asarray(res["probabilities"], np.float64)
        image_ids.append(path.stem)
        dets.append(ImageDetections(boxes, scores, [label] * len(scores)))
        listed.append({"image_id": path.stem, "boxes": boxes.tolist(), "scores": scores.tolist()})
    truths = [truth_of[i] for i in image_ids]
    classes = sorted(tree.up(label))
    result = evaluate_protocol(truths, dets, tree, classes)
    mean_ap = result.mean_average_precision
    return {
        "protocol": "openimages",
        "detector_class": label,
        "min_probability": floor,
        "n_images": len(image_ids),
        "mean_average_precision": None if math.isnan(mean_ap) else mean_ap,
        "classes": {
            mid: {
                "name": names.get(mid, mid),
                "average_precision": (
                    None if math.isnan(c.average_precision) else c.average_precision
                ),
                "n_objects": c.n_objects,
                "n_group_of": c.n_group_of,
                "n_evaluated": c.n_evaluated,
                "n_true_positives": c.n_true_positives,
                "n_ignored": c.n_ignored,
                "n_not_evaluatable": c.n_not_evaluatable,
            }
            for mid, c in result.classes.items()
        },
        "images": listed,
        "skipped": skipped,
    }
