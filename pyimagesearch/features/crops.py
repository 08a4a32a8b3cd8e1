"""Training crops taken the way the detector sees windows: with their context (one cell
for HOG, two for FHOG: ``HogParams.context_cells``)."""

from __future__ import annotations

import cv2
import numpy as np

from ..descriptor.hog import HogParams, Valid, descriptor_grid, pad_image, window_descriptors


def roi_descriptor(
    image: np.ndarray,
    roi: np.ndarray,
    window_dim: tuple[int, int],
    params: HogParams,
    flip: bool = False,
    empty_outside: bool = True,
) -> np.ndarray:
    """Descriptor of a region resized to ``window_dim``, computed with a margin of
    ``params.context_cells`` cells.

    The margin is taken from the image around the region (edge pixels replicated
    where the image ends), resized with the region, and its cells are discarded:
    the window's border pixels get real gradients, as in a pyramid layer. Where the
    region itself leaves the image, its cells there are empty (the image border, as a
    padded layer sees it), unless ``empty_outside`` is false (the image is a crop of a
    larger scene, whose border is not the scene's: edge pixels are replicated instead).
    """
    patch, valid = roi_patch(image, roi, window_dim, params)
    valid = valid if empty_outside else None
    if flip:
        patch = np.ascontiguousarray(patch[:, ::-1])
        if valid is not None:
            valid = (valid[0], valid[1], patch.shape[1] - valid[3], patch.shape[1] - valid[2])
    grid = descriptor_grid(patch, params, valid)  # the window is at grid position (1, 1)
    n_r, n_c = params.window_blocks(window_dim)
    return grid[1 : 1 + n_r, 1 : 1 + n_c].ravel()


def roi_patch(
    image: np.ndarray, roi: np.ndarray, window_dim: tuple[int, int], params: HogParams
) -> tuple[np.ndarray, Valid | None]:
    """The region plus a margin, resized so the region becomes ``window_dim`` (plus
    ``params.context_cells`` cells all round),
    and the patch's part that holds image pixels (``None``: all of it) when the region
    extends past the image: there, cells are empty, as in a padded pyramid layer. For
    FHOG, also when only the margin does: its two cells of context feed the window's
    normalisation, so they must be empty past the image as in a layer (HOG's one-cell
    margin only gives the window's border pixels their gradients, replicated here)."""
    ww, wh = window_dim
    m = params.context_cells
    c_r, c_c = params.pixels_per_cell
    x1, y1, x2, y2 = (_snap(float(v)) for v in roi)
    mx = max(1, round(m * c_c * (x2 - x1) / ww))
    my = max(1, round(m * c_r * (y2 - y1) / wh))
    x1i, y1i = int(np.floor(x1)) - mx, int(np.floor(y1)) - my
    x2i, y2i = int(np.ceil(x2)) + mx, int(np.ceil(y2)) + my
    h, w = image.shape[:2]
    out_w, out_h = ww + 2 * m * c_c, wh + 2 * m * c_r
    sx, sy = out_w / (x2i - x1i), out_h / (y2i - y1i)
    # the image inside the patch; only margin pixels may lie outside it unflagged
    valid = (
        round(-y1i * sy),
        round((h - y1i) * sy),
        round(-x1i * sx),
        round((w - x1i) * sx),
    )
    outside = x1 < 0 or y1 < 0 or x2 > w or y2 > h
    pad = (max(0, -y1i), max(0, y2i - h), max(0, -x1i), max(0, x2i - w))
    if any(pad):
        image = cv2.copyMakeBorder(image, *pad, borderType=cv2.BORDER_REPLICATE)
        x1i, x2i, y1i, y2i = x1i + pad[2], x2i + pad[2], y1i + pad[0], y2i + pad[0]
    crop = image[y1i:y2i, x1i:x2i]
    patch = cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_AREA)
    flagged = outside or (params.descriptor == "fhog" and any(pad))
    return patch, (valid if flagged else None)


def _snap(v: float, tol: float = 1e-3) -> float:
    """A coordinate within ``tol`` of a whole pixel is that pixel: boxes read from other
    formats (YOLO's normalised floats) then crop exactly as the integer boxes do."""
    r = round(v)
    return float(r) if abs(v - r) < tol else v


def random_windows(
    image: np.ndarray,
    count: int,
    window_dim: tuple[int, int],
    params: HogParams,
    rng: np.random.Generator,
    pad: tuple[int, int] = (0, 0),
) -> tuple[np.ndarray, np.ndarray]:
    """Descriptors and boxes of ``count`` random window-sized patches (scale 1).

    With ``pad`` (pixels x, y), windows may extend past the border as the detector's
    do, onto empty cells: negatives then cover every kind of window it scores.
    """
    ww, wh = window_dim
    h, w = image.shape[:2]
    px, py = pad
    xs = rng.integers(-px, w - ww + px + 1, size=count)
    ys = rng.integers(-py, h - wh + py + 1, size=count)
    boxes = np.stack([xs, ys, xs + ww, ys + wh], axis=1).astype(np.float64)
    padded, valid = pad_image(image, px, py)
    positions = np.stack([xs + px, ys + py], axis=1)
    feats = window_descriptors(padded, positions, window_dim, params, valid if any(pad) else None)
    return feats, boxes
