"""Where positives and negatives come from: annotation readers, distraction splits, export.

The fetchers (downloads from the internet) live in :mod:`pyimagesearch.datatools`.
"""
