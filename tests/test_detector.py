"""Scoring a whole layer at once equals scoring every window on its own (brute force)."""

import cv2
import numpy as np
import pytest

from benchmarks.reference import naive_detect, naive_score_layer
from pyimagesearch.descriptor.hog import HogParams
from pyimagesearch.detection import WindowDetector
from pyimagesearch.detection.pyramid import pyramid, pyramid_shapes
from pyimagesearch.io.images import list_images, read_gray
from pyimagesearch.model.linear import LinearModel

from .conftest import CARS, SCENES

COURSE = HogParams(9, (4, 4), (2, 2), True, "L1")


def _model(params=COURSE, window=(96, 32), seed=0):
    rng = np.random.default_rng(seed)
    weights = rng.normal(scale=0.05, size=params.descriptor_size(window))
    return LinearModel(weights, -0.2, 2.0, 0.1, params, window)


def _real_images():
    """Real photos, shrunk so the brute force stays quick (content stays real)."""
    paths = [*list_images(SCENES)[::1300], sorted(CARS.glob("*.jpg"))[3]]
    return [cv2.resize(read_gray(p), (148, 86), interpolation=cv2.INTER_AREA) for p in paths]


@pytest.mark.needs_data
@pytest.mark.parametrize("step", [4, 2, 6, 5])
@pytest.mark.slow
def test_layer_scores_equal_per_window_scores(step):
    model = _model()
    detector = WindowDetector(model, window_step=step)
    images = _real_images()
    assert len(images) >= 2
    for image in images:
        xs, ys, fast = detector.score_map(image)
        xs_ref, ys_ref, slow = naive_score_layer(model, image, step)
        np.testing.assert_array_equal(xs, xs_ref)
        np.testing.assert_array_equal(ys, ys_ref)
        assert not np.isnan(fast).any()
        np.testing.assert_allclose(fast, slow, atol=1e-5)


@pytest.mark.needs_data
def test_other_geometry_parity():
    params = HogParams(8, (6, 6), (3, 3), False, "L2-Hys")
    model = _model(params, (48, 36), seed=3)
    image = _real_images()[1]
    _, _, fast = WindowDetector(model, window_step=3).score_map(image)
    _, _, slow = naive_score_layer(model, image, 3)
    np.testing.assert_allclose(fast, slow, atol=1e-5)


@pytest.mark.needs_data
def test_candidates_equal_course_detector_over_the_pyramid():
    """Same boxes and probabilities as the course's per-window detector (no NMS)."""
    model = _model()
    image = cv2.resize(read_gray(sorted(CARS.glob("*.jpg"))[0]), (200, 120))
    p = 0.3
    detector = WindowDetector(model, window_step=4, pyramid_scale=1.5, min_probability=p)
    cand = detector.candidates(image)
    boxes, probs = naive_detect(model, image, 4, 1.5, p)
    assert len(cand) == len(boxes) > 0
    order_fast = np.lexsort(cand.boxes.T[::-1])
    order_slow = np.lexsort(boxes.T[::-1])
    np.testing.assert_allclose(cand.boxes[order_fast], boxes[order_slow])
    np.testing.assert_allclose(
        model.probability(cand.scores[order_fast]), probs[order_slow], atol=1e-5
    )


@pytest.mark.needs_data
def test_candidate_features_are_the_scored_windows():
    model = _model()
    image = _real_images()[0]
    detector = WindowDetector(model, window_step=2)
    cand = detector.candidates(image, threshold=-np.inf, with_features=True)
    assert cand.windows_scored == len(cand)
    np.testing.assert_allclose(model.decision_function(cand.features), cand.scores, atol=1e-5)


def test_pyramid_layers_and_factors():
    image = np.zeros((197, 300), np.uint8)
    shapes = pyramid_shapes(300, 197, 1.5, (96, 32))
    assert shapes == [(300, 197), (200, 131), (133, 87)]
    layers = list(pyramid(image, 1.5, (96, 32)))
    assert [layer.shape[::-1] for layer, _, _ in layers] == shapes
    assert layers[1][1] == pytest.approx(1.5) and layers[1][2] == pytest.approx(197 / 131)
    with pytest.raises(ValueError, match="> 1"):
        pyramid_shapes(300, 197, 1.0, (96, 32))


def test_image_smaller_than_window_has_no_candidates():
    cand = WindowDetector(_model()).candidates(np.zeros((20, 50), np.uint8), threshold=-np.inf)
    assert len(cand) == 0 and cand.windows_scored == 0


def test_models_of_one_window_share_the_pyramid():
    """Layers computed once (by one model's detector) give another model of the same
    window exactly the candidates it finds on its own; another window has another key."""
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.integers(0, 255, (90, 160), np.uint8), (3, 3), 0)
    first = WindowDetector(_model(seed=1), 4, 1.1487, 0.0, 0.3, 0.5, 1, True)
    second = WindowDetector(_model(seed=2), 4, 1.1487, 0.0, 0.3, 0.5, 1, True)
    assert first.pyramid_key == second.pyramid_key
    shared = second.candidates(image, threshold=-1.0, layers=first.layers(image))
    own = second.candidates(image, threshold=-1.0)
    assert len(own) > 50
    np.testing.assert_array_equal(shared.boxes, own.boxes)
    np.testing.assert_array_equal(shared.scores, own.scores)
    assert not np.array_equal(
        first.candidates(image, threshold=-1.0).scores[: len(own)], own.scores
    )
    other = WindowDetector(_model(window=(72, 24)), 4, 1.1487, 0.0, 0.3, 0.5, 1, True)
    assert other.pyramid_key != first.pyramid_key
