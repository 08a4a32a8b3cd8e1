"""The record every annotation reader produces: one image and the boxes of the target class.

Boxes are ``(x1, y1, x2, y2)`` in 0-based pixel coordinates of the image, ``x2``/``y2``
exclusive (so ``image[y1:y2, x1:x2]`` is the object).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..infrastructure.geometry import clip_boxes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnnotatedImage:
    """One image and the boxes of the target class in it (``boxes`` may be empty);
    ``ignore`` boxes hold objects that are neither positives nor ever negatives (dlib's
    ``ignore='1'``: e.g. the other shapes of a mixture's component)."""

    path: Path
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float64))
    ignore: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float64))

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "ignore", np.asarray(self.ignore, np.float64).reshape(-1, 4))
        object.__setattr__(self, "path", Path(self.path))

    def ignored_inside(self, width: int, height: int) -> np.ndarray:
        """The ``ignore`` boxes clipped to a ``width`` x ``height`` image."""
        boxes = clip_boxes(self.ignore, width, height)
        return boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]

    def boxes_inside(self, width: int, height: int) -> np.ndarray:
        """The boxes clipped to a ``width`` x ``height`` image; boxes left with no area
        dropped, and boxes mostly outside the image (a box for another image, or wrong
        units) reported as clipped."""
        boxes = clip_boxes(self.boxes, width, height)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        if not keep.all():
            log.warning(
                "%s: dropped %d box(es) outside the image or with zero area",
                self.path,
                int((~keep).sum()),
            )
        mostly_out = keep & (_area(boxes) < 0.5 * _area(self.boxes))
        if mostly_out.any():
            log.warning(
                "%s: %d box(es) lie mostly outside the %dx%d image; clipped to it",
                self.path,
                int(mostly_out.sum()),
                width,
                height,
            )
        return boxes[keep]


def _area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
