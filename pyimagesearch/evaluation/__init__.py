"""Evaluation: average precision on held-out annotated images, false positives per image."""
