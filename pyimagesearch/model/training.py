"""Train the model from the feature store: positives, negatives and (optionally) hard negatives."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from ..features.store import (
    BOX_SAMPLES,
    FeatureStore,
    most_confident,
)
from ..infrastructure import provenance
from ..infrastructure.config import require_outputs
from ..infrastructure.errors import StoreError
from .box_regression import fit_box_regressor
from .linear import LinearModel, train_linear_model
from .modelfile import save_model

if TYPE_CHECKING:
    from ..infrastructure.config import Config
    from ..infrastructure.options import TrainingOptions

log = logging.getLogger(__name__)


def training_set(
    store: FeatureStore,
    training: TrainingOptions,
    hard_negatives: bool,
    max_round: int | None = None,
    max_hard: int | None = None,
    annotated: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Features and labels from the store; hard negatives of rounds ``<= max_round``
    (with those mined on annotated images when ``annotated``, default
    ``training.mine_annotated``), the ``max_hard`` most confident (default
    ``training.max_hard_negatives``)."""
    annotated = training.mine_annotated if annotated is None else annotated
    pos = store.read("positives", ("features",))["features"]
    neg = store.read("negatives", ("features",))["features"]
    parts, counts = [pos, neg], {"positives": len(pos), "negatives": len(neg), "hard_negatives": 0}
    if hard_negatives:
        groups = store.hard_negative_groups(max_round, annotated)
        if not groups:
            log.warning("%s holds no hard negatives yet (run hard_negative_mine)", store.path)
        hard = [store.read(g, ("features", "score")) for g in groups]
        if hard:
            cap = training.max_hard_negatives if max_hard is None else max_hard
            part, row = most_confident([h["score"] for h in hard], cap)
            feats = np.concatenate([h["features"] for h in hard])
            offsets = np.cumsum([0] + [len(h["score"]) for h in hard])
            parts.append(feats[offsets[part] + row])
            counts["hard_negatives"] = len(part)
            counts["hard_negative_rounds"] = [
                r for r in store.hard_negative_rounds() if max_round is None or r <= max_round
            ]
            counts["hard_negative_groups"] = groups
    features = np.concatenate(parts).astype(np.float32, copy=False)
    labels = np.zeros(len(features), np.int8)
    labels[: len(pos)] = 1
    require_enough(training.calibration_folds, store.path, len(pos), len(features) - len(pos))
    return features, labels, counts


def require_enough(folds: int, path, n_pos: int, n_neg: int) -> None:
    """Refuse to train on fewer positives or negatives than the calibration folds need."""
    if n_pos >= folds and n_neg >= folds:
        return
    hint = (
        "more annotated training images (percent_gt_images, image_annotations)"
        if n_pos < folds
        else "distraction images at least as large as window_dim (image_distractions)"
    )
    raise StoreError(
        f"{path}: {n_pos} positives and {n_neg} negatives; training needs at least "
        f"{folds} of each (calibration_folds): use {hint}, then re-run extract_features"
    )


def _row_sources(store, training: TrainingOptions, hard_negatives, max_round, max_hard, annotated):
    """``[(group, sorted row indices, label)]`` of the rows training uses."""
    annotated = training.mine_annotated if annotated is None else annotated
    sources = [
        ("positives", np.arange(store.count("positives")), 1),
        ("negatives", np.arange(store.count("negatives")), 0),
    ]
    if not hard_negatives:
        return sources
    groups = store.hard_negative_groups(max_round, annotated)
    if not groups:
        return sources
    cap = training.max_hard_negatives if max_hard is None else max_hard
    part, row = most_confident([store.read(g, ("score",))["score"] for g in groups], cap)
    for i, g in enumerate(groups):
        sources.append((g, np.sort(row[part == i]), 0))
    return sources


def train_sgd_out_of_core(
    store, sources, training: TrainingOptions, hog, window_dim, epochs=10, chunk=4096
):
    """A linear SVM fitted by SGD on chunks read from the store, never all rows at once.

    Same objective as ``LinearSVC`` with hinge loss (``alpha = 1 / (C n)``). Each chunk
    mixes rows of every group (a chunk of one class would drag SGD towards it); every
    fifth row is held out and its decision values calibrate the Platt sigmoid.
    """
    import time

    from sklearn.linear_model import SGDClassifier

    from .linear import platt_sigmoid

    start = time.perf_counter()
    rng = np.random.default_rng(training.seed)
    group_of = np.concatenate([np.full(len(idx), k) for k, (_, idx, _) in enumerate(sources)])
    row_of = np.concatenate([idx for _, idx, _ in sources])
    label_of = np.concatenate([np.full(len(idx), lab, np.int8) for _, idx, lab in sources])
    held = (row_of % 5) == 0
    fit = np.flatnonzero(~held)
    sgd = SGDClassifier(
        loss="hinge", alpha=1.0 / (training.C * len(fit)), random_state=training.seed
    )
    classes = np.array([0, 1], np.int8)
    for _ in range(epochs):
        order = rng.permutation(fit)
        for i in range(0, len(order), chunk):
            pick = order[i : i + chunk]
            X = _read_rows(store, sources, group_of[pick], row_of[pick])
            sgd.partial_fit(X, label_of[pick], classes=classes)
    decision = []
    hold = np.flatnonzero(held)
    for i in range(0, len(hold), chunk):
        pick = hold[i : i + chunk]
        decision.append(
            sgd.decision_function(_read_rows(store, sources, group_of[pick], row_of[pick]))
        )
    a, b = platt_sigmoid(np.concatenate(decision), label_of[hold])
    return LinearModel(
        sgd.coef_.ravel(),
        float(sgd.intercept_[0]),
        a,
        b,
        hog,
        window_dim,
        {"solver": "sgd", "epochs": epochs, "train_seconds": round(time.perf_counter() - start, 3)},
    )


def _read_rows(store, sources, groups: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Feature rows given by (source index, row) pairs, in that order, read per group."""
    out = np.empty((len(rows), 0), np.float32)
    for k in np.unique(groups):
        where = np.flatnonzero(groups == k)
        data = store.read_rows(sources[k][0], rows[where])
        if out.shape[1] == 0:
            out = np.empty((len(rows), data.shape[1]), np.float32)
        out[where] = data
    return out


def train_model(
    conf: Config,
    hard_negatives: bool = False,
    max_round: int | None = None,
    max_hard: int | None = None,
    annotated: bool | None = None,
    path: str | None = None,
    metadata: dict | None = None,
    overwrite: bool = False,
) -> LinearModel:
    """Train on the store's rows and save the model to ``path`` (default ``classifier_path``).

    ``train_solver: "sgd"`` trains out of core, reading the store in chunks. The model
    records its provenance; a model file made by another config is refused (before any
    work) unless ``overwrite``.
    """
    if path is None:
        require_outputs(conf, "classifier_path")
    path = path or conf.options.paths.classifier_path
    provenance.check_owner(path, conf, "model", overwrite)
    training, hog, window = conf.options.training, conf.options.descriptor, conf.options.window
    store = FeatureStore(conf.options.paths.features_path, hog, window.window_dim)
    if training.solver == "sgd":
        sources = _row_sources(store, training, hard_negatives, max_round, max_hard, annotated)
        n_pos = len(sources[0][1])
        n_neg = sum(len(i) for _, i, _ in sources) - n_pos
        require_enough(training.calibration_folds, store.path, n_pos, n_neg)
        model = train_sgd_out_of_core(store, sources, training, hog, window.window_dim)
        model.metadata.update(
            positives=len(sources[0][1]),
            negatives=len(sources[1][1]),
            hard_negatives=sum(len(i) for _, i, _ in sources[2:]),
            C=training.C,
            **(metadata or {}),
        )
    else:
        features, labels, counts = training_set(
            store, training, hard_negatives, max_round, max_hard, annotated
        )
        model = train_linear_model(
            features,
            labels,
            hog,
            window.window_dim,
            C=training.C,
            folds=training.calibration_folds,
            seed=training.seed,
        )
        model.metadata.update(counts, **(metadata or {}))
    if training.box_samples:
        add_box_regressor(model, store)
    model.metadata["provenance"] = provenance.collect(conf, path)
    save_model(model, path)
    return model


def add_box_regressor(model: LinearModel, store: FeatureStore) -> None:
    """Fit the box regressor on the store's box samples, when it has them."""
    if not store.count(BOX_SAMPLES):
        log.warning("%s holds no box samples: boxes will be the windows", store.path)
        return
    samples = store.read(BOX_SAMPLES, ("features", "target"))
    model.box_regressor = fit_box_regressor(samples["features"], samples["target"])
    model.metadata["box_regression_samples"] = len(samples["target"])
