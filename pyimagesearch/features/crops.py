"""Training crops taken the way the detector sees windows: with one cell of context."""

from __future__ import annotations

import cv2
import numpy as np

from ..descriptor.hog import HogParams, hog_blocks, window_descriptors


def roi_descriptor(
    image: np.ndarray,
    roi: np.ndarray,
    window_dim: tuple[int, int],
    params: HogParams,
    flip: bool = False,
) -> np.ndarray:
    """Descriptor of a region resized to ``window_dim``, computed with a one-cell margin.

    The margin is taken from the image around the region (edge pixels replicated
    where the image ends), resized with the region, and its cells are discarded:
    the window's border pixels get real gradients, as in a pyramid layer.
    """
    patch = roi_patch(image, roi, window_dim, params)
    if flip:
        patch = np.ascontiguousarray(patch[:, ::-1])
    (blocks,) = hog_blocks(patch, params)
    n_r, n_c = params.window_blocks(window_dim)
    return blocks[1 : 1 + n_r, 1 : 1 + n_c].ravel()


def roi_patch(
    image: np.ndarray, roi: np.ndarray, window_dim: tuple[int, int], params: HogParams
) -> np.ndarray:
    """The region plus a margin, resized so the region becomes ``window_dim`` (+1 cell)."""
    ww, wh = window_dim
    c_r, c_c = params.pixels_per_cell
    x1, y1, x2, y2 = (float(v) for v in roi)
    mx = max(1, round(c_c * (x2 - x1) / ww))
    my = max(1, round(c_r * (y2 - y1) / wh))
    x1i, y1i = int(np.floor(x1)) - mx, int(np.floor(y1)) - my
    x2i, y2i = int(np.ceil(x2)) + mx, int(np.ceil(y2)) + my
    h, w = image.shape[:2]
    pad = (max(0, -y1i), max(0, y2i - h), max(0, -x1i), max(0, x2i - w))
    if any(pad):
        image = cv2.copyMakeBorder(image, *pad, borderType=cv2.BORDER_REPLICATE)
        x1i, x2i, y1i, y2i = x1i + pad[2], x2i + pad[2], y1i + pad[0], y2i + pad[0]
    crop = image[y1i:y2i, x1i:x2i]
    return cv2.resize(crop, (ww + 2 * c_c, wh + 2 * c_r), interpolation=cv2.INTER_AREA)


def random_windows(
    image: np.ndarray,
    count: int,
    window_dim: tuple[int, int],
    params: HogParams,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Descriptors and boxes of ``count`` random window-sized patches (scale 1)."""
    ww, wh = window_dim
    h, w = image.shape[:2]
    xs = rng.integers(0, w - ww + 1, size=count)
    ys = rng.integers(0, h - wh + 1, size=count)
    positions = np.stack([xs, ys], axis=1)
    boxes = np.stack([xs, ys, xs + ww, ys + wh], axis=1).astype(np.float64)
    return window_descriptors(image, positions, window_dim, params), boxes
