"""A mixture of linear templates: one per shape of object (DPM's mixture of root filters).

Objects whose boxes vary in aspect ratio (a raccoon sitting, a raccoon walking) are not
served by one window: each component is a :class:`LinearModel` with its own window,
trained on the boxes of its shape. The detector runs every component and suppresses
overlaps across them; each component's calibrated probability makes their scores
comparable.

Reference: P. Felzenszwalb, R. Girshick, D. McAllester and D. Ramanan, "Object Detection
with Discriminatively Trained Part-Based Models", PAMI 2010.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .linear import LinearModel


@dataclass
class Mixture:
    """Components (linear models, each with its own window) of one detector."""

    components: list[LinearModel]
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.components:
            raise ValueError("a mixture needs at least one component")
        hogs = {m.hog for m in self.components}
        if len(hogs) != 1:
            raise ValueError("the components of a mixture must share their HOG parameters")

    @property
    def hog(self):
        return self.components[0].hog

    @property
    def window_dims(self) -> list[tuple[int, int]]:
        return [m.window_dim for m in self.components]
