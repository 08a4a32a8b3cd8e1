"""Compiled inner loops of the HOG descriptor and the window scorer (numba, cached on disk).

Each kernel is one step of the algorithm, written as a plain loop over pixels or
blocks so that one pass over memory does the work that a chain of numpy calls
would spread over many passes.
"""

from __future__ import annotations

import numba
import numpy as np

_JIT = {"nopython": True, "nogil": True, "cache": True, "fastmath": False}

#: |cross product| / magnitude below this marks a pixel as "on a bin edge": its bin
#: is then decided by skimage's own float64 arctan2 arithmetic, outside the kernel.
EDGE_TOLERANCE = 1e-7


@numba.jit(**_JIT)
def pixel_bins(image, table, edge_cos, edge_sin, lut, magnitude, bins, ambiguous):
    """Gradient magnitude and orientation bin of every pixel (skimage conventions).

    Gradients are centred differences of ``table[image]``, zero on the border.
    Orientation is unsigned: the vector is folded into the upper half plane, where
    its cosine falls monotonically with the angle; ``lut`` maps the quantised cosine
    to the bin, or to -1 for the few quanta that straddle a bin edge, which are then
    decided by cross products with the edges. Pixels lying on an edge (to rounding)
    are listed in ``ambiguous``; the count is returned. Each row is processed in
    short branch-free loops that the compiler vectorises; three rows of intensities
    roll through small buffers.
    """
    h, w = image.shape
    n_edges = edge_cos.shape[0]
    half = (lut.shape[0] - 1) * 0.5
    count = 0
    up = np.zeros(w)
    mid = np.empty(w)
    down = np.zeros(w)
    gx = np.zeros(w)
    gy = np.empty(w)
    quanta = np.empty(w, np.int32)
    for x in range(w):
        mid[x] = table[image[0, x]]
    if h > 1:
        for x in range(w):
            down[x] = table[image[1, x]]
    for y in range(h):
        for x in range(1, w - 1):
            gx[x] = mid[x + 1] - mid[x - 1]
        if 0 < y < h - 1:
            for x in range(w):
                gy[x] = down[x] - up[x]
        else:
            gy[:] = 0.0
        mrow = magnitude[y]
        for x in range(w):
            mrow[x] = np.sqrt(gx[x] * gx[x] + gy[x] * gy[x])
        for x in range(w):
            flip = (gy[x] < 0.0) | ((gy[x] == 0.0) & (gx[x] < 0.0))
            cosine = gx[x] * (1.0 - 2.0 * flip) / max(mrow[x], 1e-300)
            quanta[x] = np.int32((cosine + 1.0) * half)
        brow = bins[y]
        for x in range(w):
            brow[x] = lut[quanta[x]]
        for x in range(w):
            if brow[x] >= 0:
                continue
            mag = mrow[x]
            if mag == 0.0:
                brow[x] = 0
                continue
            a, b = gx[x], gy[x]
            if b < 0.0 or (b == 0.0 and a < 0.0):
                a, b = -a, -b
            found = 0
            edge = b != 0.0 and b < EDGE_TOLERANCE * mag
            for k in range(n_edges):
                cross = b * edge_cos[k] - a * edge_sin[k]
                if abs(cross) < EDGE_TOLERANCE * mag:
                    edge = True
                if cross >= 0.0:
                    found = k + 1
            brow[x] = found
            if edge:
                ambiguous[count] = y * w + x
                count += 1
        up, mid, down = mid, down, up
        if y + 2 < h:
            for x in range(w):
                down[x] = table[image[y + 2, x]]
    return count


@numba.jit(**_JIT)
def cell_histograms(magnitude, bins, n, cell_r, cell_c, phase_r, phase_c, out):
    """Mean magnitude per cell and bin, cells starting at pixel ``(phase_r, phase_c)``.

    Sums run in float32, row by row inside each cell, as skimage's Cython loop does.
    """
    n_r, n_c = out.shape[0], out.shape[1]
    acc = np.zeros((n_r, n_c, n), np.float32)
    for cy in range(n_r):
        for y in range(phase_r + cy * cell_r, phase_r + (cy + 1) * cell_r):
            brow = bins[y]
            mrow = magnitude[y]
            for j in range(n_c):
                x0 = phase_c + j * cell_c
                for x in range(x0, x0 + cell_c):
                    b = brow[x]
                    if b >= 0:
                        acc[cy, j, b] = np.float32(np.float64(acc[cy, j, b]) + mrow[x])
    area = np.float32(cell_r * cell_c)
    for i in range(n_r):
        for j in range(n_c):
            for k in range(n):
                out[i, j, k] = acc[i, j, k] / area


@numba.jit(**_JIT)
def l1_blocks(hist, b_r, b_c, sqrt, out):
    """L1 (or L1-sqrt) normalised blocks ``out[i, j, u, v, k]`` from cell histograms."""
    n_r, n_c = out.shape[0], out.shape[1]
    n = hist.shape[2]
    cell_sum = np.zeros((hist.shape[0], hist.shape[1]), np.float32)
    for i in range(hist.shape[0]):
        for j in range(hist.shape[1]):
            s = np.float32(0.0)
            for k in range(n):
                s += abs(hist[i, j, k])
            cell_sum[i, j] = s
    for i in range(n_r):
        for j in range(n_c):
            total = np.float32(1e-5)
            for u in range(b_r):
                for v in range(b_c):
                    total += cell_sum[i + u, j + v]
            inv = np.float32(1.0) / total
            for u in range(b_r):
                for v in range(b_c):
                    for k in range(n):
                        value = hist[i + u, j + v, k] * inv
                        out[i, j, u, v, k] = np.sqrt(value) if sqrt else value


@numba.jit(**_JIT)
def correlate_planes(planes, top, left, n_rows, n_cols, win_r, win_c, out):
    """Window scores from per-block partial products laid out one plane per window block.

    ``planes[a * win_c + b, i, j]`` is block ``(top + i, left + j)`` of the layer dotted
    with the weights of the window's block ``(a, b)``; blocks outside the planes (all
    padding, so all zero) add nothing. A window at block ``(i, j)`` scores the sum over
    ``a, b`` of its blocks' planes; the inner loop runs along contiguous rows.
    """
    rows, cols = planes.shape[1], planes.shape[2]
    for i in range(n_rows):
        for j in range(n_cols):
            out[i, j] = 0.0
    for a in range(win_r):
        i0, i1 = max(0, top - a), min(n_rows, top + rows - a)
        for b in range(win_c):
            col = a * win_c + b
            j0, j1 = max(0, left - b), min(n_cols, left + cols - b)
            for i in range(i0, i1):
                src = planes[col, i + a - top]
                dst = out[i]
                off = b - left
                for j in range(j0, j1):
                    dst[j] += src[j + off]


def warm_up() -> None:
    """Load (or compile) every kernel now, e.g. before forking workers that inherit them.

    The arguments have the types the descriptor and the detector pass, so no call
    later compiles anything.
    """
    image = np.zeros((12, 12), np.uint8)
    table = np.arange(256, dtype=np.float64)
    edges = np.zeros(8, np.float64)
    magnitude = np.empty(image.shape, np.float64)
    bins = np.empty(image.shape, np.int8)
    pixel_bins(
        image,
        table,
        edges,
        edges,
        np.full(4097, -1, np.int8),
        magnitude,
        bins,
        np.empty(image.size, np.int64),
    )
    hist = np.empty((3, 3, 9), np.float32)
    cell_histograms(magnitude, bins, 9, 4, 4, 0, 0, hist)
    l1_blocks(hist, 2, 2, False, np.empty((2, 2, 2, 2, 9), np.float32))
    correlate_planes(
        np.zeros((1, 2, 2), np.float32), 0, 0, 1, 1, 1, 1, np.zeros((1, 1), np.float32)
    )
    from .fhog import fhog_grid  # FHOG's kernels and orientation table

    fhog_grid(np.zeros((24, 24), np.uint8), 8, (1, 23, 1, 23))
