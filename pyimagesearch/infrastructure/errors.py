"""Exceptions the toolkit raises for bad input; scripts turn them into one-line messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


class PyImageSearchError(Exception):
    """Base class of every error caused by the user's input rather than by a bug."""


class ConfigError(PyImageSearchError, ValueError):
    """A config file is missing, malformed, or holds an invalid value."""


class ImageReadError(PyImageSearchError):
    """An image file cannot be read or decoded."""


class ModelError(PyImageSearchError, ValueError):
    """A model file is not a model, or does not match the config."""


class StoreError(PyImageSearchError, ValueError):
    """The HDF5 feature store is missing data or was written with other HOG parameters."""


class AnnotationError(PyImageSearchError, ValueError):
    """An annotation file cannot be read or holds no usable box."""


class UnsafePathError(PyImageSearchError, ValueError):
    """A name or path from a data file would leave the folder it must stay in."""


class SchedulerError(PyImageSearchError):
    """The Dask scheduler named by ``--scheduler`` does not answer, or has no worker."""


class OutputError(PyImageSearchError, OSError):
    """An output file cannot be written (full disk, read-only folder, a file in the way)."""


class VideoError(PyImageSearchError):
    """A video or camera cannot be opened, or a video cannot be written (no codec)."""


@dataclass(frozen=True)
class Skipped:
    """What a worker returns for an input it could not use (an unreadable image, one
    smaller than the window): the one-line reason, listed in the step's summary."""

    message: str

    def __str__(self) -> str:
        return self.message


def os_error_text(exc: OSError) -> str:
    """``file: reason`` of an OS error, in one line (the reason alone if no file is known)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    return f"{' -> '.join(names)}: {reason}" if names else reason


#: Words a newcomer writes for the ones the keys use ('window_size' for 'window_dim').
_SYNONYMS = {
    "size": "dim",
    "shape": "dim",
    "dims": "dim",
    "dimension": "dim",
    "dimensions": "dim",
    "stride": "step",
}


def suggest(name: str, choices: Iterable[str], n: int = 1) -> list[str]:
    """Close matches of ``name`` among ``choices``, best first (case and synonyms aside)."""
    by_lower = {c.lower(): c for c in choices}
    parts = [_SYNONYMS.get(p, p) for p in name.lower().split("_")]
    out: list[str] = []
    for guess in ("_".join(parts), name.lower()):
        for match in difflib.get_close_matches(guess, list(by_lower), n=n, cutoff=0.6):
            if by_lower[match] not in out:
                out.append(by_lower[match])
    return out[:n]


def did_you_mean(name: str, choices: Iterable[str], n: int = 1) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    close = suggest(name, choices, n)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
