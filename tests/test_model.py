"""Linear model: calibration, threshold conversion, and the data-only model file."""

import json

import numpy as np
import pytest

from pyimagesearch.descriptor.hog import HogParams
from pyimagesearch.features.extract import extract_features
from pyimagesearch.infrastructure.config import load_config
from pyimagesearch.infrastructure.errors import ModelError
from pyimagesearch.model import check_compatible, load_model, save_model
from pyimagesearch.model.estimator import WindowClassifier
from pyimagesearch.model.linear import LinearModel, platt_sigmoid, train_linear_model
from pyimagesearch.model.training import training_set

from .conftest import cars_conf_dict

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
        check_compatible(
            load_model(tmp_path / "m.json"),
            conf.options.descriptor,
            conf["window_dim"],
            tmp_path / "m.json",
            conf.path,
        )


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


# ---- the scikit-learn estimator, on features of a small real store ----------------------


@pytest.fixture(scope="module")
def real_features(tmp_path_factory):
    """HOG features of real car windows and SceneClass13 windows, as training reads them."""
    tmp = tmp_path_factory.mktemp("store")
    path = tmp / "conf.json"
    raw = cars_conf_dict(
        tmp, percent_gt_images=0.25, num_distraction_images=40, num_distractions_per_image=5
    )
    path.write_text(json.dumps(raw))
    conf = load_config(path)
    extract_features(conf, progress=False)
    X, y, _ = training_set(_store(conf), conf.options.training, hard_negatives=False)
    return conf, X, y.astype(int)


def _reference_platt(decision, labels):
    """Platt's sigmoid with smoothed targets, solved by Newton's method to machine precision
    (an independent check of both scikit-learn's and our L-BFGS fits)."""
    n_pos = (labels == 1).sum()
    n_neg = len(labels) - n_pos
    target = np.where(labels == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    ab = np.array([1.0, np.log((n_pos + 1) / (n_neg + 1))])
    for _ in range(100):
        p = 1 / (1 + np.exp(-(ab[0] * decision + ab[1])))
        r, w = p - target, p * (1 - p)
        grad = np.array([(r * decision).sum(), r.sum()])
        hess = np.array([[(w * decision**2).sum(), (w * decision).sum()], [0, w.sum()]])
        hess[1, 0] = hess[0, 1]
        step = np.linalg.solve(hess, grad)
        ab -= step
        if np.abs(step).max() < 1e-14:
            break
    return ab


@pytest.mark.needs_data
def test_training_is_scikit_learns_calibrated_linear_svc(real_features):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC

    conf, X, y = real_features
    hog, window = HogParams.from_config(conf), tuple(conf["window_dim"])
    model = train_linear_model(X, y, hog, window, C=0.01, folds=3, seed=42)

    def svm():
        return LinearSVC(C=0.01, dual="auto", max_iter=5000, random_state=42)

    # weights and bias: LinearSVC on all rows, bit for bit
    full = svm().fit(X, y)
    np.testing.assert_array_equal(model.weights, full.coef_.ravel().astype(np.float32))
    assert model.bias == float(full.intercept_[0])

    # the sigmoid: scikit-learn's (to its optimiser's tolerance: ours is fitted through
    # public calls on the same out-of-fold decisions), with its sign convention turned round
    splitter = StratifiedKFold(3, shuffle=True, random_state=42)
    direct = CalibratedClassifierCV(svm(), method="sigmoid", cv=splitter, ensemble=False)
    direct.fit(X, y)
    sigmoid = direct.calibrated_classifiers_[0].calibrators[0]
    assert model.platt_a == pytest.approx(-sigmoid.a_, rel=1e-6)
    assert model.platt_b == pytest.approx(-sigmoid.b_, rel=1e-6)
    d = direct.calibrated_classifiers_[0].estimator.decision_function(X)
    np.testing.assert_allclose(model.probability(d), direct.predict_proba(X)[:, 1], atol=1e-7)
    fitted = WindowClassifier(C=0.01, calibration_folds=3, seed=42).fit(X, y)
    np.testing.assert_allclose(fitted.predict_proba(X), direct.predict_proba(X), atol=1e-7)

    # and the optimum of Platt's problem on out-of-fold decisions computed by hand, to
    # the tolerance of scikit-learn's optimiser (here about 2e-8; the former hand-written
    # fit, L-BFGS at scipy's default tolerance, was 4e-5 off)
    oof = np.empty(len(y))
    for train, test in splitter.split(X, y):
        oof[test] = svm().fit(X[train], y[train]).decision_function(X[test])
    a, b = _reference_platt(oof, y)
    assert model.platt_a == pytest.approx(a, rel=1e-6)
    assert model.platt_b == pytest.approx(b, rel=1e-6, abs=1e-7)
    assert fitted.to_model(hog, window).decision_threshold(0.7) == pytest.approx(
        (np.log(0.7 / 0.3) - b) / a, abs=1e-6
    )


@pytest.mark.needs_data
def test_window_classifier_follows_estimator_conventions(real_features):
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    _, X, y = real_features
    clf = WindowClassifier(C=0.5, seed=7)
    assert clone(clf).get_params() == {"C": 0.5, "calibration_folds": 3, "seed": 7}
    for method in (clf.predict, clf.predict_proba, clf.decision_function):
        with pytest.raises(NotFittedError):
            method(X)
    assert clf.fit(X, y) is clf
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    assert clf.n_features_in_ == X.shape[1] and clf.coef_.shape == (1, X.shape[1])
    p = clf.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(clf.predict(X), (p > 0.5).astype(int))
    assert clf.score(X, y) == np.mean(clf.predict(X) == y) > 0.9
    # other label values: the second class is the object, the fit is the same
    named = np.where(y == 1, "car", "background")
    other = WindowClassifier(C=0.5, seed=7).fit(X, named)
    np.testing.assert_array_equal(other.coef_, clf.coef_)
    assert (other.platt_a_, other.platt_b_) == (clf.platt_a_, clf.platt_b_)
    np.testing.assert_array_equal(other.predict(X), np.where(p > 0.5, "car", "background"))


@pytest.mark.needs_data
@pytest.mark.slow
def test_grid_search_over_C(real_features):
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    _, X, y = real_features
    grid = [0.001, 0.01]
    splitter = StratifiedKFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(WindowClassifier(), {"C": grid}, cv=splitter).fit(X, y)
    assert search.best_params_["C"] in grid
    # the scores GridSearchCV reports are the accuracies of fits done by hand
    for i, C in enumerate(grid):
        accuracy = [
            np.mean(WindowClassifier(C=C).fit(X[tr], y[tr]).predict(X[te]) == y[te])
            for tr, te in splitter.split(X, y)
        ]
        assert search.cv_results_["mean_test_score"][i] == pytest.approx(np.mean(accuracy))
    best = search.best_estimator_
    assert best.C == search.best_params_["C"] and best.n_features_in_ == X.shape[1]


@pytest.mark.needs_data
def test_feature_count_is_checked(real_features):
    conf, X, y = real_features
    hog, window = HogParams.from_config(conf), tuple(conf["window_dim"])
    clf = WindowClassifier().fit(X, y)
    model = clf.to_model(hog, window)
    n = X.shape[1]
    with pytest.raises(ValueError, match=f"features have {n - 1} columns but the model has {n} "):
        model.decision_function(X[:, :-1])
    with pytest.raises(ValueError, match=f"features have {n + 1} columns .* {n} weights"):
        model.predict_proba(np.ones((2, n + 1)))
    with pytest.raises(ValueError, match=f"X has 10 features, but WindowClassifier .* on {n} "):
        clf.decision_function(X[:, :10])
    assert model.decision_function(X[0]).shape == ()  # one row as a vector still works
    np.testing.assert_allclose(model.decision_function(X[:5]), clf.decision_function(X[:5]), 1e-5)


@pytest.mark.needs_data
def test_estimator_refuses_unusable_labels(real_features):
    _, X, y = real_features
    few = np.r_[np.flatnonzero(y == 1)[:2], np.flatnonzero(y == 0)]
    n_neg = int((y == 0).sum())
    with pytest.raises(
        ValueError, match=rf"at least 3 positives and negatives.*got 2 and {n_neg}$"
    ):
        WindowClassifier().fit(X[few], y[few])
    with pytest.raises(
        ValueError, match=rf"at least 3 positives and negatives.*got 0 and {n_neg}$"
    ):
        WindowClassifier().fit(X[y == 0], y[y == 0])
    with pytest.raises(ValueError, match=r"need two classes .* got 3: \[0, 1, 2\]"):
        WindowClassifier().fit(X, np.r_[y[:-1], 2])


def _store(conf):
    from pyimagesearch.features.store import FeatureStore

    return FeatureStore(conf["features_path"], conf.options.descriptor, tuple(conf["window_dim"]))
