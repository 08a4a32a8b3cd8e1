"""The HOG descriptor: one implementation for training windows and whole pyramid layers."""

from .hog import HogParams, hog_blocks, window_descriptor, window_descriptors

__all__ = ["HogParams", "hog_blocks", "window_descriptor", "window_descriptors"]
