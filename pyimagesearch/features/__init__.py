"""Training features: extraction of positives/negatives and the HDF5 feature store."""
