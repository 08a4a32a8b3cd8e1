"""The HDF5 feature store: positives, negatives and each round of hard negatives apart.

Layout (``h5py``)::

    /                      attrs: format, format_version, hog (JSON), window_dim,
                           provenance (JSON: config, data, versions, git; see provenance.py)
    /positives/features    (n, d) float32, with source, box, flipped
    /negatives/features    (n, d) float32, with source, box
    /hard_negatives/round_001/features   (n, d) float32, sorted by score (descending),
                           with source, box, layer_box, scale, score, probability

Every change is written to a copy that replaces the store by an atomic rename, so a
crash leaves the previous store intact, and re-writing a group replaces it instead of
appending a duplicate (DESIGN.md decision 4). Every writer holds the store's lock
(``.NAME.lock`` beside it, :func:`store_lock`) from reading the old store to the
rename, so two writers at once (two mining rounds) never lose each other's groups: the
second waits for the first.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
from filelock import FileLock, Timeout

from ..descriptor.hog import HogParams
from ..infrastructure.errors import StoreError
from ..io.atomic import atomic_path
from ..io.data_files import check_regular

FORMAT = "pyimagesearch-features"
FORMAT_VERSION = 1
HARD_NEGATIVES = "hard_negatives"
#: Windows around the training objects with their boxes: the box regressor's samples.
BOX_SAMPLES = "box_samples"

_STR = h5py.string_dtype()
#: Seconds a writer waits for another process writing the same store before giving up.
LOCK_TIMEOUT = 600.0

log = logging.getLogger(__name__)


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file of a store: ``.NAME.lock`` beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def store_lock(path: str | os.PathLike, timeout: float | None = None) -> Iterator[None]:
    """Hold the store's write lock; wait for another writer (at most ``timeout`` seconds)."""
    path = Path(path)
    timeout = LOCK_TIMEOUT if timeout is None else timeout
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.warning("%s: another process is writing this store; waiting for it", path)
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise StoreError(
                f"{path}: another process has been writing this store for over {timeout:.0f} s "
                f"(lock {lock_path(path)}); nothing was written, run again when it has finished"
            ) from None
    try:
        yield
    finally:
        lock.release()


def write_store(
    path: str | os.PathLike,
    hog: HogParams,
    window_dim: tuple[int, int],
    groups: Mapping[str, Mapping[str, np.ndarray]],
    attrs: Mapping[str, Mapping] | None = None,
    keep: Sequence[str] = (),
    provenance: Mapping | None = None,
) -> Path:
    """Create a new store holding ``groups`` (replacing any existing file atomically).

    ``provenance`` (:func:`~pyimagesearch.infrastructure.provenance.collect`) is kept as a
    JSON attribute.

    Groups named in ``keep`` that the existing store holds are copied into the new one
    (under the same lock, so a group written meanwhile is kept too); they must have
    been written with the same HOG parameters.
    """
    with store_lock(path), atomic_path(path, suffix=".h5tmp") as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["hog"] = json.dumps(hog.to_dict())
            f.attrs["window_dim"] = json.dumps(list(window_dim))
            if provenance is not None:
                f.attrs["provenance"] = json.dumps(provenance)
            for name, columns in groups.items():
                write_group(f, name, columns, (attrs or {}).get(name, {}))
            _copy_groups(Path(path), f, keep, hog, window_dim)
    return Path(path)


def existing_groups(
    path: str | os.PathLike, names: Sequence[str], hog: HogParams, window_dim: tuple[int, int]
) -> tuple[list[str], bool]:
    """Feature groups under ``names`` in an existing store, and whether its HOG matches.

    ``([], True)`` when there is no store or it cannot be read (nothing to keep).
    """
    path = Path(path)
    if not path.is_file() or not names:
        return [], True
    try:
        with h5py.File(path, "r") as f:
            found: list[str] = []
            f.visititems(
                lambda name, obj: (
                    found.append(name.rsplit("/", 1)[0])
                    if isinstance(obj, h5py.Dataset)
                    and name.endswith("/features")
                    and any(name.startswith(f"{n}/") for n in names)
                    else None
                )
            )
            same = hog.same_as(json.loads(f.attrs.get("hog", "null"))) and json.loads(
                f.attrs.get("window_dim", "null")
            ) == list(window_dim)
    except (OSError, ValueError, TypeError, RecursionError) as exc:
        log.info("%s: existing file is not a readable store (%s); it will be replaced", path, exc)
        return [], True
    return sorted(found), same


def _copy_groups(
    path: Path, dest: h5py.File, names: Sequence[str], hog: HogParams, window_dim
) -> None:
    """Copy the groups ``names`` of the store at ``path`` (if any) into ``dest``."""
    found, same = existing_groups(path, names, hog, window_dim)
    if not found:
        return
    if not same:
        raise StoreError(
            f"{path}: holds {', '.join(found)} written with other HOG parameters, which "
            "cannot be kept; nothing was written (extract_features.py --drop-mined drops them)"
        )
    with h5py.File(path, "r") as src:
        for name in names:
            if name in src:
                src.copy(src[name], dest, name=name)
    log.info("%s: kept %s", path, ", ".join(found))


@contextlib.contextmanager
def updating(path: str | os.PathLike) -> Iterator[h5py.File]:
    """An open copy of the store, under its lock; it replaces the store on success only."""
    path = Path(path)
    with store_lock(path), atomic_path(path, suffix=".h5tmp") as tmp:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "r+") as f:
            yield f


def replace_group(
    path: str | os.PathLike,
    name: str,
    columns: Mapping[str, np.ndarray],
    attrs: Mapping | None = None,
) -> None:
    """Add or replace one group in an existing store, atomically."""
    with updating(path) as f:
        if name in f:
            del f[name]
        write_group(f, name, columns, attrs or {})


def write_group(
    f: h5py.File, name: str, columns: Mapping[str, np.ndarray], attrs: Mapping
) -> h5py.Group:
    """Write ``columns`` as the datasets of a new group ``name`` of an open store."""
    group = f.require_group(name)
    for key, value in columns.items():
        value = np.asarray(value)
        if value.dtype.kind in "UO":
            group.create_dataset(key, data=value.astype(object), dtype=_STR)
        elif key == "features":
            chunks = (max(1, min(len(value), 256)), value.shape[1]) if value.size else None
            group.create_dataset(key, data=value.astype(np.float32), chunks=chunks)
        else:
            group.create_dataset(key, data=value)
    for key, value in attrs.items():
        group.attrs[key] = json.dumps(value)
    return group


#: HOG features are block-normalised: every value lies in [0, 1] (tolerance for rounding).
FEATURE_RANGE = (-1e-4, 1.0 + 1e-3)


def check_column(path: str | os.PathLike, group: str, key: str, values: np.ndarray) -> None:
    """Refuse a column holding NaN or infinity, or features outside the HOG range."""
    if values.dtype.kind not in "fc" and key != "features":
        return
    if key == "features" and values.dtype.kind not in "fiu":
        raise StoreError(f"{path}: group '{group}': features of type {values.dtype} (not numbers)")
    if not np.isfinite(values).all():
        bad = int(np.count_nonzero(~np.isfinite(values)))
        raise StoreError(
            f"{path}: group '{group}': column '{key}' holds {bad} NaN or infinite value(s); "
            "the store is damaged: re-run extract_features (or mine the round again)"
        )
    low, high = FEATURE_RANGE
    if key == "features" and values.size and not (low <= values.min() and values.max() <= high):
        raise StoreError(
            f"{path}: group '{group}': features outside the HOG range [0, 1] "
            f"(min {values.min():.3g}, max {values.max():.3g}); the store is damaged: "
            "re-run extract_features"
        )


def hard_negative_group(round_index: int, annotated: bool = False) -> str:
    """The store group of a mining round (of the annotated images when ``annotated``)."""
    return f"{HARD_NEGATIVES}/{'annotated_' if annotated else ''}round_{round_index:03d}"


def most_confident(scores: list[np.ndarray], cap: int) -> tuple[np.ndarray, np.ndarray]:
    """``(part, row)`` of the ``cap`` highest of several score arrays, highest first
    (ties in the order given)."""
    part = np.concatenate([np.full(len(s), i) for i, s in enumerate(scores)] or [[]])
    row = np.concatenate([np.arange(len(s)) for s in scores] or [[]])
    order = np.argsort(-np.concatenate(scores or [[]]), kind="stable")[:cap]
    return part[order].astype(np.int64), row[order].astype(np.int64)


class FeatureStore:
    """Read access to a store, checked against the HOG parameters in use."""

    def __init__(self, path: str | os.PathLike, hog: HogParams, window_dim: tuple[int, int]):
        self.path = Path(path)
        if not os.path.lexists(self.path):
            raise StoreError(f"{self.path}: feature store does not exist (run extract_features)")
        check_regular(self.path, StoreError, "feature store")
        try:
            with h5py.File(self.path, "r") as f:
                fmt = f.attrs.get("format")
                stored_hog = self._json_attr(f, "hog")
                stored_dim = self._json_attr(f, "window_dim")
                if fmt == FORMAT and hog.same_as(stored_hog) and stored_dim == list(window_dim):
                    f.visititems(
                        functools.partial(self._check_group, hog.descriptor_size(window_dim))
                    )
        except OSError:
            raise StoreError(f"{self.path}: not a readable HDF5 feature store") from None
        if fmt != FORMAT:
            raise StoreError(f"{self.path}: not a pyimagesearch feature store")
        if not hog.same_as(stored_hog) or stored_dim != list(window_dim):
            raise StoreError(
                f"{self.path}: store was written with other HOG parameters "
                f"({stored_hog}, window {stored_dim}) than the config's "
                f"({hog.to_dict()}, window {list(window_dim)}); re-run extract_features"
            )

    def _json_attr(self, f: h5py.File, name: str) -> object:
        """A JSON attribute of the store's root (None when absent)."""
        text = f.attrs.get(name)
        if text is None:
            return None
        try:
            return json.loads(text)
        except (ValueError, TypeError, RecursionError):
            raise StoreError(
                f"{self.path}: attribute '{name}' is not JSON (damaged store?)"
            ) from None

    def _check_group(self, width: int, name: str, obj: object) -> None:
        """A group holding ``features`` holds columns only: ``features`` 2-D numbers of the
        descriptor's ``width``, every other column one entry per feature row."""
        if not isinstance(obj, h5py.Group) or "features" not in obj:
            return
        where = f"{self.path}: group '{name}'"
        features = obj.get("features")
        if not isinstance(features, h5py.Dataset):
            raise StoreError(f"{where}: 'features' is not a column (damaged store?)")
        if features.ndim != 2 or features.dtype.kind not in "fiu":
            raise StoreError(
                f"{where}: 'features' must be a 2-D array of numbers, got shape "
                f"{features.shape} of {features.dtype}"
            )
        if features.shape[1] != width:
            raise StoreError(
                f"{where}: 'features' has {features.shape[1]} values per row, the config's "
                f"descriptor {width}; re-run extract_features"
            )
        for key, column in obj.items():
            if not isinstance(column, h5py.Dataset):
                raise StoreError(f"{where}: '{key}' is not a column (damaged store?)")
            if column.shape[:1] != features.shape[:1]:
                raise StoreError(
                    f"{where}: column '{key}' has {column.shape[:1] or 'no'} rows, "
                    f"'features' {features.shape[0]}"
                )

    def groups(self) -> list[str]:
        """Names of the groups that hold features."""
        names: list[str] = []
        with h5py.File(self.path, "r") as f:
            f.visititems(
                lambda name, obj: (
                    names.append(name.rsplit("/", 1)[0])
                    if isinstance(obj, h5py.Dataset) and name.endswith("/features")
                    else None
                )
            )
        return sorted(names)

    def hard_negative_rounds(self, annotated: bool = False) -> list[int]:
        """Rounds stored for distraction images (or, with ``annotated``, annotated ones)."""
        prefix = hard_negative_group(0, annotated)[: -len("000")]
        return sorted(int(g[len(prefix) :]) for g in self.groups() if g.startswith(prefix))

    def hard_negative_groups(
        self, max_round: int | None = None, annotated: bool = False
    ) -> list[str]:
        """Groups of the rounds ``<= max_round`` mined on distraction images, then (with
        ``annotated``) those mined on the annotated images."""
        kinds = (False, True) if annotated else (False,)
        return [
            hard_negative_group(r, kind)
            for kind in kinds
            for r in self.hard_negative_rounds(kind)
            if max_round is None or r <= max_round
        ]

    def read_rows(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Feature rows ``rows`` (any order) of group ``name``, checked, in that order."""
        rows = np.asarray(rows, np.int64)
        order = np.argsort(rows, kind="stable")
        with h5py.File(self.path, "r") as f:
            if name not in f:
                raise StoreError(f"{self.path}: no group '{name}' in the feature store")
            data = f[name]["features"][rows[order]]  # h5py wants increasing indices
        check_column(self.path, name, "features", data)
        out = np.empty_like(data)
        out[order] = data
        return out

    def read(self, name: str, columns: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """All columns (or the named ones) of a group, strings decoded, numbers checked."""
        try:
            with h5py.File(self.path, "r") as f:
                if name not in f:
                    raise StoreError(f"{self.path}: no group '{name}' in the feature store")
                group = f[name]
                out = {}
                for key in columns or tuple(group.keys()):
                    if key not in group:
                        raise StoreError(f"{self.path}: group '{name}' has no column '{key}'")
                    data = group[key]
                    is_str = h5py.check_string_dtype(data.dtype)
                    out[key] = data.asstr()[...] if is_str else data[...]
        except StoreError:
            raise
        except (OSError, ValueError, TypeError) as exc:  # damaged file or dataset
            raise StoreError(f"{self.path}: group '{name}': cannot read ({exc})") from None
        for key, values in out.items():
            check_column(self.path, name, key, values)
        return out

    def provenance(self) -> dict | None:
        """What the store was extracted from (``None`` for a store written before it was
        recorded)."""
        with h5py.File(self.path, "r") as f:
            found = self._json_attr(f, "provenance")
        return found if isinstance(found, dict) else None

    def attrs(self, name: str) -> dict:
        with h5py.File(self.path, "r") as f:
            return {k: json.loads(v) for k, v in f[name].attrs.items()}

    def count(self, name: str) -> int:
        with h5py.File(self.path, "r") as f:
            return int(f[name]["features"].shape[0]) if name in f else 0
