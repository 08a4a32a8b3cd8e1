"""HOG + linear SVM object detection with fast hard-negative mining."""

__version__ = "0.1.0"
