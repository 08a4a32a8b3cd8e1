"""Exceptions the toolkit raises for bad input; scripts turn them into one-line messages."""


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


class OutputError(PyImageSearchError, OSError):
    """An output file cannot be written (full disk, read-only folder, a file in the way)."""


def os_error_text(exc: OSError) -> str:
    """``file: reason`` of an OS error, in one line (the reason alone if no file is known)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    return f"{' -> '.join(names)}: {reason}" if names else reason
