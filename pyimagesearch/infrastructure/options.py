"""The config, read once into small typed options: one per stage of the workflow.

As dlib hands each step one options object, the layers below the workflow take the
options of their own stage (the descriptor's ``HogParams``, the detector's
``WindowOptions``, the workers' ``ExecutionOptions``...) instead of the whole config:
they never look a key up, and cannot read one that belongs to another stage.
``Config.options`` builds them once per config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..descriptor.params import HogParams


@dataclass(frozen=True)
class WindowOptions:
    """How the detector slides its window over the image pyramid."""

    window_dim: tuple[int, int]
    step: int = 4
    pyramid_scale: float = 1.5
    min_probability: float = 0.7
    overlap_thresh: float = 0.3
    padding: float = 0.0
    upsample: int = 0
    approximate: bool = False

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
    """Which windows of an image mining keeps, and how (``hn_`` keys of the config)."""

    window: WindowOptions
    max_per_image: int | None = None
    apply_nms: bool = False
    negative_iou_max: float = 0.3
    negative_cover_max: float = 0.5
    margin: float | None = None
    margin_per_image: int = 0
    top_k: int | None = None
    max_pixels: int = 40_000_000

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

    n_jobs: int = -1
    scheduler: str | None = None
    scheduler_timeout: float = 10.0
    max_image_pixels: int = 40_000_000
    checkpoint_every: int = 64

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
class TrainingOptions:
    """The classifier's training: regularisation, calibration, solver, hard-negative cap."""

    C: float = 0.01
    calibration_folds: int = 3
    seed: int = 42
    solver: str = "liblinear"
    max_hard_negatives: int = 20000
    mine_annotated: bool = True

    @classmethod
    def from_config(cls, conf: Mapping[str, Any]) -> TrainingOptions:
        return cls(
            C=conf["C"],
            calibration_folds=conf["calibration_folds"],
            seed=conf["seed"],
            solver=conf["train_solver"],
            max_hard_negatives=conf["hn_max_total"],
            mine_annotated=conf["hn_mine_annotated"],
        )


@dataclass(frozen=True)
class EvaluationOptions:
    """What evaluation counts: the PR curve's floor and the probability reported at."""

    min_probability: float = 0.7
    curve_floor: float = 0.05

    @classmethod
    def from_config(cls, conf: Mapping[str, Any]) -> EvaluationOptions:
        return cls(
            min_probability=conf["min_probability"],
            curve_floor=min(conf["eval_min_probability"], conf["min_probability"]),
        )


@dataclass(frozen=True)
class PathOptions:
    """The files a run writes."""

    features_path: Path
    classifier_path: Path
    output_dir: Path

    @classmethod
    def from_config(cls, conf: Mapping[str, Any]) -> PathOptions:
        return cls(
            Path(conf["features_path"]), Path(conf["classifier_path"]), Path(conf["output_dir"])
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
    paths: PathOptions

    @classmethod
    def from_config(cls, conf: Mapping[str, Any]) -> Options:
        return cls(
            descriptor=HogParams.from_config(conf),
            window=WindowOptions.from_config(conf),
            mining=MiningOptions.from_config(conf),
            training=TrainingOptions.from_config(conf),
            evaluation=EvaluationOptions.from_config(conf),
            execution=ExecutionOptions.from_config(conf),
            paths=PathOptions.from_config(conf),
        )
