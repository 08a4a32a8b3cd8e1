"""What a result was made from: the config, the data, the software and the code (issue 15).

Every model file, feature store and report records :func:`collect` so a result can be
reproduced (or explained) later: the config's values and their sha256, a fingerprint
of the data folders (names and sizes, no image is read), the versions of Python and
the main packages, and the git commit of the checkout the code ran from.

The same record lets a writer refuse to replace a store or model that another config
made (:func:`check_owner`): copying a config and forgetting to change ``output_dir``
must not silently overwrite the first config's results (issue 14, item 5).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import OutputError

if TYPE_CHECKING:
    from .config import Config

log = logging.getLogger(__name__)

#: Config keys left out of the record: where a Dask scheduler runs, and how long to wait
#: for it, say nothing about the result (the address comes from the environment).
UNRECORDED_KEYS = ("scheduler", "scheduler_timeout")

#: Distributions whose versions are recorded (the first installed name of each entry).
PACKAGES: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy",),
    "opencv": ("opencv-python", "opencv-python-headless", "opencv-contrib-python"),
    "scikit-learn": ("scikit-learn",),
    "scikit-image": ("scikit-image",),
    "h5py": ("h5py",),
    "numba": ("numba",),
    "pyimagesearch": ("pyimagesearch",),
}

#: Seconds a git command may take before the commit is recorded as unknown.
GIT_TIMEOUT = 5.0


def canonical_json(values: Any) -> str:
    """``values`` as canonical JSON: sorted keys, no spaces, ASCII (the hashed text)."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def config_values(conf: Config) -> dict[str, Any]:
    """The config's parsed values that describe a result (without ``UNRECORDED_KEYS``)."""
    return {k: v for k, v in conf.to_dict().items() if k not in UNRECORDED_KEYS}


def config_fingerprint(conf: Config, path: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"path", "sha256", "values"}`` of a config.

    ``path`` (default: the file the config was read from) is resolved; ``None`` for a
    config built in Python. ``sha256`` is of :func:`canonical_json` of ``values``, the
    parsed values the run used (defaults filled, overrides and chosen settings applied).
    """
    path = conf.path if path is None else path
    values = config_values(conf)
    return {
        "path": str(Path(path).resolve()) if path is not None else None,
        "sha256": hashlib.sha256(canonical_json(values).encode("ascii")).hexdigest(),
        "values": values,
    }


def folder_fingerprint(folder: str | os.PathLike) -> dict[str, Any]:
    """sha256 of the sorted ``relative/path<TAB>size`` lines of the files below ``folder``.

    Only names and sizes (``stat``, no file is read): cheap for thousands of images and
    the same for a copy of the folder elsewhere. Hidden files (``.DS_Store``) are left out.
    A single file (a COCO JSON, an imglab XML) is fingerprinted as a folder of one.
    """
    root = Path(folder)
    if root.is_file():
        entries = [(root.name, root.stat().st_size)]
    elif root.is_dir():
        entries = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith("."):
                    continue
                full = Path(dirpath, name)
                try:
                    size = full.stat().st_size
                except OSError:  # a broken link or a file removed meanwhile
                    continue
                entries.append((full.relative_to(root).as_posix(), size))
    else:
        return {"path": str(root), "missing": True}
    entries.sort()
    text = "".join(f"{name}\t{size}\n" for name, size in entries)
    return {
        "path": str(root.resolve()),
        "files": len(entries),
        "bytes": sum(size for _, size in entries),
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
    }


def data_fingerprint(conf: Config) -> dict[str, Any]:
    """Fingerprints of the image, annotation and distraction locations the config names,
    and one sha256 over them (independent of where the data sets are kept)."""
    from .config import input_keys

    folders = {key: folder_fingerprint(conf[key]) for key in input_keys(conf)}
    combined = canonical_json(
        {k: {f: v for f, v in d.items() if f != "path"} for k, d in folders.items()}
    )
    return {**folders, "sha256": hashlib.sha256(combined.encode("ascii")).hexdigest()}


def _version(names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def environment() -> dict[str, Any]:
    """Versions of Python and the main packages, and the platform."""
    from .. import __version__

    versions = {key: _version(names) for key, names in PACKAGES.items()}
    if versions["opencv"] is None and "cv2" in sys.modules:  # a build without metadata
        versions["opencv"] = getattr(sys.modules["cv2"], "__version__", None)
    versions["pyimagesearch"] = versions["pyimagesearch"] or __version__
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": versions,
    }


def git_commit(folder: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the git checkout holding ``folder`` (default: this
    package), or ``None`` when it is not in one (an installed package) or git is missing.

    ``dirty``: tracked files differ from the commit (untracked files do not count).
    """
    folder = Path(folder) if folder is not None else Path(__file__).resolve().parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(folder), *args],
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT,
                env=env,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def collect(conf: Config, written_to: str | os.PathLike | None = None) -> dict[str, Any]:
    """The whole record: config, data, environment, git, and the file it describes.

    ``written_to`` (the store or model file, resolved) tells a copy of a file from the
    file its config wrote: only the latter belongs to that config (:func:`check_owner`).
    """
    return {
        "config": config_fingerprint(conf),
        "data": data_fingerprint(conf),
        "environment": environment(),
        "git": git_commit(),
        "written_to": str(Path(written_to).resolve()) if written_to is not None else None,
    }


def recorded(path: str | os.PathLike) -> dict[str, Any] | None:
    """The provenance a store (HDF5 attrs) or model file (JSON metadata) records.

    ``None`` when the file records none (written before provenance existed) or is not a
    store or model this toolkit can read (the writer then reports what is wrong).
    """
    return _read_record(Path(path))[1]


def _read_record(path: Path) -> tuple[bool, dict[str, Any] | None]:
    """``(whether path is a store or model file, the provenance it records)``."""
    if not path.is_file():  # a FIFO or a folder is neither (and must not be opened)
        return False, None
    try:
        import h5py

        if h5py.is_hdf5(path):
            with h5py.File(path, "r") as f:
                is_ours = "format" in f.attrs
                text = f.attrs.get("provenance")
            found = json.loads(text) if text is not None else None
        else:
            doc = json.loads(path.read_text(encoding="utf-8"))
            is_ours = isinstance(doc, dict) and "format" in doc
            found = doc.get("metadata", {}).get("provenance") if is_ours else None
    except (OSError, ValueError, AttributeError, TypeError, RecursionError):
        return False, None
    return is_ours, found if isinstance(found, Mapping) else None


def check_owner(path: str | os.PathLike, conf: Config, what: str, overwrite: bool = False) -> bool:
    """Refuse to write ``path`` (a store or model file) when another config made it.

    "Another config" is one read from another file (paths resolved) with other values
    (sha256): the same config file edited, a renamed copy of it, a config built in
    Python, and a file copied or moved away from where its config wrote it are all
    accepted. Files without provenance (older) are accepted with a warning. With
    ``overwrite`` the refusal becomes a warning. Returns whether the file is another
    config's (so the caller can drop what it would otherwise keep of it).
    """
    path = Path(path)
    if not path.is_file():
        return False
    is_ours, found = _read_record(path)
    if found is None:
        if is_ours:
            log.warning("%s records no config (written by an older version): replacing it", path)
        return False  # not a store or model: the writer says what it does with it
    theirs = found.get("config")
    theirs = theirs if isinstance(theirs, Mapping) else {}  # a damaged record: not theirs
    ours = config_fingerprint(conf)
    if (
        not theirs.get("path")
        or not ours["path"]
        or theirs.get("path") == ours["path"]
        or theirs.get("sha256") == ours["sha256"]
    ):
        return False
    if found.get("written_to") and found["written_to"] != str(path.resolve()):
        log.info("%s is a copy of %s (config %s)", path, found["written_to"], theirs["path"])
        return False
    if overwrite:
        log.warning("%s: replacing the %s of %s (--overwrite)", path, what, theirs["path"])
        return True
    raise OutputError(
        f"{path}: this {what} was made by the config {theirs['path']}, not by "
        f"{ours['path']} (other values); nothing was written: give {ours['path']} its own "
        f"output_dir, or pass --overwrite (or delete {path}) to replace it"
    )


__all__ = [
    "canonical_json",
    "check_owner",
    "collect",
    "config_fingerprint",
    "data_fingerprint",
    "environment",
    "folder_fingerprint",
    "git_commit",
    "recorded",
]
