"""The HOG descriptor: one implementation for training windows and whole pyramid layers."""

from .params import BLOCK_NORMS, ORIENTATIONS, HogParams

__all__ = ["BLOCK_NORMS", "ORIENTATIONS", "HogParams"]
