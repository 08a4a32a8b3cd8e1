"""Run the detector over distraction images and keep its confident false positives.

Workers return each image's windows above ``hn_min_probability`` (all of them, as the
course does, or only those that survive NMS with ``hn_nms``) with their
descriptors sliced from the layer grid; the parent keeps the ``hn_max_total`` most
confident while streaming and writes them, sorted by score, with provenance.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..descriptor.hog import HogParams
from ..detection.detector import Detector
from ..detection.nms import non_max_suppression
from ..errors import ImageReadError
from ..features.store import FeatureStore, hard_negative_group, replace_group
from ..io.images import read_gray
from ..model.linear import LinearModel
from ..model.modelfile import check_compatible, load_model
from ..parallel import map_images
from ..sources.distractions import split_distractions

log = logging.getLogger(__name__)

_COLUMNS = ("features", "source", "box", "layer_box", "scale", "score")


@dataclass
class MiningSummary:
    round: int
    n_images: int = 0
    n_found: int = 0
    n_kept: int = 0
    windows_scored: int = 0
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)
    per_category: dict[str, int] = field(default_factory=dict)


def mine_image(
    path: Path,
    model: LinearModel,
    window_step: int,
    pyramid_scale: float,
    min_probability: float,
    overlap_thresh: float,
    max_per_image: int | None = None,
    max_pixels: int = 40_000_000,
    apply_nms: bool = False,
) -> dict | str:
    """Windows of one image scoring at least ``min_probability``, most confident first."""
    try:
        image = read_gray(path, max_pixels)
    except ImageReadError as exc:
        return str(exc)
    detector = Detector(model, window_step, pyramid_scale, min_probability, overlap_thresh)
    cand = detector.candidates(image, with_features=True)
    if apply_nms:
        keep = non_max_suppression(cand.boxes, cand.scores, overlap_thresh)[:max_per_image]
    else:
        keep = np.argsort(-cand.scores, kind="stable")[:max_per_image]
    cand = cand.take(keep)
    return {
        "features": cand.features,
        "source": np.full(len(cand), str(path), dtype=object),
        "box": cand.boxes,
        "layer_box": cand.layer_boxes,
        "scale": cand.scales,
        "score": cand.scores.astype(np.float64),
        "windows_scored": cand.windows_scored,
    }


class TopK:
    """The ``k`` highest-scoring rows seen so far, in bounded memory."""

    def __init__(self, k: int):
        self.k = k
        self.parts: list[dict] = []
        self.size = 0

    def add(self, rows: dict) -> None:
        if len(rows["score"]):
            self.parts.append({c: rows[c] for c in _COLUMNS})
            self.size += len(rows["score"])
        if self.size > 2 * self.k:
            self._shrink()

    def _shrink(self) -> None:
        merged = self.result()
        self.parts, self.size = [merged], len(merged["score"])

    def result(self) -> dict:
        if not self.parts:
            return {}
        merged = {c: np.concatenate([p[c] for p in self.parts]) for c in _COLUMNS}
        order = np.argsort(-merged["score"], kind="stable")[: self.k]
        return {c: v[order] for c, v in merged.items()}


def mine_hard_negatives(
    conf,
    round_index: int = 1,
    model: LinearModel | None = None,
    images: list[Path] | None = None,
    progress: bool = True,
) -> MiningSummary:
    """Mine round ``round_index`` and store it as ``hard_negatives/round_NNN``."""
    start = time.perf_counter()
    hog = HogParams.from_config(conf)
    FeatureStore(conf["features_path"], hog, tuple(conf["window_dim"]))  # checks it early
    if model is None:
        model = load_model(conf["classifier_path"])
        check_compatible(model, conf, conf["classifier_path"])
    split = split_distractions(conf)
    images = split.mining(round_index) if images is None else images
    summary = MiningSummary(round=round_index, n_images=len(images))
    top = TopK(conf["hn_max_total"])
    categories: Counter = Counter()
    results = map_images(
        mine_image,
        images,
        conf["n_jobs"],
        conf["scheduler"],
        desc=f"mining round {round_index}",
        progress=progress,
        model=model,
        window_step=conf["hn_window_step"],
        pyramid_scale=conf["hn_pyramid_scale"],
        min_probability=conf["hn_min_probability"],
        overlap_thresh=conf["overlap_thresh"],
        max_per_image=conf["hn_max_per_image"],
        max_pixels=conf["max_image_pixels"],
        apply_nms=conf["hn_nms"],
    )
    for path, rows in zip(images, results):
        if isinstance(rows, str):
            summary.skipped.append(rows)
            log.warning("skipped: %s", rows)
            continue
        summary.windows_scored += rows["windows_scored"]
        summary.n_found += len(rows["score"])
        categories[split.category(path)] += len(rows["score"])
        top.add(rows)
    kept = top.result() or _empty(model)
    kept["probability"] = model.probability(kept["score"])
    kept["round"] = np.full(len(kept["score"]), round_index, np.int32)
    summary.n_kept = len(kept["score"])
    summary.per_category = dict(sorted(categories.items()))
    replace_group(
        conf["features_path"],
        hard_negative_group(round_index),
        kept,
        {
            "round": round_index,
            "images": [str(p) for p in images],
            "n_found": summary.n_found,
            "per_category": summary.per_category,
            "min_probability": conf["hn_min_probability"],
            "model": str(conf["classifier_path"]),
        },
    )
    summary.seconds = time.perf_counter() - start
    log.info(
        "round %d: %d hard negatives from %d images (%d kept) in %.2f s",
        round_index,
        summary.n_found,
        len(images),
        summary.n_kept,
        summary.seconds,
    )
    return summary


def _empty(model: LinearModel) -> dict:
    return {
        "features": np.zeros((0, model.weights.size), np.float32),
        "source": np.zeros(0, dtype=object),
        "box": np.zeros((0, 4)),
        "layer_box": np.zeros((0, 4)),
        "scale": np.zeros(0),
        "score": np.zeros(0),
    }
