"""Score-keeping non-maximum suppression (the course's definition of overlap)."""

from __future__ import annotations

import numpy as np


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, overlap_thresh: float) -> np.ndarray:
    """Indices of the boxes kept, highest score first.

    Boxes are visited from the highest score down; a box is suppressed when its
    intersection with an already kept box covers more than ``overlap_thresh`` of its
    own area (Felzenszwalb et al.'s criterion, used by the course's
    ``non_max_suppression``). Boxes are ``(x1, y1, x2, y2)`` with exclusive ends.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).ravel()
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    x1, y1, x2, y2 = boxes.T
    area = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        iw = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        ih = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        overlap = iw * ih / np.maximum(area[rest], 1e-12)
        order = rest[overlap <= overlap_thresh]
    return np.asarray(keep, np.int64)
