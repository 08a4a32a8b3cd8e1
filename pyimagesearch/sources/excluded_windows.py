"""The excluded-windows file: mined windows a user marked as real objects.

The HTML report (``report/report.html``) lists the *suspects* of each mining round with
a tick box each; its "Save ticked" button downloads this file. Naming it in the config,
``"distraction_exclude_images": "excluded_windows.json"``, leaves the images of those
windows out of every distraction use (random negatives, mining, evaluation), so the
next run no longer trains on real objects as negatives.

Format (JSON)::

    {"format": "pyimagesearch-excluded-windows", "version": 1,
     "windows": [{"source": "path/to/image.jpg", "box": [x1, y1, x2, y2], "round": 1}]}
"""

from __future__ import annotations

import os
from pathlib import Path

import jsonschema

from ..infrastructure.errors import ConfigError
from ..io.data_files import read_json

#: The ``format`` value the report writes and the config expects.
FORMAT = "pyimagesearch-excluded-windows"
VERSION = 1

SCHEMA = {
    "type": "object",
    "properties": {
        "format": {"const": FORMAT},
        "version": {"const": VERSION},
        "windows": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "source": {"type": "string", "minLength": 1},
                    "box": {
                        "type": "array",
                        "items": {"type": "number"},
                        "minItems": 4,
                        "maxItems": 4,
                    },
                    "round": {"type": "integer", "minimum": 1},
                },
                "required": ["source", "box"],
            },
        },
    },
    "required": ["format", "version", "windows"],
}


def read_excluded_windows(path: str | os.PathLike) -> list[dict]:
    """The windows of an excluded-windows file, validated.

    Raises ``ValueError`` with a one-line reason (the caller names the config key).
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise ValueError(f"{path}: file does not exist")
    data = read_json(path, ConfigError, "excluded-windows file")  # a ValueError too
    errors = sorted(
        jsonschema.Draft202012Validator(SCHEMA).iter_errors(data),
        key=lambda e: list(e.absolute_path),
    )
    if errors:
        err = errors[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        raise ValueError(
            f"{path}: not an excluded-windows file saved by report.html "
            f"(at {where or 'top level'}: {err.message})"
        )
    return data["windows"]


def excluded_images(path: str | os.PathLike) -> list[str]:
    """The distinct source images of an excluded-windows file, in file order."""
    return list(dict.fromkeys(w["source"] for w in read_excluded_windows(path)))
