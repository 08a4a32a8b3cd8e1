"""Image pyramid: the image shrunk by ``scale`` per layer until the window no longer fits."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np


def pyramid_shapes(
    width: int, height: int, scale: float, min_size: tuple[int, int]
) -> list[tuple[int, int]]:
    """``(width, height)`` of each layer, largest first, each at least ``min_size``."""
    if scale <= 1.0:
        raise ValueError(f"pyramid scale must be > 1, got {scale}")
    shapes, factor = [], 1.0
    while True:
        w, h = int(width / factor), int(height / factor)
        if w < min_size[0] or h < min_size[1]:
            return shapes
        shapes.append((w, h))
        factor *= scale


def pyramid(
    image: np.ndarray, scale: float, min_size: tuple[int, int]
) -> Iterator[tuple[np.ndarray, float, float]]:
    """Yield ``(layer, x_factor, y_factor)``; multiply layer coordinates by the factors.

    Each layer is the previous one shrunk with area interpolation, as the course's
    ``pyramid`` does (``imutils.resize``); sizes are computed from the original so
    that factors stay exact. Shrinking the previous layer costs about half as much as
    shrinking the original each time.
    """
    height, width = image.shape[:2]
    layer = image
    for w, h in pyramid_shapes(width, height, scale, min_size):
        if (w, h) != layer.shape[1::-1]:
            layer = cv2.resize(layer, (w, h), interpolation=cv2.INTER_AREA)
        yield layer, width / w, height / h
