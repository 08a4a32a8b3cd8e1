"""Sliding-window detection over an image pyramid, with non-maximum suppression."""

from .detector import Candidates, Detections, WindowDetector
from .nms import non_max_suppression
from .pyramid import pyramid

__all__ = ["Candidates", "Detections", "WindowDetector", "non_max_suppression", "pyramid"]
