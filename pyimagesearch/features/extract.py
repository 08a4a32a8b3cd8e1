"""Extract positives (annotated boxes) and random negatives (distraction images) to HDF5."""

from __future__ import annotations

import functools
import logging
import shutil
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..descriptor.hog import HogParams
from ..infrastructure import provenance
from ..infrastructure.checkpoint import (
    BatchCheckpoint,
    checkpoint_folder,
    checkpointed_map,
    fingerprint,
    iter_batches,
)
from ..infrastructure.config import input_keys, require_outputs, require_paths
from ..infrastructure.errors import ConfigError, ImageReadError, Skipped, StoreError
from ..infrastructure.geometry import (
    box_targets,
    clip_boxes,
    fills_image,
    iou,
    window_padding,
)
from ..io.atomic import remove_stale_temps
from ..io.images import DEFAULT_MAX_PIXELS, header_size, read_gray
from ..io.remote import RemoteOptions
from ..sources.annotations import AnnotatedImage, read_annotations, split_train_test
from ..sources.distractions import split_distractions
from .crops import random_windows, roi_descriptor
from .store import BOX_SAMPLES, HARD_NEGATIVES, existing_groups, write_store

if TYPE_CHECKING:
    from ..infrastructure.config import Config
    from ..infrastructure.options import Options

log = logging.getLogger(__name__)


@dataclass
class ExtractionSummary:
    n_positives: int = 0
    n_negatives: int = 0
    n_train_images: int = 0
    n_negative_images: int = 0
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


def extract_features(
    conf: Config,
    progress: bool = True,
    drop_mined: bool = False,
    train_items: list[AnnotatedImage] | None = None,
    overwrite: bool = False,
) -> ExtractionSummary:
    """Write the store at ``features_path`` with positives and random negatives.

    Rounds of hard negatives already in the store are kept; ``drop_mined`` discards
    them (needed when they were mined with other HOG parameters). ``train_items``
    replaces the training share of the annotated images (the settings search fits on
    part of it). A store made by another config is refused unless ``overwrite`` (its
    mined rounds are then dropped: they are the other config's).
    """
    start = time.perf_counter()
    options = conf.options
    keep = _check_store(conf, drop_mined, overwrite)
    train = _training_items(conf, train_items)
    distractions = split_distractions(options.distractions).negatives
    _require_window_fits(options, distractions)
    summary = ExtractionSummary(n_train_images=len(train), n_negative_images=len(distractions))
    pos = _positives(options, train, summary, progress)
    _require_enough_positives(options, _objects(pos), len(train))
    neg = _negatives(options, distractions, summary, progress)
    boxes = _box_samples(options, train, summary, progress)
    summary.n_positives, summary.n_negatives = len(pos["features"]), len(neg["features"])
    _write(conf, pos, neg, boxes, len(distractions), keep)
    summary.seconds = time.perf_counter() - start
    log.info(
        "wrote %d positives and %d negatives to %s in %.1f s",
        summary.n_positives,
        summary.n_negatives,
        options.paths.features_path,
        summary.seconds,
    )
    return summary


def _check_store(conf: Config, drop_mined: bool, overwrite: bool) -> tuple[str, ...]:
    """Check inputs and output before any work; the store groups to carry over."""
    path = conf.options.paths.features_path
    require_paths(conf, *input_keys(conf))
    require_outputs(conf, "features_path")
    remove_stale_temps(path, ".h5tmp")
    foreign = provenance.check_owner(path, conf, "feature store", overwrite)
    window_dim = conf.options.window.window_dim
    return _mined_to_keep(path, conf.options.descriptor, window_dim, drop_mined or foreign)


def _training_items(conf: Config, train_items: list[AnnotatedImage] | None) -> list:
    """The training share of the annotated images (or the ``train_items`` given)."""
    if train_items is not None:
        return list(train_items)
    split = conf.options.split
    items = read_annotations(conf.options.annotations)
    return split_train_test(items, split.train_share, split.seed)[0]


def _per_object(options: Options) -> dict:
    """What positives and box samples are taken with."""
    return dict(
        hog=options.descriptor,
        window_dim=options.window.window_dim,
        offset=options.extraction.offset,
        use_flip=options.extraction.use_flip,
        seed=options.extraction.seed,
        max_pixels=options.execution.max_image_pixels,
        remote=options.remote,
    )


def _positives(options: Options, train: list, summary: ExtractionSummary, progress: bool) -> dict:
    """The descriptors of the training objects (mirrors, jittered and cut copies)."""
    extraction, padding = options.extraction, options.window.padding
    return _checkpointed(
        options,
        "extract_positives",
        positives_of_image,
        train,
        summary,
        progress,
        jitter=extraction.jitter,
        jitter_iou=extraction.jitter_iou,
        # a crop's border is not the scene's: objects touching it are not cut by the image
        # (the format says so; so does any box that fills its image, see ``fills_image``)
        clip=padding == 0 or extraction.crops,
        truncation=extraction.truncation if padding > 0 else 0,
        **_per_object(options),
    )


def _negatives(options: Options, images: list, summary: ExtractionSummary, progress: bool) -> dict:
    """Random windows of the distraction images; stops when none came out."""
    window_dim, hog = options.window.window_dim, options.descriptor
    neg = _checkpointed(
        options,
        "extract_negatives",
        negatives_of_image,
        images,
        summary,
        progress,
        hog=hog,
        window_dim=window_dim,
        count=options.extraction.negatives_per_image,
        seed=options.extraction.seed,
        pad=window_padding(window_dim, hog.pixels_per_cell, options.window.padding),
        max_pixels=options.execution.max_image_pixels,
        remote=options.remote,
    )
    if not len(neg.get("features", ())):
        raise ConfigError(_no_negatives_message(options, images, summary.skipped))
    return neg


def _box_samples(options: Options, train: list, summary: ExtractionSummary, progress: bool) -> dict:
    """Windows around the training objects for the box regressor (none when off)."""
    if not options.extraction.box_samples:
        return {}
    return _checkpointed(
        options,
        "extract_box_samples",
        box_samples_of_image,
        train,
        summary,
        progress,
        count=options.extraction.box_samples,
        empty_outside=not options.extraction.crops,
        **_per_object(options),
    )


def _write(conf: Config, pos: dict, neg: dict, boxes: dict, n_images: int, keep) -> None:
    """Write the store (keeping the ``keep`` groups) and drop the step's checkpoints."""
    options = conf.options
    write_store(
        options.paths.features_path,
        options.descriptor,
        options.window.window_dim,
        {"positives": pos, "negatives": neg, **({BOX_SAMPLES: boxes} if boxes else {})},
        {
            "negatives": {
                "images": n_images,
                "per_image": options.extraction.negatives_per_image,
            }
        },
        keep=keep,
        provenance=provenance.collect(conf, options.paths.features_path),
    )
    for name in ("extract_positives", "extract_negatives", "extract_box_samples"):
        shutil.rmtree(checkpoint_folder(options.paths.features_path, name), ignore_errors=True)


def _mined_to_keep(path, hog: HogParams, window_dim, drop_mined: bool) -> tuple[str, ...]:
    """The store groups a re-extraction carries over: the mined rounds, unless dropped.

    Checked before the work starts: rounds mined with other HOG parameters cannot be
    kept, and are only discarded when asked (``--drop-mined``).
    """
    found, same = existing_groups(path, (HARD_NEGATIVES,), hog, window_dim)
    if drop_mined:
        if found:
            log.warning("%s: dropping mined %s (--drop-mined)", path, ", ".join(found))
        return ()
    if found and not same:
        raise StoreError(
            f"{path}: holds mined {', '.join(found)} written with other HOG parameters, "
            "which cannot be kept; re-run with --drop-mined to discard them (or use "
            "another features_path)"
        )
    if found:
        log.info("%s: keeping mined %s", path, ", ".join(found))
    return (HARD_NEGATIVES,)


def positives_of_image(
    item: AnnotatedImage,
    hog: HogParams,
    window_dim,
    offset: int,
    use_flip: bool,
    jitter: int = 0,
    jitter_iou: float = 0.7,
    seed: int = 0,
    clip: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    truncation: int = 0,
    remote: RemoteOptions | None = None,
) -> dict | Skipped:
    """Descriptors of the item's boxes (grown by ``offset``), of their mirror images, and
    of ``jitter`` randomly shifted/scaled copies whose IoU with the box is ``>= jitter_iou``.

    With ``clip``, or for a box that fills its image (a crop: its border is not the
    scene's), the grown box is clipped to the image (a detector without padding never
    sees past the border); otherwise the part past the border is empty cells.
    ``truncation`` copies of each object cut by a border of the image (20-50 % of its
    width or height outside, empty cells there) teach a padded detector objects that
    leave the image.
    """
    try:
        image = read_gray(item.path, max_pixels, remote)
    except ImageReadError as exc:
        return Skipped(str(exc))
    h, w = image.shape
    rng = np.random.default_rng([seed, zlib.crc32(Path(item.path).name.encode())])
    rows: dict[str, list] = {"features": [], "source": [], "box": [], "flipped": [], "jittered": []}
    for box in item.boxes_inside(w, h):
        boxes = [(box, False)] + [(b, True) for b in jittered_boxes(box, jitter, jitter_iou, rng)]
        for b, is_jittered in boxes:
            roi = np.array([b[0] - offset, b[1] - offset, b[2] + offset, b[3] + offset])
            if clip or fills_image(box, w, h):
                roi = clip_boxes(roi, w, h)
            for flipped in (False, True) if use_flip else (False,):
                rows["features"].append(roi_descriptor(image, roi, window_dim, hog, flip=flipped))
                rows["source"].append(str(item.path))
                rows["box"].append(roi)
                rows["flipped"].append(flipped)
                rows["jittered"].append(is_jittered)
    if not truncation:
        return rows
    cut_rng = np.random.default_rng([seed, 3, zlib.crc32(Path(item.path).name.encode())])
    for box in item.boxes_inside(w, h):
        for _ in range(truncation):
            cropped, roi = truncated(image, box, offset, cut_rng)
            for flipped in (False, True) if use_flip else (False,):
                rows["features"].append(roi_descriptor(cropped, roi, window_dim, hog, flipped))
                rows["source"].append(str(item.path))
                rows["box"].append(roi)
                rows["flipped"].append(flipped)
                rows["jittered"].append(True)
    return rows


def truncated(
    image: np.ndarray, box: np.ndarray, offset: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The image cropped so that 20-50 % of the object lies past one of its borders, and
    the object's box grown by ``offset`` in the crop's pixels (reaching past it)."""
    x1, y1, x2, y2 = box
    import os

    side = int(rng.integers(int(os.environ.get("TRUNC_SIDES", 4))))  # left, right, top, bottom
    share = float(rng.uniform(0.2, 0.5))
    h, w = image.shape[:2]
    if side == 0:
        cut = min(w - 1, int(np.ceil(x1 + share * (x2 - x1))))
        crop, shift = image[:, cut:], (cut, 0)
    elif side == 1:
        crop, shift = image[:, : max(1, int(np.floor(x2 - share * (x2 - x1))))], (0, 0)
    elif side == 2:
        cut = min(h - 1, int(np.ceil(y1 + share * (y2 - y1))))
        crop, shift = image[cut:], (0, cut)
    else:
        crop, shift = image[: max(1, int(np.floor(y2 - share * (y2 - y1))))], (0, 0)
    dx, dy = shift
    roi = np.array([x1 - offset - dx, y1 - offset - dy, x2 + offset - dx, y2 + offset - dy])
    return np.ascontiguousarray(crop), roi


def box_samples_of_image(
    item: AnnotatedImage,
    hog: HogParams,
    window_dim,
    offset: int,
    count: int,
    use_flip: bool,
    seed: int = 0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    empty_outside: bool = True,
    remote: RemoteOptions | None = None,
) -> dict | Skipped:
    """Windows around each object, as the detector would place them, with their
    descriptors and the object's box relative to them (box regression samples).

    Each object's *canonical* window has the window's aspect, the centre and the area
    of the object grown by ``offset``; ``count`` more are shifted and scaled at random
    within a pyramid step of it. Mirrored copies are added with ``use_flip``. Past the
    image, cells are empty (``empty_outside``), except around a box that fills its
    image (a crop, whose border is not the scene's: edge pixels are replicated).
    """
    try:
        image = read_gray(item.path, max_pixels, remote)
    except ImageReadError as exc:
        return Skipped(str(exc))
    h, w = image.shape
    rng = np.random.default_rng([seed, 7, zlib.crc32(Path(item.path).name.encode())])
    rows: dict[str, list] = {"features": [], "source": [], "box": [], "target": []}
    for obj in item.boxes_inside(w, h):
        empty = empty_outside and not fills_image(obj, w, h)  # a crop's border: replicated
        for window in regression_windows(obj, window_dim, offset, count, rng):
            for flipped in (False, True) if use_flip else (False,):
                target = box_targets(window, obj)[0]
                if flipped:  # mirrored about the window's centre: left and right swap
                    target = np.array([-target[2], target[1], -target[0], target[3]])
                feats = roi_descriptor(image, window, window_dim, hog, flipped, empty)
                rows["features"].append(feats)
                rows["source"].append(str(item.path))
                rows["box"].append(window)
                rows["target"].append(target)
    return rows


def regression_windows(
    obj: np.ndarray, window_dim, offset: int, count: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """The object's canonical window and ``count`` randomly shifted/scaled ones."""
    ww, wh = window_dim
    x1, y1, x2, y2 = obj[0] - offset, obj[1] - offset, obj[2] + offset, obj[3] + offset
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    area = (x2 - x1) * (y2 - y1)
    aspect = ww / wh
    bw, bh = np.sqrt(area * aspect), np.sqrt(area / aspect)
    out = [np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])]
    for _ in range(count):
        s = float(np.exp(rng.uniform(-0.2, 0.2)))
        dx, dy = rng.uniform(-0.12, 0.12, size=2) * (bw, bh)
        nw, nh = bw * s, bh * s
        out.append(
            np.array([cx + dx - nw / 2, cy + dy - nh / 2, cx + dx + nw / 2, cy + dy + nh / 2])
        )
    return out


def jittered_boxes(
    box: np.ndarray, count: int, min_iou: float, rng: np.random.Generator
) -> list[np.ndarray]:
    """``count`` boxes shifted and scaled at random, each with IoU ``>= min_iou`` to ``box``."""
    out: list[np.ndarray] = []
    w, h = box[2] - box[0], box[3] - box[1]
    for _ in range(count * 50):
        if len(out) == count:
            break
        scale = np.exp(rng.uniform(-0.15, 0.15, size=2))
        shift = rng.uniform(-0.15, 0.15, size=2) * (w, h)
        cx, cy = (box[0] + box[2]) / 2 + shift[0], (box[1] + box[3]) / 2 + shift[1]
        nw, nh = w * scale[0], h * scale[1]
        cand = np.array([cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2])
        if iou(cand, box[None, :])[0] >= min_iou:
            out.append(cand)
    return out


def negatives_of_image(
    path: Path,
    hog: HogParams,
    window_dim,
    count: int,
    seed: int,
    pad: tuple[int, int] = (0, 0),
    max_pixels: int = DEFAULT_MAX_PIXELS,
    remote: RemoteOptions | None = None,
) -> dict | Skipped:
    """Descriptors of ``count`` random windows of one distraction image (seeded per image),
    reaching past its border by up to ``pad`` pixels as the detector's windows do.
    ``path`` may be a URL, fetched with ``remote``'s options."""
    try:
        image = read_gray(path, max_pixels, remote)
    except ImageReadError as exc:
        return Skipped(str(exc))
    if image.shape[0] < window_dim[1] or image.shape[1] < window_dim[0]:
        return Skipped(
            f"{path}: image of {image.shape[1]}x{image.shape[0]} is smaller than the window"
        )
    rng = np.random.default_rng([seed, zlib.crc32(Path(path).name.encode())])
    features, boxes = random_windows(image, count, window_dim, hog, rng, pad)
    return {"features": features, "source": [str(path)] * count, "box": boxes}


def _objects(pos: dict) -> int:
    """Objects behind the positive rows (mirrors, jittered and cut copies not counted)."""
    if not len(pos.get("features", ())):
        return 0
    return int((~pos["flipped"].astype(bool) & ~pos["jittered"].astype(bool)).sum())


def _require_enough_positives(options: Options, n_objects: int, n_images: int) -> None:
    """Stop before the negatives when training could not use the positives extracted:
    calibration needs as many distinct objects as folds (copies of one object are not
    independent)."""
    if not n_objects:
        raise ImageReadError("no positive could be extracted: check image_dataset and annotations")
    folds = options.extraction.calibration_folds
    if n_objects < folds:
        raise ConfigError(
            f"{options.where}: key 'percent_gt_images': its training share of "
            f"{n_images} image(s) holds {n_objects} object(s); training needs at least "
            f"{folds} (calibration_folds): raise percent_gt_images"
        )


def _require_window_fits(options: Options, images: list[Path]) -> None:
    """Stop up front when ``window_dim`` is larger than every distraction image.

    Reads image headers only until one image holds the window (usually the first).
    """
    width, height = options.window.window_dim
    readable = False
    for path in images:
        try:
            w, h = header_size(path, options.remote)
        except ImageReadError:
            continue  # reported when extraction skips it
        if w >= width and h >= height:
            return
        readable = True
    if readable:
        raise ConfigError(_no_negatives_message(options, images, []))


def _no_negatives_message(options: Options, images: list[Path], skipped: list[str]) -> str:
    """Why no negative window came out of the distraction images, naming the sizes."""
    where = options.where
    width, height = options.window.window_dim
    sizes = []
    for path in images:
        try:
            sizes.append(header_size(path, options.remote))
        except ImageReadError:
            continue
    if sizes and all(w < width or h < height for w, h in sizes):
        big_w, big_h = max(sizes, key=lambda s: s[0] * s[1])
        return (
            f"{where}: key 'window_dim': the window {width}x{height} (width x height) is larger "
            f"than every one of the {len(sizes)} distraction images (the largest is "
            f"{big_w}x{big_h}): no negative could be extracted; use a smaller window_dim"
        )
    example = f", e.g. {skipped[0]}" if skipped else ""
    return (
        f"{where}: key 'image_distractions': no negative could be extracted from "
        f"{len(images)} distraction image(s) ({len(skipped)} skipped{example})"
    )


def _checkpointed(options: Options, name, func, items, summary, progress, **kwargs) -> dict:
    """Map ``func`` over ``items`` in checkpointed batches (a killed run resumes), then
    concatenate the rows; skipped images are recorded in ``summary`` and logged."""
    key = fingerprint(name, [str(getattr(i, "path", i)) for i in items], repr(kwargs))
    checkpoint = BatchCheckpoint(checkpoint_folder(options.paths.features_path, name), key)
    execution = options.execution
    d = options.descriptor.descriptor_size(options.window.window_dim)
    batches = checkpointed_map(
        func,
        items,
        checkpoint,
        execution.checkpoint_every,
        functools.partial(_batch_rows, d=d),
        execution.n_jobs,
        execution.scheduler,
        desc=name.replace("extract_", ""),
        scheduler_timeout=execution.scheduler_timeout,
        progress=progress,
        **kwargs,
    )
    parts = list(iter_batches(checkpoint, batches))
    for part in parts:
        for message in part.pop("skipped").tolist():
            summary.skipped.append(message)
            log.warning("skipped: %s", message)
    # a batch with no rows (only images without objects) has empty arrays of other shapes
    parts = [p for p in parts if len(p["features"])] or parts[:1]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}


def _batch_rows(items, results, d: int) -> dict[str, np.ndarray]:
    """Concatenate per-image row dicts of one batch; keep the skip messages."""
    merged: dict[str, list] = {}
    skipped = []
    for result in results:
        if isinstance(result, Skipped):
            skipped.append(result.message)
            continue
        for key, values in result.items():
            merged.setdefault(key, []).extend(values)
    out = {k: np.asarray(v) for k, v in merged.items() if k != "features"}
    feats = merged.get("features", [])
    out["features"] = np.asarray(feats, np.float32).reshape(len(feats), d)
    out["source"] = np.asarray(merged.get("source", []), dtype=str)
    out["box"] = np.asarray(merged.get("box", []), np.float64).reshape(-1, 4)
    out["skipped"] = np.asarray(skipped, dtype=str)
    return out
