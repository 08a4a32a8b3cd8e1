"""Models are data: a JSON file with weights, calibration, HOG parameters and versions.

Loading never executes code from the file (no pickle), so a model received from
someone else is safe to open. Loading checks the model against the config so that a
model is never run with HOG parameters other than those it was trained with.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..descriptor.hog import HogParams
from ..infrastructure.errors import ModelError
from ..io.atomic import write_text_atomic
from ..io.data_files import read_bytes
from .box_regression import BoxRegressor
from .bundle import ClassBundle
from .linear import LinearModel
from .mixture import Mixture

FORMAT = "pyimagesearch-linear-detector"
#: A mixture: several linear models (components), each with its own window.
MIXTURE_FORMAT = "pyimagesearch-mixture-detector"
#: A bundle: one model (or mixture) per class, with the class names and category ids.
BUNDLE_FORMAT = "pyimagesearch-multiclass-detector"
FORMAT_VERSION = 2
#: Versions this code reads (1: no box regressor; boxes are the windows).
READABLE_VERSIONS = (1, 2)


def save_model(model: LinearModel | Mixture | ClassBundle, path: str | os.PathLike) -> Path:
    """Write the model (a mixture of models, or a bundle of classes) as JSON, atomically."""
    if isinstance(model, ClassBundle):
        document = {
            "format": BUNDLE_FORMAT,
            "format_version": 1,
            "classes": model.classes,
            "category_ids": model.category_ids,
            "models": [_any_document(m) for m in model.models],
            "metadata": model.metadata,
        }
    else:
        document = _any_document(model)
    return write_text_atomic(path, json.dumps(document, indent=1))


def _any_document(model: LinearModel | Mixture) -> dict:
    if isinstance(model, Mixture):
        return {
            "format": MIXTURE_FORMAT,
            "format_version": 1,
            "components": [_document(m) for m in model.components],
            "metadata": model.metadata,
        }
    return _document(model)


def _document(model: LinearModel) -> dict:
    """One linear model as a JSON-ready document."""
    import sklearn

    from .. import __version__

    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "hog": model.hog.to_dict(),
        "window_dim": list(model.window_dim),
        "bias": model.bias,
        "calibration": {"method": "platt-sigmoid", "a": model.platt_a, "b": model.platt_b},
        "metadata": {
            **model.metadata,
            "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": {
                "pyimagesearch": __version__,
                "numpy": np.__version__,
                "scikit-learn": sklearn.__version__,
                "python": platform.python_version(),
            },
        },
        "weights": [float(w) for w in model.weights],
    }
    if model.box_regressor is not None:
        document["box_regressor"] = {
            "targets": "(object - window) edges / window size: dx1, dy1, dx2, dy2",
            "bias": [float(b) for b in model.box_regressor.bias],
            "weights": [[float(w) for w in row] for row in model.box_regressor.weights],
        }
    return document


def load_model(path: str | os.PathLike) -> LinearModel | Mixture | ClassBundle:
    """Read a model file (one linear model, a mixture of them, or a bundle of classes);
    raise :class:`ModelError` naming the file if it is not a model."""
    path = Path(path)
    if not os.path.lexists(path):
        raise ModelError(f"{path}: model file does not exist (train a model first)")
    data = read_bytes(path, ModelError, "model file")
    try:
        doc = json.loads(data.decode("utf-8"))
    except RecursionError:
        raise ModelError(f"{path}: not a model file (JSON nested too deeply)") from None
    except ValueError:  # not UTF-8, not JSON
        raise ModelError(f"{path}: not a model file (expected {FORMAT} JSON)") from None
    if isinstance(doc, dict) and doc.get("format") == BUNDLE_FORMAT:
        return _bundle(doc, path)
    return _any_model(doc, path)


def _bundle(doc: dict, path: Path) -> ClassBundle:
    models = doc.get("models")
    if not isinstance(models, list) or not models:
        raise ModelError(f"{path}: malformed model file (a bundle without models)")
    try:
        return ClassBundle(
            list(doc["classes"]),
            [_any_model(m, path) for m in models],
            doc.get("category_ids"),
            doc.get("metadata", {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: malformed model file ({exc})") from None


def _any_model(doc: object, path: Path) -> LinearModel | Mixture:
    """The model (or mixture) of one document."""
    if isinstance(doc, dict) and doc.get("format") == MIXTURE_FORMAT:
        components = doc.get("components")
        if not isinstance(components, list) or not components:
            raise ModelError(f"{path}: malformed model file (a mixture without components)")
        return Mixture([_model(c, path) for c in components], _metadata(doc, path))
    return _model(doc, path)


def _metadata(doc: dict, path: Path) -> dict:
    """The ``metadata`` object of a model document ({} when absent)."""
    metadata = doc.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ModelError(f"{path}: malformed model file ('metadata' must be an object)")
    for key in ("chosen_settings", "detector"):  # settings the detector runs with
        if not isinstance(metadata.get(key, {}), dict):
            raise ModelError(f"{path}: malformed model file ('metadata.{key}' must be an object)")
    return metadata


def _model(doc: object, path: Path) -> LinearModel:
    """The linear model of one document (a file, or a component of a mixture)."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelError(f"{path}: not a model file (expected {FORMAT} JSON)")
    if doc.get("format_version") not in READABLE_VERSIONS:
        raise ModelError(
            f"{path}: model format version {doc.get('format_version')} is not supported "
            f"(this version reads {', '.join(map(str, READABLE_VERSIONS))})"
        )
    try:
        model = LinearModel(
            weights=_float32(_numbers(doc["weights"], "weights"), "weights"),
            bias=float(_numbers(doc["bias"], "bias")),
            platt_a=float(_numbers(doc["calibration"]["a"], "calibration a")),
            platt_b=float(_numbers(doc["calibration"]["b"], "calibration b")),
            hog=HogParams.from_dict(doc["hog"]),  # no "descriptor": written before FHOG, HOG
            window_dim=tuple(_whole_numbers(doc["window_dim"], "window_dim")),
            metadata=_metadata(doc, path),
            box_regressor=_box_regressor(doc.get("box_regressor")),
        )
    except KeyError as exc:
        raise ModelError(f"{path}: malformed model file (no {exc})") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise ModelError(f"{path}: malformed model file ({exc})") from None
    return model


def _numbers(value: object, what: str) -> np.ndarray:
    """``value`` (a JSON number or list of numbers) as float64; NaN and infinity refused."""
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
        raise ValueError(f"{what} must be numbers")
    array = np.asarray(value, dtype=np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{what} holds NaN or infinite values")
    return array


def _float32(array: np.ndarray, what: str) -> np.ndarray:
    """``array`` as float32, refusing values too large for it (they would become infinite)."""
    if array.size and np.abs(array).max() > np.finfo(np.float32).max:
        raise ValueError(f"{what} overflow float32 (largest {np.abs(array).max():.3g})")
    return array.astype(np.float32)


def _whole_numbers(value: object, what: str) -> list[int]:
    """``value`` as a list of positive whole numbers."""
    array = _numbers(value, what)
    if array.ndim != 1 or not (array == np.round(array)).all() or not (array >= 1).all():
        raise ValueError(f"{what} must be a list of positive whole numbers")
    return [int(v) for v in array]


def _box_regressor(doc: dict | None) -> BoxRegressor | None:
    if doc is None:
        return None
    return BoxRegressor(np.asarray(doc["weights"], np.float32), np.asarray(doc["bias"]))


def check_compatible(
    model: LinearModel | Mixture | ClassBundle,
    expected: HogParams,
    window_dim: tuple[int, int],
    path: str | os.PathLike = "model",
    config: object = "the config",
) -> None:
    """Refuse a model whose descriptor, its parameters or window differ from the ones in
    use (``config`` names where those come from). A mixture's components have windows of
    their own: only their descriptors are checked (so are a bundle's classes)."""
    if isinstance(model, ClassBundle):
        for part in model.models:
            parts = part.components if isinstance(part, Mixture) else [part]
            for component in parts:
                check_compatible(component, expected, component.window_dim, path, config)
        return
    if isinstance(model, Mixture):
        for component in model.components:
            check_compatible(component, expected, component.window_dim, path, config)
        return
    if model.hog.descriptor != expected.descriptor:
        raise ModelError(
            f"{path}: model was trained with the {model.hog.descriptor!r} descriptor but "
            f"{config} sets descriptor {expected.descriptor!r} (retrain, or use the config "
            "the model was trained with)"
        )
    diffs = [
        f"{key}: model {theirs} vs config {ours}"
        for key, theirs, ours in (
            (k, model.hog.to_dict()[k], expected.to_dict()[k]) for k in expected.to_dict()
        )
        if theirs != ours
    ]
    if list(model.window_dim) != list(window_dim):
        diffs.append(f"window_dim: model {list(model.window_dim)} vs config {list(window_dim)}")
    if diffs:
        raise ModelError(
            f"{path}: model was trained with other HOG parameters than {config}: "
            + "; ".join(diffs)
            + " (retrain, or use the config the model was trained with)"
        )
