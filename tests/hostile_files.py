"""Odd and broken files of every kind the toolkit reads, built in memory (no data sets).

The hostile-input tests share these generators: images in every accepted format
(complete, with bytes after the picture, cut), the bad numbers fed to every annotation
reader, and servers on 127.0.0.1 that refuse or never answer.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import cv2
import numpy as np

#: Every image suffix the toolkit reads, and the OpenCV encoder of each.
IMAGE_FORMATS = (".jpg", ".png", ".webp", ".bmp", ".tif", ".pgm", ".ppm", ".pbm")

#: What a camera, a phone app or an editor may leave after the end of the picture: a
#: second (thumbnail) JPEG, padding and text; it holds JPEG and PNG end markers.
TRAILER = (
    b"\x00" * 16
    + b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
    + b"IEND\xaeB`\x82"
    + b"<x:xmpmeta>edited by a phone app</x:xmpmeta>\n" * 8
)


def picture(height: int = 120, width: int = 160, seed: int = 0) -> np.ndarray:
    """A BGR test picture with structure and noise (not flat, not tiny: not a placeholder)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = (127 + 60 * np.sin(x / 9.0) * np.cos(y / 7.0)).astype(np.float64)
    noise = rng.normal(0, 20, (height, width, 3))
    return np.clip(base[..., None] + noise, 0, 255).astype(np.uint8)


def encoded(ext: str, image: np.ndarray | None = None) -> bytes:
    """``image`` (default :func:`picture`) encoded as ``ext`` by OpenCV."""
    image = picture() if image is None else image
    if ext in (".pgm", ".pbm"):
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if ext == ".pbm":
        image = np.where(image > 127, 255, 0).astype(np.uint8)
    ok, data = cv2.imencode(ext, image)
    assert ok, ext
    return data.tobytes()


def decoded_gray(data: bytes) -> np.ndarray:
    """What OpenCV decodes from ``data``, as 8-bit gray (the pixels a reader must return)."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


#: Ways a download is cut short: half the file, and all but its last byte.
CUTS = {"half": lambda data: data[: len(data) // 2], "last byte": lambda data: data[:-1]}


# ---- network ends that never answer ----------------------------------------------------


def closed_port() -> int:
    """A port of 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port of 127.0.0.1 that accepts connections (the kernel completes the handshake)
    and never sends a byte; yields the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def rle8_bmp(width: int = 64, height: int = 48) -> bytes:
    """An 8-bit run-length encoded BMP (a structure the end check leaves to the decoder)."""
    import struct

    rows = b"".join(bytes([width, (7 * y) % 256, 0, 0]) for y in range(height)) + b"\x00\x01"
    palette = b"".join(bytes([i, i, i, 0]) for i in range(256))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(rows), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(rows), 0, 0, offset) + info + palette + rows
