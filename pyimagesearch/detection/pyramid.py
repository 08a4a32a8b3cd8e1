"""Image pyramid: the image enlarged (``upsample``) and shrunk by ``scale`` per layer.

Layers are at exact powers of ``scale``: enlarged layers (factor ``scale**-k``, at most
``2**upsample``, like dlib's ``upsample_num_times``) find objects smaller than the
window; shrunk layers go on until the window no longer fits.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np


def pyramid_shapes(
    width: int, height: int, scale: float, min_size: tuple[int, int], upsample: int = 0
) -> list[tuple[int, int]]:
    """``(width, height)`` of each layer, largest first, each at least ``min_size``."""
    if scale <= 1.0:
        raise ValueError(f"pyramid scale must be > 1, got {scale}")
    if upsample < 0:
        raise ValueError(f"upsample must be >= 0, got {upsample}")
    shapes = [(round(width * f), round(height * f)) for f in enlargements(scale, upsample)]
    shapes = [s for s in shapes if s[0] >= min_size[0] and s[1] >= min_size[1]]
    factor = 1.0
    while True:
        w, h = int(width / factor), int(height / factor)
        if w < min_size[0] or h < min_size[1]:
            return shapes
        shapes.append((w, h))
        factor *= scale


def enlargements(scale: float, upsample: int) -> list[float]:
    """Enlargement factors ``scale**k`` (k >= 1) up to ``2**upsample``, largest first."""
    limit = 2.0**upsample * (1 + 1e-9)
    factors, f = [], scale
    while upsample and f <= limit:
        factors.append(f)
        f *= scale
    return factors[::-1]


def pyramid(
    image: np.ndarray, scale: float, min_size: tuple[int, int], upsample: int = 0
) -> Iterator[tuple[np.ndarray, float, float]]:
    """Yield ``(layer, x_factor, y_factor)``; multiply layer coordinates by the factors.

    Enlarged layers are interpolated linearly from the image. Each shrunk layer is
    the previous one shrunk with area interpolation, as the course's ``pyramid`` does
    (``imutils.resize``); sizes are computed from the original so that factors stay
    exact. Shrinking the previous layer costs about half as much as shrinking the
    original each time.
    """
    height, width = image.shape[:2]
    layer = image
    for w, h in pyramid_shapes(width, height, scale, min_size, upsample):
        if w > width or h > height:
            yield cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR), width / w, height / h
            continue
        if (w, h) != layer.shape[1::-1]:
            layer = cv2.resize(layer, (w, h), interpolation=cv2.INTER_AREA)
        yield layer, width / w, height / h
