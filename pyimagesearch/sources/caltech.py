"""CALTECH-101 annotations: one ``annotation_NNNN.mat`` per ``image_NNNN.jpg``."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.io

from ..infrastructure.errors import AnnotationError
from ..infrastructure.numbers import MAX_PIXEL_COORDINATE, check_ordered, read_number
from ..io.data_files import read_bytes
from .annotated_image import AnnotatedImage

if TYPE_CHECKING:
    from ..infrastructure.options import AnnotationOptions

#: The columns of ``box_coord``, in the order Caltech-101 stores them.
COLUMNS = ("y1", "y2", "x1", "x2")


def read_caltech_mat(path: str | Path) -> np.ndarray:
    """Boxes ``(x1, y1, x2, y2)`` from a Caltech-101 ``.mat`` (``box_coord`` = y1, y2, x1, x2).

    The stored arrays are ``uint8``/``uint16``: they are cast to float *before* any
    arithmetic, so an offset subtracted later cannot wrap around.
    """
    data = read_bytes(path, AnnotationError, "MATLAB annotation file")
    try:
        mat = scipy.io.loadmat(io.BytesIO(data))
    except Exception as exc:
        raise AnnotationError(f"{path}: not a readable MATLAB annotation file ({exc})") from None
    if "box_coord" not in mat:
        raise AnnotationError(f"{path}: no 'box_coord' in annotation file")
    coords = _box_coord(path, mat["box_coord"])
    y1, y2, x1, x2 = coords.T
    return np.stack([x1, y1, x2, y2], axis=1)


def _box_coord(path: str | Path, value: object) -> np.ndarray:
    """``box_coord`` as an ``(n, 4)`` float array of finite numbers, or an error naming the file."""
    raw = np.asarray(value)
    kind = raw.dtype.kind
    if kind not in "uif":
        what = {"U": "text", "S": "text", "O": "a cell or struct", "c": "complex numbers"}
        raise AnnotationError(
            f"{path}: 'box_coord' must hold numbers, not {what.get(kind, str(raw.dtype))}"
        )
    if raw.size == 0:
        raise AnnotationError(f"{path}: annotation file holds no box")
    if raw.ndim > 2 or raw.shape[-1] != 4:
        raise AnnotationError(
            f"{path}: 'box_coord' must have 4 columns (y1, y2, x1, x2), got shape {raw.shape}"
        )
    coords = raw.astype(np.float64).reshape(-1, 4)
    for r, row in enumerate(coords, start=1):
        where = f"{path}: 'box_coord' row {r}"
        y1, y2, x1, x2 = (
            read_number(
                v, where, f"column {c} ({name})", -MAX_PIXEL_COORDINATE, MAX_PIXEL_COORDINATE
            )
            for c, (name, v) in enumerate(zip(COLUMNS, row), start=1)
        )
        check_ordered(y1, y2, where, ("y1", "y2"))
        check_ordered(x1, x2, where, ("x1", "x2"))
    return coords


def read_caltech_folder(options: AnnotationOptions) -> list[AnnotatedImage]:
    """Pair every ``annotation_NNNN.mat`` with ``image_NNNN.jpg`` in ``image_dataset``."""
    ann_dir, img_dir = Path(options.annotations), Path(options.images)
    if not ann_dir.is_dir():
        raise AnnotationError(f"{ann_dir}: annotation folder does not exist")
    items = []
    for mat in sorted(ann_dir.glob("*.mat")):
        image = img_dir / (mat.stem.replace("annotation_", "image_") + ".jpg")
        if not image.is_file():
            raise AnnotationError(f"{mat}: its image {image} does not exist")
        items.append(AnnotatedImage(image, read_caltech_mat(mat)))
    return items
