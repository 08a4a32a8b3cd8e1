"""Picture of the learned template: SVM weights drawn as HOG glyphs on the window grid.

Each cell shows one line per orientation bin, as scikit-image's HOG visualisation
does, with brightness given by the weight summed over the blocks covering the cell:
positive weights (what the detector looks for) on the left, negative on the right.
For FHOG, a cell's 9 lines are its 9 contrast-insensitive orientations, each with the
weights of that orientation's insensitive feature and its two contrast-sensitive ones
(as dlib's ``draw_fhog``); the 4 texture features are not drawn.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..model.linear import LinearModel
from .gallery import write_png


def cell_weights(model: LinearModel) -> np.ndarray:
    """Weights per ``(cell_row, cell_col, orientation)``, summed over overlapping blocks
    (HOG) or over the features of each of the 9 contrast-insensitive orientations (FHOG)."""
    hog = model.hog
    if hog.descriptor == "fhog":
        w = model.weight_grid().astype(np.float64)
        return w[:, :, 0:9] + w[:, :, 9:18] + w[:, :, 18:27]
    b_r, b_c = hog.cells_per_block
    n_br, n_bc = hog.window_blocks(model.window_dim)
    w = model.weights.reshape(n_br, n_bc, b_r, b_c, hog.orientations)
    cells = np.zeros((n_br + b_r - 1, n_bc + b_c - 1, hog.orientations), np.float64)
    for u in range(b_r):
        for v in range(b_c):
            cells[u : u + n_br, v : v + n_bc] += w[:, :, u, v]
    return cells


def glyph_image(cells: np.ndarray, cell_px: int = 24, bin_offset: float = 0.5) -> np.ndarray:
    """HOG glyphs: a line per orientation, perpendicular to the gradient, brightness = value.

    Orientation ``k`` of ``n`` is the gradient direction ``pi (k + bin_offset) / n``: the
    centre of skimage's bin ``k`` (0.5), or FHOG's direction ``k`` (0).
    """
    n_r, n_c, n = cells.shape
    out = np.zeros((n_r * cell_px, n_c * cell_px), np.float64)
    peak = cells.max() if cells.max() > 0 else 1.0
    radius = cell_px // 2 - 1
    for k in range(n):
        theta = np.pi * (k + bin_offset) / n  # bin centre: gradient direction
        dx, dy = radius * np.sin(theta), radius * np.cos(theta)  # edge direction
        layer = np.zeros_like(out)
        for i in range(n_r):
            for j in range(n_c):
                cy, cx = i * cell_px + cell_px // 2, j * cell_px + cell_px // 2
                value = cells[i, j, k] / peak
                if value > 0:
                    cv2.line(
                        layer,
                        (int(cx - dx), int(cy + dy)),
                        (int(cx + dx), int(cy - dy)),
                        float(value),
                        1,
                        cv2.LINE_AA,
                    )
        out = np.maximum(out, layer)
    return (255 * np.clip(out, 0, 1)).astype(np.uint8)


def template_picture(model: LinearModel, path: str | os.PathLike, cell_px: int = 24) -> Path:
    """Write positive (left) and negative (right) weight glyphs side by side (PNG)."""
    cells = cell_weights(model)
    offset = 0.0 if model.hog.descriptor == "fhog" else 0.5
    pos = glyph_image(np.clip(cells, 0, None), cell_px, offset)
    neg = glyph_image(np.clip(-cells, 0, None), cell_px, offset)
    gap = np.full((pos.shape[0], 8), 128, np.uint8)
    picture = np.hstack([pos, gap, neg])
    header = np.zeros((22, picture.shape[1]), np.uint8)
    cv2.putText(header, "positive weights", (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 255, 1)
    cv2.putText(
        header, "negative weights", (pos.shape[1] + 12, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 255, 1
    )
    return write_png(path, np.vstack([header, picture]))
