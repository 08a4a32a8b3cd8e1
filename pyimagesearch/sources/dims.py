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


#: A data set whose median object covers this share of its image is a set of crops: the
#: object fills the frame (a crop with a margin of about 5 % a side still does). Close-ups
#: where the object covers about half the photo (raccoon: median 0.52) keep their scene
#: and are validated on as they are: pasting them into scenes validated a raccoon
#: detector on images unlike its photos (test AP50 0.074 -> 0.094, AP70 0.014 -> 0.033).
CROP_COVER = 0.8


def looks_like_crops(items: list[AnnotatedImage], max_images: int = 200) -> bool:
    """Whether the objects fill their images (a folder of crops, or close-ups): then an
    image's border is not the scene's (the object goes on past it), and the images are
    no validation for photos where objects are small."""
    covers = []
    for item in items[:max_images]:
        if not len(item.boxes):
            continue
        try:
            width, height = header_size(item.path)
        except Exception:  # unreadable: the readers say so elsewhere
            continue
        b = item.boxes_inside(width, height)
        if len(b):
            area = ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])).max()
            covers.append(area / float(width * height))
    return bool(covers) and float(np.median(covers)) >= CROP_COVER


#: Pixels of the suggested window: the course's 96x32 for HOG, dlib's default 80x80 for
#: FHOG (its 8-pixel cells need more pixels for as many cells).
WINDOW_AREA = {"hog": 96 * 32, "fhog": 80 * 80}


def suggest_window_dim(
    stats: BoxStatistics,
    pixels_per_cell: tuple[int, int],
    target_area: int | None = None,
    descriptor: str = "hog",
) -> tuple[int, int]:
    """``(width, height)`` with the boxes' median aspect ratio, about ``target_area``
    pixels (default: :data:`WINDOW_AREA` of the descriptor), each side a multiple of the
    cell size and no larger than the median box."""
    target_area = WINDOW_AREA[descriptor] if target_area is None else target_area
    ratio = float(np.median(stats.aspect_ratios))
    c_r, c_c = pixels_per_cell
    width = np.sqrt(target_area * ratio)
    height = width / ratio
    width = min(width, np.median(stats.widths))
    height = min(height, np.median(stats.heights))
    w = max(c_c * 2, int(round(width / c_c)) * c_c)
    h = max(c_r * 2, int(round(height / c_r)) * c_r)
    return int(w), int(h)


#: One window serves boxes whose aspect ratios span at most this factor (the middle 80 %
#: of them): a box resized to a window of another aspect is stretched by up to its root.
MAX_ASPECT_SPREAD = 1.6


def aspect_components(
    ratios: np.ndarray,
    max_spread: float = MAX_ASPECT_SPREAD,
    max_components: int = 3,
    min_boxes: int = 8,
) -> np.ndarray:
    """The component of each box: one when the middle 80 % of the aspect ratios span at
    most ``max_spread``, else the fewest equal-count groups by aspect ratio whose spread
    each is about ``max_spread`` or less (DPM initialises its mixture of root filters by
    splitting the boxes by aspect ratio), each with at least ``min_boxes`` boxes.

    References: P. Felzenszwalb, R. Girshick, D. McAllester and D. Ramanan, "Object
    Detection with Discriminatively Trained Part-Based Models", PAMI 2010, section 5.
    """
    ratios = np.asarray(ratios, np.float64)
    lo, hi = np.percentile(ratios, [10, 90])
    spread = hi / lo
    k = int(np.ceil(np.log(spread) / np.log(max_spread) - 1e-9)) if spread > max_spread else 1
    k = max(1, min(k, max_components, len(ratios) // min_boxes))
    if k == 1:
        return np.zeros(len(ratios), np.int64)
    edges = np.quantile(ratios, [i / k for i in range(1, k)])
    return np.searchsorted(edges, ratios, side="right").astype(np.int64)
