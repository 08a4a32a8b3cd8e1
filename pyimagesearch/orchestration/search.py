"""Choose the settings that decide accuracy on validation data, not by hand.

The training images are split into a fitting and a validation share (k folds when they
are few, so that a small data set does not choose on a handful of images). The
validation images look like the task: the held-out photos themselves (plus variants:
smaller objects, objects cut by the border), or, when the objects fill their images
(crops), synthetic scenes with held-out objects pasted at random sizes and places.

For each candidate a model is fitted (positives, random negatives, no mining) and run on
the validation images at the config's upsampling: every ``C`` at the config's window,
the other windows at the ``C`` within noise of the best there, then the leading window
at every ``C`` (the models of one window share each image's feature pyramid). The best
of them is run at the other upsampling values too (one pyramid at the largest serves the
smaller ones: they are the same pyramid without its enlarged layers). The criterion
values localisation (mean of AP at IoU 0.5 and 0.7, pooled over folds); among the
settings within noise of the best, the cheaper detector and the setting nearer the config
win. Noise is measured, not assumed: the standard error of two settings' difference over
bootstrap resamples of the validation images (the same images for both), at least one
object's worth of AP. A ``C`` that wins on the edge of its grid is followed
one step further. Then the number of mining rounds is chosen the same way: mining goes
on while a round keeps validation within its noise of the best round (or gains
``hn_min_ap_gain``).
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..detection.detector import WindowDetector
from ..detection.nms import non_max_suppression
from ..evaluation.metrics import (
    average_precision,
    detection_figures,
    match_with_iou,
    precision_recall,
)
from ..features.extract import extract_features
from ..io.images import read_gray
from ..io.remote import RemoteOptions
from ..model.linear import LinearModel
from ..sources.annotations import read_annotations, split_train_test
from ..sources.dims import looks_like_crops
from .settings import SEARCHED

if TYPE_CHECKING:
    from ..infrastructure.config import Config

log = logging.getLogger(__name__)

#: Folds when the training images are fewer than this (else one validation share).
FEW_IMAGES = 40


@dataclass
class SearchResult:
    """Every setting tried with its validation figures, and the chosen one."""

    rows: list[dict] = field(default_factory=list)
    chosen: dict = field(default_factory=dict)
    n_fit_images: int = 0
    n_validation_images: int = 0
    validation_variants: list = field(default_factory=list)
    seconds: float = 0.0
    n_folds: int = 1
    crops: bool = False
    tolerance: float = 0.0
    rounds: list[dict] = field(default_factory=list)


def candidate_windows(conf: Config) -> list[tuple[int, int]]:
    """The config's window and windows of the same aspect with 3/4 and 4/3 of its cells."""
    ww, wh = conf["window_dim"]
    c_r, c_c = conf["pixels_per_cell"]
    # the smallest window: one grid position more than a HOG block (FHOG: a cell)
    b_r, b_c = conf["cells_per_block"] if conf["descriptor"] == "hog" else (1, 1)
    out = []
    for factor in conf["search_window_scales"]:
        w = max(c_c * (b_c + 1), int(round(ww * factor / c_c)) * c_c)
        h = max(c_r * (b_r + 1), int(round(wh * factor / c_r)) * c_r)
        if (w, h) not in out:
            out.append((w, h))
    return out


def candidate_settings(conf: Config) -> dict[str, list]:
    """The values tried for each searched key (the config's own value first)."""
    c = conf["C"]
    scales = [conf["pyramid_scale"]] + [
        s for s in conf["search_pyramid_scales"] if s != conf["pyramid_scale"]
    ]
    ups = [conf["upsample"]] + [u for u in conf["search_upsample"] if u != conf["upsample"]]
    return {
        "window_dim": candidate_windows(conf),
        "C": [c] + [c * f for f in conf["search_C_factors"] if f != 1],
        "pyramid_scale": scales,
        "upsample": ups,
    }


def search_settings(conf: Config, progress: bool = True, overwrite: bool = False) -> SearchResult:
    """Try the candidate settings on validation images like the task (``overwrite``:
    replace search files another config made in ``output_dir``)."""
    start = time.perf_counter()
    items = read_annotations(conf.options.annotations)
    train, _ = split_train_test(items, conf["percent_gt_images"], conf["seed"])
    folds = validation_folds(train, conf["search_validation_share"], conf["seed"])
    crops = looks_like_crops(train)
    root = Path(conf["output_dir"]) / "search"
    validation = [
        _Validation.read(conf, val, root / f"fold{k}" / "validation", crops)
        for k, (_, val) in enumerate(folds)
    ]
    result = SearchResult(
        n_fit_images=sum(len(fit) for fit, _ in folds) // len(folds),
        n_validation_images=sum(len(v.images) for v in validation),
        validation_variants=validation[0].variants,
        n_folds=len(folds),
        crops=crops,
    )
    n_objects = sum(int(sum(len(b) for b in v.boxes)) for v in validation)
    result.tolerance = noise_tolerance(n_objects)
    searches: dict[str, tuple[_Search, dict]] = {}
    for d, variant in enumerate(descriptor_variants(conf, train)):
        dconf = conf.replace(**variant)
        name = variant["descriptor"]
        here = root / name if d else root
        search = _Search(dconf, folds, validation, here, progress, overwrite, d, variant)
        grid = candidate_settings(dconf)
        searches[name] = (search, grid)
        # windows and C at the config's upsampling; the other upsampling values (each
        # costs up to 4x the pixels) only for the best of them
        result.rows += _windows_and_C(search, {**grid, "upsample": grid["upsample"][:1]}, result)
    if not result.rows:
        raise ValueError('the settings search trained no model; set "search": false')
    lead = choose(result.rows, result.tolerance)
    search, grid = searches[lead["descriptor"]]
    tried = {r["C"] for r in result.rows if _same_window(r, lead)}
    rest = [c for c in grid["C"] if c not in tried]
    if rest:  # the leading window with every C too
        first = {**grid, "upsample": grid["upsample"][:1]}
        result.rows += search.evaluate(tuple(lead["window_dim"]), rest, first)
        lead = choose(result.rows, result.tolerance)
        search, grid = searches[lead["descriptor"]]
    result.rows += _widen_C(search, result, {**grid, "upsample": grid["upsample"][:1]}, lead)
    if len(grid["upsample"]) > 1:
        lead = choose(result.rows, result.tolerance)
        search, grid = searches[lead["descriptor"]]
        more = {**grid, "upsample": grid["upsample"][1:]}
        result.rows += search.evaluate(tuple(lead["window_dim"]), [lead["C"]], more)
    best = choose(result.rows, result.tolerance)
    search, _ = searches[best["descriptor"]]
    result.chosen = {k: best[k] for k in SEARCHED}
    for row in result.rows:
        row["chosen"] = row is best
    if conf["hn_rounds"]:
        rule = (result.tolerance, conf["hn_min_ap_gain"])
        result.rounds = search.rounds(best, conf["hn_rounds"], *rule)
        result.chosen["hn_rounds"] = _best_round(result.rounds, *rule)
    result.seconds = time.perf_counter() - start
    log.info("search chose %s in %.1f s", result.chosen, result.seconds)
    return result


def criterion(row: dict) -> float:
    """The validation figure settings compete on: detection and localisation alike."""
    return 0.5 * (row["ap50"] + row["ap70"])


def noise_tolerance(n_objects: int) -> float:
    """Differences of AP below about one object's worth are noise."""
    return float(np.clip(1.0 / max(n_objects, 1), 0.005, 0.02))


class Row(dict):
    """A candidate's validation figures (a plain dict in reports and JSON), holding its
    per-image detections as ``parts`` so that its noise against another can be measured."""

    parts: list[tuple] | None = None

    @property
    def noise(self) -> dict[int, tuple[dict, float]]:
        """Measured noise of other rows against this one, by their ``id`` (kept with them)."""
        return self.__dict__.setdefault("_noise", {})

    @property
    def matches(self) -> _Matches:
        """Its detections matched to the objects, once (every comparison reuses them)."""
        if "_matches" not in self.__dict__:
            self.__dict__["_matches"] = _Matches.of(self.parts)
        return self.__dict__["_matches"]


def choose(rows: list[dict], tolerance: float) -> dict:
    """The best row by :func:`criterion`, or among the rows within noise of it the
    cheaper detector (no upsampling, coarser pyramid), then the descriptor, window and
    ``C`` nearer the config's (``row["order"]``): never a cheaper setting that is less
    accurate beyond noise. The noise is measured where both rows hold their detections
    (:func:`paired_noise`, at least ``tolerance``), else ``tolerance``."""
    best = max(rows, key=criterion)
    top = criterion(best)
    near = [
        r
        for r in rows
        if criterion(r) >= top - tolerance or criterion(r) >= top - _row_noise(best, r, tolerance)
    ]

    def rank(row: dict) -> tuple:
        order = row.get("order", (0, 0, 0))
        return (-row["upsample"], row["pyramid_scale"], *(-i for i in order), criterion(row))

    return max(near, key=rank)


def _row_noise(best: dict, row: dict, tolerance: float) -> float:
    """How far ``row`` may trail ``best`` by the luck of the validation images."""
    a, b = getattr(best, "parts", None), getattr(row, "parts", None)
    if a is None or b is None or row is best:
        return tolerance
    if id(row) not in best.noise:
        best.noise[id(row)] = (row, _bootstrap_noise(best.matches, row.matches))
    measured = best.noise[id(row)][1]
    return max(tolerance, measured)


def descriptor_variants(conf: Config, train: list) -> list[dict]:
    """The config's descriptor, then each other one of ``search_descriptors`` with its
    usual cells (HOG: the course's 4x4; FHOG: dlib's 8x8), a window stepping one cell
    and the window ``explore_dims`` suggests for it."""
    from ..sources.dims import box_statistics, suggest_window_dim

    own = {
        "descriptor": conf["descriptor"],
        "pixels_per_cell": list(conf["pixels_per_cell"]),
        "window_step": conf["window_step"],
        "hn_window_step": conf["hn_window_step"],
        "window_dim": list(conf["window_dim"]),
    }
    out = [own]
    stats = None
    for name in conf["search_descriptors"]:
        if name == own["descriptor"]:
            continue
        stats = stats or box_statistics(train)
        cells = USUAL_CELLS[name]
        window = suggest_window_dim(stats, tuple(cells), descriptor=name)
        out.append(
            {
                "descriptor": name,
                "pixels_per_cell": list(cells),
                "window_step": cells[1],
                "hn_window_step": cells[1],
                "window_dim": list(window),
            }
        )
    return out


#: The cells each descriptor is usually computed on (a search trying it uses these).
USUAL_CELLS = {"hog": (4, 4), "fhog": (8, 8)}


def validation_folds(items: list, share: float, seed: int) -> list[tuple[list, list]]:
    """``(fit, validation)`` pairs: k folds (``k = round(1 / share)``, at least 3) when the
    images are fewer than :data:`FEW_IMAGES`, else one seeded validation share."""
    if len(items) < 3:
        raise ValueError(
            f"too few training images ({len(items)}) to hold out a validation share; "
            'set "search": false'
        )
    order = np.random.default_rng([seed, 1]).permutation(len(items))
    if len(items) >= FEW_IMAGES:
        return [_validation_split(items, share, seed)]
    k = min(len(items), max(3, round(1 / share)))
    out = []
    for f in range(k):
        held = set(order[f::k].tolist())
        fit = [it for i, it in enumerate(items) if i not in held]
        val = [it for i, it in enumerate(items) if i in held]
        out.append((fit, val))
    return out


@dataclass
class _Validation:
    """One fold's validation images in memory, with their objects."""

    images: list[np.ndarray]
    boxes: list[np.ndarray]
    variants: list[str]

    @classmethod
    def read(cls, conf: Config, val: list, folder: Path, crops: bool) -> _Validation:
        """The fold's validation images, plus object-free scenes never trained or mined
        on: false positives there cost precision as they cost a user."""
        from ..sources.distractions import split_distractions

        items = validation_images(conf, val, folder, crops)
        images, boxes = [], []
        for item in items:
            image = read_gray(item.path, conf["max_image_pixels"])
            images.append(image)
            boxes.append(item.boxes_inside(image.shape[1], image.shape[0]))
        remote = RemoteOptions.from_config(conf)
        scenes = split_distractions(conf.options.distractions).validation[: max(len(images), 10)]
        for ref in scenes:
            try:
                images.append(read_gray(ref, conf["max_image_pixels"], remote))
            except Exception as exc:  # an unreadable scene: the readers say why
                log.warning("search: skipped validation scene %s: %s", ref, exc)
                continue
            boxes.append(np.zeros((0, 4)))
        names = ["pasted"] if crops else list(conf["search_validation_variants"])
        return cls(images, boxes, [*names, f"{len(scenes)} object-free scenes"])


def validation_images(conf: Config, val: list, folder: Path, crops: bool = False) -> list:
    """The validation images: for photos, the images as they are plus the variants named
    in ``search_validation_variants`` (objects smaller than the training ones, pasted on
    a distraction scene; objects cut by the border); for crops, distraction scenes with
    the held-out objects pasted at random sizes and places."""
    from ..evaluation.variants import SceneFiles, derive_variant, load_samples, write_variant
    from ..sources.distractions import split_distractions

    names = ["pasted"] if crops else [v for v in conf["search_validation_variants"]]
    out = [] if crops or "original" not in names else list(val)
    names = [n for n in names if n != "original"]
    if not names:
        return out
    samples = load_samples(val, conf["max_image_pixels"])
    scenes = SceneFiles(
        split_distractions(conf.options.distractions).negatives,
        conf["max_image_pixels"],
        RemoteOptions.from_config(conf),
    )
    for name in names:
        rng = np.random.default_rng([conf["seed"], 2, zlib.crc32(name.encode())])
        out += write_variant(folder / name, derive_variant(name, samples, scenes, rng))
    return out


class _Search:
    """Fits and scores candidate models on every fold, reusing what candidates share."""

    def __init__(
        self, conf, folds, validation, root: Path, progress, overwrite, index=0, variant=None
    ):
        self.conf, self.folds, self.validation = conf, folds, validation
        self.index, self.variant = index, variant or {}
        self.root, self.progress, self.overwrite = root, progress, overwrite
        self._extracted: set = set()
        self._models: dict[tuple, tuple] = {}
        self._regressors: dict[str, object] = {}

    def _fold_conf(self, k: int, window: tuple[int, int]):
        tag = f"fold{k}/{window[0]}x{window[1]}"
        return self.conf.replace(
            window_dim=list(window),
            features_path=str(self.root / tag / "features.hdf5"),
            output_dir=str(self.root / tag),
        )

    def _model(self, k: int, window: tuple[int, int], c: float):
        """Fold ``k``'s model of ``window`` and ``C`` (and its config), fitted once."""
        if (k, window, c) not in self._models:
            self._models[(k, window, c)] = self._fit(k, window, c)
        return self._models[(k, window, c)]

    def _fit(self, k: int, window: tuple[int, int], c: float):
        wconf = self._fold_conf(k, window)
        if (k, window) not in self._extracted:
            fit = self.folds[k][0]
            extract_features(
                wconf,
                progress=self.progress,
                drop_mined=True,
                train_items=fit,
                overwrite=self.overwrite,
            )
            self._extracted.add((k, window))
        cconf = wconf.replace(C=c, classifier_path=str(Path(wconf["output_dir"]) / f"C{c:g}.json"))
        return cconf, quick_model(cconf, regressors=self._regressors)

    def evaluate(self, window: tuple[int, int], cs: list[float], grid: dict) -> list[dict]:
        """Rows of figures of one window for each ``C``, pyramid step and upsampling."""
        pooled: dict[float, dict[tuple, list]] = {c: {} for c in cs}
        for k in range(len(self.folds)):
            models = {}
            for c in list(pooled):
                try:
                    models[c] = self._model(k, window, c)[1]
                except ValueError as exc:  # e.g. calibration failed: a setting that cannot work
                    log.warning("search: window %s, C %g: %s", window, c, exc)
                    del pooled[c]
            for c, found in self._detections(models, k, grid).items():
                for key, dets in found.items():
                    pooled[c].setdefault(key, []).append(dets)
        rows = []
        for c, by_setting in pooled.items():
            for (scale, up), parts in by_setting.items():
                row = Row(window_dim=list(window), C=c, pyramid_scale=scale, upsample=up)
                row.parts = parts
                row.update(
                    descriptor=self.conf["descriptor"],
                    pixels_per_cell=list(self.conf["pixels_per_cell"]),
                    window_step=self.conf["window_step"],
                    order=[self.index, *_position(window, c, grid)],
                )
                row.update(_figures(parts))
                rows.append(row)
                log.debug("search: %s", row)
        return rows

    def _detections(
        self, models: dict[float, LinearModel], k: int, grid: dict
    ) -> dict[float, dict[tuple, tuple]]:
        """Per model and (pyramid step, upsampling): detections on fold ``k``'s
        validation images. The models (of one window) share each image's pyramid, and
        one pyramid at the largest upsampling serves the smaller ones."""
        window = self.conf.options.window
        floor = self.conf.options.evaluation.curve_floor
        top = max(grid["upsample"])
        val = self.validation[k]
        out: dict[float, dict[tuple, tuple]] = {c: {} for c in models}
        for scale in grid["pyramid_scale"]:
            detectors = {
                c: WindowDetector(
                    model,
                    window.step,
                    scale,
                    floor,
                    window.overlap_thresh,
                    window.padding,
                    top,
                    window.approximate,
                )
                for c, model in models.items()
            }
            per_up = {c: {u: ([], []) for u in grid["upsample"]} for c in models}
            for image in val.images:
                shared: dict[tuple, list] = {}  # one pyramid per key (the same for every C)
                for c, detector in detectors.items():
                    key = detector.pyramid_key
                    if key not in shared:
                        shared[key] = detector.layers(image)
                    cand = detector.candidates(image, layers=shared[key])
                    for u in grid["upsample"]:
                        sel = np.flatnonzero(cand.scales >= 2.0**-u * (1 - 1e-9))
                        keep = sel[
                            non_max_suppression(
                                cand.boxes[sel], cand.scores[sel], window.overlap_thresh
                            )
                        ]
                        per_up[c][u][0].append(cand.boxes[keep])
                        per_up[c][u][1].append(models[c].probability(cand.scores[keep]))
            for c, by_up in per_up.items():
                for u, (boxes, scores) in by_up.items():
                    out[c][(scale, u)] = (boxes, scores, val.boxes)
        return out

    def rounds(
        self, best: dict, max_rounds: int, tolerance: float, min_gain: float | None = None
    ) -> list[dict]:
        """Validation figures after each mining round of the chosen setting (round 0: no
        mining), mining on while each round keeps validation (:func:`_round_counts`)."""
        from ..mining.hard_negatives import annotated_group, mine_hard_negatives

        window, c = tuple(best["window_dim"]), best["C"]
        grid = {"pyramid_scale": [best["pyramid_scale"]], "upsample": [best["upsample"]]}
        key = (best["pyramid_scale"], best["upsample"])
        history = [{"round": 0, **{k: best[k] for k in ("ap50", "ap70", "mean_iou")}}]
        models = {k: self._model(k, window, c) for k in range(len(self.folds))}
        # round 0 is the chosen row: its detections were kept when it was evaluated
        validated = [
            best.matches
            if getattr(best, "parts", None) is not None
            else _Matches.of(
                [self._detections({c: model}, k, grid)[c][key] for k, (_, model) in models.items()]
            )
        ]
        for r in range(1, max_rounds + 1):
            parts, added = [], 0
            for k, (cconf, model) in models.items():
                mconf = cconf.replace(
                    pyramid_scale=best["pyramid_scale"],
                    hn_pyramid_scale=best["pyramid_scale"],
                    upsample=best["upsample"],
                )
                added += mine_hard_negatives(mconf, r, model, progress=False).n_kept
                if self.conf["hn_mine_annotated"]:
                    added += mine_hard_negatives(
                        mconf,
                        r,
                        model,
                        self.folds[k][0],
                        progress=False,
                        group=annotated_group(r),
                    ).n_kept
                model = quick_model(
                    mconf, hard_negatives=True, max_round=r, regressors=self._regressors
                )
                models[k] = (cconf, model)
                parts.append(self._detections({c: model}, k, grid)[c][key])
            lead = max(range(len(history)), key=lambda i: criterion(history[i]))
            validated.append(_Matches.of(parts))
            noise = max(tolerance, _bootstrap_noise(validated[lead], validated[-1]))
            history.append(
                {"round": r, "hard_negatives_added": added, **_figures(parts), "noise": noise}
            )
            log.info("search: mining round %d on validation: %s", r, history[-1])
            if not added or not _round_counts(history, tolerance, min_gain):
                break
        return history


def quick_model(
    conf: Config,
    hard_negatives: bool = False,
    max_round: int | None = None,
    regressors: dict | None = None,
):
    """The SVM of a candidate, fitted once on the store's rows, without the calibration's
    folds: validation ranks windows by decision value, which any monotone calibration
    keeps. Platt's sigmoid is fitted on the training rows' own decision values, so the
    probability floors cut the curve about where a calibrated model's would. The box
    regressor depends on the store's box samples only: ``regressors`` keeps it per store
    for the next candidate."""
    from sklearn.svm import LinearSVC

    from ..features.store import FeatureStore
    from ..model.linear import platt_sigmoid
    from ..model.training import add_box_regressor, training_set

    opts = conf.options
    store = FeatureStore(conf["features_path"], opts.descriptor, opts.window.window_dim)
    features, labels, counts = training_set(store, opts.training, hard_negatives, max_round)
    svm = LinearSVC(C=opts.training.C, dual="auto", max_iter=5000, random_state=opts.training.seed)
    svm.fit(features, labels)
    a, b = platt_sigmoid(svm.decision_function(features), labels)
    model = LinearModel(
        svm.coef_.ravel(),
        float(svm.intercept_[0]),
        a,
        b,
        opts.descriptor,
        opts.window.window_dim,
        metadata={"C": opts.training.C, **counts},
    )
    if conf["box_regression_samples"]:
        key = conf["features_path"]
        if regressors is None or key not in regressors:
            add_box_regressor(model, store)
            if regressors is not None:
                regressors[key] = model.box_regressor
        model.box_regressor = regressors[key] if regressors is not None else model.box_regressor
    return model


def _windows_and_C(search: _Search, grid: dict, result: SearchResult) -> list[dict]:
    """Rows of one descriptor: every ``C`` at the config's window, then the other
    windows at the ``C`` values within noise of the best there (coordinate-wise: a
    window's best ``C`` moves little with its size, and each candidate costs a fit and
    a validation pass)."""
    windows, cs = grid["window_dim"], grid["C"]
    rows = search.evaluate(windows[0], cs, grid)
    top = max((criterion(r) for r in rows), default=None)
    best = [r["C"] for r in rows if criterion(r) >= top - result.tolerance] if rows else cs
    for window in windows[1:]:
        rows += search.evaluate(window, best, grid)
    return rows


def _same_window(row: dict, other: dict) -> bool:
    """Whether two rows are of one descriptor and window."""
    return row["descriptor"] == other["descriptor"] and row["window_dim"] == other["window_dim"]


def _position(window: tuple[int, int], c: float, grid: dict) -> list[int]:
    """Where a window and ``C`` stand in their grid (0: the config's own)."""
    windows, cs = grid["window_dim"], grid["C"]
    return [
        windows.index(window) if window in windows else len(windows),
        cs.index(c) if c in cs else len(cs),
    ]


def _round_counts(history: list[dict], tolerance: float, min_gain: float | None) -> bool:
    """Whether the last round of ``history`` is kept: it stays within noise of the best
    round before it (mining lowers false positives at the operating threshold, which AP
    barely shows, so a round that costs nothing on validation is kept), or, with
    ``min_gain`` (``hn_min_ap_gain``), it gains at least that over the round before. The
    noise is the round's measured ``noise`` (:func:`paired_noise`), else ``tolerance``."""
    last, before = criterion(history[-1]), [criterion(h) for h in history[:-1]]
    if min_gain is not None:
        return last >= before[-1] + min_gain
    return last >= max(before) - history[-1].get("noise", tolerance)


def _best_round(history: list[dict], tolerance: float, min_gain: float | None = None) -> int:
    """The last round of the run of rounds that count (:func:`_round_counts`)."""
    chosen = 0
    for i in range(1, len(history)):
        if not _round_counts(history[: i + 1], tolerance, min_gain):
            break
        chosen = history[i]["round"]
    return chosen


#: Bootstrap resamples of the validation images that measure a mining round's noise.
BOOTSTRAP = 100


def paired_noise(before: list[tuple], after: list[tuple], seed: int = 0) -> float:
    """The standard error of ``criterion(after) - criterion(before)`` over bootstrap
    resamples of the validation images, the same resample for both (a paired bootstrap):
    how far apart two models' validation figures fall by the luck of the images."""
    return _bootstrap_noise(_Matches.of(before), _Matches.of(after), seed)


def _bootstrap_noise(a: _Matches, b: _Matches, seed: int = 0) -> float:
    """:func:`paired_noise` of images already matched."""
    n = len(a.objects)
    if n < 2:
        return 0.0
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(0, n, n)
        diffs.append(b.criterion(pick) - a.criterion(pick))
    return float(np.std(diffs))


@dataclass
class _Matches:
    """Each validation image's detections matched to its objects once (sorted by score,
    hits at IoU 0.5 and 0.7): matching is per image, so a resample of images is the
    concatenation of theirs, as :func:`detection_figures` would find it."""

    scores: list[np.ndarray]
    hits: tuple[list[np.ndarray], list[np.ndarray]]
    objects: np.ndarray

    @classmethod
    def of(cls, parts: list[tuple]) -> _Matches:
        """The matches of every fold's images (``parts``: boxes, scores, objects)."""
        boxes, scores, gts = ([x for p in parts for x in p[i]] for i in range(3))
        out = cls([], ([], []), np.array([len(g) for g in gts], int))
        for b, sc, g in zip(boxes, scores, gts):
            for hits, thresh in zip(out.hits, (0.5, 0.7)):
                ranked, flags, _, _ = match_with_iou([b], [sc], [g], thresh)
                hits.append(flags)
            out.scores.append(ranked)
        return out

    def criterion(self, pick: np.ndarray) -> float:
        """:func:`criterion` of the images ``pick`` (indices, repeats allowed)."""
        order = np.argsort(-np.concatenate([self.scores[i] for i in pick]), kind="stable")
        n = int(self.objects[pick].sum())
        aps = [
            average_precision(*precision_recall(np.concatenate([h[i] for i in pick])[order], n))
            for h in self.hits
        ]
        return 0.5 * (aps[0] + aps[1])


def _figures(parts: list[tuple]) -> dict:
    """Figures pooled over folds: every fold's detections and objects together."""
    boxes = [b for p in parts for b in p[0]]
    scores = [s for p in parts for s in p[1]]
    gts = [g for p in parts for g in p[2]]
    figures = detection_figures(boxes, scores, gts)
    return {k: round(float(figures[k]), 6) for k in ("ap50", "ap70", "mean_iou")}


def _widen_C(search: _Search, result: SearchResult, grid: dict, best: dict) -> list[dict]:
    """When the best ``C`` lies on the edge of its grid, one more step beyond it."""
    if len(grid["C"]) < 2:
        return []
    cs = sorted(grid["C"])
    if best["C"] == cs[-1]:
        extra = cs[-1] * cs[-1] / cs[-2]
    elif best["C"] == cs[0]:
        extra = cs[0] * cs[0] / cs[1]
    else:
        return []
    extra = float(f"{extra:.6g}")  # 0.1 * 0.1 / 0.01 is 1.0000000000000002
    if not math.isfinite(extra) or extra <= 0:
        return []
    grid["C"].append(extra)
    log.info("search: C %g won on the edge of the grid; trying C %g", best["C"], extra)
    return search.evaluate(tuple(best["window_dim"]), [extra], grid)


def _validation_split(items: list, share: float, seed: int) -> tuple[list, list]:
    """Seeded split of the training images into a fitting and a validation share."""
    order = np.random.default_rng([seed, 1]).permutation(len(items))
    n_val = min(max(1, int(round(len(items) * share))), len(items) - 2)
    if n_val < 1:
        raise ValueError(
            f"too few training images ({len(items)}) to hold out a validation share; "
            'set "search": false'
        )
    val = [items[i] for i in sorted(order[:n_val])]
    fit = [items[i] for i in sorted(order[n_val:])]
    return fit, val
