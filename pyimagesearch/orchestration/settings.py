"""Settings chosen by the validation search travel with the model file.

After ``run_pipeline`` has chosen ``window_dim``, ``C``, ``pyramid_scale`` and
``upsample`` on validation data, the model file records them; every later step
(``test_model.py``, ``evaluate.py``, mining, retraining) runs with them, so the config
stays the user's starting point and the model stays consistent with its store.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..infrastructure.config import Config

log = logging.getLogger(__name__)

#: The keys a search chooses (and a model file records).
SEARCHED = (
    "window_dim",
    "C",
    "pyramid_scale",
    "upsample",
    "descriptor",
    "pixels_per_cell",
    "window_step",
)


def chosen_config(conf: Config, chosen: dict) -> Config:
    """The config with the chosen settings (mining scans the pyramid and steps the
    window as detection does)."""
    values = {k: chosen[k] for k in SEARCHED if k in chosen}
    if "pyramid_scale" in values:
        values["hn_pyramid_scale"] = values["pyramid_scale"]
    if "window_step" in values:
        values["hn_window_step"] = values["window_step"]
    return conf.replace(**values)


def settled_config(conf: Config) -> Config:
    """The config with the settings its model file records as chosen by the search
    (unchanged when ``search`` is off or there is no such model yet)."""
    path = Path(conf["classifier_path"])
    if not conf["search"] or not path.is_file():
        return conf
    try:
        chosen = json.loads(path.read_text(encoding="utf-8"))["metadata"]["chosen_settings"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        chosen = None
    if not isinstance(chosen, dict):
        return conf  # no recorded choice (or not a model): the step that reads it says so
    differs = {k: v for k, v in chosen.items() if k in SEARCHED and conf.get(k) != v}
    if differs:
        log.info(
            'using the settings %s chose by validation (%s); set "search": false to use '
            "the config's own",
            path,
            ", ".join(f"{k}={v}" for k, v in differs.items()),
        )
    return chosen_config(conf, chosen)
