"""FHOG (pyimagesearch/descriptor/fhog.py) against independent computations.

* dlib itself: its Python module does not expose ``extract_fhog_features``, but it
  loads any serialized ``object_detector<scan_fhog_pyramid<pyramid_down<6>>>``. We
  write such detectors (dlib's serialization format, below) with a 1x1-cell filter
  that is one-hot on feature ``k`` and no bias: every window's score is then dlib's
  feature ``k`` of that cell, so 31 runs read out dlib's whole feature grid. Windows
  of several cells check the window <-> grid-slice correspondence against dlib's own
  template scoring.
* a plain-loop reference written from voc-release5 ``features.cc`` / dlib ``fhog.h``
  (float64, pixel by pixel), independent of the compiled kernels;
* hand-worked properties: constant images, step edges, output sizes, window crops.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from pyimagesearch.descriptor.fhog import (
    fhog_grid,
    fhog_grid_shape,
    fhog_min_size,
    fhog_window_shape,
)

from .conftest import CARS

try:
    import dlib
except ImportError:  # pragma: no cover - dlib is a test-only dependency
    dlib = None

needs_dlib = pytest.mark.skipif(dlib is None, reason="dlib (dlib-bin) is not installed")

CELL_SIZES = (2, 3, 4, 5, 6, 8, 9, 16)


def _noise(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _smooth(shape, seed=0):
    """Random blobs: gradients of every orientation and strength, few saturated cells."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    img = np.zeros(shape)
    for _ in range(12):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        s = rng.uniform(3, 15)
        img += rng.uniform(-1, 1) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * s * s))
    img = (img - img.min()) / (np.ptp(img) + 1e-9) * 255
    return np.round(img).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _car_images(step: int = 25) -> list[np.ndarray]:
    from pyimagesearch.io.images import list_images, read_gray

    return [read_gray(p) for p in list_images(CARS)[::step]]


# ---------------------------------------------------------------------------
# dlib, through serialized detectors


def _pack_int(value: int) -> bytes:
    """dlib's integer serialization: a byte ``size | 0x80 if negative``, then |value|
    in ``size`` little-endian bytes."""
    body = abs(value).to_bytes(max(1, (abs(value).bit_length() + 7) // 8), "little")
    return bytes([len(body) | (0x80 if value < 0 else 0)]) + body


def _pack_double(value: float) -> bytes:
    """dlib's ``float_details``: integer mantissa, then integer exponent (base 2)."""
    mantissa, exponent = math.frexp(value)
    m = int(mantissa * (1 << 53))
    return _pack_int(m) + _pack_int(exponent - 53 if m else 0)


def _write_detector(path, weights, cell_size, window, padding=0) -> None:
    """An ``object_detector<scan_fhog_pyramid<pyramid_down<6>>>`` that dlib loads:
    one pyramid level, bias 0, an overlap tester that never suppresses (layout as
    dlib's ``serialize``; checked against a detector saved by
    ``dlib.train_simple_object_detector``)."""
    out = _pack_int(2)  # object_detector version
    out += _pack_int(1)  # scan_fhog_pyramid version; the feature extractor writes nothing
    out += _pack_int(0) + _pack_int(0)  # cached feature pyramid: empty array
    # cell size, padding (cells), window width, height (pixels), max pyramid levels,
    # min pyramid layer width, height
    for v in (cell_size, padding, window[0], window[1], 1, 1, 1):
        out += _pack_int(v)
    out += _pack_double(0.0)  # nuclear norm regularisation strength
    out += _pack_int(len(weights))  # dimensions, checked by dlib against the window size
    out += _pack_double(1.0) + _pack_double(1.0)  # test_box_overlap(iou, covered)
    out += _pack_int(1)  # one weight vector: a column matrix (negative sizes), + bias
    out += _pack_int(-(len(weights) + 1)) + _pack_int(-1)
    for w in [*np.asarray(weights, np.float64).tolist(), 0.0]:
        out += _pack_double(w)
    with open(path, "wb") as f:
        f.write(out)


def _cdiv(a: int, b: int) -> int:
    """C integer division (truncation towards zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _dlib_window_cells(width: int, cell_size: int, padding: int = 0) -> int:
    """dlib's ``compute_fhog_window_size`` along one side (``image_to_fhog`` of the
    window centred on the origin, grown by ``padding``)."""
    left = -(width // 2)
    right = left + width - 1
    return _cdiv(right - 1, cell_size) - _cdiv(left - 1, cell_size) + 1 + 2 * padding


def _one_cell_window(cell_size: int) -> int:
    return next(w for w in range(1, 4 * cell_size) if _dlib_window_cells(w, cell_size) == 1)


def _scores_grid(rects, scores) -> np.ndarray:
    """Detections (one per window position, on a regular grid) as a score array."""
    tops = sorted({r.top() for r in rects})
    lefts = sorted({r.left() for r in rects})
    assert len(rects) == len(tops) * len(lefts)
    out = np.full((len(tops), len(lefts)), np.nan)
    row = {t: i for i, t in enumerate(tops)}
    col = {x: j for j, x in enumerate(lefts)}
    for r, s in zip(rects, scores):
        out[row[r.top()], col[r.left()]] = s
    return out


def dlib_fhog(image: np.ndarray, cell_size: int, tmp_path) -> np.ndarray:
    """dlib's FHOG grid of ``image``: feature ``k`` is the score of a one-hot filter."""
    window = _one_cell_window(cell_size)
    planes = []
    for k in range(31):
        weights = np.zeros(31)
        weights[k] = 1.0
        path = tmp_path / f"onehot{cell_size}_{k}.svm"
        _write_detector(path, weights, cell_size, (window, window))
        rects, scores, _ = dlib.fhog_object_detector(str(path)).run(image, 0, -1.0)
        if not rects:
            return np.zeros((0, 0, 31), np.float32)
        planes.append(_scores_grid(rects, scores))
    return np.stack(planes, axis=-1)


def _assert_equals_dlib(image, cell_size, tmp_path):
    ref = dlib_fhog(image, cell_size, tmp_path)
    ours = fhog_grid(image, cell_size)
    assert ours.shape == ref.shape
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-5)


SYNTHETIC_SIZES = {  # per cell size: minimum, rounding up and down, odd sizes
    c: [(fhog_min_size(c), fhog_min_size(c)), (fhog_min_size(c) + c // 2, 7 * c - 1), (61, 47)]
    for c in CELL_SIZES
}


@needs_dlib
@pytest.mark.parametrize("cell_size", CELL_SIZES)
def test_equals_dlib_on_synthetic_images(cell_size, tmp_path):
    assert SYNTHETIC_SIZES[cell_size]
    for k, shape in enumerate(SYNTHETIC_SIZES[cell_size]):
        _assert_equals_dlib(_noise(shape, k), cell_size, tmp_path)
        _assert_equals_dlib(_smooth(shape, k), cell_size, tmp_path)


@needs_dlib
def test_dlib_returns_nothing_below_the_minimum_size(tmp_path):
    for cell_size in (4, 8):
        m = fhog_min_size(cell_size)
        assert dlib_fhog(_noise((m - 1, 3 * m)), cell_size, tmp_path).size == 0
        assert fhog_grid_shape((m - 1, 3 * m), cell_size) == (0, 0)
        assert dlib_fhog(_noise((m, m)), cell_size, tmp_path).shape == (1, 1, 31)


@needs_dlib
@pytest.mark.needs_data
@pytest.mark.parametrize("cell_size", [4, 6, 8])
def test_equals_dlib_on_car_images(cell_size, tmp_path):
    assert _car_images()
    for image in _car_images():
        _assert_equals_dlib(image, cell_size, tmp_path)


@needs_dlib
@pytest.mark.parametrize(
    ("cell_size", "window"), [(8, (48, 24)), (8, (40, 40)), (6, (30, 18)), (4, (28, 12))]
)
def test_window_scores_equal_dlib_template_scores(cell_size, window, tmp_path):
    """dlib scores a ``rows x cols`` template (its weights plane by plane, row-major)
    against the cells of each window position; the same template dotted with our
    grid slice under the window gives the same scores."""
    image = _smooth((150, 190), 3)
    rows, cols = fhog_window_shape(window, cell_size)
    weights = np.random.default_rng(1).normal(size=31 * rows * cols)
    path = tmp_path / "template.svm"
    _write_detector(path, weights, cell_size, window)
    rects, scores, _ = dlib.fhog_object_detector(str(path)).run(image, 0, -1e9)
    dlib_scores = _scores_grid(rects, scores)
    grid = fhog_grid(image, cell_size).astype(np.float64)
    assert dlib_scores.shape == grid.shape[:2]  # dlib also scores windows off the grid
    template = weights.reshape(31, rows, cols)
    # dlib's position p (zero-padded grid, filter centred) is our window at p - (n-1)//2
    off_r, off_c = (rows - 1) // 2, (cols - 1) // 2
    for i in range(grid.shape[0] - rows + 1):
        for j in range(grid.shape[1] - cols + 1):
            ours = np.einsum("rck,krc->", grid[i : i + rows, j : j + cols], template)
            assert ours == pytest.approx(dlib_scores[i + off_r, j + off_c], abs=1e-4)


@needs_dlib
@pytest.mark.parametrize("cell_size", [4, 6, 8])
def test_window_shape_is_dlib_filter_size(cell_size, tmp_path):
    """dlib refuses a detector whose dimensions differ from its filter size; windows
    that are multiples of the cell size have our cells (``padding`` cells more around)."""
    for n_c, n_r in [(1, 1), (5, 3), (6, 4), (7, 10)]:
        window = (n_c * cell_size, n_r * cell_size)
        rows, cols = fhog_window_shape(window, cell_size)
        assert (rows, cols) == (n_r, n_c)
        for padding in (0, 1):
            dims = 31 * (rows + 2 * padding) * (cols + 2 * padding)
            good, bad = tmp_path / "good.svm", tmp_path / "bad.svm"
            _write_detector(good, np.zeros(dims), cell_size, window, padding)
            det = dlib.fhog_object_detector(str(good))
            assert (det.detection_window_width, det.detection_window_height) == window
            _write_detector(bad, np.zeros(dims + 31), cell_size, window, padding)
            with pytest.raises(RuntimeError, match="dimensions"):
                dlib.fhog_object_detector(str(bad))


# ---------------------------------------------------------------------------
# plain-loop reference (voc-release5 features.cc as dlib adapts it)

_DIRECTIONS = [
    (1.0000, 0.0000),
    (0.9397, 0.3420),
    (0.7660, 0.6428),
    (0.500, 0.8660),
    (0.1736, 0.9848),
    (-0.1736, 0.9848),
    (-0.5000, 0.8660),
    (-0.7660, 0.6428),
    (-0.9397, 0.3420),
]


@functools.cache
def _snap(gx: int, gy: int) -> int:
    """Nearest of 18 orientations; dot products in float32 as dlib (ties: first)."""
    best_dot, best_o = np.float32(0), 0
    for o, (dx, dy) in enumerate(_DIRECTIONS):
        dot = np.float32(dx) * np.float32(gx) + np.float32(dy) * np.float32(gy)
        if dot > best_dot:
            best_dot, best_o = dot, o
        elif -dot > best_dot:
            best_dot, best_o = -dot, o + 9
    return best_o


def reference_fhog(image: np.ndarray, cell_size: int, valid=None) -> np.ndarray:
    """FHOG pixel by pixel, in float64 (orientation snapping aside)."""
    img = image.astype(np.int64)
    h, w = img.shape
    top, bottom, left, right = valid if valid is not None else (0, h, 0, w)
    cells_r, cells_c = int(h / cell_size + 0.5), int(w / cell_size + 0.5)
    hist = np.zeros((cells_r, cells_c, 18))
    # dlib: gradients for 1 <= y < min(cells * cell_size, size) - 1 (no clamping)
    for y in range(1, min(cells_r * cell_size, h) - 1):
        for x in range(1, min(cells_c * cell_size, w) - 1):
            if not (top <= y < bottom and left <= x < right):
                continue
            gx = int(img[y, x + 1] - img[y, x - 1])
            gy = int(img[y + 1, x] - img[y - 1, x])
            o = _snap(gx, gy)
            v = math.sqrt(gx * gx + gy * gy)
            xp = (x + 0.5) / cell_size - 0.5
            yp = (y + 0.5) / cell_size - 0.5
            ixp, iyp = math.floor(xp), math.floor(yp)
            vx0, vy0 = xp - ixp, yp - iyp
            for cy, cx, weight in (
                (iyp, ixp, (1 - vy0) * (1 - vx0)),
                (iyp + 1, ixp, vy0 * (1 - vx0)),
                (iyp, ixp + 1, (1 - vy0) * vx0),
                (iyp + 1, ixp + 1, vy0 * vx0),
            ):
                if 0 <= cy < cells_r and 0 <= cx < cells_c:
                    hist[cy, cx, o] += weight * v
    energy = np.zeros((cells_r, cells_c))
    for r in range(cells_r):
        for c in range(cells_c):
            energy[r, c] = sum((hist[r, c, o] + hist[r, c, o + 9]) ** 2 for o in range(9))
    out = np.zeros((max(cells_r - 2, 0), max(cells_c - 2, 0), 31))
    for y in range(cells_r - 2):
        for x in range(cells_c - 2):
            cy, cx = y + 1, x + 1
            # the 2x2 blocks holding the cell: bottom-right, top-right, bottom-left, top-left
            norms = []
            for by, bx in ((0, 0), (-1, 0), (0, -1), (-1, -1)):
                e = sum(energy[cy + by + i, cx + bx + j] for i in (0, 1) for j in (0, 1))
                norms.append(1.0 / math.sqrt(e + 0.0001))
            cell = hist[cy, cx]
            texture = [0.0] * 4
            for o in range(18):
                hs = [min(cell[o] * n, 0.2) for n in norms]
                out[y, x, o] = 0.5 * sum(hs)
                texture = [t + v for t, v in zip(texture, hs)]
            for o in range(9):
                out[y, x, 18 + o] = 0.5 * sum(min((cell[o] + cell[o + 9]) * n, 0.2) for n in norms)
            out[y, x, 27:] = [0.2357 * t for t in texture]
    return out


@pytest.mark.parametrize("cell_size", [3, 4, 8])
def test_equals_plain_loop_reference(cell_size):
    for k, shape in enumerate([(fhog_min_size(cell_size), 45), (53, 38)]):
        for image in (_noise(shape, k), _smooth(shape, k)):
            ours = fhog_grid(image, cell_size)
            np.testing.assert_allclose(ours, reference_fhog(image, cell_size), atol=1e-5)


def test_valid_region_equals_plain_loop_reference():
    image = _smooth((56, 72), 5)
    for valid in [(8, 40, 12, 60), (0, 56, 0, 72), (3, 5, 7, 70), (0, 0, 0, 0)]:
        ours = fhog_grid(image, 8, valid=valid)
        np.testing.assert_allclose(ours, reference_fhog(image, 8, valid), atol=1e-5)


@pytest.mark.needs_data
def test_equals_plain_loop_reference_on_car_images():
    assert _car_images(step=60)
    for image in _car_images(step=60):
        np.testing.assert_allclose(fhog_grid(image, 8), reference_fhog(image, 8), atol=1e-5)


# ---------------------------------------------------------------------------
# hand-worked properties


@pytest.mark.parametrize("value", [0, 97, 255])
@pytest.mark.parametrize("cell_size", [4, 8])
def test_constant_image_has_zero_features(value, cell_size):
    grid = fhog_grid(np.full((50, 70), value, np.uint8), cell_size)
    assert grid.shape == fhog_grid_shape((50, 70), cell_size) + (31,)
    assert not grid.any()


def _step(shape, column=None, row=None, dark_first=True):
    img = np.zeros(shape, np.uint8)
    if column is not None:
        img[:, column:] = 255
    if row is not None:
        img[row:, :] = 255
    return img if dark_first else 255 - img


def test_vertical_step_edge_votes_orientation_zero():
    """A dark-to-bright step between columns 15 and 16 (cell size 8): the gradient
    (255, 0) at columns 15 and 16 points at 0 degrees; their votes split between cells
    1 and 2 (grid columns 0 and 1), every cell of which is saturated: each of its 4
    block normalisations gives >= 0.5 > 0.2, truncated, so orientation 0 (and its
    unsigned twin 18) is 0.5 * 4 * 0.2 = 0.4 and each texture feature 0.2357 * 0.2."""
    grid = fhog_grid(_step((48, 48), column=16), 8)
    assert grid.shape == (4, 4, 31)
    edge, rest = grid[:, :2], grid[:, 2:]
    np.testing.assert_allclose(edge[..., 0], 0.4, atol=1e-6)
    np.testing.assert_allclose(edge[..., 18], 0.4, atol=1e-6)
    np.testing.assert_allclose(edge[..., 27:], 0.2357 * 0.2, atol=1e-6)
    others = np.delete(edge, [0, 18, 27, 28, 29, 30], axis=2)
    assert not others.any()
    assert not rest.any()
    # bright-to-dark: the opposite sensitive orientation (180 degrees), same unsigned one
    flipped = fhog_grid(_step((48, 48), column=16, dark_first=False), 8)
    np.testing.assert_array_equal(flipped[..., 9], grid[..., 0])
    np.testing.assert_array_equal(flipped[..., 18:], grid[..., 18:])
    assert not flipped[..., 0].any()


def test_horizontal_step_edge_ties_to_80_degrees():
    """Gradient (0, 255) (image y down) is equally close to 80 and 100 degrees
    (orientations 4 and 5); dlib keeps the first: orientation 4, and 13 when reversed."""
    grid = fhog_grid(_step((48, 48), row=16), 8)
    np.testing.assert_allclose(grid[:2, :, 4], 0.4, atol=1e-6)
    np.testing.assert_allclose(grid[:2, :, 18 + 4], 0.4, atol=1e-6)
    assert not np.delete(grid, [4, 22, 27, 28, 29, 30], axis=2).any()
    flipped = fhog_grid(_step((48, 48), row=16, dark_first=False), 8)
    np.testing.assert_array_equal(flipped[..., 13], grid[..., 4])


@pytest.mark.parametrize(
    ("shape", "cell_size", "expected"),
    [
        ((197, 300), 8, (23, 36)),  # 24.6 -> 25 cells, 37.5 -> 38 (rounded half up)
        ((100, 84), 8, (11, 9)),  # 12.5 -> 13, 10.5 -> 11
        ((99, 83), 8, (10, 8)),  # 12.4 -> 12, 10.4 -> 10
        ((20, 20), 8, (1, 1)),  # the minimum: 2.5 -> 3 cells
        ((480, 640), 8, (58, 78)),
        ((480, 640), 6, (78, 105)),
        ((5, 7), 2, (1, 2)),
    ],
)
def test_grid_shape_is_dlib_cell_count(shape, cell_size, expected):
    """``round(size / cell_size) - 2`` cells a side (dlib drops the outer ring)."""
    assert fhog_grid_shape(shape, cell_size) == expected
    assert fhog_grid(_noise(shape), cell_size).shape == (*expected, 31)


def test_minimum_size():
    assert [fhog_min_size(c) for c in (2, 3, 4, 5, 8, 16)] == [5, 8, 10, 13, 20, 40]


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="2-D uint8"):
        fhog_grid(np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(ValueError, match="2-D uint8"):
        fhog_grid(np.zeros((40, 40), np.float32))
    with pytest.raises(ValueError, match="at least 20 pixels"):
        fhog_grid(np.zeros((19, 100), np.uint8))
    with pytest.raises(ValueError, match="at least 10 pixels"):
        fhog_grid(np.zeros((100, 9), np.uint8), cell_size=4)
    with pytest.raises(ValueError, match="cell_size"):
        fhog_grid(np.zeros((40, 40), np.uint8), cell_size=1)
    with pytest.raises(ValueError, match="smaller than one"):
        fhog_window_shape((7, 64), 8)
    with pytest.raises(ValueError, match="top, bottom"):
        fhog_grid(np.zeros((40, 40), np.uint8), valid=(0, 40, 0))


def test_window_shape():
    assert fhog_window_shape((64, 128), 8) == (16, 8)
    assert fhog_window_shape((100, 40), 8) == (5, 12)  # whole cells only
    assert fhog_window_shape((30, 18), 6) == (3, 5)


# ---------------------------------------------------------------------------
# windows: slices of the grid, and the context they need


def _window_and_crops(image, cell_size, i, j, window):
    rows, cols = fhog_window_shape(window, cell_size)
    c = cell_size
    window_slice = fhog_grid(image, c)[i : i + rows, j : j + cols]
    one = image[i * c : (i + rows + 2) * c, j * c : (j + cols + 2) * c]
    two = image[(i - 1) * c : (i + rows + 3) * c, (j - 1) * c : (j + cols + 3) * c]
    return window_slice, fhog_grid(one, c), fhog_grid(two, c)


def _check_window_context(image, cell_size, i, j, window):
    """The window whose top-left pixel is ((i+1)c, (j+1)c) is grid[i:i+rows, j:j+cols].

    * crop with one cell of context: its grid has exactly the window's cells, and the
      inner ones are equal; the outer ring differs, because the crop's margin cells
      miss the votes of pixels outside the crop (and the crop's own border pixels have
      no gradient), and the outer ring is normalised with those margin cells;
    * crop with two cells of context: the margin cells are complete (a histogram needs
      the pixels up to half a cell + 1 beyond its cell), so the crop's grid minus its
      outer ring equals the slice.
    """
    window_slice, one, two = _window_and_crops(image, cell_size, i, j, window)
    assert one.shape == window_slice.shape
    np.testing.assert_allclose(one[1:-1, 1:-1], window_slice[1:-1, 1:-1], atol=1e-6)
    ring = np.ones(window_slice.shape[:2], bool)
    ring[1:-1, 1:-1] = False
    assert np.abs(one[ring] - window_slice[ring]).max() > 1e-3
    assert two[1:-1, 1:-1].shape == window_slice.shape
    np.testing.assert_allclose(two[1:-1, 1:-1], window_slice, atol=1e-6)


@pytest.mark.parametrize(("cell_size", "window"), [(8, (64, 32)), (6, (36, 48)), (4, (40, 24))])
def test_window_slice_equals_crop_with_context(cell_size, window):
    image = _smooth((200, 240), 7)
    _check_window_context(image, cell_size, 3, 4, window)
    _check_window_context(image, cell_size, 1, 1, window)  # two cells from the border


@pytest.mark.needs_data
def test_window_slice_equals_crop_with_context_on_car_images():
    assert _car_images(step=40)
    for image in _car_images(step=40):
        _check_window_context(image, 8, 2, 5, (96, 48))


def test_valid_padding_has_no_gradient():
    """Outside ``valid`` the gradients are zero: pixels two or more beyond it do not
    matter (the one next to it does, as the neighbour of a border pixel), cells over
    the padding only are empty, and a full ``valid`` changes nothing."""
    image = _smooth((80, 112), 2)
    valid = (16, 64, 16, 80)
    base = fhog_grid(image, 8, valid=valid)
    changed = image.copy()
    changed[:15] = _noise((15, 112), 1)
    changed[:, 81:] = 0
    np.testing.assert_array_equal(fhog_grid(changed, 8, valid=valid), base)
    assert base[:, -3].any()  # cell 10 (pixels 80-87) has voters 76-79 inside
    assert not base[:, -2:].any()  # cells 11, 12 (pixels 88-103): all voters outside
    np.testing.assert_array_equal(fhog_grid(image, 8, valid=(0, 80, 0, 112)), fhog_grid(image, 8))
