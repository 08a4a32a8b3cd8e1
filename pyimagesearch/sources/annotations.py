"""The common record every annotation reader produces, and the train/test split.

Readers for each format (Caltech-101 ``.mat``, Pascal VOC, COCO, YOLO, dlib XML,
folders of crops) return ``list[AnnotatedImage]``; everything downstream sees only
this record. Boxes are ``(x1, y1, x2, y2)`` in 0-based pixel coordinates of the
image, ``x2``/``y2`` exclusive (so ``image[y1:y2, x1:x2]`` is the object).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import AnnotationError, ConfigError

if TYPE_CHECKING:
    from ..config import Config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnnotatedImage:
    """One image and the boxes of the target class in it (``boxes`` may be empty)."""

    path: Path
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float64))

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "path", Path(self.path))


#: format name -> reader(conf) -> list[AnnotatedImage]; filled by each reader module.
READERS: dict[str, Callable] = {}


def register_reader(name: str) -> Callable[[Callable], Callable]:
    """Decorator that makes a reader selectable with the config key ``annotation_format``."""

    def wrap(func: Callable) -> Callable:
        READERS[name] = func
        return func

    return wrap


def read_annotations(conf: Config) -> list[AnnotatedImage]:
    """Read the annotated images named by the config, in a stable (sorted) order."""
    from . import caltech  # noqa: F401  (registers the default reader)

    try:
        from . import formats  # noqa: F401  (registers the other readers, when present)
    except ImportError:
        pass
    fmt = conf["annotation_format"]
    if fmt not in READERS:
        raise ConfigError(f"{conf.path}: key 'annotation_format': no reader for '{fmt}'")
    items = READERS[fmt](conf)
    if not items:
        raise AnnotationError(f"{conf['image_annotations']}: no annotated images found")
    return sorted(items, key=lambda item: str(item.path))


def clip_boxes(item: AnnotatedImage, width: int, height: int) -> np.ndarray:
    """The item's boxes clipped to the image; boxes left with no area are dropped."""
    boxes = item.boxes.copy()
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    if not keep.all():
        log.warning(
            "%s: dropped %d box(es) outside the image or with zero area",
            item.path,
            int((~keep).sum()),
        )
    return boxes[keep]


def split_train_test(
    items: list[AnnotatedImage], percent_train: float, seed: int
) -> tuple[list[AnnotatedImage], list[AnnotatedImage]]:
    """Seeded random split of annotated images into a training and a held-out test share.

    A share that would be empty (too few images, or ``percent_gt_images`` too close to
    0 or 1) is refused with a message naming the key.
    """
    order = np.random.default_rng(seed).permutation(len(items))
    n_train = int(round(len(items) * percent_train))
    if n_train < 1 or n_train >= len(items):
        share = "training" if n_train < 1 else "test"
        raise ConfigError(
            f"key 'percent_gt_images': {percent_train} of {len(items)} annotated image(s) "
            f"leaves the {share} share empty; choose a value so that both shares hold "
            "at least one image"
        )
    train = [items[i] for i in sorted(order[:n_train])]
    test = [items[i] for i in sorted(order[n_train:])]
    return train, test
