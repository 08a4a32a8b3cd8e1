"""Statistics of the annotated boxes and a window size that fits them and the HOG cells."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..io.images import header_size
from .annotations import AnnotatedImage

log = logging.getLogger(__name__)


@dataclass
class BoxStatistics:
    widths: np.ndarray
    heights: np.ndarray

    @property
    def aspect_ratios(self) -> np.ndarray:
        return self.widths / self.heights

    def table(self) -> dict[str, dict[str, float]]:
        """min / mean / median / max of widths, heights and aspect ratios."""
        out = {}
        for name, values in (
            ("width", self.widths),
            ("height", self.heights),
            ("aspect_ratio", self.aspect_ratios),
        ):
            out[name] = {
                "min": float(values.min()),
                "mean": float(values.mean()),
                "median": float(np.median(values)),
                "max": float(values.max()),
            }
        return out


def box_statistics(items: list[AnnotatedImage]) -> BoxStatistics:
    """Widths and heights of all boxes (clipped to their images)."""
    widths, heights = [], []
    for item in items:
        w, h = header_size(item.path)
        boxes = item.boxes_inside(w, h)
        widths.extend(boxes[:, 2] - boxes[:, 0])
        heights.extend(boxes[:, 3] - boxes[:, 1])
    if not widths:
        raise ValueError("no boxes to measure")
    return BoxStatistics(np.asarray(widths, float), np.asarray(heights, float))


def suggest_window_dim(
    stats: BoxStatistics, pixels_per_cell: tuple[int, int], target_area: int = 96 * 32
) -> tuple[int, int]:
    """``(width, height)`` with the boxes' median aspect ratio, about ``target_area``
    pixels, each side a multiple of the cell size and no larger than the median box."""
    ratio = float(np.median(stats.aspect_ratios))
    c_r, c_c = pixels_per_cell
    width = np.sqrt(target_area * ratio)
    height = width / ratio
    width = min(width, np.median(stats.widths))
    height = min(height, np.median(stats.heights))
    w = max(c_c * 2, int(round(width / c_c)) * c_c)
    h = max(c_r * 2, int(round(height / c_r)) * c_r)
    return int(w), int(h)
