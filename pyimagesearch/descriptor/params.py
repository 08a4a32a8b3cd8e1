"""HOG parameters: the one place their names, limits and defaults are defined.

This module is light (no numba, no OpenCV) so that the config can build its schema
from :data:`BLOCK_NORMS` and :data:`ORIENTATIONS`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Config

#: Block normalisations, as ``skimage.feature.hog``'s ``block_norm``.
BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")
#: Smallest and largest number of orientation bins.
ORIENTATIONS = (2, 360)


@dataclass(frozen=True)
class HogParams:
    """HOG parameters, as in ``skimage.feature.hog`` (cells and blocks are rows, cols)."""

    orientations: int = 9
    pixels_per_cell: tuple[int, int] = (4, 4)
    cells_per_block: tuple[int, int] = (2, 2)
    transform_sqrt: bool = True
    block_norm: str = "L1"

    def __post_init__(self) -> None:
        object.__setattr__(self, "pixels_per_cell", tuple(int(v) for v in self.pixels_per_cell))
        object.__setattr__(self, "cells_per_block", tuple(int(v) for v in self.cells_per_block))
        lo, hi = ORIENTATIONS
        if not lo <= self.orientations <= hi:
            raise ValueError(f"orientations must be in [{lo}, {hi}], got {self.orientations}")
        if min(self.pixels_per_cell) < 1 or min(self.cells_per_block) < 1:
            raise ValueError("pixels_per_cell and cells_per_block must be positive")
        if self.block_norm not in BLOCK_NORMS:
            raise ValueError(f"block_norm must be one of {BLOCK_NORMS}, got {self.block_norm!r}")

    @classmethod
    def from_config(cls, conf: Config) -> HogParams:
        """The HOG parameters named in a config (``normalize`` is ``transform_sqrt``)."""
        return cls(
            orientations=conf["orientations"],
            pixels_per_cell=tuple(conf["pixels_per_cell"]),
            cells_per_block=tuple(conf["cells_per_block"]),
            transform_sqrt=conf["normalize"],
            block_norm=conf.get("block_norm", "L1"),
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["pixels_per_cell"] = list(self.pixels_per_cell)
        d["cells_per_block"] = list(self.cells_per_block)
        return d

    @property
    def block_size(self) -> int:
        """Number of features per block."""
        return self.cells_per_block[0] * self.cells_per_block[1] * self.orientations

    def window_blocks(self, window_dim: tuple[int, int]) -> tuple[int, int]:
        """Rows and columns of blocks inside a window of ``(width, height)`` pixels."""
        width, height = window_dim
        cells_r, cells_c = height // self.pixels_per_cell[0], width // self.pixels_per_cell[1]
        return cells_r - self.cells_per_block[0] + 1, cells_c - self.cells_per_block[1] + 1

    def descriptor_size(self, window_dim: tuple[int, int]) -> int:
        """Length of a window's feature vector."""
        rows, cols = self.window_blocks(window_dim)
        return rows * cols * self.block_size
