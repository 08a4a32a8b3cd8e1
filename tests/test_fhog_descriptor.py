"""FHOG as a descriptor choice: parameters, config, model file, layer grids, pyramid,
template picture (the scores' parity with per-window descriptors: test_padding_regression)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from pyimagesearch.descriptor.fhog import fhog_grid
from pyimagesearch.descriptor.grid import layer_grids, nonzero_region
from pyimagesearch.descriptor.hog import HogParams, window_descriptor
from pyimagesearch.descriptor.params import DESCRIPTORS
from pyimagesearch.detection import WindowDetector
from pyimagesearch.infrastructure.config import config_from_dict
from pyimagesearch.infrastructure.errors import ConfigError, ModelError
from pyimagesearch.model import check_compatible, load_model, save_model
from pyimagesearch.model.linear import LinearModel
from pyimagesearch.orchestration.search import candidate_windows
from pyimagesearch.report.template import cell_weights, template_picture

from .conftest import cars_conf_dict

FHOG = HogParams(pixels_per_cell=(8, 8), descriptor="fhog")
COURSE = HogParams(9, (4, 4), (2, 2), True, "L1")


def _scene(shape=(120, 170), seed=0) -> np.ndarray:
    """Smooth random blobs plus noise: gradients of every orientation and strength."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (shape[0] // 6 + 1, shape[1] // 6 + 1)).astype(np.uint8)
    img = cv2.resize(small, shape[::-1], interpolation=cv2.INTER_CUBIC).astype(np.int16)
    img += rng.integers(-12, 13, shape, dtype=np.int16)
    return np.clip(img, 0, 255).astype(np.uint8)


def _model(params=FHOG, window=(64, 32), seed=0) -> LinearModel:
    rng = np.random.default_rng(seed)
    weights = rng.normal(scale=0.05, size=params.descriptor_size(window))
    return LinearModel(weights, -0.2, 2.0, 0.1, params, window)


# ---------------------------------------------------------------------------
# parameters


def test_fhog_geometry():
    assert DESCRIPTORS == ("hog", "fhog") and HogParams().descriptor == "hog"
    assert FHOG.block_size == 31 and FHOG.context_cells == 2 and COURSE.context_cells == 1
    assert FHOG.window_blocks((96, 32)) == (4, 12)
    assert FHOG.descriptor_size((96, 32)) == 4 * 12 * 31
    assert COURSE.window_blocks((96, 32)) == (7, 23)  # HOG unchanged


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pixels_per_cell": (8, 6)}, "square cells"),
        ({"pixels_per_cell": (1, 1)}, "at least 2 pixels"),
        ({"descriptor": "sift"}, "descriptor must be one of"),
    ],
)
def test_bad_parameters_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HogParams(**{"descriptor": "fhog", **kwargs})


def test_dicts_name_the_descriptor_and_old_ones_read_as_hog():
    assert FHOG.to_dict() == {"descriptor": "fhog", "pixels_per_cell": [8, 8]}
    assert HogParams.from_dict(FHOG.to_dict()) == FHOG
    assert COURSE.to_dict()["descriptor"] == "hog"
    old = {k: v for k, v in COURSE.to_dict().items() if k != "descriptor"}
    assert HogParams.from_dict(old) == COURSE and COURSE.same_as(old)
    # the unused HOG parameters do not make two FHOG descriptors differ
    assert FHOG.same_as(HogParams(12, (8, 8), (3, 3), False, "L2", "fhog").to_dict())
    assert not FHOG.same_as(COURSE.to_dict()) and not FHOG.same_as(None)


# ---------------------------------------------------------------------------
# config and model file


def test_config_descriptor_key(tmp_path):
    assert config_from_dict(cars_conf_dict(tmp_path))["descriptor"] == "hog"
    conf = config_from_dict(cars_conf_dict(tmp_path, descriptor="fhog", pixels_per_cell=[8, 8]))
    assert HogParams.from_config(conf) == FHOG and conf.options.descriptor == FHOG
    with pytest.raises(ConfigError, match="key 'descriptor'"):
        config_from_dict(cars_conf_dict(tmp_path, descriptor="FHOG"))
    with pytest.raises(ConfigError, match=r"key 'pixels_per_cell'.*square"):
        config_from_dict(cars_conf_dict(tmp_path, descriptor="fhog", pixels_per_cell=[8, 4]))
    # a block bigger than the window does not matter to FHOG (it has no blocks)
    raw = cars_conf_dict(tmp_path, descriptor="fhog", pixels_per_cell=[8, 8])
    config_from_dict({**raw, "cells_per_block": [8, 8]})
    windows = candidate_windows(config_from_dict({**raw, "window_dim": [16, 16]}))
    assert min(min(w) for w in windows) == 16  # two cells: FHOG's smallest window


def test_model_file_keeps_the_descriptor_and_old_files_load_as_hog(tmp_path):
    model = _model()
    loaded = load_model(save_model(model, tmp_path / "m.json"))
    assert loaded.hog == FHOG and loaded.weight_grid().shape == (4, 8, 31)
    np.testing.assert_array_equal(loaded.weights, model.weights)
    hog_model = _model(COURSE, (96, 32))
    path = save_model(hog_model, tmp_path / "old.json")
    doc = json.loads(path.read_text())
    del doc["hog"]["descriptor"]  # as written before FHOG
    path.write_text(json.dumps(doc))
    assert load_model(path).hog == COURSE


def test_descriptor_mismatch_is_refused(tmp_path):
    model = _model(window=(96, 32))
    with pytest.raises(
        ModelError, match=r"trained with the 'fhog' descriptor.*sets descriptor 'hog'"
    ):
        check_compatible(model, COURSE, (96, 32), "m.json", "conf.json")
    with pytest.raises(ModelError, match=r"'hog' descriptor.*descriptor 'fhog'"):
        check_compatible(_model(COURSE, (96, 32)), FHOG, (96, 32))
    with pytest.raises(ModelError, match=r"pixels_per_cell: model \[8, 8\] vs config \[6, 6\]"):
        check_compatible(model, HogParams(pixels_per_cell=(6, 6), descriptor="fhog"), (96, 32))
    check_compatible(model, FHOG, (96, 32))


# ---------------------------------------------------------------------------
# layer grids


@pytest.mark.parametrize("pads", [(0, 0), (16, 8), (32, 24)])
def test_layer_grid_is_dlibs_grid_shifted_by_the_padding(pads):
    """Away from the layer's border (where the padded layer and dlib's unpadded image
    differ: dlib's border pixels have no gradient), the layer grid is ``fhog_grid`` of
    the layer, shifted: position (r, c) is the window at padded pixel (8 r, 8 c)."""
    image = _scene((123, 171))
    px, py = pads
    (grid,) = layer_grids(image, FHOG, ((0, 0),), px, py)
    dlib_grid = fhog_grid(image, 8)  # cell (i, j) at image pixel (8 (i + 1), 8 (j + 1))
    top, left = py // 8 + 1, px // 8 + 1
    inner = dlib_grid[1:-1, 1:-1]
    np.testing.assert_allclose(
        grid[top + 1 : top + 1 + inner.shape[0], left + 1 : left + 1 + inner.shape[1]],
        inner,
        atol=1e-6,
    )


@pytest.mark.parametrize("phase", [(3, 5), (7, 1)])
def test_phase_grids_are_the_grids_of_the_shifted_layer(phase):
    """Phase (p_r, p_c): position (r, c) is the window at padded pixel (8 r + p_r, 8 c + p_c)."""
    image = _scene((97, 140), seed=2)
    (grid,) = layer_grids(image, FHOG, (phase,), 16, 8)
    padded = cv2.copyMakeBorder(image, 8, 8, 16, 16, cv2.BORDER_REPLICATE)
    valid = (8, 8 + image.shape[0], 16, 16 + image.shape[1])
    last_r = (padded.shape[0] - 32 - phase[0]) // 8  # the last windows inside the padding
    last_c = (padded.shape[1] - 64 - phase[1]) // 8
    for r, c in ((0, 0), (3, 4), (last_r, last_c)):
        y, x = 8 * r + phase[0], 8 * c + phase[1]
        ref = window_descriptor(padded, x, y, (64, 32), FHOG, valid)
        np.testing.assert_allclose(grid[r : r + 4, c : c + 8].ravel(), ref, atol=1e-6)


@pytest.mark.parametrize(("shape", "cell"), [((90, 131), 8), ((88, 124), 8), ((61, 95), 6)])
def test_only_the_image_and_its_ring_of_cells_are_non_zero(shape, cell):
    """The detector correlates only these positions (the others are padding: zero)."""
    params = HogParams(pixels_per_cell=(cell, cell), descriptor="fhog")
    image = _scene(shape, seed=3)
    px, py = 4 * cell, 2 * cell
    (grid,) = layer_grids(image, params, ((0, 0),), px, py)
    r0, r1, c0, c1 = nonzero_region(image.shape, params, px, py, grid.shape[:2])
    assert (r0, c0) == (1, 3) and r1 < grid.shape[0] and c1 < grid.shape[1]
    inside = np.zeros(grid.shape[:2], bool)
    inside[r0:r1, c0:c1] = True
    assert not grid[~inside].any()
    assert grid[r0].any() and grid[:, c0].any()  # the ring takes the border's votes
    assert grid[r1 - 1].any() and grid[:, c1 - 1].any()


def test_window_past_every_border_of_a_small_layer():
    """A layer smaller than the window (upsampling off, padding 1): windows still score
    as their own descriptors."""
    model = _model(window=(64, 32))
    image = _scene((20, 40), seed=4)
    detector = WindowDetector(model, window_step=8, padding=1.0)
    xs, ys, fast = detector.score_map(image)
    assert fast.size and not np.isnan(fast).any()
    padded = cv2.copyMakeBorder(image, 32, 32, 64, 64, cv2.BORDER_REPLICATE)
    valid = (32, 52, 64, 104)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            feat = window_descriptor(padded, int(x + 64), int(y + 32), (64, 32), FHOG, valid)
            assert fast[i, j] == pytest.approx(float(feat @ model.weights + model.bias), abs=1e-4)


# ---------------------------------------------------------------------------
# approximate pyramid


@pytest.mark.parametrize("padding", [0.0, 0.5])
def test_fhog_computed_levels_are_exact_and_the_others_close(padding):
    model, image = _model(window=(48, 24)), _scene((200, 260), seed=5)
    scale = 2 ** (1 / 4)
    exact = WindowDetector(model, 8, scale, padding=padding, approximate=False)
    fast = WindowDetector(model, 8, scale, padding=padding, approximate=True)
    a, b = list(exact._layers(image)), list(fast._layers(image))
    assert [x[:3] for x in a] == [x[:3] for x in b] and len(a) > 4
    for i, (la, lb) in enumerate(zip(a, b)):
        ga, gb = la[4][0], lb[4][0]
        assert ga.shape == gb.shape
        if i % 4 == 0:
            np.testing.assert_array_equal(ga, gb)
        else:
            assert np.corrcoef(ga.ravel(), gb.ravel())[0, 1] > 0.6
    ca = exact.candidates(image, threshold=-np.inf)
    cb = fast.candidates(image, threshold=-np.inf)
    assert ca.windows_scored == cb.windows_scored
    oa = np.lexsort((ca.windows[:, 1], ca.windows[:, 0], ca.scales))
    ob = np.lexsort((cb.windows[:, 1], cb.windows[:, 0], cb.scales))
    np.testing.assert_allclose(ca.windows[oa], cb.windows[ob])
    diff = np.abs(ca.scores[oa] - cb.scores[ob])
    assert np.median(diff) < 0.25 * np.std(ca.scores)


# ---------------------------------------------------------------------------
# template picture


def test_template_draws_fhog_orientations(tmp_path):
    model = _model(window=(96, 32))
    cells = cell_weights(model)
    w = model.weight_grid()
    assert cells.shape == (4, 12, 9)
    np.testing.assert_allclose(cells[2, 5, 3], w[2, 5, 3] + w[2, 5, 12] + w[2, 5, 21], rtol=1e-6)
    picture = cv2.imread(str(template_picture(model, tmp_path / "t.png", cell_px=20)))
    assert picture.shape == (22 + 4 * 20, 2 * 12 * 20 + 8, 3) and picture.max() > 0
