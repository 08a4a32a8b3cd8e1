"""The config, read once into small typed options: one per stage of the workflow.

As dlib hands each step one options object, the steps take the options of their own
stage (the descriptor's ``HogParams``, the detector's ``WindowOptions``, the workers'
``ExecutionOptions``...) instead of the config's dictionary: below the orchestration
layer nothing looks a key up, and a step cannot read a key that belongs to another
stage. ``Config.options`` builds them once per config; this module is the one place
that maps config keys to fields.

The fields have no defaults: a config's defaults live in one place, its schema
(``infrastructure/config.py``), and every field here comes from a validated config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..descriptor.params import HogParams
from ..io.remote import RemoteOptions


@dataclass(frozen=True)
class WindowOptions:
    """How the detector slides its window over the image pyramid."""

    window_dim: tuple[int, int]
    step: int
    pyramid_scale: float
    min_probability: float
    overlap_thresh: float
    padding: float
    upsample: int
    approximate: bool

    @classmethod
    def from_config(cls, conf: Mapping[str, Any], mining: bool = False) -> WindowOptions:
        """The detector's settings, or with ``mining`` the ``hn_`` ones mining uses (with
        exact features at every scale: mined windows become training rows)."""
        prefix = "hn_" if mining else ""
        return cls(
            window_dim=tuple(conf["window_dim"]),
            step=conf[f"{prefix}window_step"],
            pyramid_scale=conf[f"{prefix}pyramid_scale"],
            min_probability=conf[f"{prefix}min_probability"],
            overlap_thresh=conf["overlap_thresh"],
            padding=conf["padding"],
            upsample=conf["upsample"],
            approximate=conf["pyramid_approximate"] and not mining,
        )


@dataclass(frozen=True)
class MiningOptions:
    """Which windows of an image mining keeps, and how (``hn_`` keys of the config).

    ``None`` turns a cap off: ``max_per_image`` (no cap per image), ``margin`` (no
    windows inside the SVM margin), ``top_k`` (every window of an image is returned).
    """

    window: WindowOptions
    max_per_image: int | None
    apply_nms: bool
    negative_iou_max: float
    negative_cover_max: float
    margin: float | None
    margin_per_image: int
    top_k: int | None
    max_pixels: int

    @classmethod
    def from_config(cls, conf: Mapping[str, Any]) -> MiningOptions:
        return cls(
            window=WindowOptions.from_config(conf, mining=True),
            max_per_image=conf["hn_max_per_image"],
            apply_nms=conf["hn_nms"],
            negative_iou_max=conf["hn_negative_iou_max"],
            negative_cover_max=conf["hn_negative_cover_max"],
            margin=conf["hn_margin"],
            margin_per_image=conf["hn_margin_per_image"],
            top_k=conf["hn_max_total"],
            max_pixels=conf["max_image_pixels"],
        )


@dataclass(frozen=True)
class ExecutionOptions:
    """Where and how the work runs, and the images it accepts."""

    n_jobs: int
    scheduler: str | None
    scheduler_timeout: float
    max_image_pixels: int
    checkpoint_every: int

    @classmethod
    def from_config(cls, conf: Mapping[str, Any]) -> ExecutionOptions:
        return cls(
            n_jobs=conf["n_jobs"],
            scheduler=conf["scheduler"],
            scheduler_timeout=conf["scheduler_timeout"],
            max_image_pixels=conf["max_image_pixels"],
            checkpoint_every=conf["checkpoint_every"],
        )


@dataclass(frozen=True)
class AnnotationOptions:
    """Which annotated images the readers read: the format, its files, the class."""

    #: the reader (``annotation_format``, a name of ``sources.annotations.READERS``)
    format: str
    #: a folder, or the JSON/XML file of coco-json/dlib-xml (``image_annotations``)
    annotations: str
    #: the images (``image_dataset``); for crops also a URL prefix or a URL list
    images: str
    #: the class read, as the annotations name it (``annotation_class``; ``None``: every box)
    class_name: str | None
    #: how crops given as URLs are listed and fetched
    remote: RemoteOptions

    @classmethod
    def from_config(cls, conf: Mapping[str, Any]) -> AnnotationOptions:
        return cls(
            format=conf["annotation_format"],
            annotations=conf["image_annotations"],
            images=conf["image_dataset"],
            class_name=conf["annotation_class"],
            remote=RemoteOptions.from_config(conf),
        )


@dataclass(frozen=True)
class SplitOptions:
    """How the annotated images split into a training and a test share."""

    train_share: float
    seed: int

    @classmethod
    def from_config(cls, conf: Mapping[str, Any]) -> SplitOptions:
        return cls(train_share=conf["percent_gt_images"], seed=conf["seed"])


@dataclass(frozen=True)
class ExtractionOptions:
    """What the feature store is made of: positives, random negatives, box samples."""

    offset: int
    use_flip: bool
    jitter: int
    jitter_iou: float
    truncation: int
    negatives_per_image: int
    box_samples: int
    calibration_folds: int
    seed: int
    #: the annotations are crops (``annotation_format`` ``crops``): their border is not a scene's
    crops: bool

    @classmethod
    def from_config(cls, conf: Mapping[str, Any]) -> ExtractionOptions:
        return cls(
            offset=conf["offset"],
            use_flip=conf["use_flip"],
            jitter=conf["positive_jitter"],
            jitter_iou=conf["positive_jitter_iou"],
            truncation=conf["positive_truncation"],
            negatives_per_image=conf["num_distractions_per_image"],
            box_samples=conf["box_regression_samples"],
            calibration_folds=conf["calibration_folds"],
            seed=conf["seed"],
            crops=conf["annotation_format"] == "crops",
        )


@dataclass(frozen=True)
class DistractionOptions:
    """The object-free images and how they split into evaluation, negatives and rounds."""

    #: a folder, a URL prefix or a URL list (``image_distractions``)
    source: str
    storage_options: Mapping[str, Any]
    exclude_categories: tuple[str, ...]
    exclude_images: tuple[str, ...]
    #: categories of the evaluation images (``None``: all)
    eval_categories: tuple[str, ...] | None
    n_eval: int
    n_negatives: int
    n_per_round: int
    seed: int
    #: the config, as messages name it
    where: str

    @classmethod
    def from_config(cls, conf: Mapping[str, Any]) -> DistractionOptions:
        wanted = conf["eval_distraction_categories"]
        return cls(
            source=conf["image_distractions"],
            storage_options=conf["storage_options"],
            exclude_categories=tuple(conf["distraction_exclude_categories"]),
            exclude_images=tuple(conf["distraction_exclude_images"]),
            eval_categories=None if wanted is None else tuple(wanted),
            n_eval=conf["eval_num_distraction_images"],
            n_negatives=conf["num_distraction_images"],
            n_per_round=conf["hn_num_distraction_images"],
            seed=conf["seed"],
            where=_where(conf),
        )


@dataclass(frozen=True)
class TrainingOptions:
    """The classifier's training: regularisation, calibration, solver, hard-negative cap,
    and the box regressor's samples."""

    C: float
    calibration_folds: int
    seed: int
    solver: str
    max_hard_negatives: int
    mine_annotated: bool
    box_samples: int

    @classmethod
    def from_config(cls, conf: Mapping[str, Any]) -> TrainingOptions:
        return cls(
            C=conf["C"],
            calibration_folds=conf["calibration_folds"],
            seed=conf["seed"],
            solver=conf["train_solver"],
            max_hard_negatives=conf["hn_max_total"],
            mine_annotated=conf["hn_mine_annotated"],
            box_samples=conf["box_regression_samples"],
        )


@dataclass(frozen=True)
class EvaluationOptions:
    """What evaluation counts: the PR curve's floor and the probability reported at."""

    min_probability: float
    curve_floor: float

    @classmethod
    def from_config(cls, conf: Mapping[str, Any]) -> EvaluationOptions:
        return cls(
            min_probability=conf["min_probability"],
            curve_floor=min(conf["eval_min_probability"], conf["min_probability"]),
        )


@dataclass(frozen=True)
class ReviewOptions:
    """What the report and the review of mined rounds say about the windows mined."""

    object_name: str
    suspect_probability: float
    suspect_min_contrast: float

    @classmethod
    def from_config(cls, conf: Mapping[str, Any]) -> ReviewOptions:
        return cls(
            object_name=conf["object_name"],
            suspect_probability=conf["hn_suspect_probability"],
            suspect_min_contrast=conf["hn_suspect_min_contrast"],
        )


@dataclass(frozen=True)
class PipelineOptions:
    """The workflow's rounds: how many, the settings search, the annotated-mining report."""

    rounds: int
    search: bool
    compare_annotated_mining: bool
    components: int | None

    @classmethod
    def from_config(cls, conf: Mapping[str, Any]) -> PipelineOptions:
        return cls(
            rounds=conf["hn_rounds"],
            search=conf["search"],
            compare_annotated_mining=conf["report_compare_annotated_mining"],
            components=conf["components"],
        )


@dataclass(frozen=True)
class PathOptions:
    """The inputs a run reads and the files it writes, as the config names them."""

    image_dataset: str
    image_annotations: str
    image_distractions: str
    features_path: str
    classifier_path: str
    output_dir: str

    @classmethod
    def from_config(cls, conf: Mapping[str, Any]) -> PathOptions:
        return cls(
            image_dataset=conf["image_dataset"],
            image_annotations=conf["image_annotations"],
            image_distractions=conf["image_distractions"],
            features_path=conf["features_path"],
            classifier_path=conf["classifier_path"],
            output_dir=conf["output_dir"],
        )


@dataclass(frozen=True)
class Options:
    """Every stage's options, from one config."""

    descriptor: HogParams
    window: WindowOptions
    mining: MiningOptions
    training: TrainingOptions
    evaluation: EvaluationOptions
    execution: ExecutionOptions
    annotations: AnnotationOptions
    split: SplitOptions
    extraction: ExtractionOptions
    distractions: DistractionOptions
    review: ReviewOptions
    pipeline: PipelineOptions
    paths: PathOptions
    remote: RemoteOptions
    #: the config, as messages name it (its file, or ``<config>``)
    where: str

    @classmethod
    def from_config(cls, conf: Mapping[str, Any]) -> Options:
        return cls(
            descriptor=HogParams.from_config(conf),
            window=WindowOptions.from_config(conf),
            mining=MiningOptions.from_config(conf),
            training=TrainingOptions.from_config(conf),
            evaluation=EvaluationOptions.from_config(conf),
            execution=ExecutionOptions.from_config(conf),
            annotations=AnnotationOptions.from_config(conf),
            split=SplitOptions.from_config(conf),
            extraction=ExtractionOptions.from_config(conf),
            distractions=DistractionOptions.from_config(conf),
            review=ReviewOptions.from_config(conf),
            pipeline=PipelineOptions.from_config(conf),
            paths=PathOptions.from_config(conf),
            remote=RemoteOptions.from_config(conf),
            where=_where(conf),
        )


def _where(conf: Mapping[str, Any]) -> str:
    """The config as messages name it: its file, or ``<config>`` for one built in Python."""
    return str(getattr(conf, "path", None) or "<config>")
