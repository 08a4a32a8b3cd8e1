"""Hard-negative mining: confident detections on object-free images become negatives."""

from .hard_negatives import MiningSummary, mine_annotated, mine_hard_negatives, mine_image

__all__ = ["MiningSummary", "mine_annotated", "mine_hard_negatives", "mine_image"]
