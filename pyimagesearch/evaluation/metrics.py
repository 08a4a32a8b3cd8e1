"""Detection metrics: VOC-style matching, precision/recall curve, average precision."""

from __future__ import annotations

import numpy as np

from ..infrastructure.geometry import iou


def match_detections(
    det_boxes: list[np.ndarray],
    det_scores: list[np.ndarray],
    gt_boxes: list[np.ndarray],
    iou_thresh: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Scores and true-positive flags of all detections, highest score first.

    Per image, detections are visited by decreasing score; each one matches the
    unmatched ground-truth box it overlaps most if that IoU is ``>= iou_thresh``
    (one detection per object; a second detection of a matched object is a false
    positive), as in the PASCAL VOC evaluation.
    """
    scores, flags, _, n_objects = match_with_iou(det_boxes, det_scores, gt_boxes, iou_thresh)
    return scores, flags, n_objects


def match_with_iou(
    det_boxes: list[np.ndarray],
    det_scores: list[np.ndarray],
    gt_boxes: list[np.ndarray],
    iou_thresh: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """As :func:`match_detections`, plus each detection's IoU with the object it matched
    (0 for false positives), to measure how well true positives frame their objects."""
    scores, flags, ious = [], [], []
    for boxes, s, gts in zip(det_boxes, det_scores, gt_boxes):
        order = np.argsort(-np.asarray(s), kind="stable")
        taken = np.zeros(len(gts), bool)
        for i in order:
            hit, value = False, 0.0
            if len(gts):
                overlaps = iou(boxes[i], gts)
                j = int(np.argmax(overlaps))
                if overlaps[j] >= iou_thresh and not taken[j]:
                    taken[j] = hit = True
                    value = float(overlaps[j])
            scores.append(float(s[i]))
            flags.append(hit)
            ious.append(value)
    scores_arr = np.asarray(scores, np.float64)
    order = np.argsort(-scores_arr, kind="stable")
    n_objects = int(sum(len(g) for g in gt_boxes))
    return (
        scores_arr[order],
        np.asarray(flags, bool)[order],
        np.asarray(ious, np.float64)[order],
        n_objects,
    )


def detection_figures(
    det_boxes: list[np.ndarray], det_scores: list[np.ndarray], gt_boxes: list[np.ndarray]
) -> dict[str, float | int]:
    """AP at IoU 0.5 and 0.7 and the mean IoU of the true positives at IoU 0.5."""
    out: dict[str, float | int] = {}
    for thresh, key in ((0.5, "ap50"), (0.7, "ap70")):
        _, flags, ious, n = match_with_iou(det_boxes, det_scores, gt_boxes, thresh)
        precision, recall = precision_recall(flags, n)
        out[key] = average_precision(precision, recall)
        if thresh == 0.5:
            out["mean_iou"] = float(ious[flags].mean()) if flags.any() else 0.0
            out["n_objects"] = n
    return out


def summarize_detections(
    det_boxes: list[np.ndarray],
    det_scores: list[np.ndarray],
    gt_boxes: list[np.ndarray],
    min_probability: float,
) -> dict:
    """AP (IoU 0.5), precision and recall at ``min_probability``, AP at IoU 0.7, mean IoU
    of true positives, and the PR curve, from per-image detections and objects."""
    scores, flags, n_objects = match_detections(det_boxes, det_scores, gt_boxes)
    precision, recall = precision_recall(flags, n_objects)
    figures = detection_figures(det_boxes, det_scores, gt_boxes)
    at = scores >= min_probability
    tp_at, n_at = int(flags[at].sum()), int(at.sum())
    return {
        "average_precision": average_precision(precision, recall),
        "precision": tp_at / n_at if n_at else 1.0,
        "recall": tp_at / max(n_objects, 1),
        "average_precision_70": figures["ap70"],
        "mean_iou": figures["mean_iou"],
        "min_probability": min_probability,
        "box_errors": box_errors(det_boxes, det_scores, gt_boxes, min_probability),
        "n_objects": n_objects,
        "n_images": len(gt_boxes),
        "curve": {
            "precision": precision.tolist(),
            "recall": recall.tolist(),
            "scores": scores.tolist(),
        },
    }


def box_errors(
    det_boxes: list[np.ndarray],
    det_scores: list[np.ndarray],
    gt_boxes: list[np.ndarray],
    min_probability: float,
) -> dict:
    """How well detections at ``>= min_probability`` that found an object (IoU >= 0.5)
    frame it: quantiles (10, 50, 90 %) of the width and height errors relative to the
    object (``w_det / w_obj - 1``) and of the IoU, and how many matches."""
    widths, heights, ious = [], [], []
    for boxes, scores, gts in zip(det_boxes, det_scores, gt_boxes):
        scores = np.asarray(scores)
        keep = scores >= min_probability
        boxes, scores = np.asarray(boxes)[keep], scores[keep]
        taken = np.zeros(len(gts), bool)
        for i in np.argsort(-scores, kind="stable"):
            if not len(gts):
                break
            overlaps = iou(boxes[i], gts)
            j = int(np.argmax(overlaps))
            if overlaps[j] < 0.5 or taken[j]:
                continue
            taken[j] = True
            d, g = boxes[i], gts[j]
            widths.append((d[2] - d[0]) / (g[2] - g[0]) - 1)
            heights.append((d[3] - d[1]) / (g[3] - g[1]) - 1)
            ious.append(float(overlaps[j]))
    out: dict = {"n_matched": len(widths)}
    for name, values in (("width_error", widths), ("height_error", heights), ("iou", ious)):
        if not values:  # JSON has no NaN: no match, no figures
            out[name] = {"p10": None, "median": None, "p90": None}
            continue
        q = np.percentile(values, [10, 50, 90])
        out[name] = {"p10": float(q[0]), "median": float(q[1]), "p90": float(q[2])}
    return out


def precision_recall(flags: np.ndarray, n_objects: int) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall after each detection (detections sorted by score)."""
    tp = np.cumsum(flags)
    fp = np.cumsum(~flags)
    recall = tp / max(n_objects, 1)
    precision = tp / np.maximum(tp + fp, 1)
    return precision, recall


def average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """All-point interpolated AP (PASCAL VOC 2010+): area under the monotone PR envelope."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def false_positive_types(
    det_boxes: list[np.ndarray],
    det_scores: list[np.ndarray],
    gt_boxes: list[np.ndarray],
    iou_thresh: float = 0.5,
    low: float = 0.1,
) -> dict[str, int]:
    """Count false positives by cause (Hoiem, Chodpathumwan & Dai, ECCV 2012).

    With detections matched as in :func:`match_detections`, an unmatched detection is
    a *duplicate* if it overlaps an object with IoU >= ``iou_thresh`` (that object was
    already found), a *localisation* error if its best IoU is in ``[low, iou_thresh)``,
    and *background* otherwise.
    """
    counts = {"localisation": 0, "duplicate": 0, "background": 0}
    for boxes, scores, gts in zip(det_boxes, det_scores, gt_boxes):
        taken = np.zeros(len(gts), bool)
        for i in np.argsort(-np.asarray(scores), kind="stable"):
            overlaps = iou(boxes[i], gts) if len(gts) else np.zeros(0)
            j = int(np.argmax(overlaps)) if len(gts) else -1
            if j >= 0 and overlaps[j] >= iou_thresh and not taken[j]:
                taken[j] = True
                continue
            best = float(overlaps.max()) if len(gts) else 0.0
            if best >= iou_thresh:
                counts["duplicate"] += 1
            elif best >= low:
                counts["localisation"] += 1
            else:
                counts["background"] += 1
    return counts
