"""Apply a detector to image files (one, a folder, many), in parallel."""

from __future__ import annotations

import contextlib
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from ..infrastructure.errors import ImageReadError, PyImageSearchError, Skipped
from ..infrastructure.parallel import map_images
from ..io.images import IMAGE_EXTENSIONS, list_images, read_gray
from ..io.remote import RemoteOptions, is_url
from ..model.linear import LinearModel
from .multiclass import detector_of

if TYPE_CHECKING:
    from ..infrastructure.options import ExecutionOptions, WindowOptions


def detect_file(
    path: str | os.PathLike,
    model: LinearModel,
    window: WindowOptions,
    max_pixels: int,
    remote: RemoteOptions | None = None,
) -> dict | Skipped:
    """Detections of one image file (or URL, fetched with ``remote``'s options) at
    ``>= window.min_probability``, or an error message."""
    try:
        image = read_gray(path, max_pixels, remote)
    except ImageReadError as exc:
        return Skipped(str(exc))
    det = detector_of(model, window).detect(image)
    return {
        "boxes": det.boxes,
        "probabilities": det.probabilities,
        "labels": det.labels,
        "shape": image.shape,
    }


def image_paths(
    path: str | os.PathLike,
    storage_options: dict | None = None,
    remote: RemoteOptions | None = None,
) -> list[Path | str]:
    """The image itself, or the images under a folder; a URL of an image, or a URL
    prefix or URL list (see ``sources/image_lists.py``): the URLs of its images (a
    prefix listed with ``remote``'s timeout)."""
    from ..sources.image_lists import is_url_list, list_image_refs

    if is_url(path):
        if Path(urlsplit(str(path)).path).suffix.lower() in IMAGE_EXTENSIONS:
            return [str(path)]
        return list_image_refs(path, storage_options=storage_options, remote=remote)
    if is_url_list(path) and Path(path).is_file():
        return list_image_refs(path)
    path = Path(path)
    if path.is_dir():
        return list_images(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such image or folder")
    return [path]


def drawing_paths(paths: list[Path], source: str | os.PathLike, out_dir: Path) -> list[Path]:
    """One output PNG per input, never an input: ``out_dir/<sub-path>/<stem>.png``.

    The sub-path below ``source`` (a folder) is mirrored, so ``a/car.jpg`` and
    ``b/car.jpg`` get their own drawings. When ``<stem>.png`` would be an input (output
    folder = input folder) or another input's drawing, ``<name>.png`` is used instead
    (``car.png.png``, ``car.jpg.png``); when even that is an input, the run is refused.
    """
    source = Path(source)
    inputs = {Path(p).resolve() for p in paths if not is_url(p)}

    def base(path: Path | str) -> Path:
        return out_dir / _relative(path, source).with_suffix(".png")

    counts = Counter(base(p).resolve() for p in paths)
    out = []
    for path in paths:
        dest = base(path)
        if counts[dest.resolve()] > 1 or dest.resolve() in inputs:
            dest = dest.with_name(_relative(path, source).name + ".png")
        out.append(dest)
    resolved = [d.resolve() for d in out]
    clash = next((p for p, d in zip(paths, resolved) if d in inputs), None)
    if clash is None and len(set(resolved)) < len(resolved):
        clash = next(p for p, d in zip(paths, resolved) if resolved.count(d) > 1)
    if clash is not None:
        raise PyImageSearchError(
            f"{clash}: no drawing name in {out_dir} that is neither an input nor another "
            "image's drawing; choose another --output folder"
        )
    return out


def label_paths(paths: list[Path], source: str | os.PathLike, out_dir: Path) -> list[Path]:
    """One YOLO label file per input, ``out_dir/<sub-path>/<stem>.txt`` (sub-folders mirrored).

    YOLO pairs a label with its image by file stem, so two inputs of one folder that
    differ only in their extension (``car.jpg``, ``car.png``) are refused.
    """
    source = Path(source)
    out, seen = [], {}
    for path in paths:
        dest = out_dir / _relative(path, source).with_suffix(".txt")
        other = seen.setdefault(dest.resolve(), path)
        if other != path:
            raise PyImageSearchError(f"{path} and {other} would both write the label file {dest}")
        out.append(dest)
    return out


def _relative(path: Path | str, source: Path) -> Path:
    """Where an input's outputs go below the output folder: its path below the input
    folder, its name, or for a URL its host and path (``host/dir/name``)."""
    if is_url(path):
        split = urlsplit(str(path))
        parts = [unquote(p) for p in split.path.split("/")]
        parts = [re.sub(r"[\\:]", "_", p) for p in parts if p not in ("", ".", "..")]
        return Path(re.sub(r"[\\:]", "_", split.netloc) or "remote", *parts)
    path = Path(path)
    return path.relative_to(source) if source.is_dir() else Path(path.name)


def check_outputs(outputs: Iterable[tuple[str, Path]], inputs: Iterable[str | os.PathLike]) -> None:
    """Refuse an output file that is one of the inputs or another output, naming both."""
    read = {Path(p).resolve(): Path(p) for p in inputs}
    written: dict[Path, str] = {}
    for what, path in outputs:
        real = Path(path).resolve()
        if real in read:
            raise PyImageSearchError(
                f"{path}: the {what} would overwrite the input {read[real]}; choose another file"
            )
        if real in written:
            raise PyImageSearchError(f"{path}: both the {written[real]} and the {what} write it")
        written[real] = what


def existing_labels(labels: Iterable[Path]) -> list[Path]:
    """The label files that already exist (or are dangling links): kept unless --overwrite."""
    return [p for p in labels if os.path.lexists(p)]


def detect_files(
    paths: list[Path],
    model: LinearModel,
    window: WindowOptions,
    execution: ExecutionOptions,
    min_probability: float | None = None,
    progress: bool = True,
    remote: RemoteOptions | None = None,
) -> list[tuple[Path, dict | Skipped]]:
    """``[(path, result)]`` for each path; result as :func:`detect_file` returns.
    ``min_probability`` overrides the window's; URLs are fetched with ``remote``."""
    if min_probability is not None:
        window = replace(window, min_probability=min_probability)
    results = map_images(  # closed once every path has its result: the workers stop
        detect_file,
        paths,
        execution.n_jobs,
        execution.scheduler,
        desc="detecting",
        scheduler_timeout=execution.scheduler_timeout,
        progress=progress,
        model=model,
        window=window,
        max_pixels=execution.max_image_pixels,
        remote=remote,
    )
    with contextlib.closing(results):
        return list(zip(paths, results))
