"""Felzenszwalb's 31-dimensional HOG (FHOG), exactly as dlib computes it, as a cell grid.

:func:`fhog_grid` reproduces ``dlib::extract_fhog_features`` (``dlib/image_transforms/
fhog.h``, ``impl_extract_fhog_features``, planar output, default filter padding 1, i.e.
no zero border) for 8-bit grayscale images, in dlib's own single-precision arithmetic:

1. gradients: centred differences ``I[y, x+1] - I[y, x-1]`` and ``I[y+1, x] - I[y-1, x]``
   (no smoothing, no gamma) for the pixels ``1 <= y < min(rows * c, H) - 1`` and
   ``1 <= x < min(cols * c, W) - 1``; the image's outermost pixels have none. Each
   gradient is snapped to the nearest of 18 contrast-sensitive directions (multiples
   of 20 degrees, dlib's 4-decimal unit vectors, ties to the lower index);
2. cell histograms: every pixel votes its gradient magnitude into the 4 cells whose
   centres surround it, with bilinear weights (the cell grid starts at pixel 0; there
   are ``round(H / c)`` by ``round(W / c)`` cells, dlib's ``(int)(H / c + 0.5)``);
3. normalisation: a cell's energy is the squared norm of its 9 contrast-insensitive
   bins; each cell is normalised by each of the 4 blocks of 2x2 cells containing it
   (``1 / sqrt(energy sum + 1e-4)``), truncated at 0.2, and the 4 results are combined
   into 31 features: 18 contrast-sensitive orientations (half the sum over the 4
   normalisations), 9 contrast-insensitive ones (the same, of the folded histogram)
   and 4 texture features (``0.2357`` times the sum of the 18 truncated values under
   each normalisation, blocks ordered bottom-right, top-right, bottom-left, top-left).

Where the rounded-up cells extend past the image, current dlib (as here) gives the
missing pixels no gradient; voc-release5 and early dlib (2013) instead repeat the
gradients of the last inner row/column there. The orientation snapping is a table of
all 511 x 511 integer gradients; one compiled pass computes gradients and votes, a
second one the normalised features.

The outermost ring of cells has no complete neighbourhood, so, as in dlib, the grid has
``(round(H / c) - 2, round(W / c) - 2)`` cells: grid cell ``(i, j)`` describes the
pixels ``[(i + 1) c, (i + 2) c) x [(j + 1) c, (j + 2) c)``.

Windows. A window of ``(width, height)`` pixels whose top-left pixel is
``((i + 1) c, (j + 1) c)`` spans the grid cells ``grid[i : i + rows, j : j + cols]``
with ``(rows, cols) = fhog_window_shape((width, height), c)``; its descriptor is that
slice, computed once per image (a pyramid layer) for all windows. (dlib's
``scan_fhog_pyramid`` filters cover these cells plus ``padding`` -- 1 by default --
further cells all round.) A cell's features depend on its neighbours: the
normalisation needs the histograms of the 8 surrounding cells (*one cell of context*),
and a histogram needs the pixels up to half a cell beyond its cell (bilinear votes)
plus one (centred gradients). Hence the grid of a crop with one cell of context,
``image[i c : (i + rows + 2) c, j c : (j + cols + 2) c]``, has exactly the window's
cells and equals the slice on all but the window's outer ring of cells (the crop's
margin cells lack the votes of the pixels outside it); with *two* cells of context,
``image[(i - 1) c : (i + rows + 3) c, (j - 1) c : (j + cols + 3) c]``, the crop's grid
without its outer ring equals the slice exactly.

References: P. Felzenszwalb, R. Girshick, D. McAllester and D. Ramanan, "Object
Detection with Discriminatively Trained Part-Based Models", IEEE PAMI 32(9), 2010;
voc-release5 ``features.cc``; dlib ``dlib/image_transforms/fhog.h`` (D. King).
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np

_JIT = {"nopython": True, "nogil": True, "cache": True}

#: Features per cell: 18 contrast-sensitive + 9 contrast-insensitive + 4 texture.
FHOG_DIMENSIONS = 31

#: dlib's unit vectors of the 9 contrast-insensitive orientations (single precision).
_DIRECTIONS = np.array(
    [
        [1.0000, 0.0000],
        [0.9397, 0.3420],
        [0.7660, 0.6428],
        [0.500, 0.8660],
        [0.1736, 0.9848],
        [-0.1736, 0.9848],
        [-0.5000, 0.8660],
        [-0.7660, 0.6428],
        [-0.9397, 0.3420],
    ],
    np.float32,
)
_EPS = np.float32(0.0001)
_TRUNCATE = np.float32(0.2)  # dlib: nn = 0.2 * sqrt(...), n = 0.1 / nn
_HALF_TRUNCATE = np.float32(0.1)
_TEXTURE = np.float32(2 * 0.2357)

#: ``(top, bottom, left, right)``: the rows and columns of an array that hold image
#: pixels (the rest is padding, whose gradients do not count), as in ``hog.py``.
Valid = tuple[int, int, int, int]


# ---------------------------------------------------------------------------
# sizes


def fhog_cells(size: int, cell_size: int) -> int:
    """Cells along an image side, before the outer ring is dropped.

    Parameters
    ----------
    size : int
        Image side in pixels.
    cell_size : int
        Cell side in pixels.

    Returns
    -------
    int
        dlib's ``(int)((float)size / (float)cell_size + 0.5)``: the side in cells,
        rounded half up (the last cell may extend past the image).

    References
    ----------
    dlib ``dlib/image_transforms/fhog.h``, ``impl_extract_fhog_features``.
    """
    return int(float(np.float32(size) / np.float32(cell_size)) + 0.5)


def fhog_grid_shape(image_shape: tuple[int, int], cell_size: int = 8) -> tuple[int, int]:
    """Rows and columns of :func:`fhog_grid`'s output for an image of ``(H, W)`` pixels.

    Parameters
    ----------
    image_shape : tuple of int
        ``(H, W)`` in pixels.
    cell_size : int
        Cell side in pixels.

    Returns
    -------
    tuple of int
        ``(fhog_cells(H) - 2, fhog_cells(W) - 2)``, or ``(0, 0)`` where dlib returns an
        empty feature image (and :func:`fhog_grid` raises).

    References
    ----------
    dlib ``dlib/image_transforms/fhog.h`` (``hog_nr = max(cells_nr - 2, 0)``).
    """
    rows = fhog_cells(image_shape[0], cell_size) - 2
    cols = fhog_cells(image_shape[1], cell_size) - 2
    if rows <= 0 or cols <= 0:
        return 0, 0
    return rows, cols


def fhog_min_size(cell_size: int = 8) -> int:
    """Smallest image side, in pixels, that gives at least one grid cell.

    Parameters
    ----------
    cell_size : int
        Cell side in pixels.

    Returns
    -------
    int
        The smallest side with three cells after rounding (``ceil(2.5 * cell_size)``):
        one cell and the two neighbours its normalisation needs.

    References
    ----------
    dlib ``dlib/image_transforms/fhog.h``, ``impl_extract_fhog_features``.
    """
    size = 1
    while fhog_cells(size, cell_size) < 3:
        size += 1
    return size


def fhog_window_shape(window_dim: tuple[int, int], cell_size: int = 8) -> tuple[int, int]:
    """Rows and columns of FHOG cells spanned by a window of ``(width, height)`` pixels.

    Parameters
    ----------
    window_dim : tuple of int
        Window ``(width, height)`` in pixels (a multiple of ``cell_size`` for the window
        to be described completely: pixels beyond the last whole cell are not).
    cell_size : int
        Cell side in pixels.

    Returns
    -------
    tuple of int
        ``(height // cell_size, width // cell_size)``: the window's descriptor is
        ``grid[i : i + rows, j : j + cols]`` of the layer's :func:`fhog_grid`, for the
        window whose top-left pixel is ``((i + 1) * cell_size, (j + 1) * cell_size)``.
        dlib's ``scan_fhog_pyramid`` adds ``padding`` (default 1) cells all round.

    References
    ----------
    dlib ``scan_fhog_pyramid::compute_fhog_window_size`` (``dlib/image_processing/
    scan_fhog_pyramid.h``), which gives the same cells for multiples of the cell size.
    """
    width, height = (int(v) for v in window_dim)
    _check_cell_size(cell_size)
    rows, cols = height // cell_size, width // cell_size
    if rows < 1 or cols < 1:
        raise ValueError(
            f"window {width}x{height} is smaller than one {cell_size}x{cell_size} cell"
        )
    return rows, cols


# ---------------------------------------------------------------------------
# step 1: gradients and their orientations


@numba.jit(**_JIT)
def _snap_kernel(directions, table):
    """dlib's orientation (0-17) of every integer gradient ``(gx, gy)``, both in
    ``[-255, 255]``: the largest of the 18 float32 dot products ``+-d_o . g``, the
    first one on ties (``table[gx + 255, gy + 255]``; 0 for a zero gradient)."""
    zero = np.float32(0.0)
    for i in range(511):
        gx = np.float32(i - 255)
        for j in range(511):
            gy = np.float32(j - 255)
            best_dot = zero
            best_o = 0
            for o in range(9):
                dot = directions[o, 0] * gx + directions[o, 1] * gy
                if dot > best_dot:
                    best_dot = dot
                    best_o = o
                elif -dot > best_dot:
                    best_dot = -dot
                    best_o = o + 9
            table[i, j] = best_o


@lru_cache(maxsize=1)
def _orientation_table() -> np.ndarray:
    """The 511 x 511 gradient -> orientation table (int8), built once."""
    table = np.empty((511, 511), np.int8)
    _snap_kernel(_DIRECTIONS, table)
    return table


@numba.jit(**_JIT, inline="always")
def _pixel_gradient(image, y, x, table):
    """Gradient magnitude (float32, as dlib: ``sqrt`` of the integer squared norm) and
    orientation of the inner pixel ``(y, x)``."""
    dx = np.int32(image[y, x + 1]) - np.int32(image[y, x - 1])
    dy = np.int32(image[y + 1, x]) - np.int32(image[y - 1, x])
    gx = np.float32(dx)
    gy = np.float32(dy)
    return np.sqrt(gx * gx + gy * gy), table[dx + 255, dy + 255]


# ---------------------------------------------------------------------------
# step 2: bilinear votes into cell histograms


@lru_cache(maxsize=64)
def _row_weights(n_rows: int, cell_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel row: upper cell (histogram index, 1-cell border) and the bilinear
    weights of the upper and lower cells, in dlib's arithmetic
    (``yp = (float)(((float)y + 0.5) / (float)c - 0.5)``)."""
    y = np.arange(n_rows, dtype=np.float64)
    yp = ((y + 0.5) / cell_size - 0.5).astype(np.float32)
    iyp = np.floor(yp)
    vy0 = yp - iyp.astype(np.float32)
    vy1 = (1.0 - vy0.astype(np.float64)).astype(np.float32)
    return (iyp.astype(np.int64) + 1), vy1, vy0


@lru_cache(maxsize=64)
def _col_weights(
    n_cols: int, cell_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel column: left cell (histogram index, 1-cell border), the bilinear
    weights of the left and right cells, and whether dlib's 8-wide SIMD loop handles
    the column (``x = 1, 9, ...`` while ``x < n_cols - 7``: single-precision ``xp`` and
    weights multiplied by the magnitude before the row weight) or its scalar tail."""
    x = np.arange(n_cols)
    simd = np.zeros(n_cols, np.bool_)
    start = 1
    while start < n_cols - 7:
        simd[start : start + 8] = True
        start += 8
    # SIMD: xp = (x + 0.5f) / (float)c + 0.5f, truncated; the index includes the border
    xs = (x.astype(np.float32) + np.float32(0.5)) / np.float32(cell_size) + np.float32(0.5)
    ix_s = xs.astype(np.int64)
    vx0_s = xs - ix_s.astype(np.float32)
    vx1_s = np.float32(1.0) - vx0_s
    # scalar: xp = (float)((x + 0.5) / c - 0.5), floored; the border adds one
    xp = ((x + 0.5) / cell_size - 0.5).astype(np.float32)
    ix_p = np.floor(xp)
    vx0_p = xp - ix_p.astype(np.float32)
    vx1_p = (1.0 - vx0_p.astype(np.float64)).astype(np.float32)
    index = np.where(simd, ix_s, ix_p.astype(np.int64) + 1)
    return index, np.where(simd, vx1_s, vx1_p), np.where(simd, vx0_s, vx0_p), simd


@numba.jit(**_JIT)
def _histogram_kernel(
    image,
    n_rows,
    n_cols,
    valid,
    table,
    row_idx,
    row_w1,
    row_w0,
    col_idx,
    col_w1,
    col_w0,
    simd,
    hist,
):
    """One pass over the pixels ``1 <= y < n_rows``, ``1 <= x < n_cols`` inside
    ``valid``: each adds its gradient magnitude to its orientation bin of the 4
    surrounding cells.

    ``hist`` has a 1-cell border (indices shifted by one), as dlib's; votes go in
    dlib's order (pixels row by row; top-left, bottom-left, top-right, bottom-right
    cell) and float32 arithmetic, so the sums round as dlib's do.
    """
    top, bottom, left, right = valid[0], valid[1], valid[2], valid[3]
    for y in range(max(1, top), min(n_rows, bottom)):
        r = row_idx[y]
        vy1 = row_w1[y]
        vy0 = row_w0[y]
        for x in range(max(1, left), min(n_cols, right)):
            v, o = _pixel_gradient(image, y, x, table)
            if v == 0:
                continue
            c = col_idx[x]
            if simd[x]:
                a1 = col_w1[x] * v
                a0 = col_w0[x] * v
                v11 = vy1 * a1
                v01 = vy0 * a1
                v10 = vy1 * a0
                v00 = vy0 * a0
            else:
                v11 = vy1 * col_w1[x] * v
                v01 = vy0 * col_w1[x] * v
                v10 = vy1 * col_w0[x] * v
                v00 = vy0 * col_w0[x] * v
            hist[r, c, o] += v11
            hist[r + 1, c, o] += v01
            hist[r, c + 1, o] += v10
            hist[r + 1, c + 1, o] += v00


def _cell_histograms(
    image: np.ndarray, cells: tuple[int, int], cell_size: int, valid: Valid
) -> np.ndarray:
    """18-bin orientation histograms ``(rows + 2, cols + 2, 18)`` of the cells, with a
    1-cell border that collects the votes falling off the grid (ignored later).

    The pixels with a gradient are dlib's ``1 <= y < min(rows * cell_size, H) - 1``
    (and likewise ``x``) that lie inside ``valid``; gradients and orientations are
    computed on the fly (step 1), not stored.
    """
    h, w = image.shape
    hist = np.zeros((cells[0] + 2, cells[1] + 2, 18), np.float32)
    n_rows = min(cells[0] * cell_size, h) - 1
    n_cols = min(cells[1] * cell_size, w) - 1
    row_idx, row_w1, row_w0 = _row_weights(n_rows, cell_size)
    col_idx, col_w1, col_w0, simd = _col_weights(n_cols, cell_size)
    _histogram_kernel(
        image,
        n_rows,
        n_cols,
        np.asarray(valid, np.int64),
        _orientation_table(),
        row_idx,
        row_w1,
        row_w0,
        col_idx,
        col_w1,
        col_w0,
        simd,
        hist,
    )
    return hist


# ---------------------------------------------------------------------------
# step 3: energies, normalisation by the 4 blocks, truncation, 31 features


@numba.jit(**_JIT)
def _normalise_kernel(hist, out):
    """Cell energies, then the 31 features of every inner cell (dlib's float32 ops:
    ``nn = 0.2 sqrt(E + eps)``, ``n = 0.1 / nn``, ``h = min(value, nn) n`` per block,
    lanes summed pairwise)."""
    n_r = hist.shape[0] - 2
    n_c = hist.shape[1] - 2
    norm = np.zeros((n_r, n_c), np.float32)
    for r in range(n_r):
        for c in range(n_c):
            acc = np.float32(0.0)
            for o in range(9):
                s = hist[r + 1, c + 1, o] + hist[r + 1, c + 1, o + 9]
                acc += s * s
            norm[r, c] = acc
    nn = np.empty(4, np.float32)
    n = np.empty(4, np.float32)
    t = np.empty(4, np.float32)
    h = np.empty(4, np.float32)
    group = np.empty(4, np.float32)
    for y in range(n_r - 2):
        for x in range(n_c - 2):
            # blocks: bottom-right, top-right, bottom-left, top-left of cell (y+1, x+1)
            for lane in range(4):
                dy = 1 - (lane & 1)
                dx = 1 - (lane >> 1)
                e = norm[y + dy, x + dx] + norm[y + dy, x + dx + 1]
                e = e + norm[y + dy + 1, x + dx]
                e = e + norm[y + dy + 1, x + dx + 1]
                nn[lane] = _TRUNCATE * np.sqrt(e + _EPS)
                n[lane] = _HALF_TRUNCATE / nn[lane]
                t[lane] = np.float32(0.0)
            cell = hist[y + 2, x + 2]
            for o in range(18):
                value = cell[o]
                for lane in range(4):
                    h[lane] = min(value, nn[lane]) * n[lane]
                out[y, x, o] = (h[0] + h[1]) + (h[2] + h[3])
                # dlib: t += h0 + h1 + h2, three orientations at a time
                for lane in range(4):
                    group[lane] = h[lane] if o % 3 == 0 else group[lane] + h[lane]
                if o % 3 == 2:
                    for lane in range(4):
                        t[lane] += group[lane]
            for o in range(9):
                value = cell[o] + cell[o + 9]
                for lane in range(4):
                    h[lane] = min(value, nn[lane]) * n[lane]
                out[y, x, 18 + o] = (h[0] + h[1]) + (h[2] + h[3])
            for lane in range(4):
                out[y, x, 27 + lane] = t[lane] * _TEXTURE


def _normalise(hist: np.ndarray) -> np.ndarray:
    """The ``(rows - 2, cols - 2, 31)`` features of the cells with all 8 neighbours."""
    out = np.empty((hist.shape[0] - 4, hist.shape[1] - 4, FHOG_DIMENSIONS), np.float32)
    _normalise_kernel(hist, out)
    return out


# ---------------------------------------------------------------------------
# the grid


def fhog_grid(image: np.ndarray, cell_size: int = 8, valid: Valid | None = None) -> np.ndarray:
    """FHOG features (float32, shape ``(rows, cols, 31)``) of a 2-D uint8 grayscale image.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W)
        Grayscale image (or padded pyramid layer).
    cell_size : int
        Cell side in pixels (at least 2; dlib computes ``cell_size == 1`` with a
        different algorithm, not reproduced here).
    valid : tuple of int, optional
        ``(top, bottom, left, right)``: the rows and columns of ``image`` holding image
        pixels; pixels outside have no gradient (padding), as ``hog_blocks(valid=...)``.

    Returns
    -------
    ndarray of float32, shape (rows, cols, 31)
        ``rows = round(H / cell_size) - 2`` and ``cols = round(W / cell_size) - 2``
        (dlib's sizes); cell ``(i, j)`` describes the pixels
        ``[(i + 1) c, (i + 2) c) x [(j + 1) c, (j + 2) c)``. Features 0-17: contrast
        sensitive orientations (``20 o`` degrees, image ``y`` pointing down), 18-26:
        contrast insensitive ones, 27-30: texture (gradient energy) under the
        bottom-right, top-right, bottom-left and top-left 2x2 block normalisations.
        Equal to dlib's ``extract_fhog_features(img, hog, cell_size)`` (planar, filter
        padding 1): same float32 operations, in the same order.

    Raises
    ------
    ValueError
        If the image is not 2-D uint8, ``cell_size < 2``, or a side is shorter than
        :func:`fhog_min_size` (``ceil(2.5 * cell_size)`` pixels: three cells after
        rounding, one of which remains after dropping the outer ring).

    References
    ----------
    P. Felzenszwalb, R. Girshick, D. McAllester and D. Ramanan, "Object Detection with
    Discriminatively Trained Part-Based Models", IEEE PAMI 32(9), 2010; dlib
    ``dlib/image_transforms/fhog.h`` (``impl_extract_fhog_features``).
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 2:
        shape = getattr(image, "shape", None)
        raise ValueError(
            f"expected a 2-D uint8 grayscale image, got {getattr(image, 'dtype', type(image))} "
            f"{shape}"
        )
    _check_cell_size(cell_size)
    h, w = image.shape
    minimum = fhog_min_size(cell_size)
    if h < minimum or w < minimum:
        raise ValueError(
            f"image {w}x{h} is too small for FHOG with {cell_size}-pixel cells: "
            f"both sides must be at least {minimum} pixels"
        )
    if valid is None:
        valid = (0, h, 0, w)
    valid = tuple(int(v) for v in valid)
    if len(valid) != 4:
        raise ValueError(f"valid must be (top, bottom, left, right), got {valid}")
    image = np.ascontiguousarray(image)
    cells = (fhog_cells(h, cell_size), fhog_cells(w, cell_size))
    return _normalise(_cell_histograms(image, cells, cell_size, valid))


def _check_cell_size(cell_size: int) -> None:
    if int(cell_size) != cell_size or cell_size < 2:
        raise ValueError(f"cell_size must be an integer >= 2, got {cell_size!r}")
