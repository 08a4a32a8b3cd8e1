"""Turn a config value into a list of image *references*: local ``Path``s or URL strings.

``image_distractions`` (and ``image_dataset`` for crops, ``test_model.py --image``) may be

- a local folder: listed by :func:`~pyimagesearch.io.images.list_images`, unchanged;
- an fsspec URL prefix (``s3://bucket/prefix``, ``gs://...``, ``http(s)://host/dir/``
  with a directory listing): the image files below it, as URL strings;
- a URL list: a text file of one URL (or local path) per line, or a CSV with a ``url``,
  ``OriginalURL``, ``coco_url`` or ``image_url`` column (the Open Images and COCO image
  tables work as they are).

Remote references are put in the order a local folder of the same files lists them in
(each folder's files by name, then its sub-folders by name), so the seeded split of the
same images is the same whichever way they are stored. A remote image's category is
the first folder below the prefix, or for a URL list its parent folder's name.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..infrastructure.errors import ConfigError
from ..infrastructure.numbers import quote
from ..io.data_files import read_text
from ..io.images import IMAGE_EXTENSIONS, category_of, list_images
from ..io.remote import RemoteOptions, RemoteReadError, failure_text, filesystem, is_url

log = logging.getLogger(__name__)

#: An image reference: a local file, or a URL string fetched by the workers.
ImageRef = Path | str

#: CSV columns holding image URLs, in order of preference.
URL_COLUMNS = ("url", "OriginalURL", "coco_url", "image_url")
#: Longest URL list entry read (longer ones are no path or URL a server or disk accepts).
MAX_ENTRY = 8192
#: Local files read as URL lists (anything else that is a file is refused).
LIST_SUFFIXES = (".txt", ".csv", ".lst", ".urls")


def is_url_list(value: str | os.PathLike) -> bool:
    """Whether ``value`` names a local URL-list file (text or CSV) rather than a folder."""
    return not is_url(value) and Path(value).suffix.lower() in LIST_SUFFIXES


def is_remote_source(value: str | os.PathLike) -> bool:
    """Whether the images of ``value`` are URLs or a URL list (not a local folder)."""
    return is_url(value) or is_url_list(value)


def list_image_refs(
    value: str | os.PathLike,
    exclude_categories: Iterable[str] = (),
    exclude_images: Iterable[str] = (),
    storage_options: Mapping[str, Any] | None = None,
    remote: RemoteOptions | None = None,
) -> list[ImageRef]:
    """The images named by a config value, in a stable order (see the module docstring).

    A URL prefix is listed with ``remote``'s timeout (default: ``RemoteOptions`` with
    ``storage_options``)."""
    if not is_remote_source(value):
        return list_images(value, exclude_categories, exclude_images)
    if is_url_list(value):
        refs, root = _read_url_list(Path(value)), None
    else:
        remote = remote or RemoteOptions(dict(storage_options or {}))
        refs, root = _list_prefix(str(value), remote), str(value)
    refs = sorted(dict.fromkeys(refs), key=_walk_key)
    return exclude_refs(refs, root, exclude_categories, exclude_images)


def exclude_refs(
    refs: list[ImageRef],
    root: str | os.PathLike | None,
    exclude_categories: Iterable[str] = (),
    exclude_images: Iterable[str] = (),
) -> list[ImageRef]:
    """``refs`` without the images of the excluded categories or named (by name or URL)."""
    excluded_dirs, excluded_files = set(exclude_categories), set(exclude_images)
    return [
        ref
        for ref in refs
        if ref_category(ref, root) not in excluded_dirs
        and ref_name(ref) not in excluded_files
        and str(ref) not in excluded_files
    ]


def ref_name(ref: ImageRef) -> str:
    """The file name of a reference (a URL's last path component, unquoted)."""
    if is_url(ref):
        return unquote(urlsplit(str(ref)).path.rstrip("/").rsplit("/", 1)[-1])
    return Path(ref).name


def ref_category(ref: ImageRef, root: str | os.PathLike | None) -> str:
    """The category of an image: the first folder below ``root`` (a local folder or a URL
    prefix) holding it, '' for an image directly in it; without a root that holds it
    (a URL list), the name of its parent folder. Raises ValueError for a local image
    outside a local ``root``."""
    if not is_url(ref):
        if root is not None and not is_remote_source(root):
            return category_of(ref, root)
        return Path(ref).parent.name
    if root is not None and is_url(root):
        prefix = str(root).rstrip("/") + "/"
        if str(ref).startswith(prefix):
            parts = _url_parts(str(ref)[len(prefix) :])
            return parts[0] if len(parts) > 1 else ""
    parts = _url_parts(urlsplit(str(ref)).path)
    return parts[-2] if len(parts) > 1 else ""


def ref_categories(refs: Iterable[ImageRef], root: str | os.PathLike | None) -> set[str]:
    """Every category among ``refs`` (to check ``distraction_exclude_categories``)."""
    return {ref_category(ref, root) for ref in refs}


def ref_order(ref: ImageRef) -> tuple:
    """Sort key ordering URLs as their paths (a local ``Path`` sorts by its parts)."""
    if is_url(ref):
        split = urlsplit(str(ref))
        return (f"{split.scheme}://{split.netloc}", *_url_parts(split.path), split.query)
    return ("", *Path(ref).parts)


def _url_parts(path: str) -> list[str]:
    return [unquote(p) for p in path.split("/") if p]


def _walk_key(ref: ImageRef) -> tuple:
    """Sort key giving a folder walk's order: a folder's files (by name), then its sub-folders."""
    if is_url(ref):
        split = urlsplit(str(ref))
        head, parts = f"{split.scheme}://{split.netloc}", _url_parts(split.path)
        parts[-1:] = [parts[-1] + ("?" + split.query if split.query else "")] if parts else []
    else:
        head, parts = "", list(Path(ref).parts)
    return (head, *[(1, d) for d in parts[:-1]], (0, parts[-1] if parts else ""))


def _read_url_list(path: Path) -> list[ImageRef]:
    """The URLs (or local paths, relative to the list's folder) of a text or CSV list."""
    if not os.path.lexists(path):
        raise ConfigError(f"{path}: URL list does not exist")
    text = read_text(path, ConfigError, "URL list", encoding="utf-8-sig")
    lines = text.splitlines()
    if path.suffix.lower() == ".csv":
        try:
            rows = csv.DictReader(lines)
            column = next((c for c in URL_COLUMNS if c in (rows.fieldnames or ())), None)
            if column is None:
                raise ConfigError(
                    f"{path}: URL list CSV has no {', '.join(URL_COLUMNS[:-1])} or "
                    f"{URL_COLUMNS[-1]} column (columns: {', '.join(rows.fieldnames or [])})"
                )
            entries = [
                (f"{path}:{rows.line_num}: column '{column}'", (row.get(column) or "").strip())
                for row in rows
            ]
        except csv.Error as exc:
            raise ConfigError(f"{path}: cannot read URL list CSV ({exc})") from None
    else:
        entries = [(f"{path}:{n}", line.strip()) for n, line in enumerate(lines, start=1)]
    entries = [(w, e) for w, e in entries if e and not e.startswith("#")]  # blanks, comments
    refs, skipped = [], []
    for where, entry in entries:
        problem = _entry_problem(entry)
        if problem:
            skipped.append(f"{where}: {problem}")
        else:
            refs.append(entry if is_url(entry) else (path.parent / entry))
    _log_skipped(skipped)
    return refs


def _entry_problem(entry: str) -> str | None:
    """Why a URL list entry cannot name an image (None when it can)."""
    if len(entry) > MAX_ENTRY:
        return f"{quote(entry)} ({len(entry)} characters) is longer than any path or URL; skipped"
    if any(ord(c) < 32 for c in entry):
        return f"{quote(entry)} holds control characters; skipped"
    if is_url(entry):
        split = urlsplit(entry)
        if split.scheme.lower() in ("http", "https") and not split.netloc:
            return f"{quote(entry)} is a URL without a host; skipped"
        return None
    if Path(entry).suffix.lower() not in IMAGE_EXTENSIONS:
        return (
            f"{quote(entry)} is neither a URL nor an image file name "
            f"({', '.join(sorted(IMAGE_EXTENSIONS))}); skipped"
        )
    return None


def _log_skipped(messages: list[str], shown: int = 5) -> None:
    """One warning per skipped entry, the first ``shown`` of them, then a count."""
    for message in messages[:shown]:
        log.warning("%s", message)
    if len(messages) > shown:
        log.warning("... and %d more URL list entries skipped", len(messages) - shown)


def _list_prefix(prefix: str, options: RemoteOptions) -> list[str]:
    """The image files below an fsspec URL prefix, as URLs."""
    fs, root = filesystem(prefix, options)
    try:
        if prefix.startswith(("http://", "https://")):
            fs.ls(root, detail=False)  # fsspec's HTTP find() lists nothing, silently, on errors
        found = fs.find(root)
    except FileNotFoundError:
        raise ConfigError(f"{prefix}: no such bucket or prefix") from None
    except Exception as exc:  # network, credentials, listing refused
        reason = failure_text(exc, options)
        raise RemoteReadError(f"{prefix}: cannot list images ({reason})") from None
    base = root.rstrip("/") + "/"  # found paths below it keep the prefix as written
    urls = [
        prefix.rstrip("/") + "/" + p[len(base) :]
        if p.startswith(base)
        else (p if is_url(p) else fs.unstrip_protocol(p))
        for p in found
    ]
    images = [u for u in urls if Path(urlsplit(u).path).suffix.lower() in IMAGE_EXTENSIONS]
    if len(images) < len(urls):
        log.info("%s: skipped %d non-image file(s)", prefix, len(urls) - len(images))
    return images
