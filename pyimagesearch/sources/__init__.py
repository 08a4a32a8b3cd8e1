"""Where positives and negatives come from: annotation readers and image sources."""
