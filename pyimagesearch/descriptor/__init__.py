"""The descriptors, HOG and FHOG: one implementation each for training windows and whole
pyramid layers (``grid.py`` is the detector's entry point to either)."""

from .params import BLOCK_NORMS, DESCRIPTORS, ORIENTATIONS, HogParams

__all__ = ["BLOCK_NORMS", "DESCRIPTORS", "ORIENTATIONS", "HogParams"]
