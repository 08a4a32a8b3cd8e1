"""Score every window of every pyramid layer at once, then suppress overlaps.

Each layer's descriptor grid (HOG blocks or FHOG cells, ``descriptor/grid.py``) is
computed once (per cell-grid phase the window step needs); every window's score is the
correlation of that grid with the model's weight grid, done as one matrix product plus
a shifted sum. No per-window Python work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..descriptor import kernels
from ..descriptor.grid import computed_level, layer_grids, nonzero_region, resampled_level
from ..infrastructure.geometry import clip_boxes, window_padding
from ..model.linear import LinearModel
from .nms import non_max_suppression
from .pyramid import pyramid

if TYPE_CHECKING:
    from ..infrastructure.options import WindowOptions


@dataclass
class Candidates:
    """Windows scoring at or above the threshold, before non-maximum suppression.

    ``boxes`` are the objects' boxes in original-image pixels ``(x1, y1, x2, y2)``,
    predicted from the windows by the model's box regressor (the windows themselves
    without one) and clipped to the image; ``layer_boxes`` are the windows in the pixels
    of the layer they were found in (they may extend past its border by the padding);
    ``scales`` the layer's shrink factor; ``windows`` the windows in original-image
    pixels. ``features`` (optional) are the windows' descriptors, sliced from the
    layer grid.
    """

    boxes: np.ndarray
    scores: np.ndarray
    scales: np.ndarray
    layer_boxes: np.ndarray
    features: np.ndarray | None = None
    windows_scored: int = 0
    windows: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, index: np.ndarray) -> Candidates:
        return Candidates(
            self.boxes[index],
            self.scores[index],
            self.scales[index],
            self.layer_boxes[index],
            None if self.features is None else self.features[index],
            self.windows_scored,
            None if self.windows is None else self.windows[index],
        )


@dataclass
class Detections:
    """Detections after non-maximum suppression, highest probability first; ``labels``
    (a multi-class detector's) names each detection's class."""

    boxes: np.ndarray
    probabilities: np.ndarray
    scores: np.ndarray
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.scores)

    def to_list(self) -> list[dict]:
        """``[{"box": [x1, y1, x2, y2], "probability": p}, ...]`` in image pixels, with
        ``"label"`` when the detector names classes."""
        return detections_json(self.boxes, self.probabilities, self.labels)


class WindowDetector:
    """Sliding-window detector of one linear model over an image pyramid.

    ``padding`` is the share of the window that may extend past the image border (so
    objects cut by the border are found; padded cells are empty), ``upsample`` the
    number of doublings of the image the pyramid may enlarge it by (so objects smaller
    than the window are found), ``approximate`` whether only one pyramid level per
    octave gets its HOG computed and the levels between are resampled from it (Dollár
    et al., *Fast Feature Pyramids*, PAMI 2014): fine scale steps at about the cost of
    coarse ones.
    """

    #: Settings used when neither the caller nor the model file gives one.
    DEFAULTS: ClassVar[dict] = {
        "window_step": 4,
        "pyramid_scale": 1.5,
        "min_probability": 0.7,
        "overlap_thresh": 0.3,
        "padding": 0.0,
        "upsample": 0,
        "pyramid_approximate": False,
    }

    def __init__(
        self,
        model: LinearModel,
        window_step: int | None = None,
        pyramid_scale: float | None = None,
        min_probability: float | None = None,
        overlap_thresh: float | None = None,
        padding: float | None = None,
        upsample: int | None = None,
        approximate: bool | None = None,
    ):
        given = {
            "window_step": window_step,
            "pyramid_scale": pyramid_scale,
            "min_probability": min_probability,
            "overlap_thresh": overlap_thresh,
            "padding": padding,
            "upsample": upsample,
            "pyramid_approximate": approximate,
        }
        # what the caller gives, else what the model was chosen/saved with, else defaults
        settings = {**self.DEFAULTS, **model.detection_settings()}
        settings.update({k: v for k, v in given.items() if v is not None})
        window_step, pyramid_scale = settings["window_step"], settings["pyramid_scale"]
        min_probability, overlap_thresh = settings["min_probability"], settings["overlap_thresh"]
        padding, upsample = settings["padding"], settings["upsample"]
        if window_step < 1:
            raise ValueError(f"window_step must be >= 1, got {window_step}")
        if pyramid_scale <= 1:
            raise ValueError(f"pyramid_scale must be > 1, got {pyramid_scale}")
        if not 0 <= padding <= 1:
            raise ValueError(f"padding must be a share of the window in [0, 1], got {padding}")
        if upsample < 0:
            raise ValueError(f"upsample must be >= 0, got {upsample}")
        self.model = model
        self.window_step = int(window_step)
        self.pyramid_scale = float(pyramid_scale)
        self.min_probability = float(min_probability)
        self.overlap_thresh = float(overlap_thresh)
        self.padding = float(padding)
        self.upsample = int(upsample)
        self.approximate = bool(settings["pyramid_approximate"])
        self._pad = window_padding(model.window_dim, model.hog.pixels_per_cell, padding)
        grid = model.weight_grid()
        self._win_blocks = grid.shape[:2]
        # (window_blocks, features_per_block): partial products of every block with every
        # block of the window, one BLAS call per layer
        self._weights = np.ascontiguousarray(grid.reshape(-1, grid.shape[2]))

    @classmethod
    def from_options(cls, model: LinearModel, window: WindowOptions) -> WindowDetector:
        """The detector of a model with the given window settings."""
        return cls(
            model,
            window.step,
            window.pyramid_scale,
            window.min_probability,
            window.overlap_thresh,
            window.padding,
            window.upsample,
            window.approximate,
        )

    @property
    def decision_threshold(self) -> float:
        return self.model.decision_threshold(self.min_probability)

    def detect(self, image: np.ndarray, min_probability: float | None = None) -> Detections:
        """Detections in a ``uint8`` grayscale image after non-maximum suppression."""
        p = self.min_probability if min_probability is None else min_probability
        cand = self.candidates(image, threshold=self.model.decision_threshold(p))
        keep = non_max_suppression(cand.boxes, cand.scores, self.overlap_thresh)
        return Detections(
            cand.boxes[keep], self.model.probability(cand.scores[keep]), cand.scores[keep]
        )

    def candidates(
        self,
        image: np.ndarray,
        threshold: float | None = None,
        with_features: bool = False,
        margin: float | None = None,
        margin_per_layer: int = 64,
        layers: list | None = None,
    ) -> Candidates:
        """Every window scoring ``>= threshold`` (decision units; default from
        ``min_probability``), over all pyramid layers; with ``margin`` (below the
        threshold), also the ``margin_per_layer`` best windows of each layer that score
        in ``[margin, threshold)``. ``layers``: the image's :meth:`layers`, computed once
        for several models of one :attr:`pyramid_key` (e.g. candidates of each ``C``)."""
        if threshold is None:
            threshold = self.decision_threshold
        with _one_blas_thread():
            parts, scored = self._candidates(
                image, threshold, with_features, margin, margin_per_layer, layers
            )
        return _concat(parts, with_features, self.model, scored)

    @property
    def pyramid_key(self) -> tuple:
        """What the feature pyramid depends on: detectors with equal keys share layers."""
        return (
            self.model.hog,
            tuple(self.model.window_dim),
            self.window_step,
            self.pyramid_scale,
            self.upsample,
            self.approximate,
            tuple(self._pad),
        )

    def layers(self, image: np.ndarray) -> list:
        """The image's pyramid layers with their feature grids, for :meth:`candidates`."""
        with _one_blas_thread():
            return list(self._layers(image))

    def _candidates(
        self, image, threshold, with_features, margin=None, margin_per_layer=64, layers=None
    ) -> tuple[list, int]:
        """Per-layer parts of ``candidates`` and the number of windows scored."""
        parts, scored = [], 0
        for layer in self._layers(image) if layers is None else layers:
            layer_parts, n = self._layer_candidates(
                image.shape[:2], layer, threshold, with_features, margin, margin_per_layer
            )
            parts += layer_parts
            scored += n
        return parts, scored

    def _layer_candidates(
        self, image_shape, layer, threshold, with_features, margin=None, margin_per_layer=64
    ) -> tuple[list, int]:
        """The candidate parts of one pyramid ``layer`` (as ``_layers`` yields it) of an
        image of ``image_shape``, and the number of windows scored."""
        ww, wh = self.model.window_dim
        height, width = image_shape
        regressor = self.model.box_regressor
        shape, fx, fy, phases, grids = layer
        parts, scored = [], 0
        for xs, ys, scores, blocks, (bx, by) in self._score_grids(shape, phases, grids):
            scored += scores.size
            iy, ix = np.nonzero(scores >= threshold)
            if margin is not None and margin < threshold:
                iy, ix = _with_margin(scores, iy, ix, margin, threshold, margin_per_layer)
            if iy.size == 0:
                continue
            x, y = xs[ix], ys[iy]
            layer_boxes = np.stack([x, y, x + ww, y + wh], axis=1).astype(np.float64)
            feats = None
            if with_features or regressor is not None:
                feats = _slice_windows(blocks, by[iy], bx[ix], self._win_blocks)
            objects = layer_boxes if regressor is None else regressor.apply(layer_boxes, feats)
            factors = np.array([fx, fy, fx, fy])
            boxes = clip_boxes(objects * factors, width, height)
            feats = feats if with_features else None
            parts.append(
                (
                    boxes,
                    scores[iy, ix],
                    np.full(iy.size, fx),
                    layer_boxes,
                    feats,
                    layer_boxes * factors,
                )
            )
        return parts, scored

    @property
    def min_layer(self) -> tuple[int, int]:
        """The smallest layer scanned: the window less the padding on one side."""
        (ww, wh), (px, py) = self.model.window_dim, self._pad
        return max(1, ww - px), max(1, wh - py)

    def _positions(self, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Top-left corners of the windows in the pixels of a layer of ``shape`` (height,
        width; negative: past the border)."""
        (ww, wh), (px, py) = self.model.window_dim, self._pad
        xs = np.arange(-px, shape[1] - ww + px + 1, self.window_step)
        ys = np.arange(-py, shape[0] - wh + py + 1, self.window_step)
        return xs, ys

    def score_map(self, layer: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Decision values of all windows of one layer: ``(xs, ys, scores[ys, xs])``."""
        xs, ys = self._positions(layer.shape)
        out = np.full((ys.size, xs.size), np.nan, np.float32)
        for pxs, pys, scores, _, _ in self._score_layer(layer):
            out[np.searchsorted(ys, pys)[:, None], np.searchsorted(xs, pxs)[None, :]] = scores
        return xs, ys, out

    def _layers(self, image: np.ndarray, pad=None, min_layer=None):
        """Per pyramid layer: its ``(height, width)``, the factors back to the image, the
        cell-grid phases and their grids. With ``approximate`` (and a window step in whole
        cells), one layer per octave is computed and the others resampled from it (HOG:
        its cell histograms; FHOG: its normalised features, see ``grid.resampled_level``).

        ``pad`` (pixels, whole cells, at least this detector's) and ``min_layer`` (at most
        this detector's) widen the grids and the pyramid so that templates with other
        windows can share them (``detection/multiclass.py``)."""
        pad = self._pad if pad is None else pad
        min_layer = self.min_layer if min_layer is None else min_layer
        c_r, c_c = self.model.hog.pixels_per_cell
        every = 1
        if self.approximate and self.window_step % c_r == 0 and self.window_step % c_c == 0:
            every = max(1, round(np.log(2.0) / np.log(self.pyramid_scale)))
        if every == 1:
            for layer, fx, fy in pyramid(image, self.pyramid_scale, min_layer, self.upsample):
                yield (layer.shape[0], layer.shape[1]), fx, fy, *self._grids(layer, pad)
            return
        px, py, params = pad[0], pad[1], self.model.hog
        layers = pyramid(image, self.pyramid_scale, min_layer, self.upsample)
        for i, (layer, fx, fy) in enumerate(layers):
            if i % every == 0:
                grid, source = computed_level(layer, params, px, py)
                yield layer.shape[:2], fx, fy, ((0, 0),), [grid]
                continue
            approx = resampled_level(source, layer.shape[:2], params, px, py)
            yield layer.shape[:2], fx, fy, ((0, 0),), [approx]

    def _grids(self, layer: np.ndarray, pad=None) -> tuple[tuple, list[np.ndarray]]:
        """The cell-grid phases the window positions of a layer need, and their grids
        (of the layer padded by ``pad``, default this detector's padding)."""
        c_r, c_c = self.model.hog.pixels_per_cell
        px, py = self._pad if pad is None else pad
        xs, ys = self._positions(layer.shape)
        phases = tuple(
            (int(pr), int(pc))
            for pr in np.unique((ys + py) % c_r)
            for pc in np.unique((xs + px) % c_c)
        )
        return phases, layer_grids(layer, self.model.hog, phases, px, py)

    def _score_layer(self, layer: np.ndarray):
        """``_score_grids`` of one layer image."""
        return self._score_grids(layer.shape[:2], *self._grids(layer))

    def _score_grids(self, shape: tuple[int, int], phases: tuple, grids: list[np.ndarray]):
        """Per cell-grid phase: window x/y positions, their scores, the block grid and the
        block index of each position. Positions are in layer pixels; the grids are those
        of the padded layer."""
        c_r, c_c = self.model.hog.pixels_per_cell
        px, py = self._pad
        xs, ys = self._positions(shape)
        if xs.size == 0 or ys.size == 0:
            return
        xs_p, ys_p = xs + px, ys + py  # in the padded layer
        wr, wc = self._win_blocks
        for (pr, pc), blocks in zip(phases, grids):
            in_r, in_c = ys_p % c_r == pr, xs_p % c_c == pc
            sel_y, sel_x = ys[in_r], xs[in_c]
            by, bx = (ys_p[in_r] - pr) // c_r, (xs_p[in_c] - pc) // c_c
            n_r, n_c = blocks.shape[0] - wr + 1, blocks.shape[1] - wc + 1
            full = np.empty((n_r, n_c), np.float32)
            # only blocks that touch the image: the padding's blocks are zero
            r0, r1, c0, c1 = self._image_blocks(shape, blocks.shape[:2], (pr, pc))
            inner = blocks[r0:r1, c0:c1]
            flat = inner.reshape(inner.shape[0] * inner.shape[1], -1)
            planes = (self._weights @ flat.T).reshape(-1, inner.shape[0], inner.shape[1])
            kernels.correlate_planes(planes, r0, c0, n_r, n_c, wr, wc, full)
            scores = full[by[:, None], bx[None, :]] + np.float32(self.model.bias)
            yield sel_x, sel_y, scores, blocks, (bx, by)

    def _image_blocks(self, shape: tuple[int, int], grid: tuple[int, int], phase) -> tuple:
        """Grid rows ``[r0, r1)`` and columns ``[c0, c1)`` of a layer of ``shape`` that may
        be non-zero (the others describe padding only: zero)."""
        return nonzero_region(shape, self.model.hog, *self._pad, grid, phase)


_BLAS = None


def _one_blas_thread():
    """Cap BLAS to one thread for a layer's small matrix products (~7 us per call).

    Its threads do not speed these ``(n, 36) @ (36, 161)`` products up, and they made
    the detector 2-10x slower whenever another process kept a core busy; the cap is
    undone on exit, so callers keep their own BLAS settings.
    """
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


def _with_margin(scores, iy, ix, margin: float, threshold: float, top: int):
    """The windows ``(iy, ix)`` plus the ``top`` best scoring in ``[margin, threshold)``."""
    my, mx = np.nonzero((scores >= margin) & (scores < threshold))
    if my.size > top:
        best = np.argpartition(-scores[my, mx], top - 1)[:top]
        my, mx = my[best], mx[best]
    return np.concatenate([iy, my]), np.concatenate([ix, mx])


def _slice_windows(blocks: np.ndarray, by: np.ndarray, bx: np.ndarray, win: tuple[int, int]):
    """Descriptors of the windows whose top-left blocks are ``(by, bx)``."""
    wr, wc = win
    rows = by[:, None, None] + np.arange(wr)[None, :, None]
    cols = bx[:, None, None] + np.arange(wc)[None, None, :]
    return blocks[rows, cols].reshape(by.size, -1).astype(np.float32, copy=False)


def _concat(parts, with_features: bool, model: LinearModel, scored: int) -> Candidates:
    if not parts:
        d = model.weights.size
        return Candidates(
            np.zeros((0, 4)),
            np.zeros(0, np.float32),
            np.zeros(0),
            np.zeros((0, 4)),
            np.zeros((0, d), np.float32) if with_features else None,
            scored,
            np.zeros((0, 4)),
        )
    boxes, scores, scales, layer_boxes, feats, windows = zip(*parts)
    return Candidates(
        np.concatenate(boxes),
        np.concatenate(scores),
        np.concatenate(scales),
        np.concatenate(layer_boxes),
        np.concatenate(feats) if with_features else None,
        scored,
        np.concatenate(windows),
    )


def detections_json(
    boxes: np.ndarray, probabilities: np.ndarray, labels: np.ndarray | None = None
) -> list[dict]:
    """Detections as JSON-ready dicts: boxes to 0.01 px, probabilities to 6 decimals,
    and each one's ``label`` when given."""
    out = [
        {"box": [round(float(v), 2) for v in box], "probability": round(float(p), 6)}
        for box, p in zip(boxes, probabilities)
    ]
    if labels is not None:
        for item, label in zip(out, labels):
            item["label"] = str(label)
    return out
