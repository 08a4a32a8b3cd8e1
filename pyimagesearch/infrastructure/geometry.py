"""Box geometry shared by detection, training, mining and evaluation.

Boxes are ``(x1, y1, x2, y2)`` rows with exclusive ends, in pixels (floats allowed).
"""

from __future__ import annotations

import numpy as np


def clip_boxes(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """A copy of ``boxes`` (one box or rows of boxes) clipped to a ``width`` x ``height`` image."""
    boxes = np.array(boxes, dtype=np.result_type(np.asarray(boxes).dtype, np.float64))
    boxes[..., [0, 2]] = boxes[..., [0, 2]].clip(0, width)
    boxes[..., [1, 3]] = boxes[..., [1, 3]].clip(0, height)
    return boxes


def fills_image(box: np.ndarray, width: float, height: float, tolerance: float = 0.01) -> bool:
    """Whether a box covers its whole image (to ``tolerance`` of each side, at least one
    pixel): the image is a crop of the object, and its border is not the scene's."""
    x1, y1, x2, y2 = np.asarray(box, np.float64)[:4]
    tx, ty = max(1.0, tolerance * width), max(1.0, tolerance * height)
    return bool(x1 <= tx and y1 <= ty and x2 >= width - tx and y2 >= height - ty)


def intersection_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection area of every box of ``a`` with every box of ``b``, ``(len(a), len(b))``."""
    a = np.asarray(a, np.float64).reshape(-1, 1, 4)
    b = np.asarray(b, np.float64).reshape(1, -1, 4)
    iw = np.maximum(0.0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]))
    ih = np.maximum(0.0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]))
    return iw * ih


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` with every box of ``b``, shape ``(len(a), len(b))``."""
    inter = intersection_matrix(a, b)
    a = np.asarray(a, np.float64).reshape(-1, 1, 4)
    b = np.asarray(b, np.float64).reshape(1, -1, 4)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-12)


def overlapping(boxes: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """The boxes of ``boxes`` that share some area with a box of ``anchors``. Several
    classes: the other classes' objects a class's objects overlap, its ignore regions."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not len(boxes) or not len(anchors):
        return boxes[:0]
    return boxes[(intersection_matrix(boxes, anchors) > 0).any(axis=1)]


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one box with each of ``boxes``."""
    return iou_matrix(box, boxes)[0]


def edge_scale(boxes: np.ndarray) -> np.ndarray:
    """``(n, 4)``: each box's width, height, width, height (the unit of each edge)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return np.stack([w, h, w, h], axis=1)


def box_targets(windows: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """Box-regression targets: the objects' edges minus the windows', over the window size."""
    windows = np.asarray(windows, np.float64).reshape(-1, 4)
    objects = np.asarray(objects, np.float64).reshape(-1, 4)
    return (objects - windows) / edge_scale(windows)


def window_padding(
    window_dim: tuple[int, int], pixels_per_cell: tuple[int, int], share: float
) -> tuple[int, int]:
    """Pixels ``(x, y)`` a window may extend past the border: at most ``share`` of the
    window, in whole cells (so the padded layer's cell grid stays aligned)."""
    (ww, wh), (c_r, c_c) = window_dim, pixels_per_cell
    return int(share * ww // c_c) * c_c, int(share * wh // c_r) * c_r
