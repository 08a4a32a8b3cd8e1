"""Find image files in folders and decode them safely into 8-bit grayscale arrays.

Real folders hold junk (``Thumbs.db``), truncated downloads and odd formats
(16-bit, RGBA). Every failure becomes an :class:`ImageReadError` naming the file,
so callers can skip and report instead of crashing.

One reading policy for every path an image takes (local file, URL, object storage,
the fetchers' downloads all end in :func:`read_image`): a file is used when the
decoder yields a complete picture of the size its header states; bytes after the end
of the picture (metadata a camera or an editor appended) are allowed and logged at
debug level; a file whose data stop before the end is refused as truncated
(:mod:`.image_end`).
"""

from __future__ import annotations

import functools
import io
import logging
import os
import stat
import threading
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..infrastructure.errors import ImageReadError
from .data_files import read_bytes
from .image_end import check_complete

if TYPE_CHECKING:
    from .remote import RemoteOptions

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm"}
)

#: Default refusal threshold for images too large to process (pixels).
DEFAULT_MAX_PIXELS = 40_000_000


def list_images(
    folder: str | os.PathLike,
    exclude_categories: Iterable[str] = (),
    exclude_images: Iterable[str] = (),
) -> list[Path]:
    """Image files under ``folder`` (recursively, sorted), skipping non-image files.

    ``exclude_categories`` names sub-folders to leave out (e.g. scene categories that
    contain the object); ``exclude_images`` names files (by name or path) to leave out.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageReadError(f"{folder}: image folder does not exist")
    excluded_dirs = set(exclude_categories)
    excluded_files = set(exclude_images)
    images, skipped = [], 0
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in excluded_dirs)
        for name in sorted(files):
            path = Path(root) / name
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                skipped += 1
                log.debug("skipping non-image file %s", path)
                continue
            if name in excluded_files or str(path) in excluded_files:
                continue
            if not is_regular_file(path):
                skipped += 1
                log.warning("skipping %s: not a regular file", path)
                continue
            images.append(path)
    if skipped:
        log.info("%s: skipped %d non-image file(s)", folder, skipped)
    return images


def is_regular_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is (a link to) a regular file: not a FIFO, device, socket or folder."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def category_of(path: str | os.PathLike, root: str | os.PathLike) -> str:
    """The first sub-folder of ``root`` that holds ``path`` ('' for files directly in root)."""
    rel = Path(path).relative_to(root)
    return rel.parts[0] if len(rel.parts) > 1 else ""


def read_gray(
    path: str | os.PathLike,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    remote: RemoteOptions | None = None,
) -> np.ndarray:
    """Decode an image file (or URL) into a 2-D ``uint8`` grayscale array.

    Raises :class:`ImageReadError` for empty, truncated, undecodable or oversized files.
    """
    return to_gray_uint8(read_image(path, max_pixels, remote), path)


def read_image(
    path: str | os.PathLike,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    remote: RemoteOptions | None = None,
) -> np.ndarray:
    """Decode an image file as OpenCV does (BGR or grayscale, any depth), checked.

    A URL (``http(s)://``, ``s3://``, ...) is fetched in memory with ``remote``'s
    retries and timeouts (:mod:`.remote`) and must also pass the placeholder check.
    The bytes are checked by the policy of the module docstring, whatever their origin.
    """
    from .remote import check_placeholder, fetch_bytes, is_url

    url = is_url(path)
    path = path if url else Path(path)
    raw = fetch_bytes(path, remote) if url else _read_regular_file(path)
    if not raw:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    width, height = _check_size(path, raw, max_pixels)
    check_complete(path, raw)
    image = _decode(raw)
    if image is None or image.size == 0:
        raise ImageReadError(f"{path}: not a decodable image")
    if image.shape[:2] != (height, width):
        raise ImageReadError(
            f"{path}: incomplete image (decoded {image.shape[1]}x{image.shape[0]} pixels, "
            f"the header states {width}x{height})"
        )
    if url:
        check_placeholder(path, image, raw)
    return image


def to_gray_uint8(image: np.ndarray, path: str | os.PathLike = "<array>") -> np.ndarray:
    """Convert grayscale/BGR/BGRA images of any integer or float depth to 8-bit gray."""
    if image.dtype != np.uint8:
        if image.dtype == np.uint16:
            image = (image >> 8).astype(np.uint8)
        elif np.issubdtype(image.dtype, np.floating):
            image = np.clip(image * 255.0 if image.max() <= 1.0 else image, 0, 255)
            image = image.astype(np.uint8)
        else:
            raise ImageReadError(f"{path}: unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    raise ImageReadError(f"{path}: unsupported image shape {image.shape}")


def _decode(raw: bytes) -> np.ndarray | None:
    """OpenCV's decode of ``raw`` as stored (any depth and channels, EXIF rotation not
    applied: the size is the header's), its own log lines silenced: a failure is
    reported once, by the caller, naming the file."""
    _quiet_opencv()
    return cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_UNCHANGED)


@functools.cache
def _quiet_opencv() -> None:
    """Keep OpenCV's decoder errors (``[ERROR:0@...] imdecode_ ...``) off stderr."""
    logging_api = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging_api is not None:
        logging_api.setLogLevel(logging_api.LOG_LEVEL_FATAL)


def _read_regular_file(path: Path) -> bytes:
    """The bytes of ``path``; a FIFO or device named like an image never blocks the run."""
    return read_bytes(path, ImageReadError)


def _check_size(path: Path | str, data: bytes, max_pixels: int) -> tuple[int, int]:
    """The ``(width, height)`` the header states, refused above ``max_pixels`` (before
    decoding).

    Pillow reads only the header here (width and height), for every format it knows;
    a file whose header it cannot read is refused rather than handed to the decoder.
    """
    width, height = _header_size(path, data)
    if width * height > max_pixels:
        raise ImageReadError(
            f"{path}: image of {width}x{height} pixels exceeds max_image_pixels={max_pixels}"
        )
    return width, height


def header_size(path: str | os.PathLike, remote: RemoteOptions | None = None) -> tuple[int, int]:
    """``(width, height)`` of an image file (or URL) from its header only (no decode)."""
    from .remote import fetch_bytes, is_url

    if is_url(path):
        return _header_size(path, fetch_bytes(path, remote))
    path = Path(path)
    return _header_size(path, _read_regular_file(path))


def _header_size(path: str | os.PathLike, data: bytes) -> tuple[int, int]:
    """``(width, height)`` announced by the header of the encoded image ``data``."""
    from PIL import Image, UnidentifiedImageError

    try:
        return _probe_size(data)
    except Image.DecompressionBombError:  # Pillow's own limit: read the header without it
        return _probe_size(data, unlimited=True)
    except UnidentifiedImageError:
        check_complete(path, data)  # a header cut short is reported as truncated
        raise ImageReadError(f"{path}: not a decodable image (unknown format)") from None
    except Exception as exc:  # a header Pillow cannot parse: refuse, never decode blindly
        check_complete(path, data)
        raise ImageReadError(
            f"{path}: not a decodable image (unreadable header: {type(exc).__name__})"
        ) from None


_PILLOW_LIMIT = threading.Lock()


def _probe_size(data: bytes, unlimited: bool = False) -> tuple[int, int]:
    """Open ``data`` lazily with Pillow (header only) and return its size."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", module="PIL")  # a damaged header: we say it once
        if not unlimited:
            with Image.open(io.BytesIO(data)) as probe:
                return probe.size
        with _PILLOW_LIMIT:
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                with Image.open(io.BytesIO(data)) as probe:
                    return probe.size
            finally:
                Image.MAX_IMAGE_PIXELS = saved
