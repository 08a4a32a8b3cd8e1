"""The window classifier as a scikit-learn estimator: a linear SVM with a Platt sigmoid.

``WindowClassifier`` follows scikit-learn's estimator conventions (hyper-parameters set
unchanged in ``__init__``, ``fit`` returning ``self``, fitted attributes ending in ``_``),
so ``C`` can be chosen with ``GridSearchCV`` and the classifier dropped into a
``Pipeline``. Training does what scikit-learn's ``CalibratedClassifierCV`` with
``ensemble=False`` does, through public calls only: ``LinearSVC`` fitted on all rows,
Platt's sigmoid fitted on decision values predicted out of fold (``cross_val_predict``,
stratified, shuffled folds). A test pins the result to ``CalibratedClassifierCV``'s.

This module imports scikit-learn at the top; ``linear.py`` (which detection workers
unpickle) imports it only when it trains.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.svm import LinearSVC
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y

from ..descriptor.hog import HogParams
from .linear import LinearModel, platt_sigmoid


class WindowClassifier(ClassifierMixin, BaseEstimator):
    """Linear SVM on window descriptors with a Platt-calibrated probability.

    ``C`` is the SVM regularisation, ``calibration_folds`` the number of stratified
    folds whose out-of-fold decision values fit the sigmoid, ``seed`` the one random
    seed (fold shuffling and ``LinearSVC``). The second of the two classes (``1``, the
    object, for 0/1 labels) is the positive one.

    Fitted attributes: ``classes_``, ``n_features_in_``, ``coef_`` ``(1, n_features)``,
    ``intercept_`` ``(1,)``, ``platt_a_`` and ``platt_b_`` with
    ``P(positive | d) = 1 / (1 + exp(-(platt_a_ * d + platt_b_)))``, ``d`` the decision
    value.
    """

    def __init__(self, C: float = 0.01, calibration_folds: int = 3, seed: int = 42):
        self.C = C
        self.calibration_folds = calibration_folds
        self.seed = seed

    def _svm(self) -> LinearSVC:
        return LinearSVC(C=self.C, dual="auto", max_iter=5000, random_state=self.seed)

    def fit(self, X, y) -> WindowClassifier:
        """Fit the SVM on all rows and the sigmoid on cross-validated decision values."""
        # float32 rows stay float32 (a store's features can be large); LinearSVC copies
        # them to float64 itself, as it always did
        X, y = check_X_y(X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        classes = np.unique(y)
        if set(classes.tolist()) <= {0, 1}:  # the toolkit's labels: 0 background, 1 object
            classes = np.array([0, 1], dtype=y.dtype)
        if len(classes) != 2:
            raise ValueError(
                f"need two classes (background and object) to train, got {len(classes)}: "
                f"{classes.tolist()}"
            )
        folds = self.calibration_folds
        n_neg, n_pos = int((y == classes[0]).sum()), int((y == classes[1]).sum())
        if n_pos < folds or n_neg < folds:
            raise ValueError(
                f"need at least {folds} positives and negatives to train, got {n_pos} and {n_neg}"
            )
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed)
        # the sigmoid is fitted on decision values predicted out of fold, the SVM on all
        # rows: what CalibratedClassifierCV(ensemble=False) does, through public calls
        decision = cross_val_predict(self._svm(), X, y, cv=cv, method="decision_function")
        svm = self._svm().fit(X, y)
        a, b = platt_sigmoid(decision, (y == classes[1]).astype(np.int8))
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        self.coef_ = svm.coef_.copy()
        self.intercept_ = svm.intercept_.copy()
        self.platt_a_, self.platt_b_ = a, b
        self.n_iter_ = int(svm.n_iter_)
        return self

    def _rows(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = check_array(X, dtype=[np.float64, np.float32])
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} was fitted "
                f"on {self.n_features_in_} features"
            )
        return X

    def decision_function(self, X) -> np.ndarray:
        """Signed distance ``w . x + b`` of each row (positive: the object side)."""
        return self._rows(X) @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X) -> np.ndarray:
        """``(n, 2)`` calibrated probabilities of ``classes_[0]`` and ``classes_[1]``."""
        from scipy.special import expit

        d = self.decision_function(X)  # first: it checks that the classifier is fitted
        p = expit(self.platt_a_ * d + self.platt_b_)
        return np.stack([1.0 - p, p], axis=1)

    def predict(self, X) -> np.ndarray:
        """The more probable class of each row (``classes_[0]`` on a tie)."""
        more_probable = np.argmax(self.predict_proba(X), axis=1)  # checks the fit first
        return self.classes_[more_probable]

    def to_model(
        self, hog: HogParams, window_dim: tuple[int, int], metadata: dict | None = None
    ) -> LinearModel:
        """The data-only ``LinearModel`` the detector and the model file use."""
        check_is_fitted(self)
        return LinearModel(
            weights=self.coef_.ravel(),
            bias=float(self.intercept_[0]),
            platt_a=self.platt_a_,
            platt_b=self.platt_b_,
            hog=hog,
            window_dim=tuple(window_dim),
            metadata=dict(metadata or {}),
        )
