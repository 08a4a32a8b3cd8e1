"""Which images a run trained, validated, mined and tested on: the report's ``split.json``.

A reader of the report can check that no test image was trained or validated on, and
re-run any step on the same images.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..sources.annotations import read_annotations, split_train_test
from ..sources.distractions import split_distractions
from .search import validation_folds

if TYPE_CHECKING:
    from ..infrastructure.config import Config


def split_record(conf: Config, rounds: int) -> dict:
    """The annotated images' training / test split, the settings search's folds (when it
    runs), and the distraction images' roles (negatives, each round's mining, search
    validation scenes, the evaluation's false-positive images)."""
    options = conf.options
    train, test = split_train_test(
        read_annotations(options.annotations), options.split.train_share, options.split.seed
    )
    record: dict = {"annotated": {"train": _paths(train), "test": _paths(test)}}
    distractions = split_distractions(options.distractions)
    roles = {
        "negatives": [str(r) for r in distractions.negatives],
        "mining": {str(r): [str(x) for x in distractions.mining(r)] for r in range(1, rounds + 1)},
        "evaluation": [str(r) for r in distractions.evaluation],
    }
    if options.pipeline.search:
        folds = validation_folds(train, conf["search_validation_share"], options.split.seed)
        record["search_folds"] = [
            {"fit": _paths(fit), "validation": _paths(val)} for fit, val in folds
        ]
        roles["search_validation"] = [str(r) for r in distractions.validation]
    record["distractions"] = roles
    return record


def _paths(items: list) -> list[str]:
    return [str(item.path) for item in items]
