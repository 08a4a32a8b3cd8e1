"""Windows past the border, enlarged layers and regressed boxes, against brute force."""

import cv2
import numpy as np
import pytest

from benchmarks.reference import naive_score_layer
from pyimagesearch.descriptor.hog import HogParams, pad_image, window_descriptor
from pyimagesearch.detection import WindowDetector
from pyimagesearch.detection.pyramid import enlargements, pyramid, pyramid_shapes
from pyimagesearch.features.crops import random_windows, roi_descriptor
from pyimagesearch.infrastructure.geometry import box_targets, window_padding
from pyimagesearch.io.images import read_gray
from pyimagesearch.model.box_regression import BoxRegressor, fit_box_regressor
from pyimagesearch.model.linear import LinearModel
from pyimagesearch.model.modelfile import load_model, save_model

from .conftest import CARS

COURSE = HogParams(9, (4, 4), (2, 2), True, "L1")


def _model(window=(96, 32), seed=0, regressor=None):
    rng = np.random.default_rng(seed)
    weights = rng.normal(scale=0.05, size=COURSE.descriptor_size(window))
    return LinearModel(weights, -0.2, 2.0, 0.1, COURSE, window, box_regressor=regressor)


def _car(size=(150, 90)):
    return cv2.resize(read_gray(sorted(CARS.glob("*.jpg"))[5]), size, interpolation=cv2.INTER_AREA)


@pytest.mark.needs_data
@pytest.mark.parametrize("step", [4, 3])
def test_padded_layer_scores_equal_per_window_scores(step):
    """Every window, including those hanging past the border onto empty cells, scores
    as its own descriptor computed from the padded layer (decision 1 with padding)."""
    model = _model()
    detector = WindowDetector(model, window_step=step, padding=0.5)
    image = _car()
    px, py = window_padding((96, 32), (4, 4), 0.5)
    assert (px, py) == (48, 16)
    xs, ys, fast = detector.score_map(image)
    assert xs[0] == -48 and ys[0] == -16 and xs[-1] + 96 > image.shape[1]
    padded, valid = pad_image(image, px, py)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            feat = window_descriptor(padded, int(x + px), int(y + py), (96, 32), COURSE, valid)
            ref = float(feat.astype(np.float64) @ model.weights + model.bias)
            assert fast[i, j] == pytest.approx(ref, abs=1e-4)


FHOG = HogParams(pixels_per_cell=(8, 8), descriptor="fhog")


def _fhog_model(window=(96, 32), seed=0):
    rng = np.random.default_rng(seed)
    weights = rng.normal(scale=0.05, size=FHOG.descriptor_size(window))
    return LinearModel(weights, -0.2, 2.0, 0.1, FHOG, window)


@pytest.mark.needs_data
@pytest.mark.parametrize(("padding", "step"), [(0.5, 8), (0.5, 4), (0.5, 3), (0.0, 8), (0.0, 5)])
def test_fhog_padded_layer_scores_equal_per_window_scores(padding, step):
    """The same for FHOG: every window, past the border or not, whatever the cell phase
    of its position, scores as its own descriptor, computed from a crop with two cells
    of context (training's way) instead of from the layer's grid."""
    model = _fhog_model()
    detector = WindowDetector(model, window_step=step, padding=padding)
    image = _car((150, 90))
    px, py = window_padding((96, 32), (8, 8), padding)
    xs, ys, fast = detector.score_map(image)
    assert not np.isnan(fast).any()
    if padding:
        assert xs[0] == -px < 0 and ys[0] == -py < 0 and xs[-1] + 96 > image.shape[1]
    padded, valid = pad_image(image, px, py)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            feat = window_descriptor(padded, int(x + px), int(y + py), (96, 32), FHOG, valid)
            ref = float(feat.astype(np.float64) @ model.weights + model.bias)
            assert fast[i, j] == pytest.approx(ref, abs=1e-4)


@pytest.mark.needs_data
def test_fhog_candidate_features_are_the_windows_descriptors():
    """Mined windows become training rows: their features, sliced from the layer grid,
    equal the windows' own descriptors (the layer of the first pyramid level)."""
    model = _fhog_model()
    image = _car((150, 90))
    detector = WindowDetector(model, window_step=4, padding=0.5, pyramid_scale=10.0)
    cand = detector.candidates(image, threshold=-np.inf, with_features=True)
    assert cand.windows_scored == len(cand) > 0
    padded, valid = pad_image(image, 48, 16)
    for k in range(0, len(cand), 7):
        x, y = (int(v) for v in cand.layer_boxes[k, :2])
        ref = window_descriptor(padded, x + 48, y + 16, (96, 32), FHOG, valid)
        np.testing.assert_allclose(cand.features[k], ref, atol=1e-6)
    np.testing.assert_allclose(model.decision_function(cand.features), cand.scores, atol=1e-5)


@pytest.mark.needs_data
def test_fhog_positive_descriptor_is_the_window_descriptor():
    """A positive box of the window's size crops (with its two cells of context) to the
    detector's window at that spot, inside the image, at its border and past it."""
    image = _car((300, 197))
    padded, valid = pad_image(image, 48, 16)
    for x, y in ((40, 50), (0, 50), (204, 165), (-48, 50), (3, -16)):
        roi = np.array([x, y, x + 96, y + 32], np.float64)
        ours = roi_descriptor(image, roi, (96, 32), FHOG)
        ref = window_descriptor(padded, x + 48, y + 16, (96, 32), FHOG, valid)
        np.testing.assert_allclose(ours, ref, atol=1e-6)
    past = roi_descriptor(image, np.array([-48.0, 50.0, 48.0, 82.0]), (96, 32), FHOG)
    cells = past.reshape(4, 12, 31)
    assert not cells[:, :5].any() and cells[:, 5:].any()  # 6 cells past, one takes votes


@pytest.mark.needs_data
def test_cells_past_the_border_are_empty():
    image = _car()
    padded, valid = pad_image(image, 48, 16)
    # a window wholly in the padding has no gradient at all
    feat = window_descriptor(padded, 0, 0, (40, 16), COURSE, valid)
    assert not feat.any()
    # random negatives hang past the border like the detector's windows, and agree
    rng = np.random.default_rng(1)
    feats, boxes = random_windows(image, 50, (96, 32), COURSE, rng, pad=(48, 16))
    assert (boxes[:, 0] < 0).any() and (boxes[:, 2] > image.shape[1]).any()
    x, y = int(boxes[0, 0]), int(boxes[0, 1])
    ref = window_descriptor(padded, x + 48, y + 16, (96, 32), COURSE, valid)
    np.testing.assert_array_equal(feats[0], ref)


@pytest.mark.needs_data
def test_padding_zero_is_the_unpadded_detector():
    """``padding=0`` (the default) scans only windows wholly inside the image and scores
    them as the course's unpadded per-window detector does; a padded detector scans more
    windows, and agrees with it on the windows a cell or more inside the border."""
    model, image = _model(), _car()
    default = WindowDetector(model, 4)
    assert default.padding == 0.0
    xs, ys, scores = WindowDetector(model, 4, padding=0.0).score_map(image)
    ref_xs, ref_ys, ref = naive_score_layer(model, image, 4)
    assert xs.size > 1 and ys.size > 1
    assert xs[0] == ys[0] == 0
    assert xs[-1] + 96 <= image.shape[1] and ys[-1] + 32 <= image.shape[0]
    np.testing.assert_array_equal(xs, ref_xs)
    np.testing.assert_array_equal(ys, ref_ys)
    np.testing.assert_allclose(scores, ref, atol=1e-5)
    for u, v in zip(default.score_map(image), (xs, ys, scores)):
        np.testing.assert_array_equal(u, v)

    pad_xs, pad_ys, padded = WindowDetector(model, 4, padding=0.5).score_map(image)
    assert pad_xs[0] == -48 and pad_ys[0] == -16 and padded.size > scores.size
    inner_x = (xs >= 4) & (xs + 96 <= image.shape[1] - 4)
    inner_y = (ys >= 4) & (ys + 32 <= image.shape[0] - 4)
    assert inner_x.any() and inner_y.any()
    cols = np.searchsorted(pad_xs, xs[inner_x])
    rows = np.searchsorted(pad_ys, ys[inner_y])
    np.testing.assert_allclose(
        padded[rows[:, None], cols[None, :]], scores[inner_y][:, inner_x], atol=1e-5
    )


@pytest.mark.needs_data
def test_upsampled_pyramid():
    assert enlargements(1.5, 0) == []
    assert enlargements(1.5, 1) == [1.5]
    assert enlargements(1.2, 1) == pytest.approx([1.2**3, 1.2**2, 1.2])
    assert pyramid_shapes(300, 197, 1.5, (96, 32), upsample=1)[:2] == [(450, 296), (300, 197)]
    image = _car((300, 197))
    layers = list(pyramid(image, 1.5, (96, 32), upsample=1))
    assert layers[0][0].shape == (296, 450)
    assert layers[0][1] == pytest.approx(300 / 450)
    # an object half the window's size is found only with the enlarged layer
    cand = WindowDetector(_model(), 4, 1.5, upsample=1).candidates(image, threshold=-np.inf)
    assert cand.boxes[:, 2].max() - cand.boxes[:, 0].min() > 0
    small = (cand.layer_boxes[:, 2] - cand.layer_boxes[:, 0]) * cand.scales
    assert small.min() == pytest.approx(96 * 300 / 450)


def test_box_regressor_recovers_a_linear_map():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(400, 20))
    true_w = rng.normal(scale=0.1, size=(4, 20))
    targets = feats @ true_w.T + np.array([0.05, 0.1, -0.05, -0.1])
    reg = fit_box_regressor(feats, targets, alphas=(1e-6,))
    np.testing.assert_allclose(reg.weights, true_w, atol=1e-3)
    np.testing.assert_allclose(reg.bias, [0.05, 0.1, -0.05, -0.1], atol=1e-3)
    windows = np.array([[10.0, 20.0, 110.0, 60.0]])
    objects = np.array([[15.0, 22.0, 100.0, 58.0]])
    t = box_targets(windows, objects)
    np.testing.assert_allclose(t, [[0.05, 0.05, -0.1, -0.05]])
    identity = BoxRegressor(np.zeros((4, 3)), t[0])
    np.testing.assert_allclose(identity.apply(windows, np.zeros((1, 3))), objects)


def test_box_regressor_fits_the_same_data_once(monkeypatch):
    """The pipeline's rounds refit on unchanged box samples: the fit is reused, and any
    change of the data (or of the penalties) fits anew."""
    import sklearn.linear_model

    fits = []
    real = sklearn.linear_model.RidgeCV

    class Counting(real):
        def fit(self, X, y):
            fits.append(len(X))
            return super().fit(X, y)

    monkeypatch.setattr(sklearn.linear_model, "RidgeCV", Counting)
    rng = np.random.default_rng(1)
    feats, targets = rng.normal(size=(50, 6)), rng.normal(size=(50, 4))
    first = fit_box_regressor(feats, targets)
    again = fit_box_regressor(feats.copy(), targets.copy())
    assert fits == [50]
    np.testing.assert_array_equal(first.weights, again.weights)
    again.weights[:] = 0  # a caller's change does not reach the next caller
    assert np.abs(fit_box_regressor(feats, targets).weights).sum() > 0
    changed = feats.copy()
    changed[7, 3] += 1e-3
    fit_box_regressor(changed, targets)
    fit_box_regressor(feats, targets, alphas=(5.0,))
    assert fits == [50, 50, 50]


@pytest.mark.needs_data
def test_detections_use_regressed_boxes_and_model_file_keeps_them(tmp_path):
    """A regressor that shrinks every window by a known margin shows in the boxes, and
    survives a save/load round trip."""
    d = COURSE.descriptor_size((96, 32))
    shrink = np.array([0.1, 0.125, -0.1, -0.125])
    model = _model(regressor=BoxRegressor(np.zeros((4, d)), shrink))
    image = _car((300, 197))
    cand = WindowDetector(model, 4).candidates(image, threshold=-np.inf)
    cand = cand.take(np.flatnonzero(cand.scales == 1.0))  # the full-size layer
    assert len(cand) > 100
    windows = cand.layer_boxes
    expected = (
        windows + shrink * np.repeat(windows[:, 2:] - windows[:, :2], 2, axis=1)[:, [0, 2, 1, 3]]
    )
    np.testing.assert_allclose(cand.boxes, expected.clip(0, [300, 197, 300, 197]))
    path = save_model(model, tmp_path / "m.json")
    again = load_model(path)
    np.testing.assert_array_equal(again.box_regressor.weights, model.box_regressor.weights)
    np.testing.assert_array_equal(again.box_regressor.bias, shrink)


@pytest.mark.needs_data
def test_float_boxes_crop_as_integer_boxes():
    """Boxes from normalised formats (YOLO) off by 1e-6 px give the same positives."""
    image = _car((300, 197))
    box = np.array([40.0, 50.0, 240.0, 120.0])
    noisy = box + np.array([-1.7e-6, 1.2e-6, 3e-7, -9e-7])
    np.testing.assert_array_equal(
        roi_descriptor(image, box, (96, 32), COURSE), roi_descriptor(image, noisy, (96, 32), COURSE)
    )


@pytest.mark.needs_data
def test_positive_past_the_border_has_empty_cells():
    """A positive whose box (with offset) leaves the image gets empty cells there, as the
    detector's padded window over the same spot does."""
    image = _car((300, 197))
    inside = roi_descriptor(image, np.array([0.0, 50.0, 96.0, 82.0]), (96, 32), COURSE)
    past = roi_descriptor(image, np.array([-48.0, 50.0, 48.0, 82.0]), (96, 32), COURSE)
    blocks = past.reshape(7, 23, -1)
    assert not blocks[:, :10].any()  # the 11 left columns of cells lie past the border
    assert blocks[:, 13:].any() and inside.any()
    padded, valid = pad_image(image, 48, 16)
    ref = window_descriptor(padded, 0, 66, (96, 32), COURSE, valid)
    np.testing.assert_allclose(past, ref, atol=1e-6)


@pytest.mark.needs_data
@pytest.mark.parametrize("phase", [(0, 0), (2, 3), (1, 1)])
def test_padded_blocks_without_gradients_over_the_padding_are_the_same(phase):
    """The detector skips gradients over the padding: its grids equal those of the
    padded image with the padding masked, bit for bit."""
    from pyimagesearch.descriptor.hog import hog_blocks, padded_hog_blocks

    image = _car((151, 87))
    padded, valid = pad_image(image, 48, 16)
    (ref,) = hog_blocks(padded, COURSE, (phase,), valid)
    (fast,) = padded_hog_blocks(image, COURSE, (phase,), 48, 16)
    np.testing.assert_array_equal(fast, ref)


@pytest.mark.needs_data
def test_crops_keep_their_context_instead_of_empty_cells(tmp_path):
    """A folder of crops: the crop's border is not the scene's, so positives are the
    crop itself (clipped), never framed by empty cells; truncated copies are added."""
    from pyimagesearch.features.extract import box_samples_of_image, positives_of_image
    from pyimagesearch.sources.annotations import AnnotatedImage

    crop = _car((100, 40))
    path = tmp_path / "crop.png"
    cv2.imwrite(str(path), crop)
    item = AnnotatedImage(path, np.array([[0.0, 0.0, 100.0, 40.0]]))
    rows = positives_of_image(item, COURSE, (96, 32), 5, False, clip=True, truncation=1)
    assert np.array_equal(rows["box"][0], [0, 0, 100, 40])  # clipped: no margin outside
    whole = roi_descriptor(crop, np.array([0.0, 0.0, 100.0, 40.0]), (96, 32), COURSE)
    np.testing.assert_array_equal(rows["features"][0], whole)
    assert len(rows["features"]) == 2 and rows["jittered"][1]  # + one cut copy
    samples = box_samples_of_image(item, COURSE, (96, 32), 5, 3, False, empty_outside=False)
    for feats in samples["features"]:
        blocks = np.asarray(feats).reshape(7, 23, -1)
        assert blocks[:, 0].any() and blocks[:, -1].any()  # edges replicated, not empty


def test_fills_image_tells_a_crop_from_an_object_in_a_scene():
    from pyimagesearch.infrastructure.geometry import fills_image

    assert fills_image([0, 0, 100, 40], 100, 40)
    assert fills_image([0.6, 0.3, 99.5, 39.2], 100, 40)  # within a pixel
    assert not fills_image([0, 0, 100, 30], 100, 40)  # the bottom is the scene's
    assert not fills_image([5, 0, 100, 40], 100, 40)
    assert fills_image([8, 0, 1000, 400], 1000, 400)  # 1 % of a side
    assert not fills_image([11, 0, 1000, 400], 1000, 400)


@pytest.mark.needs_data
def test_a_box_that_fills_its_image_is_a_crop_in_any_format(tmp_path):
    """Crops given as boxes (e.g. ``train_detector`` with boxes covering each image),
    not as the crops format: the same clipped positives and replicated borders, while
    an object inside a photo keeps empty cells past the border."""
    from pyimagesearch.features.extract import box_samples_of_image, positives_of_image
    from pyimagesearch.sources.annotations import AnnotatedImage

    crop = _car((100, 40))
    path = tmp_path / "crop.png"
    cv2.imwrite(str(path), crop)
    item = AnnotatedImage(path, np.array([[0.0, 0.0, 100.0, 40.0]]))
    rows = positives_of_image(item, COURSE, (96, 32), 5, False, clip=False)
    assert np.array_equal(rows["box"][0], [0, 0, 100, 40])
    samples = box_samples_of_image(item, COURSE, (96, 32), 5, 3, False, empty_outside=True)
    for feats in samples["features"]:
        blocks = np.asarray(feats).reshape(7, 23, -1)
        assert blocks[:, 0].any() and blocks[:, -1].any()
    # the same object with scene below it: its border is the image's, cells stay empty
    scene = np.vstack([crop, np.full((30, 100), 128, np.uint8)])
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), scene)
    item = AnnotatedImage(path, np.array([[0.0, 0.0, 100.0, 40.0]]))
    rows = positives_of_image(item, COURSE, (96, 32), 5, False, clip=False)
    assert np.array_equal(rows["box"][0], [-5, -5, 105, 45])
