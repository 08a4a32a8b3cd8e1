"""Histograms of oriented gradients, computed once per image as a block grid.

The features are exactly those of ``skimage.feature.hog`` (Dalal & Triggs 2005, as
implemented in scikit-image): centred gradients with zero gradient on the image
border, unsigned orientations hard-binned into ``orientations`` bins, magnitude
averaged per cell, blocks normalised with ``block_norm``. Instead of one call per
window, :func:`hog_blocks` returns the normalised block grid of a whole image (a
pyramid layer); a window's descriptor is the slice of that grid under the window.

A window's descriptor is defined *with its context*: gradients are those of the
surrounding image, so the window's outermost pixels have their real gradients.
:func:`window_descriptor` computes it from a crop with a one-cell margin, which is
what training uses; the detector slices layer grids; both agree exactly.

The window functions here (:func:`descriptor_grid`, :func:`context_crop`,
:func:`window_descriptor`) also serve FHOG (``params.descriptor == "fhog"``, see
``fhog.py``), whose windows need two cells of context instead of one.

References: N. Dalal and B. Triggs, "Histograms of Oriented Gradients for Human
Detection", CVPR 2005; scikit-image ``skimage/feature/_hog.py``.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from . import kernels
from .fhog import fhog_grid
from .params import HogParams

_EPS = 1e-5  # as skimage's _hog_normalize_block


# ---------------------------------------------------------------------------
# step 1: gradients, magnitudes and orientation bins of every pixel


@lru_cache(maxsize=4)
def _intensity_tables(transform_sqrt: bool) -> tuple[np.ndarray, np.ndarray]:
    """uint8 -> intensity lookup tables (float32 and float64) as skimage computes them."""
    values = np.arange(256, dtype=np.float64)
    table64 = np.sqrt(values) if transform_sqrt else values
    return table64.astype(np.float32), table64


@lru_cache(maxsize=16)
def _bin_edges(orientations: int) -> np.ndarray:
    """Bin edges in degrees, rounded as skimage's Cython code rounds them (C float)."""
    per_bin = np.float32(180.0 / orientations)
    return np.array([per_bin * np.float32(k) for k in range(orientations + 1)], np.float64)


def orientation_bins(image: np.ndarray, params: HogParams) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel gradient magnitude (float64) and orientation bin (int8, -1 = no bin).

    A compiled loop bins by cross products with the bin edges; the rare pixels lying
    on an edge get skimage's own float64 ``arctan2`` arithmetic, so bins equal skimage's.
    """
    _, table64 = _intensity_tables(params.transform_sqrt)
    cos, sin, lut = _edge_vectors(params.orientations)
    magnitude = np.empty(image.shape, np.float64)
    bins = np.empty(image.shape, np.int8)
    ambiguous = np.empty(image.size, np.int64)
    count = kernels.pixel_bins(image, table64, cos, sin, lut, magnitude, bins, ambiguous)
    if count:
        near = ambiguous[:count]
        bins.ravel()[near] = _exact_bins(image, near, table64, params.orientations)
    return magnitude, bins


@lru_cache(maxsize=16)
def _edge_vectors(orientations: int, quanta: int = 4096):
    """Unit vectors of the interior bin edges, and the cosine -> bin lookup table.

    Entry ``q`` of the table covers cosines in ``[q, q + 1) / (quanta / 2) - 1``; it
    holds the bin of every angle whose cosine lies there, or -1 when an edge (or the
    0/180 degree wrap) is within a quantum, so those pixels take the exact path.
    """
    radians = np.deg2rad(_bin_edges(orientations)[1:-1])
    cos, sin = np.cos(radians), np.sin(radians)
    lo = np.arange(quanta + 1) / (quanta / 2) - 1.0  # cosine at the low end of quantum q
    hi = lo + 2.0 / quanta
    # angle decreases with cosine: the bin of angles in a quantum is fixed unless an
    # edge cosine falls inside [lo - margin, hi + margin]
    margin = 4.0 / quanta
    bins_hi = (cos[None, :] >= hi[:, None] + margin).sum(axis=1)  # edges below the angle
    bins_lo = (cos[None, :] >= lo[:, None] - margin).sum(axis=1)
    lut = np.where(bins_hi == bins_lo, bins_hi, -1)
    lut[:2] = -1
    lut[-3:] = -1
    return cos, sin, lut.astype(np.int8)


def _exact_bins(image: np.ndarray, flat: np.ndarray, table64: np.ndarray, n: int) -> np.ndarray:
    """skimage's orientation bin for the given pixels, in its float64 arithmetic."""
    rows, cols = np.divmod(flat, image.shape[1])
    h, w = image.shape
    inner_c = (cols > 0) & (cols < w - 1)
    inner_r = (rows > 0) & (rows < h - 1)
    g_col = np.zeros(flat.size)
    g_row = np.zeros(flat.size)
    r, c = rows[inner_c], cols[inner_c]  # look up the neighbours only, not the whole layer
    g_col[inner_c] = table64[image[r, c + 1]] - table64[image[r, c - 1]]
    r, c = rows[inner_r], cols[inner_r]
    g_row[inner_r] = table64[image[r + 1, c]] - table64[image[r - 1, c]]
    orientation = np.rad2deg(np.arctan2(g_row, g_col)) % 180
    bins = np.searchsorted(_bin_edges(n), orientation, side="right").astype(np.int32) - 1
    bins[bins >= n] = -1  # above the last (C-float-rounded) edge: skimage counts it nowhere
    return bins


# ---------------------------------------------------------------------------
# step 2: orientation histograms of cells


def cell_histograms(
    magnitude: np.ndarray, bins: np.ndarray, params: HogParams, phase: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """Mean gradient magnitude per (cell, orientation), cells starting at pixel ``phase``."""
    (c_r, c_c), (p_r, p_c) = params.pixels_per_cell, phase
    n_r, n_c = (magnitude.shape[0] - p_r) // c_r, (magnitude.shape[1] - p_c) // c_c
    out = np.empty((max(n_r, 0), max(n_c, 0), params.orientations), np.float32)
    kernels.cell_histograms(magnitude, bins, params.orientations, c_r, c_c, p_r, p_c, out)
    return out


# ---------------------------------------------------------------------------
# step 3: block normalisation


def normalize_blocks(hist: np.ndarray, params: HogParams) -> np.ndarray:
    """Normalised blocks ``(blocks_r, blocks_c, cells_r, cells_c, orientations)``."""
    b_r, b_c = params.cells_per_block
    n_r, n_c = hist.shape[0] - b_r + 1, hist.shape[1] - b_c + 1
    if n_r <= 0 or n_c <= 0:
        return np.zeros((max(n_r, 0), max(n_c, 0), b_r, b_c, hist.shape[2]), np.float32)
    blocks = np.empty((n_r, n_c, b_r, b_c, hist.shape[2]), np.float32)
    if params.block_norm in ("L1", "L1-sqrt"):
        kernels.l1_blocks(hist, b_r, b_c, params.block_norm == "L1-sqrt", blocks)
        return blocks
    for u in range(b_r):
        for v in range(b_c):
            blocks[:, :, u, v] = hist[u : u + n_r, v : v + n_c]
    flat = blocks.reshape(n_r, n_c, -1)
    flat /= np.sqrt((flat**2).sum(axis=2, keepdims=True) + np.float32(_EPS**2))
    if params.block_norm == "L2-Hys":
        np.minimum(flat, np.float32(0.2), out=flat)
        flat /= np.sqrt((flat**2).sum(axis=2, keepdims=True) + np.float32(_EPS**2))
    return blocks


#: ``(top, bottom, left, right)``: the rows and columns of an array that hold image pixels
#: (the rest is padding, whose gradients do not count).
Valid = tuple[int, int, int, int]


def hog_blocks(
    image: np.ndarray,
    params: HogParams,
    phases: tuple[tuple[int, int], ...] = ((0, 0),),
    valid: Valid | None = None,
) -> list[np.ndarray]:
    """Normalised block grids of a ``uint8`` grayscale image, one per cell-grid phase.

    Gradients and orientation bins are computed once; each phase ``(row, col)`` shifts
    the cell grid so that windows starting at those pixel offsets align with cells.
    With ``valid``, pixels outside that region are padding: their gradient magnitude is
    zero, so cells beyond the image border are empty (as dlib's padded HOG).
    """
    magnitude, bins = orientation_bins(_as_uint8_gray(image), params)
    if valid is not None:
        _zero_outside(magnitude, valid)
    return [normalize_blocks(cell_histograms(magnitude, bins, params, p), params) for p in phases]


def padded_hog_blocks(
    image: np.ndarray,
    params: HogParams,
    phases: tuple[tuple[int, int], ...],
    pad_x: int,
    pad_y: int,
) -> list[np.ndarray]:
    """``hog_blocks`` of the image padded by ``pad_x``/``pad_y`` (:func:`pad_image`),
    without computing gradients over the padding: they are zero there anyway, so only
    a one-pixel replicated rim is needed for the border pixels' gradients."""
    image = _as_uint8_gray(image)
    rim, _ = pad_image(image, 1, 1)
    magnitude, bins = orientation_bins(rim, params)
    h, w = image.shape
    full_m = np.zeros((h + 2 * pad_y, w + 2 * pad_x), np.float64)
    full_b = np.full(full_m.shape, -1, np.int8)
    full_m[pad_y : pad_y + h, pad_x : pad_x + w] = magnitude[1:-1, 1:-1]
    full_b[pad_y : pad_y + h, pad_x : pad_x + w] = bins[1:-1, 1:-1]
    return [normalize_blocks(cell_histograms(full_m, full_b, params, p), params) for p in phases]


def image_cells(
    shape: tuple[int, int], params: HogParams, pad_x: int, pad_y: int
) -> tuple[int, int, int, int]:
    """``(top, rows, left, cols)``: the cells of a padded layer's grid (cell grid at pixel
    0, padding in whole cells) that hold image pixels; the last row/column may be cut by
    the border and completed by padding."""
    (c_r, c_c), (h, w) = params.pixels_per_cell, shape[:2]
    n_r, n_c = (h + 2 * pad_y) // c_r, (w + 2 * pad_x) // c_c
    top, left = pad_y // c_r, pad_x // c_c
    return top, min(-(-h // c_r), n_r - top), left, min(-(-w // c_c), n_c - left)


def padded_cell_grid(image: np.ndarray, params: HogParams, pad_x: int, pad_y: int) -> np.ndarray:
    """Cell histograms (cell grid at pixel 0) of the image padded by ``pad_x``/``pad_y``
    pixels, whole cells: equal to ``padded_hog_blocks``' cells (``hog_blocks``' without
    padding), but the padding's cells are left empty instead of computed."""
    image = _as_uint8_gray(image)
    (c_r, c_c), h, w = params.pixels_per_cell, image.shape[0], image.shape[1]
    if pad_x or pad_y:
        rim, _ = pad_image(image, 1, 1)
        magnitude, bins = orientation_bins(rim, params)
        magnitude, bins = magnitude[1:-1, 1:-1], bins[1:-1, 1:-1]
    else:
        magnitude, bins = orientation_bins(image, params)
    n_r, n_c = (h + 2 * pad_y) // c_r, (w + 2 * pad_x) // c_c
    top, in_r, left, in_c = image_cells((h, w), params, pad_x, pad_y)
    if in_r * c_r > h or in_c * c_c > w:
        ext_m = np.zeros((in_r * c_r, in_c * c_c), np.float64)
        ext_b = np.full(ext_m.shape, -1, np.int8)
        ext_m[:h, :w], ext_b[:h, :w] = (
            magnitude[: in_r * c_r, : in_c * c_c],
            bins[: in_r * c_r, : in_c * c_c],
        )
        magnitude, bins = ext_m, ext_b
    out = np.zeros((max(n_r, 0), max(n_c, 0), params.orientations), np.float32)
    if in_r > 0 and in_c > 0:
        out[top : top + in_r, left : left + in_c] = cell_histograms(magnitude, bins, params)[
            :in_r, :in_c
        ]
    return out


def approximate_cell_grid(
    cells: np.ndarray,
    source: tuple[int, int, int, int],
    shape: tuple[int, int],
    target: tuple[int, int, int, int],
) -> np.ndarray:
    """The padded cell grid of ``shape`` (rows, cols, padding included) whose image cells
    are ``target`` (:func:`image_cells`), approximated by resampling the image cells
    ``source`` of a nearby, larger scale's padded grid ``cells``.

    Dollár et al. show that gradient histograms at a nearby scale are the resampled ones
    times ``s**-lambda``; every block norm here divides that factor out (up to its
    epsilon), so resampling alone approximates the normalised blocks.

    References: P. Dollár, R. Appel, S. Belongie and P. Perona, "Fast Feature Pyramids
    for Object Detection", PAMI 2014 (``chnsPyramid.m``).
    """
    (s_top, s_rows, s_left, s_cols), (top, rows, left, cols) = source, target
    src = cells[s_top : s_top + s_rows, s_left : s_left + s_cols]
    out = np.zeros((shape[0], shape[1], cells.shape[2]), np.float32)
    if rows <= 0 or cols <= 0 or src.shape[0] == 0 or src.shape[1] == 0:
        return out
    shrink = rows <= src.shape[0] and cols <= src.shape[1]
    method = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    into = out[top : top + rows, left : left + cols]
    for k, plane in enumerate(np.moveaxis(src, 2, 0).copy()):  # OpenCV: <= 4 channels
        into[:, :, k] = cv2.resize(plane, (cols, rows), interpolation=method)
    return out


def _zero_outside(magnitude: np.ndarray, valid: Valid) -> None:
    top, bottom, left, right = (max(0, int(v)) for v in valid)
    magnitude[:top] = 0
    magnitude[bottom:] = 0
    magnitude[:, :left] = 0
    magnitude[:, right:] = 0


def pad_image(image: np.ndarray, pad_x: int, pad_y: int) -> tuple[np.ndarray, Valid]:
    """The image with ``pad_x``/``pad_y`` pixels of padding on each side, and its valid
    region: windows may then extend past the border, onto empty cells."""
    h, w = image.shape[:2]
    if not pad_x and not pad_y:
        return image, (0, h, 0, w)
    padded = cv2.copyMakeBorder(image, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REPLICATE)
    return padded, (pad_y, pad_y + h, pad_x, pad_x + w)


# ---------------------------------------------------------------------------
# windows with their context (one cell for HOG, two for FHOG)


def descriptor_grid(image: np.ndarray, params: HogParams, valid: Valid | None = None) -> np.ndarray:
    """The descriptor grid of a whole ``uint8`` grayscale image (a crop, a patch).

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W)
        Grayscale image.
    params : HogParams
        Descriptor and its parameters.
    valid : tuple of int, optional
        ``(top, bottom, left, right)``: the rows and columns holding image pixels; the
        others are padding, without gradients. HOG default: all pixels, zero gradient
        on the border (skimage); FHOG default: all pixels, none on the border (dlib).

    Returns
    -------
    ndarray of float32
        HOG: the normalised blocks ``(rows, cols, b_r, b_c, orientations)``, position
        ``(r, c)`` being the block whose top-left pixel is ``(r c_r, c c_c)``. FHOG: the
        cells ``(rows, cols, 31)`` of :func:`~.fhog.fhog_grid`, position ``(r, c)`` being
        the cell whose top-left pixel is ``((r + 1) c, (c + 1) c)`` (the outer ring of
        cells is dropped). Either way, a window whose top-left pixel is
        ``context_cells`` cells in from the image's is at position ``(1, 1)``.
    """
    if params.descriptor == "fhog":
        return fhog_grid(image, params.pixels_per_cell[0], valid)
    (blocks,) = hog_blocks(image, params, valid=valid)
    return blocks


def context_crop(
    image: np.ndarray, x: int, y: int, window_dim: tuple[int, int], params: HogParams
) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """The window at ``(x, y)`` with the context its descriptor depends on.

    Returns the crop, the grid position ``(rows, cols)`` of the window in the crop's
    :func:`descriptor_grid` and the crop's top-left pixel in ``image`` coordinates
    (replicated rows included).

    HOG: a one-cell margin where the image has one. Where the image offers less than a
    cell but at least a pixel, the margin is completed by replicating the edge (those
    pixels only feed margin cells, which are discarded); where the window touches the
    image border, there is no margin, exactly as in a layer.

    FHOG: always a two-cell margin (the context :func:`~.fhog.fhog_grid` needs for
    the crop's grid to equal the layer's); where it leaves the image, the edge is
    replicated, as the detector pads its layers, and the caller's ``valid`` (the image)
    leaves those pixels without gradients.
    """
    width, height = window_dim
    h, w = image.shape[:2]
    if x < 0 or y < 0 or x + width > w or y + height > h:
        raise ValueError(f"window {window_dim} at ({x}, {y}) lies outside the {w}x{h} image")
    if params.descriptor == "fhog":
        return _fhog_context_crop(image, x, y, window_dim, params)
    c_r, c_c = params.pixels_per_cell
    top, left = min(c_r, y), min(c_c, x)
    bottom, right = min(c_r, h - y - height), min(c_c, w - x - width)
    crop = image[y - top : y + height + bottom, x - left : x + width + right]
    pads = [c_r - top if top else 0, c_r - bottom if bottom else 0]
    pads += [c_c - left if left else 0, c_c - right if right else 0]
    if any(pads):
        crop = cv2.copyMakeBorder(crop, *pads, borderType=cv2.BORDER_REPLICATE)
    origin = (y - top - pads[0], x - left - pads[2])
    return crop, (1 if top else 0, 1 if left else 0), origin


def _fhog_context_crop(
    image: np.ndarray, x: int, y: int, window_dim: tuple[int, int], params: HogParams
) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """FHOG's :func:`context_crop`: two cells all round, edges replicated past the image."""
    width, height = window_dim
    h, w = image.shape[:2]
    m = params.context_cells * params.pixels_per_cell[0]
    top, bottom = max(0, m - y), max(0, y + height + m - h)
    left, right = max(0, m - x), max(0, x + width + m - w)
    crop = image[y - m + top : y + height + m - bottom, x - m + left : x + width + m - right]
    pads = (top, bottom, left, right)
    if any(pads):
        crop = cv2.copyMakeBorder(crop, *pads, borderType=cv2.BORDER_REPLICATE)
    return crop, (1, 1), (y - m, x - m)


def window_descriptor(
    image: np.ndarray,
    x: int,
    y: int,
    window_dim: tuple[int, int],
    params: HogParams,
    valid: Valid | None = None,
) -> np.ndarray:
    """Feature vector (float32) of one window of a grayscale image, with context
    (``valid``: the image's region of a padded layer, as :func:`hog_blocks`; for FHOG,
    ``None`` is the whole image, outside which crops are padding, as in a layer)."""
    crop, (cell_r, cell_c), (oy, ox) = context_crop(image, x, y, window_dim, params)
    if valid is None and params.descriptor == "fhog":
        valid = (0, image.shape[0], 0, image.shape[1])
    if valid is not None:
        valid = (valid[0] - oy, valid[1] - oy, valid[2] - ox, valid[3] - ox)
    grid = descriptor_grid(crop, params, valid)
    n_r, n_c = params.window_blocks(window_dim)
    return grid[cell_r : cell_r + n_r, cell_c : cell_c + n_c].ravel()


def window_descriptors(
    image: np.ndarray,
    positions: np.ndarray,
    window_dim: tuple[int, int],
    params: HogParams,
    valid: Valid | None = None,
) -> np.ndarray:
    """Feature vectors ``(n, d)`` of the windows at ``positions`` (rows of ``x, y``)."""
    d = params.descriptor_size(window_dim)
    out = np.empty((len(positions), d), np.float32)
    for i, (x, y) in enumerate(np.asarray(positions, dtype=int)):
        out[i] = window_descriptor(image, int(x), int(y), window_dim, params, valid)
    return out


def _as_uint8_gray(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8 or image.ndim != 2:
        raise ValueError(f"expected a 2-D uint8 grayscale image, got {image.dtype} {image.shape}")
    return image
