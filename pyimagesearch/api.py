"""A Python API without config files: train, detect, save, load and evaluate a detector.

As dlib's ``train_simple_object_detector``: images are ``uint8`` arrays (grayscale or
BGR), boxes ``(n, 4)`` arrays of ``x1, y1, x2, y2`` pixels (``x2``/``y2`` exclusive).
Options are the config's keys with the config's defaults (docs/configuration.md).

Training runs the same library steps as the config pipeline (``run_pipeline``):
feature extraction, the calibrated linear SVM, hard-negative mining rounds on the
negative images and on the training images outside their objects, retraining. Those
steps work on files, so the arrays are staged (lossless PNG and a dlib imglab XML)
in a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .detection.detector import Detections
from .detection.detector import WindowDetector as _WindowDetector
from .detection.mixture import MixtureDetector as _MixtureDetector
from .detection.multiclass import MultiClassDetector as _MultiClassDetector
from .detection.video import VideoResult, detect_video
from .evaluation.metrics import summarize_detections
from .infrastructure.config import COURSE_DEFAULTS, EXTRA_DEFAULTS, Config, config_from_dict
from .infrastructure.errors import ConfigError
from .infrastructure.geometry import overlapping
from .model.bundle import ClassBundle
from .model.linear import LinearModel
from .model.mixture import Mixture
from .model.modelfile import load_model, save_model
from .sources.annotated_image import AnnotatedImage
from .sources.export import dlib_xml

log = logging.getLogger(__name__)

#: The config keys that describe detection (not training); a saved detector keeps them.
DETECTION_KEYS = (
    "window_step",
    "pyramid_scale",
    "min_probability",
    "overlap_thresh",
    "padding",
    "upsample",
    "pyramid_approximate",
)


class Detector(_WindowDetector):
    """A trained detector: ``detect(image)`` on arrays, ``save(path)`` as a data-only file."""

    def detect(self, image: np.ndarray, min_probability: float | None = None) -> Detections:
        """Detections (boxes, probabilities, scores) in a grayscale or BGR ``uint8`` image."""
        return super().detect(_gray(image, "image"), min_probability)

    def detect_video(
        self,
        source: str | Path | int,
        output: str | Path | None = None,
        json_path: str | Path | None = None,
        **options: Any,
    ) -> VideoResult:
        """Detect in every frame of a video file (or camera ``int``), optionally writing
        the drawn video and the per-frame JSON; ``options`` are
        :func:`pyimagesearch.detection.video.detect_video`'s (``every``, ``max_width``,
        ``label``, ``codec``, ``max_frames``, ``progress``; no progress bar by default)."""
        options = {"progress": False, **options}
        return detect_video(self.detect, source, output, json_path, **options)

    def settings(self) -> dict[str, Any]:
        """The detection settings, under their config key names."""
        return {
            "window_step": self.window_step,
            "pyramid_scale": self.pyramid_scale,
            "min_probability": self.min_probability,
            "overlap_thresh": self.overlap_thresh,
            "padding": self.padding,
            "upsample": self.upsample,
            "pyramid_approximate": self.approximate,
        }

    def save(self, path: str | Path) -> Path:
        """Write the model and the detection settings as JSON (atomically; no pickle)."""
        self.model.metadata["detector"] = self.settings()
        return save_model(self.model, path)


class MixtureDetector(_MixtureDetector):
    """A trained mixture (one window per shape of object): ``detect(image)`` on arrays,
    ``save(path)`` as one data-only file holding every component."""

    def detect(self, image: np.ndarray, min_probability: float | None = None) -> Detections:
        """Detections (boxes, probabilities, scores) in a grayscale or BGR ``uint8`` image."""
        return super().detect(_gray(image, "image"), min_probability)

    detect_video = Detector.detect_video

    def settings(self) -> list[dict[str, Any]]:
        """Each component's detection settings, under their config key names."""
        return [Detector.settings(d) for d in self.detectors]

    def save(self, path: str | Path) -> Path:
        """Write every component with its detection settings as JSON (atomically)."""
        for d, settings in zip(self.detectors, self.settings()):
            d.model.metadata["detector"] = settings
        return save_model(self.model, path)


class MultiClassDetector(_MultiClassDetector):
    """A detector of several classes (one detector per class, one shared pyramid):
    ``detect(image)`` gives ``Detections`` with ``labels``; ``save(path)`` writes one
    data-only bundle file holding every class."""

    def detect(self, image: np.ndarray, min_probability: float | None = None) -> Detections:
        """Detections of every class (``labels`` names each) in a gray or BGR image."""
        return super().detect(_gray(image, "image"), min_probability)

    detect_video = Detector.detect_video

    def settings(self) -> dict[str, Any]:
        """Each class's detection settings, under their config key names."""
        return {name: d.settings() for name, d in zip(self.classes, self.detectors)}

    def save(self, path: str | Path) -> Path:
        """Write every class's model with its detection settings as one JSON bundle."""
        models = []
        for d in self.detectors:
            parts = d.detectors if isinstance(d, _MixtureDetector) else [d]
            for part in parts:
                part.model.metadata["detector"] = Detector.settings(part)
            models.append(d.model)
        return save_model(ClassBundle(self.classes, models, self.category_ids), path)


def load_detector(path: str | Path) -> Detector | MixtureDetector | MultiClassDetector:
    """The detector saved by :meth:`Detector.save`, or of any model file: it detects with
    the settings the model was saved or chosen with (the validation search's pyramid
    step and upsampling), the config's defaults for the others. A bundle (several
    classes) gives a :class:`MultiClassDetector`."""
    model = load_model(path)
    base = _detection_defaults()
    if model.hog.descriptor == "fhog":  # one cell per step, as FHOG detectors train
        base["window_step"] = model.hog.pixels_per_cell[1]
    if isinstance(model, ClassBundle):
        parts = [_any_detector(m, base) for m in model.models]
        return MultiClassDetector(parts, model.classes, model.category_ids)
    return _any_detector(model, base)


def _any_detector(model: LinearModel | Mixture, base: dict[str, Any]):
    """The API detector of a model or a mixture: each (component) model's recorded
    settings over ``base``."""
    if isinstance(model, Mixture):
        parts = [_detector(m, {**base, **m.detection_settings()}) for m in model.components]
        return MixtureDetector(parts)
    return _detector(model, {**base, **model.detection_settings()})


def train_detector(
    images: Sequence[np.ndarray],
    boxes: Sequence[np.ndarray],
    negative_images: Sequence[np.ndarray] | None = None,
    *,
    labels: Sequence[Sequence[str]] | None = None,
    progress: bool = False,
    work_dir: str | Path | None = None,
    **options: Any,
) -> Detector | MixtureDetector | MultiClassDetector:
    """Train a detector on ``images`` with their object ``boxes``; returns it.

    ``negative_images`` hold no object; without them, the parts of the training images
    outside every box are the negatives. ``options`` are config keys (``C``,
    ``window_dim``, ``hn_rounds``, ``search``...); ``window_dim`` defaults to the
    window ``explore_dims`` suggests for the boxes. ``work_dir`` keeps the staged files
    and the feature store there instead of a temporary folder.

    ``labels`` (one class name per box, per image) trains one detector per class, each
    as above with its own window, on the images that hold the class: another class's
    object that overlaps one of the class's is an *ignore* region (never a positive,
    never a negative), the other classes' objects elsewhere are background (mined as
    any). Photos of other classes only are not mined (measured on car_side + raccoon,
    mining them cost the car detector AP: docs/results.md). ``classes=[...]``
    fixes the classes' order (default: first seen); ``window_dim`` then applies to every
    class. Returns a :class:`MultiClassDetector`.
    """
    images = [_gray(im, f"images[{i}]") for i, im in enumerate(images)]
    boxes = [_boxes(b, i) for i, b in enumerate(boxes)]
    if len(images) != len(boxes):
        raise ValueError(f"{len(images)} images but {len(boxes)} box arrays: give one per image")
    if not any(len(b) for b in boxes):
        raise ValueError("no boxes: at least one image must hold an object")
    if negative_images is None:
        negatives = _object_free_parts(images, boxes)
        if not negatives:
            raise ValueError(
                "no negative images given and the training images have no object-free "
                "part large enough: pass negative_images= (images without the object)"
            )
    else:
        negatives = [_gray(im, f"negative_images[{i}]") for i, im in enumerate(negative_images)]
        if not negatives:
            raise ValueError("negative_images is empty: give at least one object-free image")
    if labels is not None:
        from .orchestration.classes import folder_name

        classes, per_class = _by_class(boxes, labels, options.pop("classes", None))
        detectors = []
        for name, own in zip(classes, per_class):
            folder = Path(work_dir) / folder_name(name) if work_dir is not None else None
            # other classes' objects that overlap this class's: ignored; the others are
            # background (mined like any), so each class learns the others are not it
            others = [overlapping(_others(every, mine), mine) for every, mine in zip(boxes, own)]
            detectors.append(
                _train_detector(images, own, negatives, options, progress, folder, others)
            )
            log.info("class %r trained", name)
        return MultiClassDetector(detectors, classes)
    return _train_detector(images, boxes, negatives, options, progress, work_dir)


def _train_detector(
    images: list[np.ndarray],
    boxes: list[np.ndarray],
    negatives: list[np.ndarray],
    options: dict[str, Any],
    progress: bool,
    work_dir: str | Path | None,
    ignore: list[np.ndarray] | None = None,
) -> Detector | MixtureDetector:
    """One class's detector (a mixture when its boxes' shapes spread); ``ignore`` holds
    per image the boxes that are neither positives nor negatives (other classes')."""
    groups = _components(boxes, options)
    models: list[Any] = [None] * len(groups)
    base: dict[str, Any] = {}
    shared: dict[str, Any] = {}
    for k in _most_boxes_first(groups):
        part = groups[k]
        with tempfile.TemporaryDirectory(prefix="pyimagesearch-") as tmp:
            folder = Path(work_dir) / f"component_{k}" if work_dir is not None else Path(tmp)
            if len(groups) == 1 and work_dir is not None:
                folder = Path(work_dir)
            keep = [i for i, b in enumerate(part) if len(b)]
            # the other components' (and classes') objects: neither positives nor negatives
            others = [_others(boxes[i], part[i]) for i in keep]
            if ignore is not None:
                others = [np.concatenate([o, ignore[i]]) for o, i in zip(others, keep)]
            conf = _staged_config(
                folder,
                [images[i] for i in keep],
                [part[i] for i in keep],
                negatives,
                {**options, **shared},
                others,
            )
            models[k] = _train(conf, progress)
            base = {key: conf[key] for key in DETECTION_KEYS}
            if len(groups) > 1 and not shared and conf["search"]:
                shared = _shared_descriptor(models[k])
    # the settings the search chose (recorded in each model) win over the config's
    model = models[0] if len(models) == 1 else Mixture(models, {"components": len(models)})
    return _any_detector(model, base)


def evaluate_detector(
    detector: _WindowDetector | _MixtureDetector | _MultiClassDetector,
    images: Sequence[np.ndarray],
    boxes: Sequence[np.ndarray],
    min_probability: float | None = None,
    *,
    labels: Sequence[Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Average precision (IoU 0.5, VOC all-point), precision and recall at the detector's
    ``min_probability`` (or the one given), AP at IoU 0.7 and the mean IoU of true
    positives, on annotated images.

    A :class:`MultiClassDetector` is scored per class (``labels``: one class name per
    box, per image): ``{"classes": {name: figures}, "mean_average_precision": mAP}``;
    a detection counts for its own class only.
    """
    images = [_gray(im, f"images[{i}]") for i, im in enumerate(images)]
    boxes = [_boxes(b, i) for i, b in enumerate(boxes)]
    if len(images) != len(boxes):
        raise ValueError(f"{len(images)} images but {len(boxes)} box arrays: give one per image")
    p_min = detector.min_probability if min_probability is None else min_probability
    floor = min(EXTRA_DEFAULTS["eval_min_probability"], p_min)  # the PR curve's floor
    found = [detector.detect(image, floor) for image in images]
    if not isinstance(detector, _MultiClassDetector):
        return summarize_detections(
            [f.boxes for f in found], [f.probabilities for f in found], boxes, p_min
        )
    if labels is None:
        raise ValueError("a multi-class detector is scored per class: pass labels=")
    _, per_class = _by_class(boxes, labels, detector.classes, every_class=False)
    figures = {}
    for name, truth, part in zip(detector.classes, per_class, detector.detectors):
        mine = [f.labels == name for f in found]
        class_min = part.min_probability if min_probability is None else min_probability
        figures[name] = summarize_detections(
            [f.boxes[m] for f, m in zip(found, mine)],
            [f.probabilities[m] for f, m in zip(found, mine)],
            truth,
            class_min,
        )
    mean = float(np.mean([f["average_precision"] for f in figures.values()]))
    return {"classes": figures, "mean_average_precision": mean}


# ---- helpers ---------------------------------------------------------------------------


def _gray(image: np.ndarray, what: str) -> np.ndarray:
    """A 2-D ``uint8`` image from a grayscale, BGR or BGRA ``uint8`` array."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"{what}: expected a uint8 image, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] in (3, 4):
        code = cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        return cv2.cvtColor(image, code)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim != 2 or min(image.shape) < 1:
        raise ValueError(f"{what}: expected a 2-D (gray) or 3-D (BGR) image, got {image.shape}")
    return np.ascontiguousarray(image)


def _boxes(value: np.ndarray, index: int) -> np.ndarray:
    boxes = np.asarray(value, np.float64)
    if boxes.size == 0:
        return np.zeros((0, 4))
    if boxes.ndim != 2 or boxes.shape[1] != 4 or not np.isfinite(boxes).all():
        raise ValueError(f"boxes[{index}]: expected an (n, 4) array of finite x1, y1, x2, y2")
    if ((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])).any():
        raise ValueError(f"boxes[{index}]: every box needs x2 > x1 and y2 > y1")
    return boxes


def _object_free_parts(images: list[np.ndarray], boxes: list[np.ndarray]) -> list[np.ndarray]:
    """The strips of each image left, right, above and below all of its objects."""
    parts = []
    for image, b in zip(images, boxes):
        if not len(b):
            parts.append(image)
            continue
        x1, y1 = int(np.floor(b[:, 0].min())), int(np.floor(b[:, 1].min()))
        x2, y2 = int(np.ceil(b[:, 2].max())), int(np.ceil(b[:, 3].max()))
        strips = (image[:, :x1], image[:, x2:], image[:y1, :], image[y2:, :])
        parts.extend(s for s in strips if min(s.shape) >= 16)
    return parts


def _detection_defaults() -> dict[str, Any]:
    defaults = {**EXTRA_DEFAULTS, **COURSE_DEFAULTS}
    return {k: defaults[k] for k in DETECTION_KEYS}


def _detector(model: LinearModel, settings: dict[str, Any]) -> Detector:
    return Detector(model, *(settings[k] for k in DETECTION_KEYS))


def _write_png(path: Path, image: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"could not encode {path.name}")
    path.write_bytes(data.tobytes())


def _by_class(
    boxes: list[np.ndarray],
    labels: Sequence[Sequence[str]],
    classes: Sequence[str] | None,
    every_class: bool = True,
) -> tuple[list[str], list[list[np.ndarray]]]:
    """The class names and, per class, each image's boxes of that class (with
    ``every_class``, each class must have a box)."""
    if len(labels) != len(boxes):
        raise ValueError(f"{len(boxes)} box arrays but {len(labels)} label lists: one per image")
    names = []
    for i, (b, lab) in enumerate(zip(boxes, labels)):
        if len(lab) != len(b):
            raise ValueError(f"labels[{i}]: {len(lab)} names for {len(b)} boxes")
        names += [str(n) for n in lab if str(n) not in names]
    if classes is None:
        classes = names
    else:
        classes = [str(c) for c in classes]
        unknown = [n for n in names if n not in classes]
        if unknown:
            from .infrastructure.errors import did_you_mean

            raise ValueError(
                f"label {unknown[0]!r} is not one of classes={classes}"
                f"{did_you_mean(unknown[0], classes)}"
            )
    per_class = []
    for name in classes:
        own = [b[np.array([str(n) == name for n in lab], bool)] for b, lab in zip(boxes, labels)]
        if every_class and not any(len(b) for b in own):
            raise ValueError(f"class {name!r} has no box: give boxes of it or leave it out")
        per_class.append(own)
    return list(classes), per_class


def _others(every: np.ndarray, own: np.ndarray) -> np.ndarray:
    """The boxes of ``every`` that are not in ``own``."""
    if not len(own):
        return every
    mine = (every[:, None, :] == own[None, :, :]).all(axis=2).any(axis=1)
    return every[~mine]


def _staged_config(
    folder: Path,
    images: list[np.ndarray],
    boxes: list[np.ndarray],
    negatives: list[np.ndarray],
    options: dict[str, Any],
    ignore: list[np.ndarray] | None = None,
) -> Config:
    """Write the arrays where the pipeline's readers find them; the config naming them."""
    positives, background = folder / "images", folder / "negatives" / "background"
    positives.mkdir(parents=True, exist_ok=True)
    background.mkdir(parents=True, exist_ok=True)
    items = []
    ignore = ignore if ignore is not None else [np.zeros((0, 4))] * len(images)
    for i, (image, b, other) in enumerate(zip(images, boxes, ignore)):
        _write_png(positives / f"{i:06d}.png", image)
        items.append(AnnotatedImage(positives / f"{i:06d}.png", b, other))
    (positives / "boxes.xml").write_text(dlib_xml(items, positives), encoding="utf-8")
    raw: dict[str, Any] = {
        **COURSE_DEFAULTS,
        "percent_gt_images": 1.0,
        "eval_num_distraction_images": 0,
        "eval_distraction_categories": None,
        **options,
        "image_dataset": str(positives),
        "image_annotations": str(positives / "boxes.xml"),
        "annotation_format": "dlib-xml",
        "image_distractions": str(folder / "negatives"),
        "output_dir": str(folder / "output"),
        "features_path": str(folder / "output" / "features.hdf5"),
        "classifier_path": str(folder / "output" / "model.json"),
    }
    raw.setdefault(
        "window_dim",
        _suggested_window(boxes, raw["pixels_per_cell"], raw.get("descriptor", "hog")),
    )
    width, height = raw["window_dim"]
    negatives = [n for n in negatives if n.shape[0] >= height and n.shape[1] >= width]
    if not negatives:
        raise ValueError(
            f"no negative image is as large as the {width}x{height} window: pass larger "
            "negative_images= (images without the object)"
        )
    for i, image in enumerate(negatives):
        _write_png(background / f"{i:06d}.png", image)
    n_neg = len(negatives)
    for key in ("num_distraction_images", "hn_num_distraction_images"):
        raw[key] = options.get(key, n_neg)
    try:
        return config_from_dict(raw)
    except ConfigError as exc:
        raise ValueError(str(exc).replace("<config>: ", "")) from None


def _most_boxes_first(groups: list[list[np.ndarray]]) -> list[int]:
    """The components' indices, the one with the most boxes first (its search decides
    the descriptor of all: :func:`_shared_descriptor`)."""
    counts = [sum(len(b) for b in part) for part in groups]
    return sorted(range(len(groups)), key=lambda k: -counts[k])


def _shared_descriptor(model: LinearModel) -> dict[str, Any]:
    """The descriptor and cells the first component's search chose, as options for the
    others: a mixture's templates all score one kind of feature (their searches may
    otherwise choose HOG for one and FHOG for another, which no mixture can hold)."""
    cells = [int(c) for c in model.hog.pixels_per_cell]
    return {
        "descriptor": model.hog.descriptor,
        "pixels_per_cell": cells,
        "search_descriptors": [model.hog.descriptor],
        "window_step": cells[1],
        "hn_window_step": cells[1],
    }


def _components(boxes: list[np.ndarray], options: dict[str, Any]) -> list[list[np.ndarray]]:
    """The boxes of each component: one group unless the boxes' aspect ratios spread
    beyond what one window serves (``sources.dims.aspect_components``), or ``components``
    / ``window_dim`` is given."""
    from .sources.dims import aspect_components

    wanted = options.get("components", EXTRA_DEFAULTS["components"])
    if wanted == 1 or (wanted is None and "window_dim" in options):
        return [boxes]
    sizes = np.concatenate([b for b in boxes if len(b)])
    ratios = (sizes[:, 2] - sizes[:, 0]) / (sizes[:, 3] - sizes[:, 1])
    if wanted is None:
        labels = aspect_components(ratios)
    else:
        labels = aspect_components(ratios, max_spread=1.0 + 1e-9, max_components=int(wanted))
    k = int(labels.max()) + 1
    if k == 1:
        return [boxes]
    log.info("boxes of several shapes: %d components (aspect ratio groups)", k)
    bounds = np.cumsum([0] + [len(b) for b in boxes])
    return [
        [b[labels[bounds[i] : bounds[i + 1]] == c] for i, b in enumerate(boxes)] for c in range(k)
    ]


def _suggested_window(
    boxes: list[np.ndarray], pixels_per_cell: list[int], descriptor: str = "hog"
) -> list[int]:
    from .sources.dims import BoxStatistics, suggest_window_dim

    sizes = np.concatenate([b for b in boxes if len(b)])
    stats = BoxStatistics(widths=sizes[:, 2] - sizes[:, 0], heights=sizes[:, 3] - sizes[:, 1])
    return list(suggest_window_dim(stats, tuple(pixels_per_cell), descriptor=descriptor))


def _train(conf: Config, progress: bool) -> LinearModel:
    """The pipeline's training steps: extract, train, then mine and retrain each round."""
    from .features.extract import extract_features
    from .mining.hard_negatives import mine_annotated, mine_hard_negatives
    from .model.training import train_model
    from .orchestration.search import search_settings
    from .orchestration.settings import chosen_config

    chosen: dict[str, Any] = {}
    if conf["search"]:
        result = search_settings(conf, progress=progress)
        chosen = {"chosen_settings": result.chosen}
        conf = chosen_config(conf, result.chosen)
    extract_features(conf, progress=progress)
    model = train_model(conf, hard_negatives=False, metadata=chosen)
    rounds = chosen.get("chosen_settings", {}).get("hn_rounds", conf["hn_rounds"])
    for r in range(1, min(rounds, conf["hn_rounds"]) + 1):
        added = mine_hard_negatives(conf, r, model=model, progress=progress).n_kept
        if conf["hn_mine_annotated"]:
            added += mine_annotated(conf, r, model=model, progress=progress).n_kept
        if not added:
            break
        model = train_model(conf, hard_negatives=True, max_round=r, metadata=chosen)
    for key in ("features_path", "classifier_path", "output_dir"):
        model.metadata.pop(key, None)
    return model


__all__ = [
    "Detector",
    "MixtureDetector",
    "MultiClassDetector",
    "evaluate_detector",
    "load_detector",
    "train_detector",
]
