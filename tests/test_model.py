"""Linear model: calibration, threshold conversion, and the data-only model file."""

import json

import numpy as np
import pytest

from pyimagesearch.config import load_config
from pyimagesearch.descriptor.hog import HogParams
from pyimagesearch.errors import ModelError
from pyimagesearch.model import check_compatible, load_model, save_model
from pyimagesearch.model.linear import LinearModel, platt_sigmoid, train_linear_model

COURSE = HogParams(9, (4, 4), (2, 2), True, "L1")
D = COURSE.descriptor_size((96, 32))


def _separable(n_pos=40, n_neg=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n_pos + n_neg, D), dtype=np.float32) * 0.1
    X[:n_pos, :50] += 0.05  # the positives differ in a few features
    y = np.r_[np.ones(n_pos), np.zeros(n_neg)].astype(int)
    return X, y


@pytest.mark.slow
def test_training_and_calibration_are_monotone():
    X, y = _separable()
    model = train_linear_model(X, y, COURSE, (96, 32), C=1.0, folds=3)
    d = model.decision_function(X)
    p = model.probability(d)
    order = np.argsort(d)
    assert np.all(np.diff(p[order]) >= 0)  # monotone in the decision value
    assert p[y == 1].mean() > 0.5 > p[y == 0].mean()
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], p)


@pytest.mark.parametrize("prob", [0.05, 0.5, 0.51, 0.7, 0.99])
def test_threshold_conversion_is_exact(prob):
    model = LinearModel(np.zeros(D), 0.0, 3.7, -1.2, COURSE, (96, 32))
    t = model.decision_threshold(prob)
    assert model.probability(t) == pytest.approx(prob, abs=1e-12)
    # exact in floating point: t is the smallest decision value reaching the probability
    assert model.probability(np.nextafter(t, -np.inf)) < prob <= model.probability(t)
    d = np.linspace(t - 1, t + 1, 10001)
    np.testing.assert_array_equal(model.probability(d) >= prob, d >= t)
    assert model.decision_threshold(0.0) == -np.inf and model.decision_threshold(1.0) == np.inf


def test_platt_matches_logistic_fit_on_clean_data():
    rng = np.random.default_rng(1)
    d = rng.normal(size=4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(2.0 * d - 0.5)))).astype(int)
    a, b = platt_sigmoid(d, y)
    assert a == pytest.approx(2.0, rel=0.15) and b == pytest.approx(-0.5, abs=0.15)


def test_too_few_examples_is_a_clear_error():
    X, y = _separable(n_pos=2)
    with pytest.raises(ValueError, match="at least 3 positives"):
        train_linear_model(X, y, COURSE, (96, 32))


def test_model_file_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    model = LinearModel(rng.normal(size=D), 0.25, 4.0, -0.5, COURSE, (96, 32), {"C": 0.01})
    path = save_model(model, tmp_path / "m.json")
    doc = json.loads(path.read_text())  # plain JSON: data, not code
    assert doc["format"] == "pyimagesearch-linear-detector" and len(doc["weights"]) == D
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.weights, model.weights)
    assert (loaded.bias, loaded.platt_a, loaded.platt_b) == (0.25, 4.0, -0.5)
    assert loaded.hog == COURSE and loaded.window_dim == (96, 32)
    assert loaded.metadata["C"] == 0.01 and "versions" in loaded.metadata


def test_model_with_other_hog_parameters_is_refused(tmp_path, write_conf):
    other = HogParams(9, (8, 8), (2, 2), True, "L1")
    model = LinearModel(np.zeros(other.descriptor_size((96, 32))), 0, 1, 0, other, (96, 32))
    save_model(model, tmp_path / "m.json")
    conf = load_config(write_conf())
    with pytest.raises(ModelError, match=r"other HOG parameters.*pixels_per_cell: model \[8, 8\]"):
        check_compatible(load_model(tmp_path / "m.json"), conf, tmp_path / "m.json")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x80\x03cos\nsystem\n", "not a model file"),  # a pickle
        (b'{"format": "something-else"}', "not a model file"),
        (b'{"format": "pyimagesearch-linear-detector", "format_version": 1}', "malformed"),
        (b'{"format": "pyimagesearch-linear-detector", "format_version": 99}', "version 99"),
    ],
)
def test_not_a_model(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=message) as info:
        load_model(path)
    assert str(path) in str(info.value)


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "nope.json")
