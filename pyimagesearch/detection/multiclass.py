"""Several classes in one pass: every class's templates on one shared image pyramid.

A multi-class detector holds one detector per class (a :class:`WindowDetector`, or a
:class:`MixtureDetector` of a class's components). When every template shares the
descriptor, the pyramid step, the upsampling, the approximation and the window step
(what one training config gives every class), each pyramid layer's descriptor grid is
computed once, padded for the largest window's padding, and each template scores the
part of it its own padding covers. The grids are whole cells, padding cells are empty,
so that part equals the grid the template's own detector computes: the detections are
exactly those of running each class's detector on its own (a test checks it), at the
cost of one pyramid instead of N, as dlib's ``fhog_object_detector`` ``run_multiple``.

Non-maximum suppression runs per class (across a class's components), never across
classes: a car and a raccoon may overlap. Every detection carries its class's name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..model.mixture import Mixture
from .detector import Detections, WindowDetector, _concat, _one_blas_thread
from .mixture import MixtureDetector, chosen_detector, detector_for
from .nms import non_max_suppression

if TYPE_CHECKING:
    from ..infrastructure.options import WindowOptions
    from ..model.bundle import ClassBundle


class MultiClassDetector:
    """One detector per class (``classes[i]`` is the name of ``detectors[i]``, and
    ``category_ids[i]`` its id in the annotation set, default ``i + 1``); ``detect``
    returns every class's detections with ``labels``, highest probability first."""

    def __init__(
        self,
        detectors: list[WindowDetector | MixtureDetector],
        classes: list[str],
        category_ids: list[int] | None = None,
    ):
        if not detectors:
            raise ValueError("a multi-class detector needs at least one class")
        if len(detectors) != len(classes):
            raise ValueError(f"{len(detectors)} detectors but {len(classes)} class names")
        if len(set(classes)) != len(classes):
            raise ValueError(f"class names must be distinct, got {classes}")
        self.detectors = list(detectors)
        self.classes = [str(c) for c in classes]
        self.category_ids = (
            list(range(1, len(classes) + 1)) if category_ids is None else list(category_ids)
        )

    @property
    def min_probability(self) -> float:
        return min(d.min_probability for d in self.detectors)

    @min_probability.setter
    def min_probability(self, value: float) -> None:
        for d in self.detectors:
            d.min_probability = float(value)

    def components(self) -> list[tuple[int, WindowDetector]]:
        """``(class index, template detector)`` of every template of every class."""
        out = []
        for k, d in enumerate(self.detectors):
            parts = d.detectors if isinstance(d, MixtureDetector) else [d]
            out += [(k, part) for part in parts]
        return out

    def shares_pyramid(self) -> bool:
        """Whether one pyramid serves every template (see the module docstring)."""
        parts = [d for _, d in self.components()]
        keys = {
            (d.model.hog, d.pyramid_scale, d.upsample, d.approximate, d.window_step) for d in parts
        }
        return len(keys) == 1

    def detect(self, image: np.ndarray, min_probability: float | None = None) -> Detections:
        """Detections of every class in a ``uint8`` grayscale image, NMS per class."""
        parts = self.components()
        thresholds = [
            d.model.decision_threshold(
                d.min_probability if min_probability is None else min_probability
            )
            for _, d in parts
        ]
        if self.shares_pyramid():
            found = _shared_candidates(image, [d for _, d in parts], thresholds)
        else:  # templates that cannot share a pyramid: each computes its own
            found = [d.candidates(image, threshold=t) for (_, d), t in zip(parts, thresholds)]
        boxes, probs, scores, labels = [], [], [], []
        for k, name in enumerate(self.classes):
            mine = [(d, c) for (cls, d), c in zip(parts, found) if cls == k]
            b = np.concatenate([c.boxes for _, c in mine])
            s = np.concatenate([c.scores for _, c in mine])
            p = np.concatenate([d.model.probability(c.scores) for d, c in mine])
            # a lone template ranks by its score, a mixture by probability (as each does)
            rank = s if len(mine) == 1 else p
            keep = non_max_suppression(b, rank, self.detectors[k].overlap_thresh)
            boxes.append(b[keep])
            probs.append(p[keep])
            scores.append(s[keep])
            labels.append(np.full(len(keep), name, dtype=object))
        b, p = np.concatenate(boxes), np.concatenate(probs)
        s, lab = np.concatenate(scores), np.concatenate(labels)
        order = np.argsort(-p, kind="stable")
        return Detections(b[order], p[order], s[order], lab[order])

    def for_class(self, name: str) -> WindowDetector | MixtureDetector:
        """The detector of one class (an :class:`~..infrastructure.errors` message with a
        did-you-mean when there is no such class)."""
        from ..infrastructure.errors import PyImageSearchError, did_you_mean

        if name not in self.classes:
            raise PyImageSearchError(
                f"no class {name!r} in this detector{did_you_mean(name, self.classes)}; "
                f"classes: {', '.join(self.classes)}"
            )
        return self.detectors[self.classes.index(name)]


def _shared_candidates(image: np.ndarray, parts: list[WindowDetector], thresholds: list[float]):
    """Each template's candidates, from one pyramid computed for all of them."""
    pad = (max(d._pad[0] for d in parts), max(d._pad[1] for d in parts))
    min_layer = (min(d.min_layer[0] for d in parts), min(d.min_layer[1] for d in parts))
    c_r, c_c = parts[0].model.hog.pixels_per_cell
    found: list[list] = [[] for _ in parts]
    scored = [0] * len(parts)
    with _one_blas_thread():
        for shape, fx, fy, phases, grids in parts[0]._layers(image, pad, min_layer):
            for k, d in enumerate(parts):
                if shape[1] < d.min_layer[0] or shape[0] < d.min_layer[1]:
                    continue  # a layer this template's own pyramid does not have
                dy, dx = (pad[1] - d._pad[1]) // c_r, (pad[0] - d._pad[0]) // c_c
                own = [g[dy : g.shape[0] - dy, dx : g.shape[1] - dx] for g in grids]
                layer = (shape, fx, fy, phases, own)
                got, n = d._layer_candidates(image.shape[:2], layer, thresholds[k], False)
                found[k] += got
                scored[k] += n
    return [_concat(f, False, d.model, n) for f, d, n in zip(found, parts, scored)]


def bundle_detector_for(bundle: ClassBundle, window: WindowOptions) -> MultiClassDetector:
    """The multi-class detector of a bundle: each class's model (or mixture) with the
    settings it was chosen with where ``window`` is the config's."""
    detectors = [_class_detector(m, window) for m in bundle.models]
    return MultiClassDetector(detectors, bundle.classes, bundle.category_ids)


def detector_of(model, window: WindowOptions):
    """The detector of any model file's content: a linear model, a mixture, a bundle."""
    from ..model.bundle import ClassBundle

    if isinstance(model, ClassBundle):
        return bundle_detector_for(model, window)
    return detector_for(model, window)


def _class_detector(model, window: WindowOptions) -> WindowDetector | MixtureDetector:
    """A class's detector: the pyramid step and upsampling its search chose (recorded in
    its model), the config's other settings."""
    if isinstance(model, Mixture):
        return detector_for(model, window)
    return chosen_detector(model, window)
