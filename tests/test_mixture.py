"""A mixture of windows for objects of several shapes (DPM's mixture of root filters).

Boxes whose aspect ratios spread beyond what one window serves are split into
components by aspect ratio; each component is a linear template with its own window;
the detector suppresses overlaps across components; the model file holds them all.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyimagesearch.api import MixtureDetector, _components, load_detector
from pyimagesearch.descriptor.params import HogParams
from pyimagesearch.detection.detector import WindowDetector
from pyimagesearch.detection.mixture import MixtureDetector as BaseMixtureDetector
from pyimagesearch.infrastructure.errors import ModelError
from pyimagesearch.model.linear import LinearModel
from pyimagesearch.model.mixture import Mixture
from pyimagesearch.model.modelfile import check_compatible, load_model
from pyimagesearch.sources.dims import aspect_components

HOG = HogParams()


def test_one_shape_is_one_component():
    rng = np.random.default_rng(0)
    cars = rng.uniform(2.5, 3.4, 120)  # car_side: the middle 80 % span 1.3x
    assert set(aspect_components(cars)) == {0}


def test_two_shapes_are_split_by_aspect_ratio():
    rng = np.random.default_rng(1)
    sitting = rng.uniform(0.6, 0.8, 60)
    walking = rng.uniform(1.3, 1.7, 60)
    ratios = np.concatenate([sitting, walking])
    labels = aspect_components(ratios)
    assert set(labels) == {0, 1}
    assert (labels[:60] == 0).all() and (labels[60:] == 1).all()  # split at the median
    # too few boxes for two components of at least 8 boxes each: one
    assert set(aspect_components(ratios[[0, 1, 2, 60, 61, 62]])) == {0}


def test_the_api_groups_boxes_per_image_and_respects_an_explicit_choice():
    boxes = [
        np.array([[0, 0, 60, 100.0], [100, 0, 250, 100.0]]),  # tall and wide in one image
        *[np.array([[0, 0, 65, 100.0]]) for _ in range(9)],
        *[np.array([[0, 0, 150, 100.0]]) for _ in range(9)],
    ]
    assert len(_components(boxes, {})) == 1  # one window unless asked (the default)
    groups = _components(boxes, {"components": None})
    assert len(groups) == 2
    tall, wide = groups
    assert len(tall[0]) == 1 and tall[0][0, 2] == 60
    assert len(wide[0]) == 1 and wide[0][0, 2] == 250
    assert sum(len(b) for b in tall) == 10 and sum(len(b) for b in wide) == 10
    assert len(_components(boxes, {"components": 1})) == 1
    assert len(_components(boxes, {"components": None, "window_dim": [64, 64]})) == 1
    assert len(_components(boxes, {"components": 2})) == 2


def _model(window, seed):
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 0.05, HOG.descriptor_size(window))
    return LinearModel(weights, 0.0, 1.0, 0.0, HOG, window, metadata={"seed": seed})


def _image():
    rng = np.random.default_rng(5)
    return rng.integers(0, 256, (90, 120), dtype=np.uint8)


def test_a_mixture_file_round_trips_and_detects_the_same(tmp_path):
    mixture = Mixture([_model((32, 48), 1), _model((48, 24), 2)])
    parts = [WindowDetector(m, 4, 1.25, 0.3, 0.3) for m in mixture.components]
    detector = MixtureDetector(parts)
    path = detector.save(tmp_path / "mixture.json")
    loaded = load_model(path)
    assert isinstance(loaded, Mixture)
    assert loaded.window_dims == [(32, 48), (48, 24)]
    for a, b in zip(loaded.components, mixture.components):
        np.testing.assert_array_equal(a.weights, b.weights)
    again = load_detector(path)
    assert isinstance(again, BaseMixtureDetector)
    assert [d.pyramid_scale for d in again.detectors] == [1.25, 1.25]
    image = _image()
    a, b = detector.detect(image), again.detect(image)
    assert len(a) > 0
    np.testing.assert_array_equal(a.boxes, b.boxes)
    check_compatible(loaded, HOG, (0, 0), path)  # each component's own window
    with pytest.raises(ModelError, match="other HOG parameters"):
        check_compatible(loaded, HogParams(orientations=8), (0, 0), path)


def test_overlaps_are_suppressed_across_components():
    image = _image()
    one, two = _model((32, 32), 3), _model((32, 32), 3)  # the same template twice
    single = WindowDetector(one, 4, 1.25, 0.3, 0.3).detect(image)
    both = BaseMixtureDetector(
        [WindowDetector(one, 4, 1.25, 0.3, 0.3), WindowDetector(two, 4, 1.25, 0.3, 0.3)]
    ).detect(image)
    assert len(single) > 0
    assert len(both) == len(single)  # each object once, not once per component
    np.testing.assert_allclose(np.sort(both.probabilities), np.sort(single.probabilities))


def test_a_mixture_without_components_is_refused(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"format": "pyimagesearch-mixture-detector", "components": []}')
    with pytest.raises(ModelError, match="without components"):
        load_model(path)


def test_ignored_boxes_survive_dlib_xml_and_are_never_mined(tmp_path):
    """A component's training images carry the other components' objects as ``ignore``
    boxes: read back from the staged XML, and never mined as negatives."""
    import cv2

    from pyimagesearch.mining.hard_negatives import mine_image
    from pyimagesearch.sources.annotated_image import AnnotatedImage
    from pyimagesearch.sources.export import dlib_xml
    from pyimagesearch.sources.formats import read_dlib_xml

    from .conftest import mining

    image = _image()
    cv2.imwrite(str(tmp_path / "a.png"), image)
    own, other = np.array([[10, 10, 42, 58.0]]), np.array([[50, 20, 110, 80.0]])
    item = AnnotatedImage(tmp_path / "a.png", own, other)
    (tmp_path / "a.xml").write_text(dlib_xml([item], tmp_path))
    (back,) = read_dlib_xml(tmp_path / "a.xml", None)
    np.testing.assert_array_equal(back.boxes, own)
    np.testing.assert_array_equal(back.ignore, other)
    model = _model((32, 48), 1)
    options = mining(model, 4, 1.25, 0.0, negative_iou_max=0.3, negative_cover_max=1.01)
    with_ignore = mine_image(back, model, options)
    without = mine_image(AnnotatedImage(back.path, own), model, options)
    from pyimagesearch.infrastructure.geometry import iou_matrix

    assert len(without["box"]) > len(with_ignore["box"]) > 0
    assert (iou_matrix(with_ignore["box"], other).max(axis=1) < 0.3).all()
    assert (iou_matrix(without["box"], other).max(axis=1) >= 0.3).any()


def test_the_components_share_the_descriptor_the_largest_ones_search_chose(monkeypatch):
    """Each component's search may choose its own descriptor, but a mixture holds one:
    the component with the most boxes trains first, and its choice binds the others."""
    import pyimagesearch.api as api

    seen = []

    def fake_train(conf, progress):
        seen.append({k: conf[k] for k in ("descriptor", "pixels_per_cell", "search_descriptors")})
        # the first search "chooses" FHOG 8x8; the others train what they are told
        hog = (
            HogParams(descriptor="fhog", pixels_per_cell=(8, 8))
            if len(seen) == 1
            else conf.options.descriptor
        )
        window = tuple(conf["window_dim"])
        weights = np.zeros(hog.descriptor_size(window))
        return LinearModel(weights, 0.0, 1.0, 0.0, hog, window)

    monkeypatch.setattr(api, "_train", fake_train)
    image = np.zeros((120, 200), np.uint8)
    boxes = [
        *[np.array([[10, 10, 70, 110.0]]) for _ in range(8)],  # 8 tall
        *[np.array([[10, 10, 160, 110.0]]) for _ in range(12)],  # 12 wide: first
    ]
    negatives = [np.full((120, 200), 90, np.uint8)]
    detector = api.train_detector([image] * 20, boxes, negatives, components=None)
    assert isinstance(detector, BaseMixtureDetector)
    first, second = seen
    assert first["descriptor"] == "hog" and "fhog" in first["search_descriptors"]
    assert second == {
        "descriptor": "fhog",
        "pixels_per_cell": [8, 8],
        "search_descriptors": ["fhog"],
    }
    wide, tall = sorted(detector.detectors, key=lambda d: -d.model.window_dim[0])
    assert {d.model.hog for d in detector.detectors} == {first_hog := wide.model.hog}
    assert first_hog.descriptor == "fhog" and tall.model.window_dim[0] < wide.model.window_dim[0]
