"""The classifier: a linear SVM with a monotone (Platt) probability calibration."""

from .linear import LinearModel, train_linear_model
from .modelfile import check_compatible, load_model, save_model

__all__ = ["LinearModel", "check_compatible", "load_model", "save_model", "train_linear_model"]
