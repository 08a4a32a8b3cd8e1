"""The approximated feature pyramid: exact where it computes, close where it resamples.

With ``approximate``, the detector computes HOG at one pyramid level per octave and
resamples the cell histograms for the levels between (Dollár et al., PAMI 2014). The
levels it computes must score exactly as the exact detector; the resampled ones must
stay close to the exact features of their own level.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyimagesearch.descriptor import hog as H
from pyimagesearch.descriptor.params import HogParams
from pyimagesearch.detection.detector import WindowDetector
from pyimagesearch.model.linear import LinearModel

HOG = HogParams()


def _scene(shape=(120, 170), seed=0) -> np.ndarray:
    """Smooth shapes and edges (not noise: noise has no scale to approximate)."""
    rng = np.random.default_rng(seed)
    image = np.full(shape, 90, np.uint8)
    import cv2

    for _ in range(12):
        x, y = rng.integers(0, shape[1]), rng.integers(0, shape[0])
        w, h = rng.integers(8, 50, 2)
        color = int(rng.integers(0, 256))
        cv2.rectangle(image, (int(x), int(y)), (int(x + w), int(y + h)), color, -1)
        cv2.circle(image, (int(y), int(x) % shape[0]), int(h // 2), 255 - color, 2)
    return cv2.GaussianBlur(image, (3, 3), 0)


@pytest.mark.parametrize("pads", [(0, 0), (48, 16), (8, 0), (12, 4)])
@pytest.mark.parametrize("shape", [(120, 170), (101, 203), (9, 30)])
def test_padded_cell_grid_equals_the_padded_layer_cells(pads, shape):
    image = _scene(shape)
    px, py = pads
    if px or py:
        (ref,) = H.padded_hog_blocks(image, HOG, ((0, 0),), px, py)
    else:
        (ref,) = H.hog_blocks(image, HOG)
    got = H.normalize_blocks(H.padded_cell_grid(image, HOG, px, py), HOG)
    assert got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)


def test_resampling_at_the_same_size_is_the_identity():
    image = _scene()
    cells = H.padded_cell_grid(image, HOG, 8, 4)
    region = H.image_cells(image.shape, HOG, 8, 4)
    again = H.approximate_cell_grid(cells, region, cells.shape[:2], region)
    np.testing.assert_array_equal(again, cells)


def _exact_and_resampled(big: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blocks of ``big`` shrunk by 2**(1/5), computed and resampled from ``big``'s cells."""
    import cv2

    size = (round(big.shape[1] / 2**0.2), round(big.shape[0] / 2**0.2))
    small = cv2.resize(big, size, interpolation=cv2.INTER_AREA)
    exact = H.padded_cell_grid(small, HOG, 0, 0)
    approx = H.approximate_cell_grid(
        H.padded_cell_grid(big, HOG, 0, 0),
        H.image_cells(big.shape, HOG, 0, 0),
        exact.shape[:2],
        H.image_cells(small.shape, HOG, 0, 0),
    )
    return H.normalize_blocks(exact, HOG), H.normalize_blocks(approx, HOG)


@pytest.mark.parametrize("seed", [3, 4])
def test_resampled_cells_are_close_to_the_exact_cells_of_the_smaller_image(seed):
    exact, approx = _exact_and_resampled(_scene((240, 320), seed=seed))
    assert exact.shape[:2] == (209 // 4 - 1, 279 // 4 - 1)
    error = np.abs(approx - exact).mean()
    # far closer than the features of another scene of the same size
    other = H.normalize_blocks(H.padded_cell_grid(_scene((209, 279), seed=9), HOG, 0, 0), HOG)
    assert error < 0.6 * np.abs(other - exact).mean()


@pytest.mark.needs_data
def test_on_real_photos_each_orientation_keeps_its_energy():
    """Dollár et al.'s power law, with the exponent divided out by the block norm: the
    mean of every orientation channel of the resampled features matches the exact ones."""
    import cv2

    from .conftest import SCENES

    paths = sorted(SCENES.glob("*/*.jpg"))[::500]
    assert len(paths) >= 5
    for path in paths:
        exact, approx = _exact_and_resampled(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
        ratio = approx.mean(axis=(0, 1, 2, 3)) / exact.mean(axis=(0, 1, 2, 3))
        assert np.all(np.abs(ratio - 1) < 0.2), (path.name, ratio)
        assert np.corrcoef(approx.ravel(), exact.ravel())[0, 1] > 0.3


def _model(window=(48, 24)) -> LinearModel:
    rng = np.random.default_rng(1)
    weights = rng.normal(0, 0.05, HOG.descriptor_size(window))
    return LinearModel(weights, 0.0, 1.0, 0.0, HOG, window)


@pytest.mark.parametrize("padding", [0.0, 0.5])
def test_computed_levels_score_exactly_and_the_others_closely(padding):
    model, image = _model(), _scene((160, 220), seed=5)
    scale = 2 ** (1 / 5)
    exact = WindowDetector(model, 4, scale, padding=padding, approximate=False)
    fast = WindowDetector(model, 4, scale, padding=padding, approximate=True)
    a = list(exact._layers(image))
    b = list(fast._layers(image))
    assert [x[:3] for x in a] == [x[:3] for x in b]  # same levels, same factors
    assert len(a) > 5
    for i, (la, lb) in enumerate(zip(a, b)):
        ga, gb = la[4][0], lb[4][0]
        assert ga.shape == gb.shape
        if i % 5 == 0:  # computed: exactly the exact detector's features
            np.testing.assert_array_equal(ga, gb)
    ca = exact.candidates(image, threshold=-np.inf)
    cb = fast.candidates(image, threshold=-np.inf)
    assert ca.windows_scored == cb.windows_scored
    order = np.lexsort((ca.windows[:, 1], ca.windows[:, 0], ca.scales))
    order_b = np.lexsort((cb.windows[:, 1], cb.windows[:, 0], cb.scales))
    np.testing.assert_allclose(ca.windows[order], cb.windows[order_b])
    diff = np.abs(ca.scores[order] - cb.scores[order_b])
    assert np.median(diff) < 0.25 * np.std(ca.scores)


def test_a_coarse_pyramid_or_a_partial_cell_step_is_computed_exactly():
    model, image = _model(), _scene()
    for scale, step in ((1.3, 4), (2 ** (1 / 5), 3)):
        exact = WindowDetector(model, step, scale, approximate=False).candidates(image, -np.inf)
        fast = WindowDetector(model, step, scale, approximate=True).candidates(image, -np.inf)
        if scale == 1.3:  # 2.6 levels per octave: every third level resampled
            assert not np.array_equal(exact.scores, fast.scores)
        else:  # a step of 3 pixels needs other cell phases: no resampling
            np.testing.assert_array_equal(exact.scores, fast.scores)
