"""Reference implementations: the course's per-window algorithm, for tests and benchmarks only.

These compute each window's descriptor on its own with ``skimage.feature.hog`` on the
window's context crop, and score windows one by one. They are slow by design: they
define what the fast path must reproduce.
"""

from __future__ import annotations

import numpy as np
from skimage.feature import hog as skimage_hog

from pyimagesearch.descriptor.hog import HogParams, context_crop
from pyimagesearch.detection.pyramid import pyramid


def skimage_window_descriptor(
    image: np.ndarray, x: int, y: int, window_dim: tuple[int, int], params: HogParams
) -> np.ndarray:
    """The window's descriptor from ``skimage.feature.hog`` on its one-cell context crop."""
    crop, (cell_r, cell_c), _ = context_crop(image, x, y, window_dim, params)
    blocks = skimage_hog(
        crop,
        orientations=params.orientations,
        pixels_per_cell=params.pixels_per_cell,
        cells_per_block=params.cells_per_block,
        block_norm=params.block_norm,
        transform_sqrt=params.transform_sqrt,
        feature_vector=False,
    )
    n_r, n_c = params.window_blocks(window_dim)
    return blocks[cell_r : cell_r + n_r, cell_c : cell_c + n_c].ravel()


def naive_score_layer(model, layer: np.ndarray, step: int):
    """Scores of every window of a layer, one skimage ``hog`` call per window."""
    ww, wh = model.window_dim
    xs = np.arange(0, layer.shape[1] - ww + 1, step)
    ys = np.arange(0, layer.shape[0] - wh + 1, step)
    scores = np.empty((ys.size, xs.size), np.float64)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            feat = skimage_window_descriptor(layer, int(x), int(y), (ww, wh), model.hog)
            scores[i, j] = float(feat.astype(np.float64) @ model.weights + model.bias)
    return xs, ys, scores


def naive_detect(model, image: np.ndarray, step: int, scale: float, min_probability: float):
    """The course's detector: per-window HOG and per-window probability, no NMS.

    Returns ``(boxes, probabilities)`` in original-image pixels.
    """
    ww, wh = model.window_dim
    boxes, probs = [], []
    for layer, fx, fy in pyramid(image, scale, (ww, wh)):
        for y in range(0, layer.shape[0] - wh + 1, step):
            for x in range(0, layer.shape[1] - ww + 1, step):
                feat = skimage_window_descriptor(layer, x, y, (ww, wh), model.hog)
                p = model.predict_proba(feat[None, :])[0, 1]
                if p >= min_probability:
                    boxes.append((x * fx, y * fy, (x + ww) * fx, (y + wh) * fy))
                    probs.append(p)
    return np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(probs)
