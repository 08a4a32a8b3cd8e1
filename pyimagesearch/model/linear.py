"""Train a linear SVM and calibrate it with a Platt sigmoid on its decision function.

Because the model is linear and the calibration monotone, ``probability >= p`` is
exactly ``w . x + b >= t(p)``: the detector scores every window of a layer with one
correlation and compares with ``t(p)`` (DESIGN.md decision 2).

Reference: J. Platt, "Probabilistic Outputs for Support Vector Machines", 1999
(with the target smoothing of Lin, Lin & Weng, 2007).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from ..descriptor.hog import HogParams
from .box_regression import BoxRegressor

# scikit-learn and scipy.optimize are imported where training needs them: detection
# workers unpickle LinearModel and should not pay for importing them (about 0.8 s).

log = logging.getLogger(__name__)


@dataclass
class LinearModel:
    """Weights, bias and Platt calibration of a window classifier, plus its HOG geometry."""

    weights: np.ndarray
    bias: float
    platt_a: float
    platt_b: float
    hog: HogParams
    window_dim: tuple[int, int]
    metadata: dict = field(default_factory=dict)
    box_regressor: BoxRegressor | None = None

    def __post_init__(self) -> None:
        self.weights = np.ascontiguousarray(self.weights, dtype=np.float32).ravel()
        self.window_dim = (int(self.window_dim[0]), int(self.window_dim[1]))
        expected = self.hog.descriptor_size(self.window_dim)
        if self.weights.size != expected:
            raise ValueError(
                f"model has {self.weights.size} weights but HOG of a {self.window_dim} "
                f"window has {expected} features"
            )
        if not self.platt_a > 0:
            raise ValueError(f"calibration slope must be positive, got {self.platt_a}")
        if self.box_regressor is not None and self.box_regressor.weights.shape[1] != expected:
            raise ValueError(
                f"box regressor has {self.box_regressor.weights.shape[1]} inputs but the "
                f"window's descriptor has {expected} features"
            )

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        """Signed distance ``w . x + b`` of each row of ``features``."""
        features = np.asarray(features, np.float32)
        if features.ndim == 0 or features.shape[-1] != self.weights.size:
            got = features.shape[-1] if features.ndim else "no"
            raise ValueError(
                f"features have {got} columns but the model has {self.weights.size} weights "
                f"(HOG of a {self.window_dim} window)"
            )
        return features @ self.weights + np.float32(self.bias)

    def probability(self, decision: np.ndarray | float) -> np.ndarray:
        """Calibrated probability of the object class for decision values."""
        z = self.platt_a * np.asarray(decision, np.float64) + self.platt_b
        return 1.0 / (1.0 + np.exp(-z))

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """``(n, 2)`` probabilities of background and object, as scikit-learn returns."""
        p = self.probability(self.decision_function(features))
        return np.stack([1.0 - p, p], axis=1)

    def decision_threshold(self, probability: float) -> float:
        """The decision value ``t`` with ``probability(d) >= p`` exactly when ``d >= t``."""
        if probability <= 0.0:
            return -np.inf
        if probability >= 1.0:
            return np.inf
        logit = np.log(probability) - np.log1p(-probability)
        t = float((logit - self.platt_b) / self.platt_a)
        # nudge to the smallest double whose probability reaches p, so that the
        # comparison is exact in floating point, not only on paper
        while self.probability(t) < probability:
            t = float(np.nextafter(t, np.inf))
        while self.probability(np.nextafter(t, -np.inf)) >= probability:
            t = float(np.nextafter(t, -np.inf))
        return t

    def detection_settings(self) -> dict:
        """The detection settings this model was chosen or saved with (config key names):
        the search's ``chosen_settings`` (pyramid step, upsampling, window step), then a
        saved detector's own ``detector`` ones."""
        chosen = self.metadata.get("chosen_settings") or {}
        keys = ("pyramid_scale", "upsample", "window_step")
        recorded = {k: chosen[k] for k in keys if k in chosen}
        return {**recorded, **(self.metadata.get("detector") or {})}

    def weight_grid(self) -> np.ndarray:
        """Weights as ``(blocks_r, blocks_c, features_per_block)`` over the window."""
        rows, cols = self.hog.window_blocks(self.window_dim)
        return self.weights.reshape(rows, cols, self.hog.block_size)


def train_linear_model(
    features: np.ndarray,
    labels: np.ndarray,
    hog: HogParams,
    window_dim: tuple[int, int],
    C: float = 0.01,
    folds: int = 3,
    seed: int = 42,
) -> LinearModel:
    """Fit ``LinearSVC`` on all rows and a Platt sigmoid on cross-validated decisions.

    The fit is ``WindowClassifier`` (scikit-learn's ``CalibratedClassifierCV`` with
    ``ensemble=False``); the result is the data-only model the detector and model file use.
    """
    from .estimator import WindowClassifier

    labels = np.asarray(labels).astype(np.int8)
    start = time.perf_counter()
    classifier = WindowClassifier(C=C, calibration_folds=folds, seed=seed).fit(features, labels)
    seconds = time.perf_counter() - start
    n_pos, n_neg = int((labels == 1).sum()), int((labels == 0).sum())
    log.info("trained on %d positives, %d negatives in %.1f s", n_pos, n_neg, seconds)
    return classifier.to_model(
        hog,
        window_dim,
        metadata={
            "C": C,
            "calibration_folds": folds,
            "n_positives": n_pos,
            "n_negatives": n_neg,
            "train_seconds": round(seconds, 3),
        },
    )


def platt_sigmoid(decision: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Platt's ``(a, b)`` with ``P(y=1 | d) = 1 / (1 + exp(-(a d + b)))``.

    For decision values already computed out of core (``train_sgd_out_of_core``);
    in-memory training calibrates through scikit-learn (``WindowClassifier``).
    """
    from scipy.optimize import minimize
    from scipy.special import expit

    decision = np.asarray(decision, np.float64)
    n_pos = float((labels == 1).sum())
    n_neg = float(len(labels) - n_pos)
    target = np.where(labels == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        z = params[0] * decision + params[1]
        # log(1 + exp(-z)) and log(1 + exp(z)), stably
        log_p = -np.logaddexp(0.0, -z)
        log_q = -np.logaddexp(0.0, z)
        value = -(target * log_p + (1 - target) * log_q).sum()
        residual = expit(z) - target
        return value, np.array([(residual * decision).sum(), residual.sum()])

    prior = np.log((n_pos + 1) / (n_neg + 1))
    # scikit-learn's tolerances (calibration._sigmoid_calibration)
    options = {"gtol": 1e-6, "ftol": 64 * np.finfo(float).eps}
    result = minimize(loss, x0=np.array([1.0, prior]), jac=True, method="L-BFGS-B", options=options)
    a, b = float(result.x[0]), float(result.x[1])
    if not a > 0:
        raise ValueError(
            "probability calibration failed: decision values do not separate the classes "
            f"(slope {a:.3g}); check the training data"
        )
    return a, b
