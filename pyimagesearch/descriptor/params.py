"""Descriptor parameters: the one place their names, limits and defaults are defined.

Two descriptors share :class:`HogParams`: ``"hog"`` (Dalal & Triggs, as
``skimage.feature.hog``; ``hog.py``) and ``"fhog"`` (Felzenszwalb's 31-d HOG as dlib
computes it; ``fhog.py``). This module is light (no numba, no OpenCV) so that the
config can build its schema from :data:`DESCRIPTORS`, :data:`BLOCK_NORMS` and
:data:`ORIENTATIONS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

#: Descriptors: HOG (``skimage.feature.hog``) and FHOG (Felzenszwalb et al., as dlib).
DESCRIPTORS = ("hog", "fhog")
#: FHOG features per cell: 18 contrast-sensitive + 9 insensitive orientations + 4 texture.
FHOG_FEATURES = 31
#: Block normalisations, as ``skimage.feature.hog``'s ``block_norm``.
BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")
#: Smallest and largest number of orientation bins.
ORIENTATIONS = (2, 360)


@dataclass(frozen=True)
class HogParams:
    """Descriptor parameters, as in ``skimage.feature.hog`` (cells and blocks are rows, cols).

    ``descriptor`` chooses the features. ``"hog"``: blocks of ``cells_per_block`` cells
    of ``orientations`` bins, normalised with ``block_norm``, one per cell position.
    ``"fhog"``: Felzenszwalb's 31 features per cell of ``pixels_per_cell`` (square)
    pixels; its orientations (18 + 9), normalisation (by the 4 blocks of 2x2 cells
    around a cell) and gradients (no gamma) are fixed, so ``orientations``,
    ``cells_per_block``, ``transform_sqrt`` and ``block_norm`` are unused (and left out
    of :meth:`to_dict`).
    """

    orientations: int = 9
    pixels_per_cell: tuple[int, int] = (4, 4)
    cells_per_block: tuple[int, int] = (2, 2)
    transform_sqrt: bool = True
    block_norm: str = "L1"
    descriptor: str = "hog"

    def __post_init__(self) -> None:
        object.__setattr__(self, "pixels_per_cell", tuple(int(v) for v in self.pixels_per_cell))
        object.__setattr__(self, "cells_per_block", tuple(int(v) for v in self.cells_per_block))
        if self.descriptor not in DESCRIPTORS:
            raise ValueError(f"descriptor must be one of {DESCRIPTORS}, got {self.descriptor!r}")
        lo, hi = ORIENTATIONS
        if not lo <= self.orientations <= hi:
            raise ValueError(f"orientations must be in [{lo}, {hi}], got {self.orientations}")
        if min(self.pixels_per_cell) < 1 or min(self.cells_per_block) < 1:
            raise ValueError("pixels_per_cell and cells_per_block must be positive")
        if self.block_norm not in BLOCK_NORMS:
            raise ValueError(f"block_norm must be one of {BLOCK_NORMS}, got {self.block_norm!r}")
        if self.descriptor == "fhog":
            c_r, c_c = self.pixels_per_cell
            if c_r != c_c:
                raise ValueError(
                    f"fhog needs square cells, got pixels_per_cell {list(self.pixels_per_cell)}"
                )
            if c_r < 2:
                raise ValueError(f"fhog needs cells of at least 2 pixels, got {c_r}")

    @classmethod
    def from_config(cls, conf: Mapping[str, Any]) -> HogParams:
        """The descriptor parameters named in a config (``normalize`` is ``transform_sqrt``)."""
        return cls(
            orientations=conf["orientations"],
            pixels_per_cell=tuple(conf["pixels_per_cell"]),
            cells_per_block=tuple(conf["cells_per_block"]),
            transform_sqrt=conf["normalize"],
            block_norm=conf.get("block_norm", "L1"),
            descriptor=conf.get("descriptor", "hog"),
        )

    @classmethod
    def from_dict(cls, d: dict) -> HogParams:
        """The parameters :meth:`to_dict` wrote (``descriptor`` missing: ``"hog"``).

        Raises ``TypeError`` or ``ValueError`` for a dict that names no valid parameters.
        """
        if not isinstance(d, dict):
            raise TypeError(f"descriptor parameters must be a JSON object, got {d!r}")
        return cls(**d)

    def same_as(self, stored: object) -> bool:
        """Whether a stored parameter dict (a file's ``hog``) describes these features;
        dicts written before FHOG existed (no ``descriptor``) are HOG's."""
        try:
            return HogParams.from_dict(stored).to_dict() == self.to_dict()
        except (TypeError, ValueError):
            return False

    def to_dict(self) -> dict:
        """The parameters that define the features (a model file's and a store's ``hog``):
        all of them for HOG, ``descriptor`` and ``pixels_per_cell`` for FHOG. A dict
        without ``descriptor`` (files written before FHOG) reads back as HOG."""
        if self.descriptor == "fhog":
            return {"descriptor": "fhog", "pixels_per_cell": list(self.pixels_per_cell)}
        d = asdict(self)
        d["pixels_per_cell"] = list(self.pixels_per_cell)
        d["cells_per_block"] = list(self.cells_per_block)
        return d

    @property
    def context_cells(self) -> int:
        """Cells of context a window's descriptor depends on beyond the window: one for
        HOG (centred gradients of its border pixels), two for FHOG (its cells are
        normalised with their neighbours, whose histograms take votes from half a cell
        plus one pixel further out)."""
        return 2 if self.descriptor == "fhog" else 1

    @property
    def block_size(self) -> int:
        """Number of features per block (HOG) or per cell (FHOG): per grid position."""
        if self.descriptor == "fhog":
            return FHOG_FEATURES
        return self.cells_per_block[0] * self.cells_per_block[1] * self.orientations

    def window_blocks(self, window_dim: tuple[int, int]) -> tuple[int, int]:
        """Rows and columns of grid positions (HOG blocks, FHOG cells) inside a window of
        ``(width, height)`` pixels."""
        width, height = window_dim
        cells_r, cells_c = height // self.pixels_per_cell[0], width // self.pixels_per_cell[1]
        if self.descriptor == "fhog":
            return cells_r, cells_c
        return cells_r - self.cells_per_block[0] + 1, cells_c - self.cells_per_block[1] + 1

    def descriptor_size(self, window_dim: tuple[int, int]) -> int:
        """Length of a window's feature vector."""
        rows, cols = self.window_blocks(window_dim)
        return rows * cols * self.block_size
