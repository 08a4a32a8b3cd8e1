"""HOG + linear SVM object detection with fast hard-negative mining.

The Python API (``train_detector``, ``load_detector``, ``evaluate_detector``,
``Detector``) is imported on first use, so ``import pyimagesearch`` stays light.
"""

__version__ = "0.1.0"

_API = (
    "Detector",
    "MixtureDetector",
    "MultiClassDetector",
    "evaluate_detector",
    "load_detector",
    "train_detector",
)
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'pyimagesearch' has no attribute {name!r}")
