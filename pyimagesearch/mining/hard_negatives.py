"""Run the detector over distraction images and keep its confident false positives.

Workers return each image's windows above ``hn_min_probability`` (all of them, as the
course does, or only those that survive NMS with ``hn_nms``) with their
descriptors sliced from the layer grid; the parent keeps the ``hn_max_total`` most
confident while streaming and writes them, sorted by score, with provenance.

Memory stays bounded whatever the number of images: each image returns at most
``hn_max_total`` windows (its best), each checkpointed batch keeps its top
``hn_max_total``, and the final merge streams the batches keeping a running top
``hn_max_total`` (O(K + batch) rows, never all of them).
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..detection.detector import Candidates, WindowDetector
from ..detection.nms import non_max_suppression
from ..features.store import (
    FeatureStore,
    hard_negative_group,
    updating,
    write_group,
)
from ..infrastructure import provenance
from ..infrastructure.checkpoint import (
    BatchCheckpoint,
    checkpoint_folder,
    checkpointed_map,
    fingerprint,
    iter_batches,
)
from ..infrastructure.config import require_outputs, require_paths
from ..infrastructure.errors import ImageReadError, Skipped
from ..infrastructure.geometry import intersection_matrix, iou_matrix
from ..io.images import category_of, read_gray
from ..io.remote import RemoteOptions, is_url
from ..model.linear import LinearModel
from ..model.modelfile import check_compatible, load_model
from ..sources.annotations import (
    AnnotatedImage,
    read_annotations,
    split_train_test,
)
from ..sources.distractions import split_distractions
from ..sources.image_lists import is_remote_source, ref_category

if TYPE_CHECKING:
    from ..infrastructure.config import Config
    from ..infrastructure.options import MiningOptions, Options

log = logging.getLogger(__name__)

_COLUMNS = ("features", "source", "box", "layer_box", "scale", "score", "best_iou")


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
    path: Path | AnnotatedImage | str,
    model: LinearModel,
    options: MiningOptions,
    remote: RemoteOptions | None = None,
) -> dict | Skipped:
    """Windows of one image scoring at least ``options.window.min_probability``, most
    confident first.

    When those are fewer than ``margin_per_image``, the image is topped up with its best
    distinct windows inside the SVM margin (decision value ``>= margin``, e.g. -1, as
    Felzenszwalb et al. mine), so that mining teaches something even when the model is
    already confident. For an annotated image, only windows whose IoU with every object
    is below ``negative_iou_max`` and that no object covers for ``negative_cover_max``
    of their area (a window inside the object) are negatives; ``best_iou`` records each
    window's largest IoU. Only the ``top_k`` best rows are returned (``n_found`` counts
    all); ``path`` may be a URL, fetched with ``remote``'s options.
    """
    item = path if isinstance(path, AnnotatedImage) else None
    path = item.path if item else path
    image = _read(path, options.max_pixels, remote)
    if isinstance(image, Skipped):
        return image
    cand, threshold = _scan(image, model, options)
    best_iou = np.zeros(len(cand))
    if item is not None:
        cand, best_iou = _outside_objects(cand, item, image, options)
    keep = _hard_windows(cand, threshold, options)
    n_found = len(keep)
    keep = _best(keep, cand.scores, options.top_k)
    return _rows(cand.take(keep), best_iou[keep], path, n_found)


def _read(path: Path | str, max_pixels: int, remote: RemoteOptions | None) -> np.ndarray | Skipped:
    """The image in gray, or ``Skipped``: an unreadable image is reported, never fatal."""
    try:
        return read_gray(path, max_pixels, remote)
    except ImageReadError as exc:
        return Skipped(str(exc))


def _margin_on(options: MiningOptions) -> bool:
    """Whether images are topped up from inside the SVM margin (``margin`` and a count)."""
    return options.margin is not None and options.margin_per_image > 0


def _scan(
    image: np.ndarray, model: LinearModel, options: MiningOptions
) -> tuple[Candidates, float]:
    """The windows above the threshold or in the margin, with exact features (rows to be)."""
    detector = WindowDetector.from_options(model, replace(options.window, approximate=False))
    cand = detector.candidates(
        image,
        with_features=True,
        margin=options.margin if _margin_on(options) else None,
        margin_per_layer=4 * options.margin_per_image,
    )
    return cand, detector.decision_threshold


def _outside_objects(
    cand: Candidates, item: AnnotatedImage, image: np.ndarray, options: MiningOptions
) -> tuple[Candidates, np.ndarray]:
    """The windows that may be negatives (outside objects and ignored ones), with best IoU."""
    height, width = image.shape[:2]
    gt = np.vstack([item.boxes_inside(width, height), item.ignored_inside(width, height)])
    best_iou, cover = np.zeros(len(cand)), np.zeros(len(cand))
    if len(gt) and len(cand):
        best_iou = iou_matrix(cand.boxes, gt).max(axis=1)
        cover = coverage(cand.windows, gt)
    negative = (best_iou < options.negative_iou_max) & (cover < options.negative_cover_max)
    return cand.take(np.flatnonzero(negative)), best_iou[negative]


def _hard_windows(cand: Candidates, threshold: float, options: MiningOptions) -> np.ndarray:
    """Indices of the confident windows (NMS, per-image cap), topped up from the margin."""
    confident = np.flatnonzero(cand.scores >= threshold)
    sub = cand.take(confident)
    if options.apply_nms:
        keep = confident[non_max_suppression(sub.boxes, sub.scores, options.window.overlap_thresh)]
    else:
        keep = confident[np.argsort(-sub.scores, kind="stable")]
    keep = keep[: options.max_per_image]
    if _margin_on(options) and len(keep) < options.margin_per_image:
        extra = _inside_margin(cand, confident, options.window.overlap_thresh)
        keep = np.concatenate([keep, extra[: options.margin_per_image - len(keep)]])
    return keep


def _inside_margin(cand: Candidates, confident: np.ndarray, overlap_thresh: float) -> np.ndarray:
    """The distinct windows below the threshold (inside the margin), best first (NMS)."""
    inside = np.setdiff1d(np.arange(len(cand)), confident)
    sub = cand.take(inside)
    return inside[non_max_suppression(sub.boxes, sub.scores, overlap_thresh)]


def _best(keep: np.ndarray, scores: np.ndarray, top_k: int | None) -> np.ndarray:
    """The ``top_k`` best of ``keep``, in its order: no other row could be kept overall."""
    if top_k is None or len(keep) <= top_k:
        return keep
    return keep[np.sort(np.argsort(-scores[keep], kind="stable")[:top_k])]


def _rows(cand: Candidates, best_iou: np.ndarray, path: Path | str, n_found: int) -> dict:
    """The image's rows, one per kept window, and its counts, as the batches store them."""
    return {
        "best_iou": best_iou,
        "features": cand.features,
        "source": np.full(len(cand), str(path), dtype=object),
        "box": cand.boxes,
        "layer_box": cand.layer_boxes,
        "scale": cand.scales,
        "score": cand.scores.astype(np.float64),
        "windows_scored": cand.windows_scored,
        "n_found": n_found,
    }


def coverage(windows: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """Largest share of each window's area that one object covers."""
    w = np.asarray(windows, np.float64).reshape(-1, 4)
    area = (w[:, 2] - w[:, 0]) * (w[:, 3] - w[:, 1])
    return (intersection_matrix(w, objects) / np.maximum(area, 1e-12)[:, None]).max(axis=1)


def mine_annotated(
    conf: Config,
    round_index: int = 1,
    model: LinearModel | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> MiningSummary:
    """Mine the training share of the annotated images outside their objects.

    Windows whose IoU with every object is below ``hn_negative_iou_max`` become hard
    negatives (stored as ``hard_negatives/annotated_round_NNN``); windows overlapping an
    object more are never negatives. The test share is never touched.
    """
    split = conf.options.split
    items = read_annotations(conf.options.annotations)
    train, _ = split_train_test(items, split.train_share, split.seed)
    return mine_hard_negatives(
        conf,
        round_index,
        model,
        train,
        progress,
        group=annotated_group(round_index),
        overwrite=overwrite,
    )


def annotated_group(round_index: int) -> str:
    return hard_negative_group(round_index, annotated=True)


def mine_hard_negatives(
    conf: Config,
    round_index: int = 1,
    model: LinearModel | None = None,
    images: list[Path] | list[AnnotatedImage] | None = None,
    progress: bool = True,
    group: str | None = None,
    overwrite: bool = False,
) -> MiningSummary:
    """Mine round ``round_index`` and store it as ``hard_negatives/round_NNN``.

    A store made by another config is refused unless ``overwrite``; the round records
    the config it was mined with (path and sha256).

    Images are mined in batches checkpointed beside the store, so a killed run
    resumes where it stopped; the result is the same rows in the same order as an
    uninterrupted run. The store is updated atomically at the end.
    """
    start = time.perf_counter()
    _check_inputs(conf, images is None, overwrite)
    if model is None:
        model = _load_model(conf)
    if images is None:  # listing all distraction images costs ~0.1 s: only when needed
        images = split_distractions(conf.options.distractions).mining(round_index)
    images = list(images)
    group = group or hard_negative_group(round_index)
    checkpoint = _checkpoint(conf.options, group, round_index, images, model)
    batches = _mine_batches(conf.options, checkpoint, images, model, round_index, progress)
    summary = _summarise(
        checkpoint, batches, _category_root(conf.options), round_index, len(images)
    )
    summary.n_kept = _write_round(
        conf, checkpoint, batches, model, round_index, images, summary, group
    )
    checkpoint.clear()
    summary.seconds = time.perf_counter() - start
    _log_round(summary)
    return summary


def _check_inputs(conf: Config, distractions: bool, overwrite: bool) -> None:
    """Check the inputs and the store before any work (and that this config owns it)."""
    if distractions:
        require_paths(conf, "image_distractions")
    require_outputs(conf, "features_path")
    path = conf.options.paths.features_path
    FeatureStore(path, conf.options.descriptor, conf.options.window.window_dim)  # checks it early
    provenance.check_owner(path, conf, "feature store", overwrite)


def _load_model(conf: Config) -> LinearModel:
    """The model at ``classifier_path``, checked against the config's descriptor and window."""
    path = conf.options.paths.classifier_path
    model = load_model(path)
    check_compatible(
        model, conf.options.descriptor, conf.options.window.window_dim, path, conf.path
    )
    return model


def _category_root(options: Options) -> Path | str:
    """What a mined image's category is relative to: the distraction folder, or its URL."""
    value = options.paths.image_distractions
    return value if is_remote_source(value) else Path(value).resolve()


def _checkpoint(options: Options, group: str, round_index: int, images, model) -> BatchCheckpoint:
    """The round's checkpoint folder, keyed by everything its rows depend on."""
    return BatchCheckpoint(
        checkpoint_folder(options.paths.features_path, "mining_" + group.rsplit("/", 1)[-1]),
        fingerprint(
            round_index,
            asdict(options.mining),
            [str(getattr(p, "path", p)) for p in images],
            model.weights,
            [model.bias, model.platt_a, model.platt_b],
        ),
    )


def _mine_batches(options: Options, checkpoint, images, model, round_index, progress) -> list:
    """Mine every image in checkpointed batches (each keeping its best ``hn_max_total``)."""
    cap, execution = options.mining.top_k, options.execution
    return checkpointed_map(
        mine_image,
        images,
        checkpoint,
        execution.checkpoint_every,
        functools.partial(_batch_rows, cap=cap),
        execution.n_jobs,
        execution.scheduler,
        desc=f"mining round {round_index}",
        scheduler_timeout=execution.scheduler_timeout,
        progress=progress,
        model=model,
        options=options.mining,
        remote=options.remote,
        reduce_chunk=functools.partial(top_k_rows, k=cap),
    )


def _log_round(summary: MiningSummary) -> None:
    """The skipped images (warnings) and the round's counts."""
    for message in summary.skipped:
        log.warning("skipped: %s", message)
    log.info(
        "round %d: %d hard negatives from %d images (%d kept) in %.2f s",
        summary.round,
        summary.n_found,
        summary.n_images,
        summary.n_kept,
        summary.seconds,
    )


def _batch_rows(items: list[Path], results: list, cap: int) -> dict[str, np.ndarray]:
    """One batch's rows (most confident first, at most ``cap``) and per-image status."""
    found = np.zeros(len(items), np.int64)
    scored = np.zeros(len(items), np.int64)
    skipped, parts = [], []
    for i, rows in enumerate(results):
        if isinstance(rows, Skipped):
            found[i] = -1
            skipped.append(rows.message)
            continue
        found[i], scored[i] = rows.get("n_found", len(rows["score"])), rows["windows_scored"]
        parts.append(rows)
    d = results and next((r["features"].shape[1] for r in parts), 0)
    merged = {
        c: (np.concatenate([p[c] for p in parts]) if parts else _EMPTY[c](d or 1)) for c in _COLUMNS
    }
    order = np.argsort(-merged["score"], kind="stable")[:cap]
    out = {c: v[order] for c, v in merged.items()}
    out["source"] = out["source"].astype(str)
    out.update(
        image_found=found,
        image_scored=scored,
        image_path=np.array([str(getattr(p, "path", p)) for p in items]),
        skipped=np.array(skipped, dtype=str),
    )
    return out


_EMPTY = {
    "features": lambda d: np.zeros((0, d), np.float32),
    "source": lambda d: np.zeros(0, dtype=str),
    "box": lambda d: np.zeros((0, 4)),
    "layer_box": lambda d: np.zeros((0, 4)),
    "scale": lambda d: np.zeros(0),
    "score": lambda d: np.zeros(0),
    "best_iou": lambda d: np.zeros(0),
}


def _summarise(checkpoint, batches, root, round_index: int, n_images: int) -> MiningSummary:
    summary = MiningSummary(round=round_index, n_images=n_images)
    categories: Counter = Counter()
    for part in iter_batches(
        checkpoint, batches, ("image_found", "image_scored", "image_path", "skipped")
    ):
        summary.skipped.extend(part["skipped"].tolist())
        ok = part["image_found"] >= 0
        summary.n_found += int(part["image_found"][ok].sum())
        summary.windows_scored += int(part["image_scored"].sum())
        for path, n in zip(part["image_path"][ok], part["image_found"][ok]):
            categories[_category(root, str(path))] += int(n)
    summary.per_category = dict(sorted(categories.items()))
    return summary


def _category(root: Path | str, path: str) -> str:
    """The category (sub-folder) of a distraction image, whether its path is relative or not."""
    if not isinstance(root, Path):  # remote distraction images (URLs)
        return ref_category(path, root) if is_url(path) else "annotated"
    try:
        return category_of(Path(path).resolve(), root)
    except ValueError:  # not a distraction image (e.g. an annotated one)
        return "annotated"


def top_k_rows(results: list[dict | Skipped], k: int) -> list[dict | Skipped]:
    """One worker task's results keeping only the task's ``k`` best rows overall.

    A row outside its task's top ``k`` has ``k`` rows of the same task ranked before it
    (by score, ties by position), so it can never reach the global top ``k``: trimming
    changes nothing but what is sent back. Per-image counts are kept.
    """
    rows = [(i, r["score"]) for i, r in enumerate(results) if not isinstance(r, Skipped)]
    if sum(len(score) for _, score in rows) <= k:
        return results
    top = merge_top_k(rows, k)
    out = list(results)
    for i, _ in rows:
        keep = np.sort(top["row"][top["batch"] == i])
        out[i] = {c: (v[keep] if c in _COLUMNS else v) for c, v in results[i].items()}
    return out


def merge_top_k(parts: Iterable[tuple[int, np.ndarray]], k: int) -> dict[str, np.ndarray]:
    """The ``k`` highest scores of a stream of ``(batch, scores)``, as ``score``/``batch``/
    ``row`` arrays, highest first; ties keep stream order (as a stable sort of all would).

    Memory is O(k + one batch): the running top ``k`` is merged with each batch in turn.
    Rows of the running top all precede the batch's, so a stable sort of the
    concatenation orders ties by position.
    """
    score, batch, row = np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64)
    for b, scores in parts:
        scores = np.asarray(scores, np.float64)
        score = np.concatenate([score, scores])
        batch = np.concatenate([batch, np.full(len(scores), b, np.int64)])
        row = np.concatenate([row, np.arange(len(scores), dtype=np.int64)])
        if len(score) > k:  # cut to candidates first (argpartition), then sort those only
            cut = np.partition(-score, k - 1)[k - 1]
            candidates = np.flatnonzero(-score <= cut)
            score, batch, row = score[candidates], batch[candidates], row[candidates]
        keep = np.argsort(-score, kind="stable")[:k]
        score, batch, row = score[keep], batch[keep], row[keep]
    return {"score": score, "batch": batch, "row": row}


def _write_round(
    conf: Config, checkpoint, batches, model, round_index, images, summary, name
) -> int:
    """Merge the batches (global top ``hn_max_total`` by score) into the store, streaming
    the features batch by batch so memory stays bounded."""
    options = conf.options
    top = merge_top_k(
        ((b, checkpoint.load(b, ("score",))["score"]) for b in batches), options.mining.top_k
    )
    batch_of, row_of = top["batch"], top["row"]
    n, d = len(batch_of), model.weights.size
    columns = {
        "source": np.empty(n, dtype=object),
        "box": np.zeros((n, 4)),
        "layer_box": np.zeros((n, 4)),
        "scale": np.zeros(n),
        "score": np.zeros(n),
        "best_iou": np.zeros(n),
    }
    with updating(options.paths.features_path) as f:
        if name in f:
            del f[name]
        group = f.create_group(name)
        feats = group.create_dataset(
            "features", (n, d), np.float32, chunks=(max(1, min(n, 256)), d) if n else None
        )
        for b in batches:
            dest = np.flatnonzero(batch_of == b)
            if not dest.size:
                continue
            rows = row_of[dest]
            part = checkpoint.load(b, _COLUMNS)
            feats[dest] = part["features"][rows]
            for c, values in columns.items():
                values[dest] = part[c][rows]
        arrays = dict(columns)
        arrays["probability"] = model.probability(arrays["score"])
        arrays["round"] = np.full(n, round_index, np.int32)
        write_group(
            f,
            name,
            arrays,
            {
                "round": round_index,
                "images": [str(getattr(p, "path", p)) for p in images],
                "n_found": summary.n_found,
                "per_category": summary.per_category,
                "min_probability": options.mining.window.min_probability,
                "model": str(options.paths.classifier_path),
                "config": {
                    k: v for k, v in provenance.config_fingerprint(conf).items() if k != "values"
                },
            },
        )
    return n
