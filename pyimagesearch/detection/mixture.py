"""Run the components of a mixture on an image and suppress overlaps across them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..model.linear import LinearModel
from ..model.mixture import Mixture
from .detector import Detections, WindowDetector
from .nms import non_max_suppression

if TYPE_CHECKING:
    from ..infrastructure.options import WindowOptions


class MixtureDetector:
    """One :class:`WindowDetector` per component; ``detect`` merges their detections by
    calibrated probability and runs non-maximum suppression across components."""

    def __init__(self, detectors: list[WindowDetector], overlap_thresh: float | None = None):
        if not detectors:
            raise ValueError("a mixture detector needs at least one component")
        self.detectors = detectors
        self.overlap_thresh = (
            detectors[0].overlap_thresh if overlap_thresh is None else float(overlap_thresh)
        )

    @property
    def model(self) -> Mixture:
        return Mixture([d.model for d in self.detectors])

    @property
    def min_probability(self) -> float:
        return self.detectors[0].min_probability

    @min_probability.setter
    def min_probability(self, value: float) -> None:
        for d in self.detectors:
            d.min_probability = float(value)

    def detect(self, image: np.ndarray, min_probability: float | None = None) -> Detections:
        """Detections of every component, highest probability first, overlaps suppressed."""
        boxes, probs, scores = [], [], []
        for d in self.detectors:
            p = d.min_probability if min_probability is None else min_probability
            cand = d.candidates(image, threshold=d.model.decision_threshold(p))
            boxes.append(cand.boxes)
            probs.append(d.model.probability(cand.scores))
            scores.append(cand.scores)
        boxes_all, probs_all = np.concatenate(boxes), np.concatenate(probs)
        scores_all = np.concatenate(scores)
        keep = non_max_suppression(boxes_all, probs_all, self.overlap_thresh)
        return Detections(boxes_all[keep], probs_all[keep], scores_all[keep])


def detector_for(
    model: LinearModel | Mixture, window: WindowOptions
) -> WindowDetector | MixtureDetector:
    """The detector of a model (or of each component of a mixture, with the settings each
    component was chosen with where ``window`` is the config's)."""
    if not isinstance(model, Mixture):
        return WindowDetector.from_options(model, window)
    detectors = [chosen_detector(m, window) for m in model.components]
    return MixtureDetector(detectors, window.overlap_thresh)


def chosen_detector(model: LinearModel, window: WindowOptions) -> WindowDetector:
    """The detector of one linear model with the pyramid step and upsampling it was
    chosen with (else ``window``'s), the other settings from ``window``."""
    recorded = model.detection_settings()
    return WindowDetector(
        model,
        window.step,
        recorded.get("pyramid_scale", window.pyramid_scale),
        window.min_probability,
        window.overlap_thresh,
        window.padding,
        recorded.get("upsample", window.upsample),
        window.approximate,
    )
