"""Resumable maps: per-batch results saved as ``.npz`` files so a killed run continues.

A long map over images (mining, feature extraction) is cut into batches of
consecutive items. When a batch is complete, the parent saves its rows atomically
(temporary name, then rename); a re-run with the same fingerprint skips the batches
already saved. The fingerprint names everything the rows depend on (items, model,
parameters): a change discards the stale batches instead of mixing them in.
Files are ``numpy`` archives read with ``allow_pickle=False``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import atomic_path
from .parallel import DEFAULT_SCHEDULER_TIMEOUT, map_images

log = logging.getLogger(__name__)


def checkpoint_folder(features_path: str | os.PathLike, name: str) -> Path:
    """Where the checkpoints of a step live: beside the feature store."""
    store = Path(features_path)
    return store.parent / f".{store.name}.checkpoints" / name


def fingerprint(*parts: Any) -> str:
    """A short hash of JSON-able parts and arrays."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


class BatchCheckpoint:
    """A folder of completed batches for one fingerprint."""

    def __init__(self, folder: str | os.PathLike, key: str):
        self.folder = Path(folder)
        self.key = key
        stamp = self.folder / "fingerprint.txt"
        if self.folder.is_dir():
            old = stamp.read_text().strip() if stamp.is_file() else None
            if old != key:
                log.info("%s: discarding checkpoints of another run", self.folder)
                shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        if not stamp.is_file():
            stamp.write_text(key)

    def _path(self, index: int) -> Path:
        return self.folder / f"batch_{index:06d}.npz"

    def done(self) -> set[int]:
        return {int(p.stem.split("_")[1]) for p in self.folder.glob("batch_*.npz")}

    def save(self, index: int, arrays: dict[str, np.ndarray]) -> None:
        with atomic_path(self._path(index), suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

    def load(self, index: int, keys: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        with np.load(self._path(index), allow_pickle=False) as data:
            return {k: data[k] for k in (keys or data.files)}

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def checkpointed_map(
    func: Callable[..., Any],
    items: Sequence[Any],
    checkpoint: BatchCheckpoint,
    batch_size: int,
    reduce_batch: Callable[[list[Any], list[Any]], dict[str, np.ndarray]],
    n_jobs: int = -1,
    scheduler: str | None = None,
    desc: str | None = None,
    progress: bool = True,
    reduce_chunk: Callable[[list[Any]], list[Any]] | None = None,
    scheduler_timeout: float = DEFAULT_SCHEDULER_TIMEOUT,
    **kwargs: Any,
) -> list[int]:
    """Map ``func`` over the items of the batches not yet saved; save each batch as
    ``reduce_batch(batch_items, results)``. Returns the indices of all batches.
    ``reduce_chunk`` trims each worker task's results (see ``map_images``)."""
    n_batches = -(-len(items) // batch_size)
    done = checkpoint.done()
    todo = [b for b in range(n_batches) if b not in done]
    if done:
        log.info("resuming: %d of %d batches already done", n_batches - len(todo), n_batches)
    pending = [
        i for b in todo for i in range(b * batch_size, min(len(items), (b + 1) * batch_size))
    ]
    results = map_images(
        func,
        [items[i] for i in pending],
        n_jobs,
        scheduler,
        desc=desc,
        progress=progress,
        reduce_chunk=reduce_chunk,
        scheduler_timeout=scheduler_timeout,
        **kwargs,
    )
    with contextlib.closing(results):  # stop the workers now, even on an error
        for b in todo:
            lo, hi = b * batch_size, min(len(items), (b + 1) * batch_size)
            batch_results = [next(results) for _ in range(lo, hi)]
            checkpoint.save(b, reduce_batch(list(items[lo:hi]), batch_results))
    return list(range(n_batches))


def iter_batches(checkpoint: BatchCheckpoint, batches: list[int], keys=None) -> Iterator[dict]:
    for b in batches:
        yield checkpoint.load(b, keys)
