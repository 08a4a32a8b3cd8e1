"""Split distraction (object-free) images into evaluation, negative and mining sets.

The split is seeded and disjoint: evaluation images (from the categories named in
``eval_distraction_categories``) are never used for training or mining; random
negatives come from the first ``num_distraction_images`` of the remaining shuffled
pool, each mining round takes the next ``hn_num_distraction_images``, and the last
few (:attr:`DistractionSplit.validation`) are the settings search's object-free
validation images.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..infrastructure.errors import ConfigError, did_you_mean
from ..io.images import list_images
from ..io.remote import RemoteOptions, is_url
from .image_lists import (
    ImageRef,
    exclude_refs,
    is_remote_source,
    list_image_refs,
    ref_categories,
    ref_category,
    ref_order,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistractionSplit:
    root: Path | str  # a folder, a URL prefix or a URL list (see sources/image_lists.py)
    evaluation: list[ImageRef]
    pool: list[ImageRef]
    n_negatives: int
    n_per_round: int

    @property
    def negatives(self) -> list[ImageRef]:
        return self.pool[: self.n_negatives]

    @property
    def n_validation(self) -> int:
        """Object-free images the settings search validates on: the last of the pool
        (at most 50, a fifth of what negatives leave), never negatives or mined."""
        return min(50, len(self.pool[self.n_negatives :]) // 5)

    @property
    def validation(self) -> list[ImageRef]:
        return self.pool[len(self.pool) - self.n_validation :] if self.n_validation else []

    def mining(self, round_index: int) -> list[ImageRef]:
        """Images mined in round ``round_index`` (1-based); fresh images while they last."""
        rest = self.pool[self.n_negatives : len(self.pool) - self.n_validation] or self.pool
        start = (round_index - 1) * self.n_per_round
        if start + self.n_per_round > len(rest):
            log.warning(
                "mining round %d reuses distraction images: the pool is exhausted", round_index
            )
        return [rest[(start + i) % len(rest)] for i in range(min(self.n_per_round, len(rest)))]

    def category(self, path: ImageRef) -> str:
        return ref_category(path, self.root)


def check_excluded_categories(
    conf: Mapping[str, Any], root: Path | str, images: list[ImageRef] | None = None
) -> None:
    """Stop when ``distraction_exclude_categories`` names a folder not under ``root``
    (for remote images: a category none of ``images`` has)."""

    if not conf["distraction_exclude_categories"]:
        return
    if images is not None:
        folders = ref_categories(images, root) - {""}
    elif Path(root).is_dir():
        folders = {d for _, dirs, _ in os.walk(root) for d in dirs}
    else:
        return
    for name in conf["distraction_exclude_categories"]:
        if name not in folders:
            raise ConfigError(
                f"{conf.path or '<config>'}: key 'distraction_exclude_categories': no "
                f"category folder '{name}' in {root}{did_you_mean(name, folders)}"
            )


def split_distractions(conf: Mapping[str, Any]) -> DistractionSplit:
    """The seeded split of the config's distraction images."""
    value = conf["image_distractions"]
    remote = is_remote_source(value)
    root = value if remote else Path(value)
    if remote:  # one listing: the exclusions are checked against the categories it holds
        images = list_image_refs(value, remote=RemoteOptions.from_config(conf))
        check_excluded_categories(conf, root, images)
        images = exclude_refs(
            images,
            value if is_url(value) else None,
            conf["distraction_exclude_categories"],
            conf["distraction_exclude_images"],
        )
    else:
        check_excluded_categories(conf, root)
        images = list_images(
            root, conf["distraction_exclude_categories"], conf["distraction_exclude_images"]
        )
    if not images:
        excluded = conf["distraction_exclude_categories"] or conf["distraction_exclude_images"]
        raise ConfigError(
            f"{conf.path or '<config>'}: key 'image_distractions': no image found in {root}"
            + (" (after distraction_exclude_categories/_images)" if excluded else "")
        )
    rng = np.random.default_rng(conf["seed"])
    wanted = conf["eval_distraction_categories"]
    eligible = [p for p in images if wanted is None or ref_category(p, root) in set(wanted)]
    n_eval = min(conf["eval_num_distraction_images"], len(eligible) // 2)
    eval_idx = rng.choice(len(eligible), size=n_eval, replace=False) if n_eval else []
    evaluation = sorted((eligible[i] for i in eval_idx), key=ref_order if remote else None)
    held = set(evaluation)
    pool = [p for p in images if p not in held]
    pool = [pool[i] for i in rng.permutation(len(pool))]
    return DistractionSplit(
        root,
        evaluation,
        pool,
        min(conf["num_distraction_images"], len(pool)),
        conf["hn_num_distraction_images"],
    )
