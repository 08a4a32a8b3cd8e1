"""Which reader reads which ``annotation_format``, and the seeded train/test split.

Readers for each format (Caltech-101 ``.mat``, Pascal VOC, COCO, YOLO, dlib XML,
folders of crops) return ``list[AnnotatedImage]``; everything downstream sees only
that record (``annotated.py``). ``READERS`` is the one list of formats: the config's
``annotation_format`` accepts exactly its names. The readers take the typed
``AnnotationOptions`` (``conf.options.annotations``), never the config: the one mapping
of config keys to fields is ``infrastructure/options.py``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..infrastructure.errors import AnnotationError, ConfigError
from .annotated_image import AnnotatedImage

if TYPE_CHECKING:
    from ..infrastructure.options import AnnotationOptions

__all__ = ["READERS", "AnnotatedImage", "read_annotations", "reader", "split_train_test"]

log = logging.getLogger(__name__)

#: ``annotation_format`` name -> the ``module:function`` (in this package) that reads it.
#: Modules are imported when their format is used, so one reader's dependency
#: (pycocotools for COCO) never keeps the others from working.
READERS: dict[str, str] = {
    "caltech-mat": "caltech:read_caltech_folder",
    "voc-xml": "formats:read_voc",
    "coco-json": "formats:read_coco",
    "yolo-txt": "formats:read_yolo",
    "dlib-xml": "formats:read_dlib",
    "crops": "formats:read_crops",
}


def reader(fmt: str) -> Callable[[AnnotationOptions], list[AnnotatedImage]]:
    """The reader function of an ``annotation_format`` name."""
    if fmt not in READERS:
        raise ConfigError(f"key 'annotation_format': no reader for '{fmt}'")
    module, func = READERS[fmt].split(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), func)


def read_annotations(options: AnnotationOptions) -> list[AnnotatedImage]:
    """Read the annotated images ``options`` name (``conf.options.annotations``), in a
    stable (sorted) order."""
    items = reader(options.format)(options)
    if not items:
        raise AnnotationError(f"{options.annotations}: no annotated images found")
    return sorted(items, key=lambda item: str(item.path))


def split_train_test(
    items: list[AnnotatedImage], percent_train: float, seed: int
) -> tuple[list[AnnotatedImage], list[AnnotatedImage]]:
    """Seeded random split of annotated images into a training and a held-out test share.

    A share that would be empty (too few images, or ``percent_gt_images`` too close to
    0 or 1) is refused with a message naming the key; exactly 1 trains on every image
    (the Python API does: it evaluates on images of its own).
    """
    if percent_train >= 1:
        return list(items), []
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
