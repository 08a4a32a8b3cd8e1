"""Where the data of an encoded image end: cut-off files refused, trailing bytes allowed.

A download cut short leaves a file whose data stop before the end of the picture;
some decoders (older OpenCV builds for JPEG) grey-fill the missing part instead of
failing. Cameras, phone apps and editors, on the other hand, append data after the
end marker (a second picture, metadata): every viewer opens such a file, so must we.

So each format's own structure is walked to the end of its picture data (JPEG markers,
PNG chunks, the RIFF size of WebP, the pixel array of BMP and binary PNM, the strips
or tiles of TIFF). A file is refused as truncated only when that walk runs past the
last byte; bytes after the end are logged (debug) and ignored; a structure the walk
does not understand is left to the decoder, which then decides alone.
"""

from __future__ import annotations

import logging
import os
import re
import zlib
from collections.abc import Callable

from ..infrastructure.errors import ImageReadError

log = logging.getLogger(__name__)


class _Short(Exception):
    """The walk needs bytes beyond the end of the data."""


class _Damaged(Exception):
    """The structure is complete but provably corrupt (a checksum fails)."""


def check_complete(path: str | os.PathLike, data: bytes) -> None:
    """Refuse ``data`` when its picture data stop before their end; note trailing bytes.

    Raises :class:`ImageReadError` ``<path>: truncated <FORMAT> (...)``. Formats not
    recognised here (or structures not understood) pass: the decoder judges them.
    """
    found = _walker(data)
    if found is None:
        return
    name, walk = found
    try:
        end = walk(data)
    except _Short:
        raise ImageReadError(
            f"{path}: truncated {name} (the data stop after {len(data)} bytes, "
            "before the end of the picture)"
        ) from None
    except _Damaged as exc:
        raise ImageReadError(f"{path}: damaged {name} ({exc})") from None
    if end is not None and end < len(data):
        log.debug(
            "%s: %d byte(s) after the end of the %s data ignored", path, len(data) - end, name
        )


def _walker(data: bytes) -> tuple[str, Callable[[bytes], int | None]] | None:
    """The format name and end-finding function for ``data``'s magic bytes, if any."""
    if data.startswith(b"\xff\xd8"):
        return "JPEG", _jpeg_end
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG", _png_end
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP", _riff_end
    if data.startswith(b"BM"):
        return "BMP", _bmp_end
    if data[:2] in (b"P4", b"P5", b"P6"):
        return "PNM", _pnm_end
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF", _tiff_end
    return None


def _need(data: bytes, end: int) -> None:
    if end > len(data):
        raise _Short


# ---- JPEG: marker segments, then entropy-coded data up to the next marker ---------------

#: In entropy-coded data 0xFF is followed by 0x00 (stuffing), a restart marker
#: (0xD0-0xD7) or more 0xFF (fill); anything else is the next marker.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_STANDALONE = {0x01, *range(0xD0, 0xD8)}


def _jpeg_end(data: bytes) -> int | None:
    """Offset just past the end-of-image marker (0xFFD9) that closes the first picture."""
    i = 2  # after SOI
    while True:
        _need(data, i + 1)
        if data[i] != 0xFF:
            return None  # not a marker where one must be: leave it to the decoder
        while data[i] == 0xFF:  # fill bytes before a marker
            i += 1
            _need(data, i + 1)
        marker = data[i]
        i += 1
        if marker == 0xD9:
            return i
        if marker in _STANDALONE:
            continue
        _need(data, i + 2)
        length = int.from_bytes(data[i : i + 2], "big")
        if length < 2:
            return None
        i += length
        _need(data, i)
        if marker == 0xDA:  # start of scan: skip the entropy-coded data
            found = _NEXT_MARKER.search(data, i)
            if found is None:
                raise _Short
            i = found.start()


# ---- PNG: chunks up to IEND ------------------------------------------------------------


def _png_end(data: bytes) -> int | None:
    """Offset just past the IEND chunk; a critical chunk failing its CRC is damaged (as
    libpng would say, on stderr, before failing)."""
    i = 8
    while True:
        _need(data, i + 8)
        length = int.from_bytes(data[i : i + 4], "big")
        kind = data[i + 4 : i + 8]
        if not kind.isalpha():
            return None
        end = i + 12 + length  # length, type, data, CRC
        _need(data, end)
        if kind[:1].isupper() and zlib.crc32(data[i + 4 : end - 4]) != int.from_bytes(
            data[end - 4 : end], "big"
        ):
            raise _Damaged(f"chunk {kind.decode()} at byte {i} fails its CRC")
        i = end
        if kind == b"IEND":
            return i


# ---- WebP: the RIFF container states its size ---------------------------------------------


def _riff_end(data: bytes) -> int | None:
    """Offset of the end of the RIFF container (its size field plus the 8-byte header)."""
    _need(data, 12)
    end = 8 + int.from_bytes(data[4:8], "little")
    _need(data, end)
    return end + (end & 1)  # a pad byte may follow an odd size


# ---- BMP: uncompressed pixel arrays ------------------------------------------------------


def _bmp_end(data: bytes) -> int | None:
    """Offset of the end of an uncompressed (or bit-field) pixel array; None otherwise."""
    _need(data, 30)
    offset = int.from_bytes(data[10:14], "little")
    header = int.from_bytes(data[14:18], "little")
    if header == 12:  # OS/2 BITMAPCOREHEADER
        width = int.from_bytes(data[18:20], "little")
        height = int.from_bytes(data[20:22], "little")
        bits, compression = int.from_bytes(data[24:26], "little"), 0
    else:
        _need(data, 34)
        width = int.from_bytes(data[18:22], "little", signed=True)
        height = int.from_bytes(data[22:26], "little", signed=True)
        bits = int.from_bytes(data[28:30], "little")
        compression = int.from_bytes(data[30:34], "little")
    if compression not in (0, 3) or bits not in (1, 4, 8, 16, 24, 32) or width <= 0:
        return None  # RLE, embedded JPEG/PNG, odd headers: the decoder decides
    stride = (width * bits + 31) // 32 * 4
    end = offset + stride * abs(height)
    _need(data, end)
    return end


# ---- binary PNM (PBM P4, PGM P5, PPM P6) ---------------------------------------------------

_PNM_TOKEN = re.compile(rb"(?:\s|#[^\n]*\n)*(\d+)")


def _pnm_end(data: bytes) -> int | None:
    """Offset of the end of the raster of a binary PBM, PGM or PPM file."""
    kind = data[1:2]
    fields = 2 if kind == b"4" else 3
    values, i = [], 2
    for _ in range(fields):
        found = _PNM_TOKEN.match(data, i)
        if found is None:
            if i >= len(data) - 1:
                raise _Short
            return None
        values.append(int(found.group(1)))
        i = found.end()
    i += 1  # the single whitespace byte after the header
    width, height = values[0], values[1]
    if kind == b"4":
        size = (width + 7) // 8 * height
    else:
        sample = 1 if values[2] < 256 else 2
        size = width * height * sample * (3 if kind == b"6" else 1)
    end = i + size
    _need(data, end)
    return end


# ---- TIFF: the first directory, its values, and its strips or tiles ------------------------

#: Bytes per value of each TIFF field type (TIFF 6.0, section 2).
_TIFF_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_STRIPS = ((273, 279), (324, 325))  # (StripOffsets, StripByteCounts), (TileOffsets, ...)


def _tiff_end(data: bytes) -> int | None:
    """Offset of the end of the first image: its directory, the values the directory
    points to, and its strips or tiles."""
    order = "little" if data[:2] == b"II" else "big"
    _need(data, 8)
    directory = int.from_bytes(data[4:8], order)
    _need(data, directory + 2)
    n_entries = int.from_bytes(data[directory : directory + 2], order)
    end = directory + 2 + 12 * n_entries + 4
    _need(data, end)
    arrays: dict[int, list[int]] = {}
    for k in range(n_entries):
        entry = data[directory + 2 + 12 * k : directory + 14 + 12 * k]
        tag, kind = int.from_bytes(entry[0:2], order), int.from_bytes(entry[2:4], order)
        count = int.from_bytes(entry[4:8], order)
        size = _TIFF_TYPE_SIZE.get(kind)
        if size is None:
            return None  # a type this walk does not know: the decoder decides
        at = directory + 10 + 12 * k if size * count <= 4 else int.from_bytes(entry[8:12], order)
        _need(data, at + size * count)
        end = max(end, at + size * count)
        if tag in (273, 279, 324, 325) and kind in (3, 4):
            raw = data[at : at + size * count]
            arrays[tag] = [
                int.from_bytes(raw[i : i + size], order) for i in range(0, len(raw), size)
            ]
    for offsets, counts in _STRIPS:
        if offsets in arrays and counts in arrays:
            for offset, count in zip(arrays[offsets], arrays[counts]):
                _need(data, offset + count)
                end = max(end, offset + count)
            return end
    return None  # no strips or tiles stated: the decoder decides
