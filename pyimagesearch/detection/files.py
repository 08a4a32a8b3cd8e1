"""Apply a detector to image files (one, a folder, many), in parallel."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ImageReadError
from ..io.images import list_images, read_gray
from ..model.linear import LinearModel
from ..parallel import map_images
from .detector import Detector

if TYPE_CHECKING:
    from ..config import Config


def detect_file(
    path: str | os.PathLike,
    model: LinearModel,
    step: int,
    scale: float,
    min_probability: float,
    overlap: float,
    max_pixels: int,
) -> dict | str:
    """Detections of one image file at ``>= min_probability``, or an error message."""
    try:
        image = read_gray(path, max_pixels)
    except ImageReadError as exc:
        return str(exc)
    det = Detector(model, step, scale, min_probability, overlap).detect(image)
    return {"boxes": det.boxes, "probabilities": det.probabilities, "shape": image.shape}


def image_paths(path: str | os.PathLike) -> list[Path]:
    """The image itself, or the images under a folder."""
    path = Path(path)
    if path.is_dir():
        return list_images(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such image or folder")
    return [path]


def detect_files(
    conf: Config,
    paths: list[Path],
    model: LinearModel,
    min_probability: float | None = None,
    progress: bool = True,
) -> list[tuple[Path, dict | str]]:
    """``[(path, result)]`` for each path; result as :func:`detect_file` returns."""
    p = conf["min_probability"] if min_probability is None else min_probability
    results = map_images(  # closed once every path has its result: the workers stop
        detect_file,
        paths,
        conf["n_jobs"],
        conf["scheduler"],
        desc="detecting",
        progress=progress,
        model=model,
        step=conf["window_step"],
        scale=conf["pyramid_scale"],
        min_probability=p,
        overlap=conf["overlap_thresh"],
        max_pixels=conf["max_image_pixels"],
    )
    with contextlib.closing(results):
        return list(zip(paths, results))
