"""A bundle: one detector (a linear model, or a mixture) per class, in one model file.

Each class is trained by the one-class workflow, with its own window, settings search
and mining; the bundle only names them (``classes``, in the order YOLO exports number
them) and keeps the annotation set's category ids (COCO results use them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .linear import LinearModel
from .mixture import Mixture


@dataclass
class ClassBundle:
    """``models[i]`` detects ``classes[i]``; ``category_ids[i]`` is its id in the
    annotation set (COCO's ``category_id``; default ``i + 1``)."""

    classes: list[str]
    models: list[LinearModel | Mixture]
    category_ids: list[int] | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.classes = [str(c) for c in self.classes]
        if not self.classes:
            raise ValueError("a bundle needs at least one class")
        if len(self.classes) != len(self.models):
            raise ValueError(f"{len(self.classes)} class names but {len(self.models)} models")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"class names must be distinct, got {self.classes}")
        if self.category_ids is None:
            self.category_ids = list(range(1, len(self.classes) + 1))
        self.category_ids = [int(c) for c in self.category_ids]
        if len(self.category_ids) != len(self.classes):
            raise ValueError(
                f"{len(self.classes)} classes but {len(self.category_ids)} category ids"
            )

    @property
    def hog(self):
        return self.models[0].hog
