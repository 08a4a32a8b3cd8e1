"""The Open Images detection protocol (OID challenge metric), on numpy arrays.

What differs from the PASCAL VOC protocol of :mod:`.metrics`:

* **Hierarchy.** A ground-truth box of ``Car`` is also a box of each of its ancestors
  (``Land vehicle``, ``Vehicle``); a verified *positive* image-level label is expanded
  to its ancestors, a verified *negative* one to its descendants (TensorFlow Object
  Detection API ``dataset_tools/oid_hierarchical_labels_expansion.py``:
  ``expand_boxes_from_csv``, ``expand_labels_from_csv``; only ``Subcategory`` edges,
  the root ``Entity`` skipped). Detections are expanded the same way, to their class
  and its ancestors, as mmdetection's ``OpenImagesMetric._process_predictions`` does
  with ``get_supercategory=True`` (its ``RELATION_MATRIX``, ``get_relation_matrix``).
* **Image-level labels.** Only the classes *evaluatable* in an image count there: the
  classes of its (expanded) boxes and its verified image-level labels, positive or
  negative. Detections of any other class are dropped, neither true nor false positives
  (TF ``OpenImagesChallengeEvaluator``: ``_evaluatable_labels``,
  ``add_single_detected_image_info``; mmdetection ``filter_labels=True``).
* **Group-of boxes.** Detections are matched to the non-group-of boxes first (IoU >=
  0.5, highest score first, one detection per box, as in VOC). A detection left
  unmatched whose intersection with a group-of box covers >= 0.5 of the *detection's*
  area (IoA, TF ``np_box_ops.ioa(groundtruth, detections)``; mmdetection ``ioa_thr=0.5``)
  is ignored; each group-of box hit by at least one detection adds one true positive
  with the highest score of its detections (TF
  ``PerImageEvaluation._compute_tp_fp_for_single_class``, ``compute_match_ioa``, with
  the challenge's ``group_of_weight=1.0``). Every group-of box counts as one object
  (TF ``ObjectDetectionEvaluation._update_ground_truth_statistics``).
* **AP** per class is the VOC 2010+ area under the monotone precision/recall envelope
  (TF ``utils/metrics.py`` ``compute_average_precision``; :func:`.metrics.average_precision`),
  NaN for a class without ground truth; mAP is the mean over classes with ground truth
  (TF ``np.nanmean``).

Boxes are ``x1, y1, x2, y2`` in any consistent unit (IoU and IoA do not change when x
and y are scaled, so normalised Open Images boxes and pixel boxes give the same result).
Reference: https://storage.googleapis.com/openimages/web/evaluation.html
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..infrastructure.errors import PyImageSearchError
from ..infrastructure.geometry import intersection_matrix
from ..io.data_files import read_json
from .metrics import average_precision

ROOT_LABEL = "/m/0bl9f"  # "Entity": skipped, as TF's _build_plain_hierarchy(skip_root=True)
IOU_THRESHOLD = 0.5
IOA_THRESHOLD = 0.5


#: The box columns of the Open Images CSVs (normalised 0..1), as (x1, y1, x2, y2).
BOX_CORNERS = ("XMin", "YMin", "XMax", "YMax")


class OpenImagesProtocolError(PyImageSearchError):
    """A hierarchy, subset or input that the Open Images protocol cannot use."""


@dataclass(frozen=True)
class Hierarchy:
    """All ancestors and all descendants of each label (``Subcategory`` edges, no root)."""

    ancestors: dict[str, frozenset[str]]
    descendants: dict[str, frozenset[str]]

    def up(self, label: str) -> frozenset[str]:
        """The label and its ancestors (a label outside the hierarchy: itself)."""
        return self.ancestors.get(label, frozenset()) | {label}

    def down(self, label: str) -> frozenset[str]:
        """The label and its descendants."""
        return self.descendants.get(label, frozenset()) | {label}


def parse_hierarchy(tree: dict) -> Hierarchy:
    """A :class:`Hierarchy` from the parsed ``bbox_labels_600_hierarchy.json``.

    A label may sit under several parents (45 of the 601 do): its ancestors are the
    union over all its paths. ``Part`` edges (Person -> Human face) are not "kind of"
    and are ignored, as in TF and mmdetection.
    """
    if not isinstance(tree, dict) or "LabelName" not in tree:
        raise OpenImagesProtocolError("not a label hierarchy (no top-level 'LabelName')")
    parents: dict[str, set[str]] = defaultdict(set)
    stack = [tree]
    try:
        while stack:
            node = stack.pop()
            for sub in node.get("Subcategory", []):
                if node["LabelName"] != ROOT_LABEL:
                    parents[sub["LabelName"]].add(node["LabelName"])
                else:
                    parents.setdefault(sub["LabelName"], set())
                stack.append(sub)
    except (AttributeError, KeyError, TypeError) as exc:  # a node that is not {LabelName: ...}
        raise OpenImagesProtocolError(f"not a label hierarchy (malformed node: {exc!r})") from None
    ancestors: dict[str, frozenset[str]] = {}

    def up(label: str, seen: frozenset[str] = frozenset()) -> frozenset[str]:
        if label not in ancestors:
            if label in seen:
                raise OpenImagesProtocolError(f"label hierarchy has a cycle at {label}")
            out: set[str] = set()
            for parent in parents.get(label, ()):
                out |= {parent} | up(parent, seen | {label})
            ancestors[label] = frozenset(out)
        return ancestors[label]

    try:
        for label in list(parents):
            up(label)
    except RecursionError:
        raise OpenImagesProtocolError("label hierarchy nested too deeply to read") from None
    descendants: dict[str, set[str]] = defaultdict(set)
    for label, ups in ancestors.items():
        for parent in ups:
            descendants[parent].add(label)
    return Hierarchy(ancestors, {k: frozenset(v) for k, v in descendants.items()})


def read_hierarchy_file(path: str | os.PathLike) -> Hierarchy:
    """:func:`parse_hierarchy` of a ``bbox_labels_600_hierarchy.json`` file."""
    path = Path(path)
    tree = read_json(path, OpenImagesProtocolError, "label hierarchy")
    try:
        return parse_hierarchy(tree)
    except OpenImagesProtocolError as exc:
        raise OpenImagesProtocolError(f"{path}: {exc}") from None


# ---- hierarchy expansion -------------------------------------------------------------


def _expand_up(
    labels: Sequence[str], hierarchy: Hierarchy, keep: set[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Row index and label of each (row, label-or-ancestor) pair, optionally only ``keep``."""
    rows, out = [], []
    for label in dict.fromkeys(labels):  # one hierarchy lookup per distinct label
        ups = sorted(hierarchy.up(label) if keep is None else hierarchy.up(label) & keep)
        idx = np.flatnonzero(np.asarray(labels, dtype=object) == label)
        rows.append(np.repeat(idx, len(ups)))
        out.append(np.tile(np.asarray(ups, dtype=object), len(idx)))
    if not rows:
        return np.zeros(0, np.intp), np.zeros(0, dtype=object)
    rows_arr, out_arr = np.concatenate(rows), np.concatenate(out)
    order = np.lexsort((out_arr.astype(str), rows_arr))  # row order, then label order
    return rows_arr[order], out_arr[order]


def expand_ground_truth(
    boxes: np.ndarray, labels: Sequence[str], group_of: np.ndarray, hierarchy: Hierarchy
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each box repeated for its class and every ancestor (TF ``expand_boxes_from_csv``)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    rows, out = _expand_up(list(labels), hierarchy)
    return boxes[rows], out, np.asarray(group_of, bool).reshape(-1)[rows]


def expand_image_labels(
    positive: Iterable[str], negative: Iterable[str], hierarchy: Hierarchy
) -> tuple[frozenset[str], frozenset[str]]:
    """Verified labels: positives with their ancestors, negatives with their descendants
    (TF ``expand_labels_from_csv``). A class both verified present and absent (through
    two paths) is taken as present."""
    pos = frozenset().union(*(hierarchy.up(label) for label in positive))
    neg = frozenset().union(*(hierarchy.down(label) for label in negative))
    return pos, neg - pos


def expand_detections(
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: Sequence[str],
    hierarchy: Hierarchy,
    evaluatable: Iterable[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each detection repeated for its class and every ancestor, keeping only the
    ``evaluatable`` classes of the image (mmdetection ``_process_predictions`` with
    ``get_supercategory`` and ``filter_labels``; TF ``add_single_detected_image_info``)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    keep = None if evaluatable is None else set(evaluatable)
    rows, out = _expand_up(list(labels), hierarchy, keep)
    return boxes[rows], np.asarray(scores, np.float64).reshape(-1)[rows], out


# ---- one image, one class --------------------------------------------------------------


def _areas(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def match_image_class(
    det_boxes: np.ndarray,
    det_scores: np.ndarray,
    gt_boxes: np.ndarray,
    gt_group_of: np.ndarray,
    iou_threshold: float = IOU_THRESHOLD,
    ioa_threshold: float = IOA_THRESHOLD,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score and true-positive flag of each *evaluated* entry of one class in one image.

    Returns ``scores``, ``is_tp`` (the entries: detections that are neither ignored nor
    merged into a group-of box, then one true positive per group-of box hit, as TF's
    ``_compute_tp_fp_for_single_class`` returns them) and ``status`` per input detection:
    1 true positive, 0 false positive, -1 inside a group-of box (the box's one true
    positive takes the highest score of these; the others are ignored), -2 invalid box
    (``x2 <= x1`` or ``y2 <= y1``, removed first as TF's ``_remove_invalid_boxes`` does).

    The VOC greedy match is vectorised exactly: with detections in decreasing score,
    each one looks only at its highest-IoU box, and is a true positive iff it is the
    first of them to reach the threshold on that box.
    """
    det_boxes = np.asarray(det_boxes, np.float64).reshape(-1, 4)
    det_scores = np.asarray(det_scores, np.float64).reshape(-1)
    gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    gt_group_of = np.asarray(gt_group_of, bool).reshape(-1)
    if len(det_boxes) != len(det_scores) or len(gt_boxes) != len(gt_group_of):
        raise ValueError("boxes and their scores / group-of flags differ in length")
    status = np.full(len(det_boxes), -2, np.int8)
    valid = np.flatnonzero(
        (det_boxes[:, 0] < det_boxes[:, 2]) & (det_boxes[:, 1] < det_boxes[:, 3])
    )
    order = valid[np.argsort(-det_scores[valid], kind="stable")]
    boxes, scores = det_boxes[order], det_scores[order]
    n = len(order)
    tp = np.zeros(n, bool)
    single, group = gt_boxes[~gt_group_of], gt_boxes[gt_group_of]
    if len(single) and n:
        inter = intersection_matrix(boxes, single)
        union = _areas(boxes)[:, None] + _areas(single)[None, :] - inter
        iou = inter / np.maximum(union, np.finfo(float).tiny)
        best = np.argmax(iou, axis=1)
        hit = np.flatnonzero(iou[np.arange(n), best] >= iou_threshold)
        _, first = np.unique(best[hit], return_index=True)  # first in score order per box
        tp[hit[first]] = True
    ignored = np.zeros(n, bool)
    group_scores = np.zeros(0)
    if len(group) and n:
        ioa = intersection_matrix(boxes, group) / np.maximum(_areas(boxes), 1e-300)[:, None]
        best = np.argmax(ioa, axis=1)
        ignored = ~tp & (ioa[np.arange(n), best] >= ioa_threshold)
        per_box = np.zeros(len(group))
        np.maximum.at(per_box, best[ignored], scores[ignored])
        group_scores = per_box[per_box > 0]  # TF keeps scores_group_of > 0
    status[order] = np.where(ignored, -1, tp.astype(np.int8))
    kept = ~ignored
    out_scores = np.concatenate([scores[kept], group_scores])
    out_tp = np.concatenate([tp[kept], np.ones(len(group_scores), bool)])
    return out_scores, out_tp, status


# ---- a data set ----------------------------------------------------------------------------


@dataclass
class ImageTruth:
    """Ground truth of one image, as in the Open Images CSVs (before expansion)."""

    boxes: np.ndarray  # (n, 4) x1, y1, x2, y2
    labels: Sequence[str]  # LabelName of each box
    group_of: np.ndarray  # (n,) bool
    positive: frozenset[str] = frozenset()  # verified present (image-level Confidence 1)
    negative: frozenset[str] = frozenset()  # verified absent (Confidence 0)


@dataclass
class ImageDetections:
    """Detections of one image: boxes (x1, y1, x2, y2), scores and LabelName each."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: Sequence[str]


@dataclass
class ClassResult:
    """AP of one class and what it was computed from."""

    average_precision: float  # NaN without ground truth
    n_objects: int  # expanded boxes, a group-of box counting once
    n_group_of: int
    n_evaluated: int  # entries on the PR curve (detections + group-of hits)
    n_true_positives: int
    n_ignored: int  # in group-of boxes beyond the one true positive each box gives
    n_not_evaluatable: int  # on images where the class is not verified (dropped)


@dataclass
class ProtocolResult:
    """Per-class results and the mean AP over classes with ground truth."""

    classes: dict[str, ClassResult] = field(default_factory=dict)

    @property
    def mean_average_precision(self) -> float:
        aps = [c.average_precision for c in self.classes.values() if c.n_objects > 0]
        return float(np.mean(aps)) if aps else float("nan")


def evaluatable_labels(truth: ImageTruth, hierarchy: Hierarchy) -> frozenset[str]:
    """Classes that count in this image: those of its expanded boxes and its verified
    image-level labels, positive or negative (TF ``_evaluatable_labels``)."""
    boxed = frozenset().union(*(hierarchy.up(label) for label in truth.labels))
    pos, neg = expand_image_labels(truth.positive, truth.negative, hierarchy)
    return boxed | pos | neg


def evaluate_protocol(
    truths: Sequence[ImageTruth],
    detections: Sequence[ImageDetections],
    hierarchy: Hierarchy,
    classes: Iterable[str] | None = None,
    iou_threshold: float = IOU_THRESHOLD,
    ioa_threshold: float = IOA_THRESHOLD,
) -> ProtocolResult:
    """AP per class under the Open Images protocol, over images paired by position.

    ``classes`` (default: every class of the expanded ground truth and detections) are
    the classes reported; a class without ground truth gets NaN and stays out of mAP.
    """
    if len(truths) != len(detections):
        raise ValueError(f"{len(truths)} ground-truth images but {len(detections)} detections")
    scores: dict[str, list[np.ndarray]] = defaultdict(list)
    flags: dict[str, list[np.ndarray]] = defaultdict(list)
    counts: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(4, np.int64))
    for truth, det in zip(truths, detections):
        allowed = evaluatable_labels(truth, hierarchy)
        gt_boxes, gt_labels, gt_group = expand_ground_truth(
            truth.boxes, truth.labels, truth.group_of, hierarchy
        )
        all_boxes, all_scores, all_labels = expand_detections(
            det.boxes, det.scores, det.labels, hierarchy
        )
        for label in set(all_labels) - allowed:
            counts[label][3] += int(np.sum(all_labels == label))
        for label in allowed:
            gt = gt_labels == label
            counts[label][0] += int(gt.sum())
            counts[label][1] += int(gt_group[gt].sum())
            mine = all_labels == label
            if not mine.any():
                continue
            s, tp, status = match_image_class(
                all_boxes[mine], all_scores[mine], gt_boxes[gt], gt_group[gt],
                iou_threshold, ioa_threshold,
            )  # fmt: skip
            scores[label].append(s)
            flags[label].append(tp)
            n_group_tp = len(s) - int(np.sum(status >= 0))  # entries beyond the detections
            counts[label][2] += int(np.sum(status == -1)) - n_group_tp
    if classes is None:  # the classes seen: with ground truth or with detections
        classes = sorted(k for k, v in counts.items() if v[0] or v[3] or scores[k])
    result = ProtocolResult()
    for label in classes:
        n_objects, n_group, n_ignored, n_dropped = (int(v) for v in counts[label])
        s = np.concatenate(scores[label]) if scores[label] else np.zeros(0)
        tp = np.concatenate(flags[label]) if flags[label] else np.zeros(0, bool)
        ap = class_average_precision(s, tp, n_objects)
        result.classes[label] = ClassResult(
            ap, n_objects, n_group, len(s), int(tp.sum()), n_ignored, n_dropped
        )
    return result


def class_average_precision(scores: np.ndarray, is_tp: np.ndarray, n_objects: int) -> float:
    """VOC 2010+ AP of one class from its evaluated entries (TF ``compute_precision_recall``
    then ``compute_average_precision``); NaN when the class has no ground truth."""
    if n_objects == 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    hits = np.asarray(is_tp, bool)[order]
    tp, fp = np.cumsum(hits), np.cumsum(~hits)
    if len(hits) == 0:
        return 0.0
    return average_precision(tp / (tp + fp), tp / n_objects)
