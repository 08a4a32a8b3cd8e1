"""The config reference (docs/configuration.md), rendered from the config schema.

The schema in :mod:`pyimagesearch.infrastructure.config` is the one source of the keys, their types,
defaults and descriptions: the reference is generated from it (``python
scripts/config_reference.py --write docs/configuration.md``) and a test checks that the
file in the repository is the rendered text, so a key added without a description, or
a changed default, fails until the reference is written again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .config import COURSE_DEFAULTS, COURSE_KEYS, DATASETS_ENV, EXTRA_KEYS, SCHEDULER_ENV

#: Where the reference lives, relative to the repository root.
REFERENCE_PATH = Path("docs") / "configuration.md"
#: The command that writes it (quoted in the file's header).
WRITE_COMMAND = ".venv/bin/python scripts/config_reference.py --write docs/configuration.md"

_INTRO = f"""\
# Configuration reference

<!-- Generated from the schema in pyimagesearch/infrastructure/config.py by
     {WRITE_COMMAND}
     Do not edit by hand: change a key's "description" there and write this file again
     (tests/test_docs.py fails while the two differ). -->

A config is a JSON file with comments (`conf/cars.json` is the example). It keeps the
course's keys and meanings; the keys this toolkit adds are optional. The file is
validated before any work starts: an unknown key (with a did-you-mean), a missing
course key, a wrong type or an inconsistent value (`window_dim` not a multiple of the
cell size, a block larger than the window) stops the run with one line naming the key
and the file. `NaN` and `Infinity` are refused for every key; whole numbers written as
floats (`"orientations": 9.0`) are read as integers. Checks that need the data run
before the heavy work: an empty distraction folder, a `window_dim` larger than every
distraction image, or a `percent_gt_images` that leaves the training or test share
(too) small.

- **Paths** (`image_dataset`, `image_annotations`, `image_distractions`,
  `features_path`, `classifier_path`, `output_dir`) are relative to the working
  directory the command runs in, not to the config file. `{{datasets_root}}` in a path
  is replaced by `datasets_root`, which the environment variable `{DATASETS_ENV}`
  overrides.
- **Course keys** are required in a config file. The Python API
  (`pyimagesearch.train_detector`) needs no config file: there a course key you do not
  pass takes conf/cars.json's value, shown as "API" below (`COURSE_DEFAULTS` in
  `pyimagesearch/infrastructure/config.py`, beside the schema),
  except that `percent_gt_images` is 1 (every image trains), `window_dim` is the window
  suggested for your boxes, and the image folders and distraction counts come from the
  arrays you pass.
- **A Dask scheduler** is never named in a config file (a config naming one is
  refused); give it with `--scheduler` or the environment variable `{SCHEDULER_ENV}`.
"""


def type_text(schema: dict[str, Any]) -> str:
    """A short reading of a key's JSON schema: ``integer ≥ 1``, ``string or null``..."""
    if "anyOf" in schema:
        return ", or ".join(type_text(s) for s in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    nullable = "null" in types
    parts = [_one_type(t, schema) for t in types if t != "null"]
    text = ", or ".join(parts) if parts else "any"
    return f"{text}, or null" if nullable else text


def _one_type(kind: str, schema: dict[str, Any]) -> str:
    if kind in ("integer", "number"):
        return f"{kind}{_range(schema)}"
    if kind == "boolean":
        return "true or false"
    if kind == "array":
        return _array(schema)
    return kind


def _range(schema: dict[str, Any]) -> str:
    low = high = None
    if "minimum" in schema:
        low = ("[", "≥", schema["minimum"])
    elif "exclusiveMinimum" in schema:
        low = ("(", ">", schema["exclusiveMinimum"])
    if "maximum" in schema:
        high = ("]", "≤", schema["maximum"])
    elif "exclusiveMaximum" in schema:
        high = (")", "<", schema["exclusiveMaximum"])
    if low and high:
        return f" in {low[0]}{_num(low[2])}, {_num(high[2])}{high[0]}"
    if low or high:
        bound = low or high
        return f" {bound[1]} {_num(bound[2])}"
    if "const" in schema.get("not", {}):
        return f" ≠ {_num(schema['not']['const'])}"
    return ""


def _array(schema: dict[str, Any]) -> str:
    items = schema.get("items")
    if not items:
        return "list"
    item = type_text(items)
    if "enum" in items:
        item = "values among " + item.removeprefix("one of ")
    else:
        word, _, rest = item.partition(" ")
        item = f"{word}s {rest}".strip() if word in ("integer", "number", "string") else item
    n_min, n_max = schema.get("minItems"), schema.get("maxItems")
    if n_min is not None and n_min == n_max:
        return f"list of {n_min} {item}"
    return f"{'non-empty ' if n_min == 1 else ''}list of {item}"


def _num(value: Any) -> str:
    return json.dumps(value)


def _cell(text: str) -> str:
    """Text safe in a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _row(*cells: str) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def render() -> str:
    """The Markdown of docs/configuration.md: the keys, types, defaults and descriptions."""
    missing = [
        key
        for key, schema in [*COURSE_KEYS.items(), *((k, s) for k, (s, _) in EXTRA_KEYS.items())]
        if not str(schema.get("description", "")).strip()
    ]
    if missing:
        raise ValueError(
            "config keys without a description in pyimagesearch/infrastructure/config.py: "
            + ", ".join(missing)
        )
    lines = [_INTRO, "## Course keys (required)", ""]
    lines += [_row("key", "type", "default", "description"), "|---|---|---|---|"]
    for key, schema in COURSE_KEYS.items():
        default = "**required**"
        if key in COURSE_DEFAULTS:
            default += f" (API: `{json.dumps(COURSE_DEFAULTS[key])}`)"
        lines.append(_row(f"`{key}`", type_text(schema), default, schema["description"]))
    lines += ["", "## Other keys (optional)", ""]
    lines += [_row("key", "type", "default", "description"), "|---|---|---|---|"]
    for key, (schema, default) in EXTRA_KEYS.items():
        lines.append(
            _row(f"`{key}`", type_text(schema), f"`{json.dumps(default)}`", schema["description"])
        )
    return "\n".join(lines) + "\n"


def write(path: str | os.PathLike = REFERENCE_PATH) -> Path:
    """Write the rendered reference to ``path`` atomically; returns the path."""
    from ..io.atomic import write_text_atomic

    return write_text_atomic(path, render())


def is_current(path: str | os.PathLike = REFERENCE_PATH) -> bool:
    """Whether the file at ``path`` is the rendered reference."""
    path = Path(path)
    return path.is_file() and path.read_text(encoding="utf-8") == render()
