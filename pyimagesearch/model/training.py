"""Train the model from the feature store: positives, negatives and (optionally) hard negatives."""

from __future__ import annotations

import logging

import numpy as np

from ..descriptor.hog import HogParams
from ..features.store import HARD_NEGATIVES, FeatureStore, hard_negative_group
from .linear import LinearModel, train_linear_model
from .modelfile import save_model

log = logging.getLogger(__name__)


def training_set(
    conf,
    hard_negatives: bool,
    max_round: int | None = None,
    max_hard: int | None = None,
    annotated: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Features and labels from the store; hard negatives of rounds ``<= max_round``
    (with those mined on annotated images when ``annotated``, default
    ``hn_mine_annotated``), the ``max_hard`` most confident (default ``hn_max_total``)."""
    annotated = conf["hn_mine_annotated"] if annotated is None else annotated
    hog = HogParams.from_config(conf)
    store = FeatureStore(conf["features_path"], hog, tuple(conf["window_dim"]))
    pos = store.read("positives", ("features",))["features"]
    neg = store.read("negatives", ("features",))["features"]
    parts, counts = [pos, neg], {"positives": len(pos), "negatives": len(neg), "hard_negatives": 0}
    if hard_negatives:
        rounds = [r for r in store.hard_negative_rounds() if max_round is None or r <= max_round]
        groups = [hard_negative_group(r) for r in rounds]
        if annotated:
            groups += [
                f"{HARD_NEGATIVES}/annotated_round_{r:03d}"
                for r in store.hard_negative_rounds(annotated=True)
                if max_round is None or r <= max_round
            ]
        if not groups:
            log.warning("%s holds no hard negatives yet (run hard_negative_mine)", store.path)
        hard = [store.read(g, ("features", "score")) for g in groups]
        if hard:
            feats = np.concatenate([h["features"] for h in hard])
            scores = np.concatenate([h["score"] for h in hard])
            cap = conf["hn_max_total"] if max_hard is None else max_hard
            order = np.argsort(-scores, kind="stable")[:cap]
            parts.append(feats[order])
            counts["hard_negatives"] = len(order)
            counts["hard_negative_rounds"] = rounds
            counts["hard_negative_groups"] = groups
    features = np.concatenate(parts).astype(np.float32, copy=False)
    labels = np.zeros(len(features), np.int8)
    labels[: len(pos)] = 1
    return features, labels, counts


def train_model(
    conf,
    hard_negatives: bool = False,
    max_round: int | None = None,
    max_hard: int | None = None,
    annotated: bool | None = None,
    path: str | None = None,
) -> LinearModel:
    """Train on the store's rows and save the model to ``path`` (default ``classifier_path``)."""
    features, labels, counts = training_set(conf, hard_negatives, max_round, max_hard, annotated)
    model = train_linear_model(
        features,
        labels,
        HogParams.from_config(conf),
        tuple(conf["window_dim"]),
        C=conf["C"],
        folds=conf["calibration_folds"],
        seed=conf["seed"],
    )
    model.metadata.update(counts)
    save_model(model, path or conf["classifier_path"])
    return model
