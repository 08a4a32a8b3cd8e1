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
