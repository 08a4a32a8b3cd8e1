"""The project's defaults against dlib and OpenCV: same splits, one scorer.

Trains three kinds of HOG + linear-SVM detector on the same training share of each
development data set, detects on the same held-out images and scores every method with
the project's VOC scorer (``summarize_detections``: all-point AP at IoU 0.5 and 0.7,
mean IoU of the true positives). Scores are in each method's own units; AP only needs
their ranking, so no method is thresholded (the floor is only low enough to give a
whole PR curve).

Methods (JSON names):

- ``project``: ``pyimagesearch.train_detector(images, boxes, negative_images=...)`` with
  its defaults (plus ``--project-option K=V``), ``detect(image, min_probability=0.05)``.
  ``--project-variant NAME:K=V,K=V`` adds a row ``project_NAME`` with more options;
  ``PRESETS`` holds named variants (``--methods project_no_search``).
- ``dlib`` / ``dlib_upsample1``: ``dlib.train_simple_object_detector`` (in-memory form;
  left-right flips, 2 threads, other options default), run with ``adjust_threshold``
  -1 and 0 / 1 upsamplings (one training, timed once, used by both rows).
- ``opencv``: ``cv2.HOGDescriptor`` with OpenCV's default geometry (cell 8, block 16,
  stride 8, 9 bins) and a window from the training boxes (``opencv_window``), a
  ``LinearSVC`` (C = 0.01, as ``samples/cpp/train_HOG.cpp``) on positives (crops resized
  to the window, and their mirrors) and 10 random native-scale windows per negative
  image, then ONE round of hard negatives (windows ``detectMultiScale`` fires on in the
  negative images, as train_HOG.cpp does), retrained. ``detectMultiScale`` with
  ``groupThreshold=0`` (every window with its weight), then the project's NMS.
  OpenCV's score is ``svmDetector[:-1] . x + svmDetector[-1]``: the LAST coefficient is
  ADDED, so it is the SVM's ``intercept_`` as is (train_HOG.cpp appends ``-rho`` because
  ``cv::ml::SVM`` decides ``w . x - rho``). Every training checks this on one window.

Data sets (JSON names): ``car_side`` (conf/cars.json's split), ``car_side_crops`` (the
training boxes cut out tight, evaluated on the held-out photos plus synthetic scenes of
held-out crops pasted into car-free photos), ``raccoon`` (seeded 50/50 split by image).
Negatives for every method and data set: one seeded sample of SceneClass13 photos from
the categories without cars.

Detection is timed with OpenCV capped to one thread (the project's detector caps BLAS to
one); ``ms_per_image`` is the median over the test images. Writes nothing but the
optional JSON (atomically); ``train_detector`` stages its files in its own temp folder.

    python benchmarks/bench_anchors.py [--datasets car_side car_side_crops raccoon]
        [--methods project dlib dlib_upsample1 opencv] [--quick] [--json FILE]
        [--project-option K=V ...] [--project-variant NAME:K=V,K=V ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import platform
import re
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pyimagesearch.detection.nms import non_max_suppression
from pyimagesearch.evaluation.metrics import summarize_detections
from pyimagesearch.infrastructure.config import DATASETS_ENV, load_config
from pyimagesearch.infrastructure.geometry import clip_boxes
from pyimagesearch.infrastructure.options import AnnotationOptions
from pyimagesearch.io.atomic import write_text_atomic
from pyimagesearch.io.remote import RemoteOptions
from pyimagesearch.sources.annotations import read_annotations, split_train_test
from pyimagesearch.sources.formats import read_voc

log = logging.getLogger("bench_anchors")

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("car_side", "car_side_crops", "raccoon")
METHODS = ("project", "dlib", "dlib_upsample1", "opencv")
#: Named project variants usable in --methods (options on top of --project-option).
PRESETS: dict[str, dict[str, Any]] = {
    "project_no_search": {"search": False},
    # the course's HOG (4x4 cells, 2x2 blocks) instead of the default FHOG
    "project_hog": {"descriptor": "hog"},
    # one window (today's default) and the mixture of windows by aspect ratio
    "project_single_window": {"components": 1},
    "project_mixture": {"components": None},
    # every pyramid level computed (no approximated levels)
    "project_exact_pyramid": {"pyramid_approximate": False},
}
#: SceneClass13 categories without cars: the negatives and the synthetic backgrounds.
CAR_FREE = (
    "MITcoast",
    "MITforest",
    "MITmountain",
    "MITopencountry",
    "PARoffice",
    "bedroom",
    "kitchen",
    "livingroom",
)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
SEED = 42
N_NEGATIVES, N_NEGATIVES_QUICK = 200, 50
QUICK_TRAIN, QUICK_TEST = 40, 20  # images kept by --quick
PROJECT_MIN_PROBABILITY = 0.05
DLIB_ADJUST_THRESHOLD = -1.0
OPENCV_LONG_SIDE = 96  # px: the window's long side, unless the median box is smaller
OPENCV_HIT_THRESHOLD = -1.0
OPENCV_STRIDE, OPENCV_PADDING, OPENCV_SCALE = (8, 8), (16, 16), 1.05
OPENCV_NEG_PER_IMAGE, OPENCV_HARD_PER_IMAGE = 10, 20
OPENCV_C = 0.01
OVERLAP_THRESH = 0.3  # the project's default NMS overlap

Boxes = np.ndarray  # (n, 4) float x1, y1, x2, y2, x2/y2 exclusive
DetectFn = Callable[[np.ndarray], tuple[Boxes, np.ndarray]]


# ---- data --------------------------------------------------------------------------------


@dataclass
class Split:
    """One data set's training share and test images (BGR ``uint8``), boxes per image.

    ``test_parts`` names the part each test image belongs to (scored separately too
    when there is more than one)."""

    train_images: list[np.ndarray]
    train_boxes: list[Boxes]
    test_images: list[np.ndarray]
    test_boxes: list[Boxes]
    test_parts: list[str] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        parts = sorted(set(self.test_parts))
        return {
            "train_images": len(self.train_images),
            "train_boxes": int(sum(len(b) for b in self.train_boxes)),
            "test_images": len(self.test_images),
            "test_boxes": int(sum(len(b) for b in self.test_boxes)),
            "test_parts": {p: self.test_parts.count(p) for p in parts},
        }


def datasets_root() -> Path:
    """``$PYIMAGESEARCH_DATASETS`` or ``../shared/datasets`` beside the repository."""
    return Path(os.environ.get(DATASETS_ENV) or ROOT.parent / "shared" / "datasets")


def read_bgr(path: Path) -> np.ndarray | None:
    """A 3-channel ``uint8`` image, or None for an undecodable file (``Thumbs.db``...)."""
    return cv2.imread(str(path), cv2.IMREAD_COLOR)


def car_free_photos(root: Path, n: int, seed: int) -> tuple[list[np.ndarray], list[Path]]:
    """``n`` decodable car-free SceneClass13 photos (a seeded sample) and the files left
    (shuffled the same way) for synthetic backgrounds, so both never share a photo."""
    files = sorted(
        p
        for c in CAR_FREE
        for p in (root / "sceneclass13" / c).iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES
    )
    order = np.random.default_rng(seed).permutation(len(files))
    negatives, used = [], 0
    while len(negatives) < n and used < len(order):
        image = read_bgr(files[order[used]])
        used += 1
        if image is not None:
            negatives.append(image)
    return negatives, [files[i] for i in order[used:]]


def _interpolation(size: int, new_size: int) -> int:
    """Area averaging to shrink, bilinear to enlarge."""
    return cv2.INTER_AREA if new_size < size else cv2.INTER_LINEAR


def _subsample(items: list, n: int | None, seed: int) -> list:
    """At most ``n`` of ``items`` (seeded, order kept); all with ``n`` None."""
    if n is None or len(items) <= n:
        return items
    keep = np.sort(np.random.default_rng(seed).choice(len(items), n, replace=False))
    return [items[i] for i in keep]


def _load_items(items: list) -> tuple[list[np.ndarray], list[Boxes]]:
    """Images (BGR) and their boxes clipped to them."""
    images, boxes = [], []
    for item in items:
        image = read_bgr(item.path)
        if image is None:
            raise ValueError(f"{item.path}: not a decodable image")
        images.append(image)
        boxes.append(item.boxes_inside(image.shape[1], image.shape[0]))
    return images, boxes


def car_side_items(root: Path, quick: bool) -> tuple[list, list]:
    """conf/cars.json's annotated images, split as the config splits them."""
    os.environ.setdefault(DATASETS_ENV, str(root))
    conf = load_config(ROOT / "conf" / "cars.json")
    items = read_annotations(conf.options.annotations)
    train, test = split_train_test(items, conf["percent_gt_images"], conf["seed"])
    if quick:
        train, test = _subsample(train, QUICK_TRAIN, SEED), _subsample(test, QUICK_TEST, SEED)
    return train, test


def load_car_side(root: Path, quick: bool) -> Split:
    train, test = car_side_items(root, quick)
    return Split(*_load_items(train), *_load_items(test), ["held_out"] * len(test))


def crops(images: Sequence[np.ndarray], boxes: Sequence[Boxes]) -> list[np.ndarray]:
    """Every box cut out with no margin (outward-rounded to whole pixels)."""
    out = []
    for image, b in zip(images, boxes):
        for x1, y1, x2, y2 in b:
            x1, y1 = int(math.floor(x1)), int(math.floor(y1))
            x2, y2 = int(math.ceil(x2)), int(math.ceil(y2))
            out.append(np.ascontiguousarray(image[y1:y2, x1:x2]))
    return out


def place(
    sizes: Sequence[tuple[int, int]], width: int, height: int, rng: np.random.Generator
) -> Boxes | None:
    """Random non-overlapping boxes of ``sizes`` (w, h) inside ``width`` x ``height``
    (rejection sampling, 200 tries each); None when one does not fit."""
    placed = np.zeros((0, 4))
    for w, h in sizes:
        if w > width or h > height:
            return None
        for _ in range(200):
            x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            x1, y1, x2, y2 = placed.T
            if ((x + w <= x1) | (x2 <= x) | (y + h <= y1) | (y2 <= y)).all():
                break
        else:
            return None
        placed = np.vstack([placed, [x, y, x + w, y + h]])
    return placed


def synthetic_scenes(
    objects: Sequence[np.ndarray], backgrounds: Sequence[Path], seed: int
) -> tuple[list[np.ndarray], list[Boxes]]:
    """Each object crop pasted once into a car-free photo, 2–3 per photo, at a random
    scale in [0.5, 2] of its size and random places that overlap neither each other nor
    the border. A photo too small for its objects is enlarged (by 1.25 until they fit).
    Scenes are made grey (as 3-channel images) so that a colour car on a grey photo is
    no cue for the methods that read colour."""
    rng = np.random.default_rng(seed)
    order = list(rng.permutation(len(objects)))
    groups: list[list[int]] = []
    while order:
        k = 3 if len(order) in (3, 6) else int(rng.integers(2, 4))
        groups.append([int(i) for i in order[:k]])
        order = order[k:]
    if len(groups) > 1 and len(groups[-1]) == 1:
        groups[-2].extend(groups.pop())
    images, boxes = [], []
    pool = iter(backgrounds)
    for group in groups:
        background = next(b for b in (read_bgr(p) for p in pool) if b is not None)
        gray = [cv2.cvtColor(objects[i], cv2.COLOR_BGR2GRAY) for i in group]
        scales = rng.uniform(0.5, 2.0, len(group))
        sizes = [
            (max(1, round(g.shape[1] * s)), max(1, round(g.shape[0] * s)))
            for g, s in zip(gray, scales)
        ]
        height, width = background.shape[:2]
        grow = max(1.0, max(w / width for w, _ in sizes), max(h / height for _, h in sizes))
        while (found := place(sizes, round(width * grow), round(height * grow), rng)) is None:
            grow *= 1.25
        canvas = cv2.cvtColor(background, cv2.COLOR_BGR2GRAY)
        if grow > 1:
            canvas = cv2.resize(canvas, (round(width * grow), round(height * grow)))
        for g, (w, h), (x1, y1, _, _) in zip(gray, sizes, found.astype(int)):
            inter = _interpolation(g.shape[1], w)
            canvas[y1 : y1 + h, x1 : x1 + w] = cv2.resize(g, (w, h), interpolation=inter)
        images.append(cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR))
        boxes.append(found)
    return images, boxes


def load_car_side_crops(root: Path, quick: bool, backgrounds: Sequence[Path]) -> Split:
    """Training crops (one box = the whole crop); test: held-out photos + synthetic scenes."""
    train, test = car_side_items(root, quick)
    train_crops = crops(*_load_items(train))
    test_images, test_boxes = _load_items(test)
    scenes, scene_boxes = synthetic_scenes(crops(test_images, test_boxes), backgrounds, SEED)
    return Split(
        train_crops,
        [np.array([[0.0, 0.0, c.shape[1], c.shape[0]]]) for c in train_crops],
        test_images + scenes,
        test_boxes + scene_boxes,
        ["held_out"] * len(test_images) + ["synthetic"] * len(scenes),
    )


def load_raccoon(root: Path, quick: bool) -> Split:
    """Pascal VOC raccoons, read with the project's reader, split 50/50 by image (seed 42)."""
    folder = root / "raccoon"
    items = read_voc(
        AnnotationOptions(
            format="voc-xml",
            annotations=str(folder / "annotations"),
            images=str(folder / "images"),
            class_name="raccoon",
            remote=RemoteOptions(),
        )
    )
    train, test = split_train_test(sorted(items, key=lambda i: str(i.path)), 0.5, SEED)
    if quick:
        train, test = _subsample(train, QUICK_TRAIN, SEED), _subsample(test, QUICK_TEST, SEED)
    return Split(*_load_items(train), *_load_items(test), ["held_out"] * len(test))


# ---- methods -----------------------------------------------------------------------------


@dataclass
class Method:
    """One row: a trainer (``family``) with training options and detection options."""

    name: str
    family: str  # "project", "dlib" or "opencv"
    train_options: dict[str, Any] = field(default_factory=dict)
    detect_options: dict[str, Any] = field(default_factory=dict)

    def train_key(self) -> str:
        """Rows with the same key share one training (dlib and dlib_upsample1)."""
        return f"{self.family}:{json.dumps(self.train_options, sort_keys=True)}"


def train_project(
    images: list[np.ndarray], boxes: list[Boxes], negatives: list[np.ndarray], **options: Any
) -> Any:
    """The project's Python API with its defaults (and ``options``)."""
    import pyimagesearch

    return pyimagesearch.train_detector(
        images, boxes, negative_images=negatives, progress=False, **options
    )


def project_detect(detector: Any) -> DetectFn:
    def detect(image: np.ndarray) -> tuple[Boxes, np.ndarray]:
        found = detector.detect(image, min_probability=PROJECT_MIN_PROBABILITY)
        return found.boxes, found.scores

    return detect


def to_dlib_rects(boxes: Boxes) -> list:
    """``dlib.rectangle`` s of exclusive-end boxes (dlib's right/bottom are inclusive)."""
    import dlib

    b = np.rint(np.asarray(boxes, np.float64).reshape(-1, 4)).astype(int)
    return [dlib.rectangle(int(x1), int(y1), int(x2) - 1, int(y2) - 1) for x1, y1, x2, y2 in b]


def from_dlib_rects(rects: Sequence) -> Boxes:
    """Exclusive-end boxes of dlib rectangles."""
    rows = [[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects]
    return np.asarray(rows, np.float64).reshape(-1, 4)


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


def train_dlib(images: list[np.ndarray], boxes: list[Boxes], negatives: list[np.ndarray]) -> Any:
    """dlib's simple object detector: flips on, 2 threads, other options default; the
    negatives are images with no box (dlib mines all their windows)."""
    import dlib

    options = dlib.simple_object_detector_training_options()
    options.add_left_right_image_flips = True
    options.num_threads = 2
    rgb = [_rgb(im) for im in list(images) + list(negatives)]
    rects = [to_dlib_rects(b) for b in boxes] + [[] for _ in negatives]
    detector = dlib.train_simple_object_detector(rgb, rects, options)
    if detector.upsampling_amount:
        log.warning("dlib trained on images upsampled %d time(s)", detector.upsampling_amount)
    return detector


def dlib_detect(detector: Any, upsample: int = 0) -> DetectFn:
    import dlib

    def detect(image: np.ndarray) -> tuple[Boxes, np.ndarray]:
        rects, scores, _ = dlib.simple_object_detector.run_multiple(
            [detector], _rgb(image), upsample, DLIB_ADJUST_THRESHOLD
        )
        return from_dlib_rects(rects), np.asarray(scores, np.float64)

    return detect


def opencv_window(boxes: Boxes) -> tuple[int, int]:
    """(width, height) for OpenCV's HOG: the boxes' median aspect ratio, the long side
    ``OPENCV_LONG_SIDE`` px (less when the median box's long side is smaller), both
    sides multiples of 8 (the cell and block stride) and at least 16 (one block)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    ratio = float(np.median(w / h))
    long = min(OPENCV_LONG_SIDE, int(np.median(np.maximum(w, h)) // 8) * 8)
    long = max(16, long)
    short = max(16, int(round(long / max(ratio, 1 / ratio) / 8)) * 8)
    return (long, short) if ratio >= 1 else (short, long)


def make_hog(window: tuple[int, int]) -> cv2.HOGDescriptor:
    """OpenCV's default HOG (cell 8, block 16, stride 8, 9 bins, L2-Hys 0.2, gamma
    correction as ``cv2.HOGDescriptor()``) over ``window``."""
    return cv2.HOGDescriptor(window, (16, 16), (8, 8), (8, 8), 9, 1, -1.0, 0, 0.2, True, 64, False)


def _descriptors(hog: cv2.HOGDescriptor, patches: Sequence[np.ndarray]) -> np.ndarray:
    return np.stack([hog.compute(p).ravel() for p in patches]).astype(np.float32)


def _random_windows(
    image: np.ndarray, window: tuple[int, int], n: int, rng: np.random.Generator
) -> list[np.ndarray]:
    (ww, wh), (h, w) = window, image.shape[:2]
    if w < ww or h < wh:
        return []
    xs, ys = rng.integers(0, w - ww + 1, n), rng.integers(0, h - wh + 1, n)
    return [image[y : y + wh, x : x + ww] for x, y in zip(xs, ys)]


def _hard_windows(
    hog: cv2.HOGDescriptor, image: np.ndarray, window: tuple[int, int], n: int
) -> list[np.ndarray]:
    """The ``n`` best windows scoring >= 0 in a negative image, resized to the window."""
    rects, weights = hog.detectMultiScale(
        image, hitThreshold=0.0, winStride=OPENCV_STRIDE, scale=OPENCV_SCALE, groupThreshold=0
    )
    if len(rects) == 0:
        return []
    best = np.argsort(-np.asarray(weights).ravel(), kind="stable")[:n]
    return [
        cv2.resize(image[y : y + h, x : x + w], window, interpolation=cv2.INTER_AREA)
        for x, y, w, h in np.asarray(rects)[best]
    ]


def _fit_svm(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, float]:
    from sklearn.svm import LinearSVC

    x = np.concatenate([pos, neg])
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    svm = LinearSVC(C=OPENCV_C, max_iter=20000, random_state=SEED).fit(x, y)
    return svm.coef_.ravel().astype(np.float32), float(svm.intercept_[0])


def check_opencv_bias(hog: cv2.HOGDescriptor, patch: np.ndarray, w: np.ndarray, b: float) -> float:
    """OpenCV's weight of the one window of a window-sized ``patch`` against the SVM's
    decision value ``w . x + b`` of that window's descriptor; their absolute difference.
    Raises when they disagree (the detector's coefficients or their sign are wrong)."""
    x = hog.compute(patch).ravel().astype(np.float64)
    expected = float(x @ np.asarray(w, np.float64) + b)
    rects, weights = hog.detectMultiScale(
        patch, hitThreshold=-1e9, winStride=OPENCV_STRIDE, scale=OPENCV_SCALE, groupThreshold=0
    )
    weights = np.asarray(weights, np.float64).ravel()
    at_origin = np.flatnonzero((np.asarray(rects).reshape(-1, 4)[:, :2] == 0).all(axis=1))
    if at_origin.size != 1:
        raise RuntimeError(f"OpenCV bias check: expected one window at (0, 0), got {rects}")
    diff = abs(float(weights[at_origin[0]]) - expected)
    if diff > 1e-3 * max(1.0, abs(expected)):
        raise RuntimeError(
            f"OpenCV bias check failed: detectMultiScale weight {weights[at_origin[0]]:.5f} "
            f"but w.x + b = {expected:.5f}"
        )
    return diff


@dataclass
class OpenCVDetector:
    hog: cv2.HOGDescriptor
    window: tuple[int, int]
    n_positives: int
    n_negatives: int
    n_hard: int


def train_opencv(
    images: list[np.ndarray], boxes: list[Boxes], negatives: list[np.ndarray]
) -> OpenCVDetector:
    """train_HOG.cpp's recipe: positives (+ mirrors) and random negatives, a linear SVM,
    one round of hard negatives from the negative images, the SVM again."""
    rng = np.random.default_rng(SEED)
    window = opencv_window(np.concatenate([b for b in boxes if len(b)]))
    hog = make_hog(window)
    pos_patches = [
        cv2.resize(c, window, interpolation=_interpolation(c.shape[1], window[0]))
        for c in crops(images, boxes)
        if min(c.shape[:2]) > 0
    ]
    pos_patches += [p[:, ::-1].copy() for p in pos_patches]
    neg_patches = [
        p for im in negatives for p in _random_windows(im, window, OPENCV_NEG_PER_IMAGE, rng)
    ]
    pos, neg = _descriptors(hog, pos_patches), _descriptors(hog, neg_patches)
    w, b = _fit_svm(pos, neg)
    hog.setSVMDetector(np.append(w, b).astype(np.float32))
    check_opencv_bias(hog, pos_patches[0], w, b)
    hard = [p for im in negatives for p in _hard_windows(hog, im, window, OPENCV_HARD_PER_IMAGE)]
    if hard:
        w, b = _fit_svm(pos, np.concatenate([neg, _descriptors(hog, hard)]))
        hog.setSVMDetector(np.append(w, b).astype(np.float32))
        check_opencv_bias(hog, pos_patches[0], w, b)
    log.info("opencv: window %s, %d pos, %d neg, %d hard", window, len(pos), len(neg), len(hard))
    return OpenCVDetector(hog, window, len(pos), len(neg), len(hard))


def opencv_detect(model: OpenCVDetector) -> DetectFn:
    def detect(image: np.ndarray) -> tuple[Boxes, np.ndarray]:
        rects, weights = model.hog.detectMultiScale(
            image,
            hitThreshold=OPENCV_HIT_THRESHOLD,
            winStride=OPENCV_STRIDE,
            padding=OPENCV_PADDING,
            scale=OPENCV_SCALE,
            groupThreshold=0,
        )
        xywh = np.asarray(rects, np.float64).reshape(-1, 4)
        scores = np.asarray(weights, np.float64).ravel()
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        boxes = clip_boxes(boxes, image.shape[1], image.shape[0])
        keep = non_max_suppression(boxes, scores, OVERLAP_THRESH)
        return boxes[keep], scores[keep]

    return detect


TRAINERS: dict[str, Callable[..., Any]] = {
    "project": train_project,
    "dlib": train_dlib,
    "opencv": train_opencv,
}
DETECTORS: dict[str, Callable[..., DetectFn]] = {
    "project": project_detect,
    "dlib": dlib_detect,
    "opencv": opencv_detect,
}


def parse_value(text: str) -> Any:
    """JSON when it parses (``2``, ``false``, ``[96, 32]``), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> ``(KEY, value as JSON)``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), parse_value(value.strip())


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME:K=V,K=V`` -> ``("project_NAME", {K: V, ...})``; commas inside a JSON value
    (``window_dim=[96,32]``) are kept: only a comma before ``KEY=`` separates options."""
    name, sep, rest = text.partition(":")
    if not sep or not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise argparse.ArgumentTypeError(f"expected NAME:KEY=VALUE,KEY=VALUE, got {text!r}")
    parts = re.split(r",(?=\s*[A-Za-z_][A-Za-z0-9_]*=)", rest) if rest.strip() else []
    name = name if name.startswith("project_") else f"project_{name}"
    return name, dict(parse_option(p) for p in parts)


def build_methods(
    names: Sequence[str],
    project_options: dict[str, Any],
    variants: Sequence[tuple[str, dict[str, Any]]] = (),
) -> list[Method]:
    """The rows to run: ``names`` (built-in methods and PRESETS) then the variants."""
    out = []
    for name in names:
        if name == "project":
            out.append(Method(name, "project", dict(project_options)))
        elif name in PRESETS:
            out.append(Method(name, "project", {**project_options, **PRESETS[name]}))
        elif name in ("dlib", "dlib_upsample1"):
            out.append(Method(name, "dlib", {}, {"upsample": int(name == "dlib_upsample1")}))
        elif name == "opencv":
            out.append(Method(name, "opencv"))
        else:
            raise ValueError(f"unknown method {name!r}")
    out += [Method(n, "project", {**project_options, **opts}) for n, opts in variants]
    return out


# ---- scoring -----------------------------------------------------------------------------


def score(det_boxes: list[Boxes], det_scores: list[np.ndarray], gt: list[Boxes]) -> dict:
    """The one scorer: the project's VOC matching over the whole curve (no threshold)."""
    s = summarize_detections(det_boxes, det_scores, gt, -math.inf)
    return {
        "ap50": round(s["average_precision"], 4),
        "ap70": round(s["average_precision_70"], 4),
        "mean_iou": round(s["mean_iou"], 4),
        "max_recall": round(s["recall"], 4),
        "n_objects": s["n_objects"],
        "n_detections": len(s["curve"]["scores"]),
    }


@contextlib.contextmanager
def one_cv_thread() -> Iterator[None]:
    """OpenCV on one thread while detections are timed (one process, one core)."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def detect_all(
    detect: DetectFn, images: Sequence[np.ndarray]
) -> tuple[list[Boxes], list[np.ndarray], float]:
    """Detections per image (boxes clipped to it) and the median ms per image."""
    boxes, scores, ms = [], [], []
    with one_cv_thread():
        for image in images:
            start = time.perf_counter()
            b, s = detect(image)
            ms.append(1000 * (time.perf_counter() - start))
            boxes.append(clip_boxes(np.asarray(b, np.float64).reshape(-1, 4), *image.shape[1::-1]))
            scores.append(np.asarray(s, np.float64).ravel())
    return boxes, scores, statistics.median(ms)


def error_message(exc: BaseException) -> str:
    """The first paragraph of an exception's message on one line (dlib wraps its
    sentences over several lines and may list images after a blank line)."""
    text = str(exc).strip() or type(exc).__name__
    return " ".join(re.split(r"\n\s*\n", text)[0].split())


def run_dataset(split: Split, negatives: list[np.ndarray], methods: Sequence[Method]) -> dict:
    """Every method's row on one data set; a method that raises gets ``{"error": ...}``."""
    trained: dict[str, tuple[Any, float] | BaseException] = {}
    rows: dict[str, dict] = {}
    parts = sorted(set(split.test_parts))
    for m in methods:
        try:
            key = m.train_key()
            if key not in trained:
                log.info("%s: training ...", m.name)
                start = time.perf_counter()
                try:
                    model = TRAINERS[m.family](
                        split.train_images, split.train_boxes, negatives, **m.train_options
                    )
                    trained[key] = (model, time.perf_counter() - start)
                except Exception as exc:
                    trained[key] = exc
            if isinstance(trained[key], BaseException):
                raise trained[key]
            model, train_s = trained[key]
            log.info("%s: detecting ...", m.name)
            detect = DETECTORS[m.family](model, **m.detect_options)
            boxes, scores, ms = detect_all(detect, split.test_images)
            row = score(boxes, scores, split.test_boxes)
            row.update(train_s=round(train_s, 2), ms_per_image=round(ms, 2))
            if len(parts) > 1:
                row["parts"] = {
                    p: score(
                        *(
                            [v[i] for i, q in enumerate(split.test_parts) if q == p]
                            for v in (boxes, scores, split.test_boxes)
                        )
                    )
                    for p in parts
                }
        except Exception as exc:
            verbose = logging.getLogger().isEnabledFor(logging.INFO)  # -v: with the traceback
            log.warning("%s failed: %s", m.name, error_message(exc), exc_info=verbose)
            row = {"error": error_message(exc)}
        rows[m.name] = row
    return rows


# ---- report ------------------------------------------------------------------------------


def table(name: str, info: dict, rows: dict[str, dict]) -> str:
    """A readable table of one data set's rows."""
    parts = sorted(info["test_parts"])
    split = ", ".join(f"{p} {n}" for p, n in info["test_parts"].items())
    head = (
        f"{name}: train {info['train_images']} images / {info['train_boxes']} boxes, "
        f"test {info['test_images']} images / {info['test_boxes']} boxes ({split})"
    )
    cols = f"{'method':<24}{'ap50':>7}{'ap70':>7}{'mIoU':>7}{'maxR':>7}{'train_s':>9}{'ms/img':>9}"
    if len(parts) > 1:
        cols += "".join(f"{'ap50 ' + p:>18}" for p in parts)
    lines = [head, cols]
    for method, row in rows.items():
        if "error" in row:
            lines.append(f"{method:<24}  error: {row['error']}")
            continue
        line = (
            f"{method:<24}{row['ap50']:>7.3f}{row['ap70']:>7.3f}{row['mean_iou']:>7.3f}"
            f"{row['max_recall']:>7.3f}"
            f"{row['train_s']:>9.1f}{row['ms_per_image']:>9.1f}"
        )
        line += "".join(f"{row['parts'][p]['ap50']:>18.3f}" for p in row.get("parts", {}))
        lines.append(line)
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    import dlib
    import sklearn

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "dlib": dlib.__version__,
        "scikit-learn": sklearn.__version__,
    }


def last_line(results: dict[str, dict[str, dict]]) -> str:
    """``<data set>.<method>.ap50=<float or nan> ...`` for every cell."""
    cells = []
    for name, rows in results.items():
        for method, row in rows.items():
            for key in ("ap50", "ap70"):
                cells.append(f"{name}.{method}.{key}={row.get(key, float('nan')):.4f}")
    return " ".join(cells)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    p.add_argument(
        "--methods",
        nargs="+",
        choices=(*METHODS, *PRESETS),
        default=list(METHODS),
        metavar="METHOD",
        help=f"of {', '.join((*METHODS, *PRESETS))}",
    )
    p.add_argument("--quick", action="store_true", help="smaller run for smoke tests")
    p.add_argument("--json", type=Path, help="write the figures here (atomically)")
    p.add_argument(
        "--negatives", type=int, help=f"negative photos ({N_NEGATIVES}; {N_NEGATIVES_QUICK} quick)"
    )
    p.add_argument(
        "--project-option",
        type=parse_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="train_detector option for every project row (VALUE as JSON)",
    )
    p.add_argument(
        "--project-variant",
        type=parse_variant,
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE,KEY=VALUE",
        help="one more row project_NAME with these options on top",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="the library's INFO logs too")
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
        datefmt="%H:%M:%S",
    )
    log.setLevel(logging.INFO)  # this script's progress lines (stderr) always
    methods = build_methods(args.methods, dict(args.project_option), args.project_variant)
    root = datasets_root()
    n_neg = args.negatives or (N_NEGATIVES_QUICK if args.quick else N_NEGATIVES)
    negatives, spare = car_free_photos(root, n_neg, SEED)
    loaders: dict[str, Callable[[], Split]] = {
        "car_side": lambda: load_car_side(root, args.quick),
        "car_side_crops": lambda: load_car_side_crops(root, args.quick, spare),
        "raccoon": lambda: load_raccoon(root, args.quick),
    }
    out: dict[str, Any] = {
        "datasets": {},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {
            "quick": args.quick,
            "negatives": len(negatives),
            "methods": {m.name: [m.family, m.train_options, m.detect_options] for m in methods},
        },
        "data": {},
    }
    for name in args.datasets:
        split = loaders[name]()
        out["data"][name] = split.info()
        out["datasets"][name] = run_dataset(split, negatives, methods)
        print("\n" + table(name, out["data"][name], out["datasets"][name]), flush=True)
        if args.json:
            write_text_atomic(args.json, json.dumps(out, indent=2) + "\n")
    print()
    print(last_line(out["datasets"]))


if __name__ == "__main__":
    main()
