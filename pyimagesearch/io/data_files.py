"""Read the toolkit's input files (images, configs, annotations, tables, models) safely.

Whatever sits at a path a user names, reading it ends quickly with its content or with
one error naming it: a FIFO or a device never blocks the run (the file is opened
non-blocking and checked on the open descriptor), a folder is not a regular file, text
that is not UTF-8 and JSON that is malformed or nested deeper than a parser can follow
are reported as what they are, never as a traceback.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ..infrastructure.errors import PyImageSearchError

ErrorType = type[PyImageSearchError]


def open_regular(
    path: str | os.PathLike, error: ErrorType, what: str = "file", mode: str = "rb", **kwargs: Any
) -> IO:
    """``path`` opened for reading (``mode``/``kwargs`` as :func:`open`), refusing anything
    but a regular file.

    The file is opened non-blocking and checked on the open descriptor, so a FIFO or
    device named ``x.jpg`` (even one swapped in after listing) never blocks the run;
    large tables are then read as streams, as from any open file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise error(f"{path}: not a regular file")
    return open(fd, mode, closefd=True, **kwargs)


def read_bytes(path: str | os.PathLike, error: ErrorType, what: str = "file") -> bytes:
    """The bytes of a regular file (see :func:`open_regular`)."""
    with open_regular(path, error, what) as fh:
        try:
            return fh.read()
        except OSError as exc:
            raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None


def check_regular(path: str | os.PathLike, error: ErrorType, what: str = "file") -> Path:
    """``path`` when it is (a link to) a regular file, else ``error``.

    For libraries that open the file themselves (h5py, pycocotools): a FIFO named like
    the file would block them.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise error(f"{path}: not a regular file")
    return Path(path)


def read_text(
    path: str | os.PathLike, error: ErrorType, what: str = "file", encoding: str = "utf-8"
) -> str:
    """The text of a regular file; bytes that are not ``encoding`` named by their offset."""
    data = read_bytes(path, error, what)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise error(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            f"a {what} is expected"
        ) from None


def parse_json(
    text: str,
    path: str | os.PathLike,
    error: ErrorType,
    what: str = "file",
    loads: Callable[[str], Any] = json.loads,
) -> Any:
    """``loads(text)``, its failures as ``error`` naming the file: malformed JSON, and
    JSON nested deeper than the parser follows (a ``RecursionError`` otherwise)."""
    try:
        return loads(text)
    except RecursionError:
        raise error(f"{path}: {what} nested too deeply to read (not a {what}?)") from None
    except ValueError as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise error(f"{path}: not valid JSON ({detail})") from None


def read_json(path: str | os.PathLike, error: ErrorType, what: str = "file") -> Any:
    """The JSON document of a regular file (see :func:`read_text` and :func:`parse_json`)."""
    return parse_json(read_text(path, error, what), path, error, what)
