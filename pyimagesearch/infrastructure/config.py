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

from ..descriptor.params import BLOCK_NORMS, DESCRIPTORS, ORIENTATIONS
from ..io.data_files import parse_json, read_text
from ..sources.annotations import READERS
from .errors import ConfigError, did_you_mean

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


def _doc(schema: dict, description: str) -> dict:
    """``schema`` with a ``description``: validation ignores it, and the config reference
    (docs/configuration.md, rendered by ``config_reference.py``) is made from it."""
    return {**schema, "description": description}


#: Keys of the course config: all required.
COURSE_KEYS: dict[str, dict] = {
    "image_dataset": _doc(
        _STR,
        "folder of the annotated images (for `crops`: of the positive crops); "
        "`{datasets_root}` is replaced; relative to the working directory",
    ),
    "image_annotations": _doc(
        _STR, "the annotations, a folder or a file as `annotation_format` wants (`crops`: unused)"
    ),
    "image_distractions": _doc(
        _STR,
        "images without the object (random and mined negatives, false positives per image): "
        "a folder, a URL prefix (`s3://`, `http(s)://`) or a URL list",
    ),
    "percent_gt_images": _doc(
        {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "share of the annotated images used for training; the rest is the test set "
        "(1 trains on all of them; `evaluate.py` then has nothing to test on and says so)",
    ),
    "offset": _doc(_NONNEG_INT, "pixels of context added around each annotated box"),
    "use_flip": _doc(_BOOL, "add the mirror image of each positive"),
    "num_distraction_images": _doc(_POS_INT, "distraction images sampled for random negatives"),
    "num_distractions_per_image": _doc(_POS_INT, "random negative windows per distraction image"),
    "orientations": _doc(
        {"type": "integer", "minimum": ORIENTATIONS[0], "maximum": ORIENTATIONS[1]},
        "HOG orientation bins",
    ),
    "pixels_per_cell": _doc(_PAIR, "HOG cell size in pixels, `[rows, cols]`"),
    "cells_per_block": _doc(_PAIR, "HOG block size in cells, `[rows, cols]`"),
    "normalize": _doc(_BOOL, "HOG power-law compression (scikit-image's `transform_sqrt`)"),
    "window_step": _doc(_POS_INT, "pixels between the detector's windows (any step ≥ 1 works)"),
    "overlap_thresh": _doc(
        _PROB, "non-maximum suppression: largest overlap kept, over the lower-scored box's area"
    ),
    "pyramid_scale": _doc(
        {"type": "number", "exclusiveMinimum": 1}, "factor between the detector's pyramid layers"
    ),
    "window_dim": _doc(
        _PAIR,
        "window `[width, height]` in pixels, a multiple of the cell size "
        "(`explore_dims.py` suggests one)",
    ),
    "min_probability": _doc(_PROB, "report detections at or above this probability"),
    "C": _doc({"type": "number", "exclusiveMinimum": 0}, "LinearSVC regularisation"),
    "hn_num_distraction_images": _doc(_POS_INT, "distraction images mined per round"),
    "hn_window_step": _doc(_POS_INT, "pixels between windows when mining"),
    "hn_pyramid_scale": _doc(
        {"type": "number", "exclusiveMinimum": 1}, "factor between pyramid layers when mining"
    ),
    "hn_min_probability": _doc(_PROB, "keep mined windows scoring at least this probability"),
}

#: Values of the course's required keys when the Python API is not given them
#: (conf/cars.json's; a config file must name them). docs/configuration.md shows them.
COURSE_DEFAULTS: dict[str, Any] = {
    "offset": 5,
    "use_flip": True,
    "num_distraction_images": 500,
    "num_distractions_per_image": 10,
    "orientations": 9,
    "pixels_per_cell": [4, 4],
    "cells_per_block": [2, 2],
    "normalize": True,
    "window_step": 4,
    "overlap_thresh": 0.3,
    "pyramid_scale": 1.1487,
    "min_probability": 0.7,
    "C": 0.01,
    "hn_num_distraction_images": 50,
    "hn_window_step": 4,
    "hn_pyramid_scale": 1.1487,
    "hn_min_probability": 0.51,
}

#: Keys added by this toolkit: optional, each with its default.
EXTRA_KEYS: dict[str, tuple[dict, Any]] = {
    "datasets_root": (
        _doc(
            _STR,
            "where the data sets live: replaces `{datasets_root}` in paths (the environment "
            "variable `PYIMAGESEARCH_DATASETS` overrides it)",
        ),
        "../shared/datasets",
    ),
    "object_name": (
        _doc(
            {"type": ["string", "null"], "minLength": 1},
            "what the detector finds, as the report names it "
            "(null: the last folder of `image_dataset`, e.g. `car_side`)",
        ),
        None,
    ),
    "output_dir": (_doc(_STR, "report, per-round models, drawings, checkpoints"), "output"),
    # the course's keys, optional here
    "features_path": (
        _doc(
            {"type": ["string", "null"], "minLength": 1},
            "the HDF5 feature store (null: `output_dir/features.hdf5`)",
        ),
        None,
    ),
    "classifier_path": (
        _doc(
            {"type": ["string", "null"], "minLength": 1},
            "the model file, JSON (null: `output_dir/model.json`)",
        ),
        None,
    ),
    "block_norm": (
        _doc({"enum": list(BLOCK_NORMS)}, "HOG block normalisation (the course's `L1`)"),
        "L1",
    ),
    "descriptor": (
        _doc(
            {"enum": list(DESCRIPTORS)},
            "`hog`: Dalal & Triggs' HOG as scikit-image computes it (orientations, "
            "cells_per_block, normalize, block_norm); `fhog`: Felzenszwalb's 31 features per "
            "cell as dlib computes them (square pixels_per_cell, e.g. [8, 8]; the other HOG "
            "keys are then unused)",
        ),
        "hog",
    ),
    "seed": (_doc(_NONNEG_INT, "one seed for every random choice (splits, patches)"), 42),
    "annotation_format": (
        _doc({"enum": list(READERS)}, "format of the annotations (see docs/data-sources.md)"),
        "caltech-mat",
    ),
    "annotation_class": (
        _doc(
            {"type": ["string", "null"]},
            "the class to train, as the annotations name it (null: every box)",
        ),
        None,
    ),
    "classes": (
        _doc(
            {"type": ["array", "null"], "items": _STR, "minItems": 1, "uniqueItems": True},
            "several classes, as the annotations name them: one detector per class (the "
            "others' boxes its ignore regions), bundled in one model file (null: one class, "
            "`annotation_class`)",
        ),
        None,
    ),
    "distraction_exclude_categories": (
        _doc(_STR_LIST, "distraction sub-folders never used (categories that show the object)"),
        [],
    ),
    "distraction_exclude_images": (
        _doc(
            {"anyOf": [_STR_LIST, _STR]},
            "distraction files never used: a list of names or paths, or the path of the "
            "excluded-windows file that `report.html` saves",
        ),
        [],
    ),
    "eval_distraction_categories": (
        _doc(
            {"type": ["array", "null"], "items": _STR},
            "categories of the held-out object-free images that count false positives per "
            "image (null: all)",
        ),
        None,
    ),
    "eval_num_distraction_images": (
        _doc(_NONNEG_INT, "held-out object-free images for false positives per image"),
        200,
    ),
    "eval_min_probability": (
        _doc(_PROB, "lowest probability kept when drawing the PR curve"),
        0.05,
    ),
    "calibration_folds": (
        _doc({"type": "integer", "minimum": 2}, "cross-validation folds of the Platt calibration"),
        3,
    ),
    "train_solver": (
        _doc(
            {"enum": ["liblinear", "sgd"]},
            "`sgd` trains out of core: SGD (hinge loss, same objective) on chunks read from "
            "the store, Platt on a held-out fifth",
        ),
        "liblinear",
    ),
    "hn_rounds": (
        _doc(
            _NONNEG_INT,
            "mine → retrain rounds of the pipeline (it stops early when a round adds no hard "
            "negative; with `search`, the search may choose fewer)",
        ),
        2,
    ),
    "hn_nms": (_doc(_BOOL, "keep only NMS survivors when mining (the course keeps all)"), False),
    "hn_mine_annotated": (
        _doc(_BOOL, "also mine the training share of the annotated images, outside their objects"),
        True,
    ),
    "hn_negative_iou_max": (
        _doc(_PROB, "on annotated images, a negative's IoU with every object is below this"),
        0.3,
    ),
    "hn_negative_cover_max": (
        _doc(
            _PROB,
            "on annotated images, a window an object covers for this share of its area is "
            "never a negative",
        ),
        0.5,
    ),
    "hn_margin": (
        _doc(
            {"type": ["number", "null"]},
            "when an image gives fewer than `hn_margin_per_image` windows at "
            "`hn_min_probability`, add its best distinct windows with SVM decision value ≥ "
            "this, so mining always teaches something (null: never)",
        ),
        -1.0,
    ),
    "hn_margin_per_image": (
        _doc(_NONNEG_INT, "windows per image below which `hn_margin` adds windows"),
        5,
    ),
    "report_compare_annotated_mining": (
        _doc(
            _BOOL,
            "the report retrains the last round with the other `hn_mine_annotated` setting "
            "and compares",
        ),
        True,
    ),
    "positive_jitter": (_doc(_NONNEG_INT, "extra positives per box, shifted and scaled"), 0),
    "positive_jitter_iou": (
        _doc(_PROB, "least IoU of a jittered positive with its box"),
        0.7,
    ),
    "hn_min_ap_gain": (
        _doc(
            {"type": ["number", "null"]},
            "the validation AP gain a mining round must bring over the one before to be kept "
            "(null: a round is kept while validation stays within noise of its best)",
        ),
        None,
    ),
    "hn_suspect_probability": (
        _doc(_PROB, "mined windows at or above this are listed as suspects (unlabelled objects?)"),
        0.95,
    ),
    "hn_suspect_min_contrast": (
        _doc(
            {"type": "number", "minimum": 0},
            "mined windows whose gray levels vary less than this (standard deviation, of "
            "255) are no suspects: flat patches are normalisation artefacts, not objects",
        ),
        12.0,
    ),
    "hn_max_per_image": (
        _doc(
            {"type": ["integer", "null"], "minimum": 1},
            "most mined windows kept per image, most confident first (null: no cap)",
        ),
        None,
    ),
    "hn_max_total": (
        _doc(_POS_INT, "most mined windows kept per round, most confident first"),
        20000,
    ),
    "n_jobs": (
        _doc({"type": "integer", "not": {"const": 0}}, "worker processes (-1: all cores)"),
        -1,
    ),
    # never taken from a config file (see _refuse_scheduler); null is accepted
    "scheduler": (
        _doc(
            {"type": ["string", "null"]},
            "never in a config file (refused): name a Dask scheduler with `--scheduler` or "
            "`PYIMAGESEARCH_SCHEDULER`",
        ),
        None,
    ),
    "scheduler_timeout": (
        _doc(
            {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
            "seconds to wait for the Dask scheduler (`--scheduler`) to answer, and for it "
            "to have a worker, before giving up with a message",
        ),
        10.0,
    ),
    "max_image_pixels": (
        _doc(_POS_INT, "larger images are refused with a message instead of exhausting memory"),
        40_000_000,
    ),
    # remote images (URL prefix or URL list in image_distractions, see sources/image_lists.py)
    "storage_options": (
        _doc(
            {"type": "object"},
            "fsspec options for remote images (S3 `endpoint_url`, `key`, `secret`, "
            "`client_kwargs`; HTTP `headers`)",
        ),
        {},
    ),
    "remote_timeout": (
        _doc({"type": "number", "exclusiveMinimum": 0}, "seconds per request for remote images"),
        30.0,
    ),
    "remote_retries": (
        _doc(_NONNEG_INT, "retries (exponential backoff) of a failed remote image"),
        3,
    ),
    "remote_cache_dir": (
        _doc(
            {"type": ["string", "null"], "minLength": 1},
            "keep fetched remote images in this folder and read them from it next time "
            "(null: never write a local copy)",
        ),
        None,
    ),
    "checkpoint_every": (
        _doc(_POS_INT, "images per mining checkpoint (an interrupted run resumes from it)"),
        64,
    ),
    "padding": (
        _doc(
            {"type": "number", "minimum": 0, "maximum": 1},
            "share of the window that may extend past the image border (objects cut by it)",
        ),
        0.5,
    ),
    "positive_truncation": (
        _doc(
            {"type": "integer", "minimum": 0, "maximum": 10},
            "copies of each positive cut by an image border (with padding): objects leaving it",
        ),
        1,
    ),
    "upsample": (
        _doc(
            {"type": "integer", "minimum": 0, "maximum": 3},
            "the pyramid also enlarges the image, up to 2^upsample (objects smaller than the "
            "window), like dlib's `upsample_num_times`",
        ),
        0,
    ),
    "pyramid_approximate": (
        _doc(
            _BOOL,
            "compute HOG at one pyramid level per octave and resample it for the levels "
            "between (Dollár et al., Fast Feature Pyramids); false computes every level "
            "(mining always does: its windows become training rows)",
        ),
        True,
    ),
    # templates for objects of several shapes (boxes split by aspect ratio, one window
    # each); null: as many as the boxes' aspect ratios need (sources/dims.py), Python API
    "components": (
        _doc(
            {"type": ["integer", "null"], "minimum": 1, "maximum": 4},
            "templates for objects of several shapes (boxes split by aspect ratio, one window "
            "each; Python API); null: as many as the boxes' aspect ratios need. 1 by default: "
            "on the raccoon set the mixture does not beat one window reliably (ahead in one "
            "run, behind in another: docs/results.md)",
        ),
        1,
    ),
    "box_regression_samples": (
        _doc(
            {"type": "integer", "minimum": 0, "maximum": 100},
            "windows per training object for the box regressor (0: boxes are the windows)",
        ),
        8,
    ),
    "search": (
        _doc(
            _BOOL,
            "the pipeline chooses `window_dim`, `C`, `pyramid_scale` and `upsample` on a "
            "validation share; the model file records the choice (false: the config's values)",
        ),
        True,
    ),
    "search_validation_share": (
        _doc(
            {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "share of the training images held out for the settings search",
        ),
        0.3,
    ),
    "search_window_scales": (
        _doc(
            {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}, "minItems": 1},
            "candidate windows: `window_dim` scaled by these, in whole cells",
        ),
        [1.0, 0.75, 1.33],
    ),
    "search_C_factors": (
        _doc(
            {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}, "minItems": 1},
            "candidate `C`: the config's `C` times these",
        ),
        [1.0, 0.1, 10.0],
    ),
    "search_pyramid_scales": (
        _doc(
            {"type": "array", "items": {"type": "number", "exclusiveMinimum": 1}, "minItems": 1},
            "candidate `pyramid_scale` values",
        ),
        [1.1487],
    ),
    "search_validation_variants": (
        _doc(
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
                        "pasted",
                    ]
                },
                "minItems": 1,
            },
            "the validation images the search scores on: as they are and transformed "
            "(shrunk, cut by the border...), so the choice finds small and cut objects too",
        ),
        ["original", "scale_0.5", "border"],
    ),
    "search_descriptors": (
        _doc(
            {"type": "array", "items": {"enum": list(DESCRIPTORS)}, "minItems": 1},
            "descriptors the settings search tries besides the config's own, each on its "
            "usual cells (HOG 4x4, FHOG 8x8) with the window explore_dims suggests for it",
        ),
        ["hog", "fhog"],
    ),
    "search_upsample": (
        _doc(
            {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": 3},
                "minItems": 1,
            },
            "candidate `upsample` values",
        ),
        [0, 1],
    ),
}

#: The optional keys' defaults (what a config that does not name them gets).
EXTRA_DEFAULTS: dict[str, Any] = {key: default for key, (_, default) in EXTRA_KEYS.items()}

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
    if not os.path.lexists(path):
        raise ConfigError(f"{path}: config file does not exist")
    text = read_text(path, ConfigError, "config")
    raw = parse_json(text, path, ConfigError, "config", json5.loads)
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
    values = dict(EXTRA_DEFAULTS)
    values.update(raw)
    _default_outputs(values)
    _read_excluded_windows(values, where)
    _check_consistency(values, where)
    if resolve:
        values = _resolve_paths(values)
        _check_outputs_apart(values, path, where)
    if values["object_name"] is None:
        values["object_name"] = object_name_from(values["image_dataset"])
    return Config(values, path)


def _read_excluded_windows(values: dict[str, Any], where: str) -> None:
    """``distraction_exclude_images`` naming an excluded-windows file: its images.

    The file is the one report.html saves (see ``sources/excluded_windows.py``); a
    relative path is relative to the working directory, like every path here.
    """
    from ..sources.excluded_windows import excluded_images

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


def _check_outputs_apart(values: dict[str, Any], path: Path | None, where: str) -> None:
    """Refuse outputs that would replace or sit among the inputs: the config file itself,
    an input file, or a path inside an input folder (a store written over an image, a
    model over the config, plots among the images the next run lists)."""
    from ..io.remote import is_url
    from ..io.safe_paths import among_inputs

    inputs = {f"the input '{k}'": values[k] for k in _PATH_KEYS if not is_url(values[k])}
    if path is not None:
        inputs["the config file"] = str(path)
    for key in _OUTPUT_KEYS:
        reason = among_inputs(values[key], inputs)
        if reason:
            raise ConfigError(f"{where}: key '{key}': {reason}")


def object_name_from(image_dataset: str) -> str:
    """The object's name from the data folder: its last component (``car_side``)."""
    return Path(image_dataset.rstrip("/\\")).name or "object"


def require_outputs(conf: Config, *keys: str) -> None:
    """Stop with a clear message, before any work, when an output named in the config
    cannot be written (a file in the way, a read-only folder)."""
    from ..io.atomic import check_writable
    from .errors import OutputError

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
    from ..io.remote import is_url

    for key in keys:
        if not is_url(conf[key]) and not Path(conf[key]).exists():
            where = conf.path or "<config>"
            raise ConfigError(
                f"{where}: key '{key}': path does not exist: {conf[key]} (a relative path is "
                f"relative to the working directory, {Path.cwd()})"
            )
