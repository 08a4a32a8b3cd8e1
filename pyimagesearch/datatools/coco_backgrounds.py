"""COCO images that hold none of some categories: a clean source of background negatives.

Selection: every image with at least one annotation, none of whose annotations
(crowd ones included) belongs to an excluded category or supercategory. Images with
no annotation at all are added only on request (``include_unannotated``). Ids are
sorted; with ``num`` the first ``num`` ids are kept, or with ``seed`` a seeded random
sample of ``num`` (returned sorted). The output folder holds ``images/<file_name>``,
an empty ``labels/<stem>.txt`` per image (the YOLO "background" convention) and
``manifest.csv``; it can be used directly as ``image_distractions``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from pycocotools.coco import COCO

from ..infrastructure.errors import UnsafePathError
from ..io.safe_paths import check_relative, is_inside, safe_child
from ..sources.coco import CategoryError, load_coco, unknown_category
from .download import (
    DownloadError,
    DownloadOptions,
    DownloadSummary,
    DownloadTask,
    FileResult,
    download_files,
    finish_image_folder,
    image_verifier,
    read_manifest,
    recorded_checks,
    stale_lines,
)

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.csv"


class DownloadSourceError(DownloadError):
    """A record does not say where its image can be fetched or copied from."""


@dataclass
class BackgroundsReport:
    """What a background fetch selected, fetched and left behind."""

    out_dir: Path
    excluded: list[str]
    candidates: int
    selected: list[int]
    summary: DownloadSummary
    stale: list[Path] = field(default_factory=list)
    pruned: int = 0

    def format(self) -> str:
        """Several lines for the command line."""
        lines = [
            f"excluded categories: {', '.join(self.excluded)}",
            f"background candidates: {self.candidates}; selected: {len(self.selected)}",
            self.summary.format(),
            f"output: {self.out_dir} ({len(self.summary.kept)} images)",
        ]
        lines.extend(stale_lines(self.stale, self.pruned, self.out_dir))
        return "\n".join(lines)


def resolve_categories(
    coco: COCO,
    names: Iterable[str] = (),
    supercategories: Iterable[str] = (),
    where: object = "annotations",
) -> dict[int, str]:
    """Category ids (-> names) for category names plus every category of the supercategories."""
    cats = coco.loadCats(coco.getCatIds())
    by_name = {c["name"]: c["id"] for c in cats}
    supers = {c.get("supercategory", "") for c in cats}
    chosen: dict[int, str] = {}
    for name in names:
        if name not in by_name:
            raise unknown_category("category", name, by_name, where)
        chosen[by_name[name]] = name
    for sup in supercategories:
        if sup not in supers:
            raise unknown_category("supercategory", sup, supers - {""}, where)
        for cid in coco.getCatIds(supNms=[sup]):
            chosen[cid] = coco.cats[cid]["name"]
    return chosen


def select_backgrounds(
    coco: COCO,
    exclude_cat_ids: Iterable[int],
    include_unannotated: bool = False,
    num: int | None = None,
    seed: int | None = None,
) -> tuple[list[int], int]:
    """Sorted ids of images with none of the categories, and the number of candidates."""
    excluded: set[int] = set()
    for cid in exclude_cat_ids:  # getImgIds(catIds=[a, b]) is an intersection: union by hand
        excluded |= set(coco.getImgIds(catIds=[cid]))
    annotated = {img_id for img_id, anns in coco.imgToAnns.items() if anns}
    candidates = sorted(
        img_id
        for img_id in coco.getImgIds()
        if img_id not in excluded and (include_unannotated or img_id in annotated)
    )
    if num is not None and len(candidates) > num:
        if seed is None:
            chosen = candidates[:num]
        else:
            picks = np.random.default_rng(seed).choice(len(candidates), num, replace=False)
            chosen = sorted(candidates[i] for i in picks)
    else:
        chosen = candidates
    return chosen, len(candidates)


def coco_image_url(img: dict, base_url: str | None = None) -> str:
    """The record's ``coco_url``, with scheme and host replaced by ``base_url`` when given."""
    url = img.get("coco_url") or ""
    if not url:
        raise DownloadSourceError(f"image {img.get('id')}: record has no coco_url")
    if not base_url:
        return url
    parts = urlsplit(url)
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    return base_url.rstrip("/") + tail


def find_local_image(
    images_dir: Path, img: dict, index: dict[str, Path] | None = None
) -> Path | None:
    """``file_name`` in ``images_dir``, in the split folder of its coco_url, or any subfolder.

    ``index`` (file name -> path, from :func:`index_images`) avoids a folder walk per image.
    A ``file_name`` or coco_url path that would leave ``images_dir`` raises
    :class:`UnsafePathError`.
    """
    what = f"image id {img.get('id')}: file_name"
    name = check_relative(img.get("file_name"), what=what)
    candidates = [safe_child(images_dir, name, what=what)]
    url_path = urlsplit(img.get("coco_url") or "").path.strip("/")
    if "/" in url_path:
        candidates.append(safe_child(images_dir, url_path, what=f"image id {img.get('id')}: url"))
    for path in candidates:
        if path.is_file():
            return path
    index = index_images(images_dir) if index is None else index
    found = index.get(Path(name).name)
    if found is not None and not is_inside(found, images_dir):
        raise UnsafePathError(f"{what} {name!r} refused: {found} resolves outside {images_dir}")
    return found


def index_images(images_dir: Path) -> dict[str, Path]:
    """File name -> first path (sorted walk) of every file under ``images_dir``."""
    index: dict[str, Path] = {}
    for root, dirs, files in os.walk(images_dir):
        dirs.sort()
        for name in sorted(files):
            index.setdefault(name, Path(root) / name)
    return index


class _LocalLookup:
    """Finds the records' files in a local images folder, walking it at most once."""

    def __init__(self, images_dir: Path):
        self.images_dir = images_dir
        self.index: dict[str, Path] | None = None

    def find(self, img: dict, where: object) -> Path:
        """The record's file; refusals name ``where`` (the annotation file)."""
        try:
            source = find_local_image(self.images_dir, img, self.index or {})
            if source is None:  # not where expected: one walk of the folder, then lookups
                self.index = index_images(self.images_dir) if self.index is None else self.index
                source = find_local_image(self.images_dir, img, self.index)
        except UnsafePathError as exc:
            raise UnsafePathError(f"{where}: {exc}") from None
        if source is None:
            raise DownloadSourceError(f"{img['file_name']} not found in {self.images_dir}")
        return source


def _dest_of(img_dir: Path, img: dict, where: object) -> Path:
    """``img_dir / <file name of the record>``; a ``file_name`` that is not safe is refused."""
    what = f"{where}: image id {img.get('id')}: file_name"
    name = check_relative(img.get("file_name"), what=what)
    return safe_child(img_dir, Path(name).name, what=what)


def fetch_coco_backgrounds(
    annotations: str | os.PathLike,
    out_dir: str | os.PathLike,
    exclude: Sequence[str] = (),
    exclude_supercategories: Sequence[str] = (),
    num: int | None = None,
    base_url: str | None = None,
    images_dir: str | os.PathLike | None = None,
    include_unannotated: bool = False,
    seed: int | None = None,
    prune: bool = False,
    options: DownloadOptions | None = None,
) -> BackgroundsReport:
    """Select COCO background images and fetch them (resumable) into ``out_dir``.

    ``options`` (workers, retries, timeouts, ...) drive the download; images of more than
    ``options.max_image_pixels`` pixels are refused before decoding.
    """
    options = options or DownloadOptions()
    if not exclude and not exclude_supercategories:
        raise CategoryError("name at least one category or supercategory to exclude")
    if num is not None and num < 1:
        raise CategoryError(f"num must be >= 1 (got {num})")
    if base_url and images_dir:
        raise DownloadSourceError("give either a base URL or a local images folder, not both")
    if base_url and urlsplit(base_url).scheme not in ("http", "https"):
        raise DownloadSourceError(f"base URL must start with http:// or https:// ({base_url})")
    local_dir = Path(images_dir) if images_dir else None
    if local_dir is not None and not local_dir.is_dir():
        raise DownloadSourceError(f"{local_dir}: images folder does not exist")

    coco = load_coco(annotations)
    cats = resolve_categories(coco, exclude, exclude_supercategories, where=annotations)
    selected, n_candidates = select_backgrounds(
        coco, cats, include_unannotated=include_unannotated, num=num, seed=seed
    )
    log.info("%d background candidates, %d selected", n_candidates, len(selected))

    out = Path(out_dir)
    img_dir = out / "images"
    previous = read_manifest(out / MANIFEST_NAME)
    tasks, failures, id_of = [], [], {}
    lookup = _LocalLookup(local_dir) if local_dir is not None else None
    for img_id in selected:
        img = coco.imgs[img_id]
        dest = _dest_of(img_dir, img, annotations)
        id_of[dest.name] = img_id
        checks = recorded_checks(previous.get(dest.name))
        try:
            source = lookup.find(img, annotations) if lookup else coco_image_url(img, base_url)
        except DownloadSourceError as exc:
            failures.append((DownloadTask(str(img_id), "", dest), str(exc)))
            continue
        tasks.append(DownloadTask(str(img_id), source, dest, **checks))

    summary = download_files(
        tasks,
        options,
        verify=image_verifier(options.max_image_pixels),
        desc="COCO backgrounds",
        root=out,
    )
    summary.results.extend(FileResult(task, "failed", reason) for task, reason in failures)
    stale, pruned = finish_image_folder(
        out, summary, previous, lambda res: id_of[res.task.dest.name], labels=True, prune=prune
    )
    return BackgroundsReport(
        out, sorted(cats.values()), n_candidates, selected, summary, stale, pruned
    )
