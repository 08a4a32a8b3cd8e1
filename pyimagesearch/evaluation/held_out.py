"""Evaluate a model: AP on the held-out annotated images, FPPI on unseen object-free images."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..detection.files import detect_files
from ..infrastructure.config import input_keys, require_paths
from ..infrastructure.errors import ConfigError, Skipped
from ..model.linear import LinearModel
from ..model.modelfile import check_compatible, load_model
from ..sources.annotations import AnnotatedImage, read_annotations, split_train_test
from ..sources.distractions import split_distractions
from .metrics import detection_figures, false_positive_types, summarize_detections

if TYPE_CHECKING:
    from ..infrastructure.config import Config

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """Figures of one evaluation; ``curve`` holds the PR curve, ``images`` the detections."""

    average_precision: float
    precision: float
    recall: float
    false_positives_per_image: float
    min_probability: float
    n_test_images: int
    n_objects: int
    n_distraction_images: int
    n_false_positives: int
    seconds: float
    average_precision_70: float = 0.0
    mean_iou: float = 0.0
    box_errors: dict = field(default_factory=dict)
    false_positive_types: dict = field(default_factory=dict)
    curve: dict = field(default_factory=dict, repr=False)
    images: list = field(default_factory=list, repr=False)
    skipped: list = field(default_factory=list, repr=False)

    def summary(self) -> dict:
        """The scalar figures (what ``evaluate.py --json`` writes)."""
        out = asdict(self)
        for key in ("curve", "images"):
            out.pop(key)
        return out


def evaluate(conf: Config, model: LinearModel | None = None, progress: bool = True) -> Evaluation:
    """Detect on the test share of the annotated images and on held-out distraction images."""
    start = time.perf_counter()
    require_paths(conf, *input_keys(conf))
    options = conf.options
    if model is None:
        path = options.paths.classifier_path
        model = load_model(path)
        check_compatible(model, options.descriptor, options.window.window_dim, path, conf.path)
    _, test = split_train_test(
        read_annotations(options.annotations), options.split.train_share, options.split.seed
    )
    if not test:
        raise ConfigError(
            "key 'percent_gt_images': 1 trains on every annotated image and leaves none "
            "to evaluate on; choose a value below 1"
        )
    distractions = split_distractions(options.distractions).evaluation
    paths = [item.path for item in test] + distractions
    floor = options.evaluation.curve_floor
    results = [
        r
        for _, r in detect_files(
            paths,
            model,
            options.window,
            options.execution,
            floor,
            progress,
            options.remote,  # distraction images may be URLs
        )
    ]
    skipped = [r.message for r in results if isinstance(r, Skipped)]
    for message in skipped:
        log.warning("skipped: %s", message)
    test_results, distraction_results = results[: len(test)], results[len(test) :]

    det_boxes, det_scores, gts, images = [], [], [], []
    for item, res in zip(test, test_results):
        if isinstance(res, Skipped):
            continue
        gt = item.boxes_inside(res["shape"][1], res["shape"][0])
        det_boxes.append(res["boxes"])
        det_scores.append(res["probabilities"])
        gts.append(gt)
        images.append({"path": str(item.path), "gt": gt.tolist(), **_listed(res)})
    p_min = options.evaluation.min_probability
    summary = summarize_detections(det_boxes, det_scores, gts, p_min)

    ok_distractions = [r for r in distraction_results if not isinstance(r, Skipped)]
    n_fp = int(sum((r["probabilities"] >= p_min).sum() for r in ok_distractions))
    above = [s >= p_min for s in det_scores]
    fp_types = false_positive_types(
        [b[k] for b, k in zip(det_boxes, above)], [s[k] for s, k in zip(det_scores, above)], gts
    )
    fp_types["background_distraction_images"] = n_fp
    fppi = n_fp / max(len(ok_distractions), 1)
    return Evaluation(
        average_precision=summary["average_precision"],
        precision=summary["precision"],
        recall=summary["recall"],
        false_positives_per_image=fppi,
        min_probability=p_min,
        n_test_images=len(det_boxes),
        n_objects=summary["n_objects"],
        n_distraction_images=len(ok_distractions),
        n_false_positives=n_fp,
        seconds=time.perf_counter() - start,
        average_precision_70=summary["average_precision_70"],
        mean_iou=summary["mean_iou"],
        box_errors=summary["box_errors"],
        false_positive_types=fp_types,
        curve=summary["curve"],
        images=images,
        skipped=skipped,
    )


def evaluate_items(
    conf: Config, model: LinearModel, items: list[AnnotatedImage], progress: bool = True
) -> dict[str, float | int]:
    """AP at IoU 0.5 and 0.7 and mean IoU of true positives on the given annotated images."""
    floor = conf.options.evaluation.curve_floor
    results = detect_files(
        [item.path for item in items],
        model,
        conf.options.window,
        conf.options.execution,
        floor,
        progress,
    )
    det_boxes, det_scores, gts = [], [], []
    for item, (_, res) in zip(items, results):
        if isinstance(res, Skipped):
            log.warning("skipped: %s", res)
            continue
        det_boxes.append(res["boxes"])
        det_scores.append(res["probabilities"])
        gts.append(item.boxes_inside(res["shape"][1], res["shape"][0]))
    return detection_figures(det_boxes, det_scores, gts)


def _listed(res: dict) -> dict:
    return {
        "boxes": np.round(res["boxes"], 2).tolist(),
        "probabilities": np.round(res["probabilities"], 6).tolist(),
    }
