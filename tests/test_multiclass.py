"""Several classes at once (issue 24): one detector per class, one shared pyramid, NMS
per class, labels on every detection, one bundle file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pyimagesearch.api import MultiClassDetector, _by_class, load_detector
from pyimagesearch.descriptor.params import HogParams
from pyimagesearch.detection.detector import WindowDetector
from pyimagesearch.detection.mixture import MixtureDetector
from pyimagesearch.detection.multiclass import MultiClassDetector as BaseMultiClassDetector
from pyimagesearch.infrastructure.errors import ModelError
from pyimagesearch.model.bundle import ClassBundle
from pyimagesearch.model.linear import LinearModel
from pyimagesearch.model.modelfile import check_compatible, load_model, save_model


def _model(window, seed, hog=None):
    hog = hog or HogParams()
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 0.05, hog.descriptor_size(window))
    return LinearModel(weights, 0.0, 1.0, 0.0, hog, window, metadata={"seed": seed})


def _image(seed=5, shape=(150, 200)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _same(a, b):
    order_a, order_b = np.lexsort(a.boxes.T), np.lexsort(b.boxes.T)
    np.testing.assert_allclose(a.boxes[order_a], b.boxes[order_b], atol=1e-6)
    np.testing.assert_allclose(a.probabilities[order_a], b.probabilities[order_b], rtol=1e-5)


@pytest.mark.parametrize(
    ("approximate", "upsample", "descriptor"),
    [(False, 0, "hog"), (True, 0, "hog"), (True, 1, "hog"), (False, 0, "fhog")],
)
def test_one_shared_pyramid_finds_exactly_what_each_class_finds_alone(
    approximate, upsample, descriptor
):
    hog = HogParams(pixels_per_cell=(8, 8)) if descriptor == "fhog" else HogParams()
    if descriptor == "fhog":
        hog = HogParams(descriptor="fhog", pixels_per_cell=(8, 8), cells_per_block=(1, 1))
    step = hog.pixels_per_cell[1]
    windows = [(96, 32), (48, 48), (32, 64)]  # three paddings, three smallest layers
    alone = [
        WindowDetector(_model(w, k, hog), step, 1.2, 0.2, 0.3, 0.5, upsample, approximate)
        for k, w in enumerate(windows)
    ]
    both = BaseMultiClassDetector(alone, ["car", "raccoon", "person"])
    assert both.shares_pyramid()
    image = _image()
    found = both.detect(image)
    assert len(found) > 0 and set(found.labels) <= {"car", "raccoon", "person"}
    assert (np.diff(found.probabilities) <= 0).all()  # highest first
    for name, detector in zip(both.classes, alone):
        mine = found.labels == name
        own = detector.detect(image)
        _same(type(found)(found.boxes[mine], found.probabilities[mine], found.scores[mine]), own)


def test_nms_runs_per_class_so_overlapping_objects_of_two_classes_both_stay():
    model = _model((48, 48), 3)
    a = WindowDetector(model, 4, 1.2, 0.2, 0.3)
    b = WindowDetector(
        LinearModel(model.weights, 0.0, 1.0, 0.0, model.hog, (48, 48)), 4, 1.2, 0.2, 0.3
    )
    found = BaseMultiClassDetector([a, b], ["cat", "dog"]).detect(_image())
    one = a.detect(_image())
    assert len(found) == 2 * len(one)  # the same windows, kept once per class
    assert sorted(found.labels[:2]) == ["cat", "dog"]


def test_a_bundle_file_round_trips_and_the_api_detector_labels_its_json(tmp_path):
    car, raccoon = _model((96, 32), 1), _model((48, 48), 2)
    detector = MultiClassDetector(
        [
            WindowDetector(car, 4, 1.2, 0.2, 0.3),
            MixtureDetector([WindowDetector(raccoon, 4, 1.2, 0.2, 0.3)]),
        ],
        ["car", "raccoon"],
        category_ids=[3, 7],
    )
    path = detector.save(tmp_path / "bundle.json")
    doc = json.loads(path.read_text())
    assert doc["format"] == "pyimagesearch-multiclass-detector"
    assert doc["classes"] == ["car", "raccoon"] and doc["category_ids"] == [3, 7]
    bundle = load_model(path)
    assert isinstance(bundle, ClassBundle) and bundle.classes == ["car", "raccoon"]
    check_compatible(bundle, HogParams(), (1, 1), path)  # each class keeps its own window
    with pytest.raises(ModelError, match="descriptor"):
        check_compatible(bundle, HogParams(descriptor="fhog", pixels_per_cell=(8, 8)), (1, 1))
    loaded = load_detector(path)
    assert isinstance(loaded, MultiClassDetector) and loaded.category_ids == [3, 7]
    image = _image()
    _same(loaded.detect(image), detector.detect(image))
    listed = loaded.detect(np.dstack([image] * 3)).to_list()  # BGR accepted
    assert listed and {d["label"] for d in listed} <= {"car", "raccoon"}
    assert set(listed[0]) == {"box", "probability", "label"}
    assert "raccoon" in loaded.settings() and loaded.for_class("car").model.window_dim == (96, 32)
    with pytest.raises(Exception, match=r"no class 'racoon' .*did you mean 'raccoon'"):
        loaded.for_class("racoon")


def test_malformed_bundles_and_labels_are_refused_with_messages(tmp_path):
    path = tmp_path / "b.json"
    save_model(ClassBundle(["a"], [_model((32, 32), 1)]), path)
    doc = json.loads(path.read_text())
    doc["classes"] = ["a", "b"]
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="1 models"):
        load_model(path)
    boxes = [np.array([[0, 0, 10, 10.0], [5, 5, 20, 20]])]
    classes, per_class = _by_class(boxes, [["car", "raccoon"]], None)
    assert classes == ["car", "raccoon"] and [len(b[0]) for b in per_class] == [1, 1]
    with pytest.raises(ValueError, match="2 names for 1 boxes"):
        _by_class([boxes[0][:1]], [["car", "raccoon"]], None)
    with pytest.raises(ValueError, match=r"'racoon' is not one of .*did you mean 'raccoon'"):
        _by_class(boxes, [["car", "racoon"]], ["car", "raccoon"])
