"""The window classifier's calibration equals scikit-learn's ``CalibratedClassifierCV``.

``WindowClassifier`` re-implements ``CalibratedClassifierCV(LinearSVC, method="sigmoid",
ensemble=False)`` with public calls only (``cross_val_predict`` and Platt's fit), so
that a scikit-learn upgrade cannot break it through private attributes; this pins it.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from pyimagesearch.model.estimator import WindowClassifier


def _data(seed: int, n: int = 600, d: int = 40):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(np.int8)
    X = rng.normal(size=(n, d)).astype(np.float32)
    X[y == 1, :5] += 1.0  # separable only in part: the sigmoid has something to fit
    return X, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_window_classifier_equals_calibrated_classifier_cv(seed):
    X, y = _data(seed)
    ours = WindowClassifier(C=0.05, calibration_folds=3, seed=7).fit(X, y)
    theirs = CalibratedClassifierCV(
        LinearSVC(C=0.05, dual="auto", max_iter=5000, random_state=7),
        method="sigmoid",
        cv=StratifiedKFold(n_splits=3, shuffle=True, random_state=7),
        ensemble=False,
    ).fit(X, y)
    reference = LinearSVC(C=0.05, dual="auto", max_iter=5000, random_state=7).fit(X, y)
    np.testing.assert_allclose(ours.coef_, reference.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, rtol=1e-6, atol=1e-9)
    probe = _data(seed + 100, n=300)[0]
    np.testing.assert_allclose(
        ours.predict_proba(probe)[:, 1], theirs.predict_proba(probe)[:, 1], atol=1e-4
    )
    assert ours.platt_a_ > 0
