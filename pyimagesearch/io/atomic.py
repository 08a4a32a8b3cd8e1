"""Write files so that a crash never leaves a half-written file under the final name.

The temporary file beside the target is named ``.<name>.<host>-<pid>-<random><suffix>``:
a later write (or :func:`remove_stale_temps`) removes those left by a process of this
host that no longer runs (killed, crashed), and never those of a running writer.
Finished files get the permissions of an ordinary new file (``0o666 & ~umask``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ..infrastructure.errors import OutputError, os_error_text

log = logging.getLogger(__name__)

#: Temporary files without a host and process id (older versions) are stale after this.
UNTAGGED_STALE_SECONDS = 3600

_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname()) or "host"
_TAG = re.compile(r"^(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[A-Za-z0-9_]+$")
_UMASK_LOCK = threading.Lock()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success only.

    Any OS error (full disk, read-only folder, a file where a folder is expected)
    becomes an :class:`OutputError` naming ``path``; the previous file stays intact.
    """
    path = Path(path)
    suffix = suffix or ".tmp"
    tmp = None
    check_writable(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path, suffix)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=suffix)
        os.close(fd)
        tmp = Path(name)
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _final_mode())
        os.replace(tmp, path)
    except OSError as exc:
        if isinstance(exc, OutputError):
            raise
        raise OutputError(f"{path}: cannot write: {_without(os_error_text(exc), tmp)}") from exc
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def check_writable(path: str | os.PathLike, folder: bool = False) -> None:
    """Raise :class:`OutputError` if the file (or ``folder``) ``path`` cannot be created.

    Catches, before any work, a file where a folder is expected, a folder where the
    file should go, and a read-only or immutable folder.
    """
    path = Path(path)
    if not folder and path.is_dir():
        raise OutputError(f"{path}: cannot write: it is a folder, not a file")
    existing = path if folder else path.parent
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{path}: cannot write: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write: folder {existing} is not writable")


def _temp_prefix(path: Path) -> str:
    """``.<name>.<host>-<pid>-``: whose temporary file it is, for the stale-file cleanup."""
    return f".{path.name}.{_HOST}-{os.getpid()}-"


def _without(text: str, tmp: Path | None) -> str:
    """``text`` without the temporary file's name (the user knows only the final one)."""
    return text.replace(f"{tmp}: ", "") if tmp is not None else text


def _final_mode() -> int:
    """The mode of a new file under the user's umask (``mkstemp`` creates ``0o600``)."""
    return 0o666 & ~current_umask()


def current_umask() -> int:
    """The process's umask, read without changing it where the OS allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:  # elsewhere: set and restore (a moment other threads could see)
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def remove_stale_temps(path: str | os.PathLike, suffix: str = ".tmp") -> list[Path]:
    """Remove temporary files of ``path`` left by dead processes; return what was removed."""
    path = Path(path)
    base = f".{path.name}."
    removed = []
    try:
        candidates = list(path.parent.iterdir())
    except OSError:
        return removed
    for tmp in candidates:
        name = tmp.name
        if not (name.startswith(base) and name.endswith(suffix)):
            continue
        if _is_stale(tmp, name[len(base) : len(name) - len(suffix)]):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
                log.info("removed %s, left by a process that no longer runs", tmp)
    return removed


def _is_stale(tmp: Path, tag: str) -> bool:
    """Whether the temporary file ``tmp`` (whose name holds ``tag``) has no live writer."""
    match = _TAG.match(tag)
    if match is None or match["host"] != _HOST:  # older naming, or another machine's
        try:
            return time.time() - tmp.lstat().st_mtime > UNTAGGED_STALE_SECONDS
        except OSError:
            return False
    return not _process_alive(int(match["pid"]))


def _process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OSError:
        return True
    return True


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
