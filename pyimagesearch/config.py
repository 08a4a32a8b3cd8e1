"""Load and validate the JSON-with-comments config that drives every step.

The config keeps the course's keys and meanings; new keys have defaults. Validation
happens once, up front, so a typo stops the run before any work with one message
naming the key and the file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import json5
import jsonschema

from .descriptor.params import BLOCK_NORMS, DESCRIPTORS, ORIENTATIONS
from .errors import ConfigError, did_you_mean
from .sources.annotations import READERS

if TYPE_CHECKING:
    from .options import Options

#: Environment variable that overrides ``datasets_root`` (where the data sets live).
DATASETS_ENV = "PYIMAGESEARCH_DATASETS"
#: Environment variable naming the Dask scheduler (``--scheduler`` overrides it).
SCHEDULER_ENV = "PYIMAGESEARCH_SCHEDULER"

_INT = {"type": "integer"}
_POS_INT = {"type": "integer", "minimum": 1}
_NONNEG_INT = {"type": "integer", "minimum": 0}
_BOOL = {"type": "boolean"}
_STR = {"type": "string", "minLength": 1}
_PROB = {"type": "number", "minimum": 0, "maximum": 1}
_PAIR = {"type": "array", "items": _POS_INT, "minItems": 2, "maxItems": 2}
_STR_LIST = {"type": "array", "items": _STR}

#: Keys of the course config: all required.
COURSE_KEYS: dict[str, dict] = {
    "image_dataset": _STR,
    "image_annotations": _STR,
    "image_distractions": _STR,
    "percent_gt_images": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
    "offset": _NONNEG_INT,
    "use_flip": _BOOL,
    "num_distraction_images": _POS_INT,
    "num_distractions_per_image": _POS_INT,
    "orientations": {"type": "integer", "minimum": ORIENTATIONS[0], "maximum": ORIENTATIONS[1]},
    "pixels_per_cell": _PAIR,
    "cells_per_block": _PAIR,
    "normalize": _BOOL,
    "window_step": _POS_INT,
    "overlap_thresh": _PROB,
    "pyramid_scale": {"type": "number", "exclusiveMinimum": 1},
    "window_dim": _PAIR,
    "min_probability": _PROB,
    "C": {"type": "number", "exclusiveMinimum": 0},
    "hn_num_distraction_images": _POS_INT,
    "hn_window_step": _POS_INT,
    "hn_pyramid_scale": {"type": "number", "exclusiveMinimum": 1},
    "hn_min_probability": _PROB,
}

#: Keys added by this toolkit: optional, each with its default.
EXTRA_KEYS: dict[str, tuple[dict, Any]] = {
    "datasets_root": (_STR, "../shared/datasets"),
    # what the detector finds, as the report names it (null: image_dataset's folder name)
    "object_name": ({"type": ["string", "null"], "minLength": 1}, None),
    "output_dir": (_STR, "output"),
    # the course's keys, optional here: null means output_dir/features.hdf5, output_dir/model.json
    "features_path": ({"type": ["string", "null"], "minLength": 1}, None),
    "classifier_path": ({"type": ["string", "null"], "minLength": 1}, None),
    "block_norm": ({"enum": list(BLOCK_NORMS)}, "L1"),
    # "hog": Dalal & Triggs' HOG as skimage computes it (orientations, cells_per_block,
    # normalize, block_norm); "fhog": Felzenszwalb's 31 features per cell as dlib computes
    # them (square pixels_per_cell only; the other HOG keys are unused)
    "descriptor": ({"enum": list(DESCRIPTORS)}, "hog"),
    "seed": (_NONNEG_INT, 42),
    "annotation_format": (
        {"enum": list(READERS)},
        "caltech-mat",
    ),
    "annotation_class": ({"type": ["string", "null"]}, None),
    "distraction_exclude_categories": (_STR_LIST, []),
    # files to leave out, or the path of an excluded-windows file saved by report.html
    "distraction_exclude_images": ({"anyOf": [_STR_LIST, _STR]}, []),
    "eval_distraction_categories": ({"type": ["array", "null"], "items": _STR}, None),
    "eval_num_distraction_images": (_NONNEG_INT, 200),
    "eval_min_probability": (_PROB, 0.05),
    "calibration_folds": ({"type": "integer", "minimum": 2}, 3),
    "train_solver": ({"enum": ["liblinear", "sgd"]}, "liblinear"),
    "hn_rounds": (_NONNEG_INT, 2),
    "hn_nms": (_BOOL, False),
    "hn_mine_annotated": (_BOOL, True),
    "hn_negative_iou_max": (_PROB, 0.3),
    # a window an object covers for this share of its area is never a negative
    "hn_negative_cover_max": (_PROB, 0.5),
    # when an image gives fewer than hn_margin_per_image windows at hn_min_probability,
    # add its best distinct windows with decision value >= hn_margin (null: never)
    "hn_margin": ({"type": ["number", "null"]}, -1.0),
    "hn_margin_per_image": (_NONNEG_INT, 5),
    "report_compare_annotated_mining": (_BOOL, True),
    "positive_jitter": (_NONNEG_INT, 0),
    "positive_jitter_iou": (_PROB, 0.7),
    "hn_min_ap_gain": ({"type": ["number", "null"]}, None),
    "hn_suspect_probability": (_PROB, 0.95),
    "hn_suspect_min_contrast": ({"type": "number", "minimum": 0}, 12.0),
    "hn_max_per_image": ({"type": ["integer", "null"], "minimum": 1}, None),
    "hn_max_total": (_POS_INT, 20000),
    "n_jobs": ({"type": "integer", "not": {"const": 0}}, -1),
    # never taken from a config file (see _refuse_scheduler); null is accepted
    "scheduler": ({"type": ["string", "null"]}, None),
    "max_image_pixels": (_POS_INT, 40_000_000),
    # remote images (URL prefix or URL list in image_distractions, see sources/image_lists.py):
    # fsspec options (S3 endpoint_url, key, secret, ...; HTTP headers), per-request
    # timeout (s), retries with backoff, and a folder to cache fetched files (null: none)
    "storage_options": ({"type": "object"}, {}),
    "remote_timeout": ({"type": "number", "exclusiveMinimum": 0}, 30.0),
    "remote_retries": (_NONNEG_INT, 3),
    "remote_cache_dir": ({"type": ["string", "null"], "minLength": 1}, None),
    "checkpoint_every": (_POS_INT, 64),
    # share of the window that may extend past the image border (objects cut by it)
    "padding": ({"type": "number", "minimum": 0, "maximum": 1}, 0.5),
    # copies of each positive cut by an image border (with padding): objects leaving it
    "positive_truncation": ({"type": "integer", "minimum": 0, "maximum": 10}, 1),
    # enlarge the image up to 2**upsample in the pyramid (objects smaller than the window)
    "upsample": ({"type": "integer", "minimum": 0, "maximum": 3}, 0),
    # compute HOG at one pyramid level per octave and resample it for the levels between
    # (Dollar et al., Fast Feature Pyramids): fine scale steps at about the cost of coarse
    # ones; false computes every level (mining always does: its windows become training rows)
    "pyramid_approximate": (_BOOL, True),
    # windows per training object for the box regressor (0: boxes are the windows)
    "box_regression_samples": ({"type": "integer", "minimum": 0, "maximum": 100}, 8),
    # choose window_dim, C, pyramid_scale and upsample on a validation share (pipeline)
    "search": (_BOOL, True),
    "search_validation_share": (
        {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        0.3,
    ),
    "search_window_scales": (
        {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}, "minItems": 1},
        [1.0, 0.75, 1.33],
    ),
    "search_C_factors": (
        {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}, "minItems": 1},
        [1.0, 0.1, 10.0],
    ),
    "search_pyramid_scales": (
        {"type": "array", "items": {"type": "number", "exclusiveMinimum": 1}, "minItems": 1},
        [1.5, 1.25],
    ),
    "search_validation_variants": (
        {
            "type": "array",
            "items": {
                "enum": [
                    "original",
                    "scale_0.5",
                    "scale_0.75",
                    "scale_1.5",
                    "scale_2",
                    "border",
                    "side_by_side",
                ]
            },
            "minItems": 1,
        },
        ["original", "scale_0.5", "border"],
    ),
    "search_upsample": (
        {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 3}, "minItems": 1},
        [0, 1],
    ),
}

_PATH_KEYS = ("image_dataset", "image_annotations", "image_distractions")
_OUTPUT_KEYS = ("features_path", "classifier_path", "output_dir")

SCHEMA = {
    "type": "object",
    "properties": {**COURSE_KEYS, **{k: s for k, (s, _) in EXTRA_KEYS.items()}},
    "required": sorted(COURSE_KEYS),
    "additionalProperties": False,
}


class Config(Mapping):
    """A validated, read-only config: ``conf["window_dim"]`` or ``conf.window_dim``."""

    def __init__(self, values: dict[str, Any], path: Path | None = None):
        self._values = dict(values)
        self.path = path
        self._options: Options | None = None

    @property
    def options(self) -> Options:
        """The values as each stage's typed options, built once."""
        if self._options is None:
            from .options import Options

            self._options = Options.from_config(self)
        return self._options

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Config({self.path})"

    def replace(self, **changes: Any) -> Config:
        """A copy with some keys changed, validated again (``scheduler`` may be set here)."""
        return _build({**self._values, **changes}, self.path, resolve=False)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._values)


def load_config(path: str | os.PathLike) -> Config:
    """Read a JSON-with-comments config, validate it, fill defaults and resolve paths."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file does not exist")
    try:
        raw = json5.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON (comments allowed): {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a JSON object")
    return config_from_dict(raw, path)


def config_from_dict(raw: dict[str, Any], path: Path | None = None, resolve: bool = True) -> Config:
    """Validate a config given as a dict (``path`` only names it in messages).

    The Dask scheduler comes from ``$PYIMAGESEARCH_SCHEDULER`` (or ``--scheduler``),
    never from the dict: a config that names one is refused.
    """
    _refuse_scheduler(raw, str(path) if path else "<config>")
    values = {**raw, "scheduler": os.environ.get(SCHEDULER_ENV) or None}
    return _build(values, path, resolve)


def _refuse_scheduler(raw: dict[str, Any], where: str) -> None:
    """A config naming a scheduler could run code on this machine: refuse it."""
    if raw.get("scheduler") is not None:
        raise ConfigError(
            f"{where}: key 'scheduler': a config may not name a Dask scheduler (Dask runs "
            f"what the scheduler sends, so a config from someone else could run code); "
            f"give it with --scheduler or the {SCHEDULER_ENV} environment variable"
        )


def _build(raw: dict[str, Any], path: Path | None, resolve: bool) -> Config:
    """Validate ``raw``, fill defaults and (with ``resolve``) resolve the paths."""
    where = str(path) if path else "<config>"
    _refuse_non_finite(raw, where)
    _validate(raw, where)
    raw = {key: _integral_to_int(value, SCHEMA["properties"][key]) for key, value in raw.items()}
    values = {k: default for k, (_, default) in EXTRA_KEYS.items()}
    values.update(raw)
    _default_outputs(values)
    _read_excluded_windows(values, where)
    _check_consistency(values, where)
    if resolve:
        values = _resolve_paths(values)
    if values["object_name"] is None:
        values["object_name"] = object_name_from(values["image_dataset"])
    return Config(values, path)


def _read_excluded_windows(values: dict[str, Any], where: str) -> None:
    """``distraction_exclude_images`` naming an excluded-windows file: its images.

    The file is the one report.html saves (see ``sources/excluded_windows.py``); a
    relative path is relative to the working directory, like every path here.
    """
    from .sources.excluded_windows import excluded_images

    path = values["distraction_exclude_images"]
    if not isinstance(path, str):
        return
    try:
        values["distraction_exclude_images"] = excluded_images(path)
    except ValueError as exc:
        raise ConfigError(f"{where}: key 'distraction_exclude_images': {exc}") from None


_DEFAULT_OUTPUTS = {"features_path": "features.hdf5", "classifier_path": "model.json"}


def _default_outputs(values: dict[str, Any]) -> None:
    """``features_path`` and ``classifier_path`` not given: files in ``output_dir``."""
    for key, name in _DEFAULT_OUTPUTS.items():
        if values[key] is None:
            values[key] = str(Path(values["output_dir"]) / name)


def _validate(raw: dict[str, Any], where: str) -> None:
    unknown = sorted(set(raw) - set(SCHEMA["properties"]))
    if unknown:
        key = unknown[0]
        raise ConfigError(f"{where}: unknown key '{key}'{did_you_mean(key, SCHEMA['properties'])}")
    missing = sorted(set(SCHEMA["required"]) - set(raw))
    if missing:
        raise ConfigError(f"{where}: missing key '{missing[0]}'")
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        key = err.absolute_path[0] if err.absolute_path else "?"
        raise ConfigError(f"{where}: key '{key}': {err.message} (got {json5.dumps(raw.get(key))})")


def _refuse_non_finite(raw: dict[str, Any], where: str) -> None:
    """Refuse NaN and ±Infinity anywhere in the config (JSON5 reads them; schemas pass them)."""
    for key, value in raw.items():
        if not _all_finite(value):
            raise ConfigError(
                f"{where}: key '{key}': NaN and Infinity are not allowed (got {json5.dumps(value)})"
            )


def _all_finite(value: Any) -> bool:
    """Whether no float in ``value`` (a JSON value) is NaN or infinite."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_all_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_all_finite(v) for v in value.values())
    return True


def _integral_to_int(value: Any, schema: dict) -> Any:
    """Whole numbers written as floats (``9.0``) where the schema wants integers, as ints.

    The schema accepts ``9.0`` as an integer (JSON Schema counts by value); converting
    here means every step sees an ``int``, whatever the config's spelling.
    """
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if isinstance(value, float) and "integer" in types and value.is_integer():
        return int(value)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_integral_to_int(v, schema["items"]) for v in value]
    return value


def _check_consistency(values: dict[str, Any], where: str) -> None:
    cell_w, cell_h = values["pixels_per_cell"][1], values["pixels_per_cell"][0]
    win_w, win_h = values["window_dim"]
    if win_w % cell_w or win_h % cell_h:
        raise ConfigError(
            f"{where}: key 'window_dim': {values['window_dim']} (width, height) is not a "
            f"multiple of pixels_per_cell {values['pixels_per_cell']} (rows, cols)"
        )
    if values.get("descriptor") == "fhog":
        if cell_w != cell_h or cell_w < 2:
            raise ConfigError(
                f"{where}: key 'pixels_per_cell': descriptor 'fhog' needs square cells of "
                f"at least 2 pixels, got {values['pixels_per_cell']}"
            )
        return
    block_h, block_w = values["cells_per_block"]
    if win_w // cell_w < block_w or win_h // cell_h < block_h:
        raise ConfigError(
            f"{where}: key 'cells_per_block': a block of {values['cells_per_block']} cells "
            f"does not fit in window_dim {values['window_dim']}"
        )


def _resolve_paths(values: dict[str, Any]) -> dict[str, Any]:
    root = os.environ.get(DATASETS_ENV) or values["datasets_root"]
    values["datasets_root"] = root
    for key in _PATH_KEYS + _OUTPUT_KEYS:
        values[key] = values[key].replace("{datasets_root}", root)
    return values


def object_name_from(image_dataset: str) -> str:
    """The object's name from the data folder: its last component (``car_side``)."""
    return Path(image_dataset.rstrip("/\\")).name or "object"


def require_outputs(conf: Config, *keys: str) -> None:
    """Stop with a clear message, before any work, when an output named in the config
    cannot be written (a file in the way, a read-only folder)."""
    from .errors import OutputError
    from .io.atomic import check_writable

    for key in keys:
        try:
            check_writable(conf[key], folder=key == "output_dir")
        except OutputError as exc:
            where = conf.path or "<config>"
            raise ConfigError(f"{where}: key '{key}': {exc}") from None


def input_keys(conf: Config) -> tuple[str, ...]:
    """The input path keys a run reads (``crops`` reads no ``image_annotations``)."""
    if conf["annotation_format"] == "crops":
        return ("image_dataset", "image_distractions")
    return _PATH_KEYS


def require_paths(conf: Config, *keys: str) -> None:
    """Stop with a clear message when an input path named in the config does not exist."""
    from .io.remote import is_url

    for key in keys:
        if not is_url(conf[key]) and not Path(conf[key]).exists():
            where = conf.path or "<config>"
            raise ConfigError(
                f"{where}: key '{key}': path does not exist: {conf[key]} (a relative path is "
                f"relative to the working directory, {Path.cwd()})"
            )
