"""A model detects with the settings the validation search chose, however it is loaded.

The search records ``chosen_settings`` (pyramid step, upsampling) in the model file;
``train_detector``'s result, ``load_detector``, ``WindowDetector(model)`` and the config
steps (``settled_config``) must all scan that pyramid unless the caller overrides a
setting explicitly (issue: a face detector lost 0.2 AP when loaded without its
chosen upsampling).
"""

from __future__ import annotations

import numpy as np
import pytest

from pyimagesearch import load_detector, train_detector
from pyimagesearch.descriptor.params import HogParams
from pyimagesearch.detection.detector import WindowDetector
from pyimagesearch.model.linear import LinearModel
from pyimagesearch.model.modelfile import save_model

CHOSEN = {"window_dim": [32, 16], "C": 0.1, "pyramid_scale": 1.25, "upsample": 1}


def _model(metadata: dict) -> LinearModel:
    hog = HogParams()
    rng = np.random.default_rng(0)
    weights = rng.normal(0, 0.05, hog.descriptor_size((32, 16)))
    return LinearModel(weights, 0.0, 1.0, 0.0, hog, (32, 16), metadata=dict(metadata))


def _image() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (60, 90), dtype=np.uint8)


def test_every_way_of_loading_uses_the_chosen_pyramid(tmp_path):
    model = _model({"chosen_settings": CHOSEN})
    path = save_model(model, tmp_path / "model.json")
    loaded = load_detector(path)
    direct = WindowDetector(model)
    for detector in (loaded, direct):
        assert detector.pyramid_scale == 1.25
        assert detector.upsample == 1
    image = _image()
    a = loaded.detect(image, min_probability=0.2)
    b = direct.detect(image, min_probability=0.2)
    reference = WindowDetector(
        model,
        pyramid_scale=1.25,
        upsample=1,
        padding=loaded.padding,
        approximate=loaded.approximate,
    ).detect(image, min_probability=0.2)
    assert len(a) > 0
    np.testing.assert_array_equal(a.boxes, reference.boxes)
    # the upsampled layers find windows at sizes a 1.5 pyramid without upsampling cannot
    coarse = WindowDetector(
        model, pyramid_scale=1.5, upsample=0, padding=loaded.padding, approximate=loaded.approximate
    )
    assert len(coarse.detect(image, min_probability=0.2)) != len(a) or not np.array_equal(
        coarse.detect(image, min_probability=0.2).boxes, a.boxes
    )
    assert len(b) > 0


def test_an_explicit_setting_overrides_the_model_file(tmp_path):
    model = _model({"chosen_settings": CHOSEN})
    detector = WindowDetector(model, pyramid_scale=1.5, upsample=0)
    assert (detector.pyramid_scale, detector.upsample) == (1.5, 0)


def test_a_saved_detector_keeps_its_own_settings(tmp_path):
    model = _model({"chosen_settings": CHOSEN})
    path = save_model(model, tmp_path / "model.json")
    detector = load_detector(path)
    detector.pyramid_scale = 1.1  # a user's own choice, then saved with the detector
    detector.save(tmp_path / "saved.json")
    again = load_detector(tmp_path / "saved.json")
    assert again.pyramid_scale == 1.1
    assert again.upsample == 1


def test_a_model_without_a_search_uses_the_defaults():
    detector = WindowDetector(_model({}))
    assert detector.pyramid_scale == WindowDetector.DEFAULTS["pyramid_scale"]
    assert detector.upsample == WindowDetector.DEFAULTS["upsample"]


@pytest.mark.needs_data
@pytest.mark.slow
def test_train_detector_returns_the_detector_the_search_chose(tmp_path):
    import cv2

    from pyimagesearch.sources.caltech import read_caltech_mat

    from .conftest import CAR_ANNOTATIONS, CARS

    paths = sorted(CARS.glob("*.jpg"))[:24]
    images = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths]
    mats = [p.name.replace("image", "annotation").replace(".jpg", ".mat") for p in paths]
    boxes = [read_caltech_mat(CAR_ANNOTATIONS / m) for m in mats]
    detector = train_detector(
        images,
        boxes,
        hn_rounds=0,
        search_window_scales=[1.0],
        search_C_factors=[1.0],
        search_pyramid_scales=[1.5, 1.2],
        search_upsample=[0, 1],
    )
    chosen = detector.model.metadata["chosen_settings"]
    assert (detector.pyramid_scale, detector.upsample) == (
        chosen["pyramid_scale"],
        chosen["upsample"],
    )
    path = detector.save(tmp_path / "cars.json")
    loaded = load_detector(path)
    assert (loaded.pyramid_scale, loaded.upsample) == (detector.pyramid_scale, detector.upsample)
    for image in images[:4]:
        np.testing.assert_array_equal(loaded.detect(image).boxes, detector.detect(image).boxes)
