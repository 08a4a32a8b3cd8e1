"""Names and paths taken from data files, checked before they touch the disk.

An id or relative path read from a CSV, JSON, XML or manifest (COCO ``file_name``,
Open Images ``ImageID``, VOC ``<filename>``, dlib ``file`` ...) must never make the
toolkit read outside the folders the user named, nor write or delete outside its
output folder. Every reader and fetcher passes such names through this module; an
unsafe one raises :class:`UnsafePathError` with ``what`` (the file and row) in front.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from ..infrastructure.errors import UnsafePathError

#: Characters allowed in an id used as a file stem.
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]+")
_DRIVE = re.compile(r"^[A-Za-z]:")
_SEPARATORS = re.compile(r"[\\/]")
#: Longest id accepted as a file stem (file names are limited to 255 bytes).
MAX_ID_LENGTH = 200


def unsafe_reason(name: object) -> str | None:
    """Why ``name`` is not a safe relative path, or None when it is."""
    if not isinstance(name, str):
        return f"not a string ({type(name).__name__})"
    if not name.strip():
        return "empty"
    if "\0" in name:
        return "contains a NUL byte"
    if name.startswith(("/", "\\")) or os.path.isabs(name):
        return "an absolute path"
    if _DRIVE.match(name):
        return "starts with a drive"
    parts = _SEPARATORS.split(name)
    if ".." in parts:
        return "contains a '..' component"
    if all(part in ("", ".") for part in parts):
        return "names no file"
    return None


def _refuse(what: str, name: object, reason: str) -> UnsafePathError:
    text = repr(name)
    text = text if len(text) <= 120 else text[:117] + "..."
    return UnsafePathError(f"{what} {text} refused: {reason}")


def check_relative(name: object, *, what: str) -> str:
    """``name`` itself when it is a safe relative path; else raise naming ``what``."""
    reason = unsafe_reason(name)
    if reason:
        raise _refuse(what, name, reason)
    return name  # type: ignore[return-value]


def is_inside(path: str | os.PathLike, base: str | os.PathLike) -> bool:
    """True when ``path`` (symlinks resolved) is ``base`` or lies under it; a path that
    cannot be resolved (a symlink loop) is an :class:`UnsafePathError` naming it."""
    resolved, root = _resolved(path), _resolved(base)
    return resolved == root or root in resolved.parents


def _resolved(path: str | os.PathLike) -> Path:
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        raise UnsafePathError(f"{path}: cannot resolve the path ({exc})") from None


def safe_child(base: str | os.PathLike, name: object, *, what: str) -> Path:
    """``base / name`` for a relative ``name`` that stays inside ``base`` (symlinks resolved)."""
    check_relative(name, what=what)
    path = Path(base) / name  # type: ignore[operator]
    if not is_inside(path, base):
        raise _refuse(what, name, f"resolves outside {base}")
    return path


def safe_id(value: object, *, what: str) -> str:
    """``value`` as text when it is usable as a file stem (``[A-Za-z0-9._-]``, not ``.``/``..``)."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not text:
        raise _refuse(what, value, "empty or not text")
    if text in (".", "..") or not _SAFE_ID.fullmatch(text):
        raise _refuse(what, value, "an id may hold only letters, digits, '.', '_' and '-'")
    if len(text) > MAX_ID_LENGTH:
        raise _refuse(what, value, f"longer than {MAX_ID_LENGTH} characters")
    return text


def safe_file_name(name: object, *, what: str) -> str:
    """``name`` when it is one plain file name (no folder part, not ``.``/``..``)."""
    check_relative(name, what=what)
    if _SEPARATORS.search(name) or name in (".", ".."):  # type: ignore[arg-type]
        raise _refuse(what, name, "a file name may not hold a folder part")
    return name  # type: ignore[return-value]


def among_inputs(path: str | os.PathLike, inputs: Mapping[str, str | os.PathLike]) -> str | None:
    """Why writing ``path`` would touch an input (``inputs``: a description -> a file or
    folder): it is one of them, or lies inside an input folder; None when it does not."""
    out = _absolute(path)
    for name, value in inputs.items():
        inp = _absolute(value)
        if out == inp:
            return f"{path} is {name}; outputs must not replace inputs (choose another path)"
        if inp in out.parents:
            return (
                f"{path} lies inside {name} ({value}); outputs must not be written among "
                "the inputs (choose another path)"
            )
    return None


def _absolute(value: str | os.PathLike) -> Path:
    """``value`` as an absolute path, symlinks resolved where they can be."""
    try:
        return Path(value).resolve()
    except (RuntimeError, OSError, ValueError):  # a symlink loop, a NUL byte
        return Path(os.path.abspath(value))
