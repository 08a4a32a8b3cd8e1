"""Reading COCO instances JSON: one loader and one error for a misspelled category name."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..infrastructure.errors import AnnotationError, did_you_mean

if TYPE_CHECKING:
    from pycocotools.coco import COCO


class CategoryError(AnnotationError):
    """A category or supercategory name that the annotation file does not have."""


def load_coco(path: str | os.PathLike) -> COCO:
    """Load a COCO instances JSON with pycocotools (its progress prints are swallowed)."""
    from pycocotools.coco import COCO  # only the COCO format needs pycocotools

    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: COCO annotation file does not exist")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(str(path))
    except (ValueError, AssertionError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"{path}: not a COCO annotation file ({exc})") from None
    if "images" not in coco.dataset or "categories" not in coco.dataset:
        raise AnnotationError(f"{path}: no 'images' or 'categories' (not COCO instances)")
    return coco


def unknown_category(kind: str, name: str, valid: Iterable[str], where: object) -> CategoryError:
    """An error naming a misspelled category with close matches and the valid names."""
    valid = sorted(set(valid))
    return CategoryError(
        f"{where}: unknown {kind} '{name}'{did_you_mean(name, valid, n=3)}; "
        f"valid names: {', '.join(valid)}"
    )
