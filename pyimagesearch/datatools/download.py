"""Fetch image files over HTTP (or copy them from a local mirror), checked and resumable.

Every file is written to a hidden temp name beside its target (``.NAME.part``) and
renamed over the final name only after its size/checksum checks pass and it decodes,
so nothing half-written ever sits under a final name. A re-run skips files that are
already complete (recorded checksum or size matches, and the file decodes) and
resumes a ``.part`` left by a cut connection with an HTTP ``Range`` request.
"""

from __future__ import annotations

import base64
import csv
import functools
import hashlib
import io
import logging
import os
import re
import shutil
import stat
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.exceptions import ChunkedEncodingError
from tqdm import tqdm

from ..infrastructure.errors import (
    ImageReadError,
    PyImageSearchError,
    UnsafePathError,
    os_error_text,
)
from ..io.atomic import write_text_atomic
from ..io.data_files import open_regular
from ..io.images import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, read_image
from ..io.remote import body_deadline, too_slow
from ..io.safe_paths import is_inside, safe_file_name

log = logging.getLogger(__name__)

#: HTTP statuses retried with exponential backoff.
RETRY_STATUSES = (429, 500, 502, 503, 504)
#: (connect, read) timeouts in seconds.
DEFAULT_TIMEOUT = (10.0, 60.0)
#: Refuse responses larger than this (bytes): no image we want is that big.
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
PART_SUFFIX = ".part"
#: Attempts per file when the connection breaks mid-body (each resumes with Range).
NETWORK_TRIES = 3
_CHUNK = 1 << 16

#: Columns of the manifest every fetch command writes beside its images.
MANIFEST_FIELDS = ("image_id", "file_name", "source", "width", "height", "bytes", "sha256")

#: ``verify(path) -> (width, height)``; raises for a file that must not be kept.
Verifier = Callable[[Path], tuple[int, int]]


class DownloadError(PyImageSearchError):
    """A file could not be fetched, or failed its size/checksum/image checks."""


@dataclass(frozen=True)
class DownloadOptions:
    """How every fetcher downloads: parallelism, retries, timeouts and size limits.

    One value shared by :func:`download_files`, the COCO background and Open Images
    fetchers (built from the command line by :func:`.cli.download_options`).
    ``retries``/``backoff`` drive the HTTP retries of connection errors and 429/5xx
    answers; ``timeout`` is ``(connect, read)`` in seconds; ``max_bytes`` refuses larger
    responses; ``max_image_pixels`` refuses larger images before decoding.
    """

    workers: int = 8
    retries: int = 5
    backoff: float = 0.5
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    max_bytes: int = DEFAULT_MAX_BYTES
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    progress: bool = True

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise DownloadError(f"workers must be >= 1 (got {self.workers})")
        if self.retries < 0 or self.backoff < 0:
            raise DownloadError(
                f"retries and backoff must be >= 0 (got {self.retries}, {self.backoff})"
            )


@dataclass(frozen=True)
class DownloadTask:
    """One file to fetch: ``source`` is a URL or a local ``Path`` to copy.

    ``size``/``sha256``/``md5`` are what the source promises (checked on every fetch);
    ``recorded_size``/``recorded_sha256`` come from an earlier run's manifest and only
    decide whether an existing file can be skipped.
    """

    key: str
    source: str | Path
    dest: Path
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    recorded_size: int | None = None
    recorded_sha256: str | None = None


@dataclass
class FileResult:
    """What happened to one task: ``status`` is downloaded, skipped or failed."""

    task: DownloadTask
    status: str
    reason: str = ""
    bytes: int = 0
    sha256: str = ""
    width: int = 0
    height: int = 0


@dataclass
class DownloadSummary:
    """The outcome of a batch: downloaded / skipped (already complete) / failed with reasons."""

    results: list[FileResult] = field(default_factory=list)

    def _with(self, status: str) -> list[FileResult]:
        return [r for r in self.results if r.status == status]

    @property
    def downloaded(self) -> list[FileResult]:
        return self._with("downloaded")

    @property
    def skipped(self) -> list[FileResult]:
        return self._with("skipped")

    @property
    def failed(self) -> list[FileResult]:
        return self._with("failed")

    @property
    def kept(self) -> list[FileResult]:
        """Files now complete under their final name (downloaded or skipped)."""
        return [r for r in self.results if r.status != "failed"]

    def format(self, max_failures: int = 20) -> str:
        """A short human-readable report (counts, then one line per failure)."""
        lines = [
            f"downloaded: {len(self.downloaded)}  skipped (already complete): "
            f"{len(self.skipped)}  failed: {len(self.failed)}"
        ]
        for res in self.failed[:max_failures]:
            lines.append(f"  failed {res.task.key} ({res.task.source}): {res.reason}")
        if len(self.failed) > max_failures:
            lines.append(f"  ... and {len(self.failed) - max_failures} more failures")
        return "\n".join(lines)


def make_session(retries: int = 5, backoff: float = 0.5, pool_size: int = 8) -> requests.Session:
    """A session that retries connection errors and 429/5xx answers with backoff."""
    retry = urllib3.util.Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff,
        status_forcelist=list(RETRY_STATUSES),
        allowed_methods=frozenset({"GET", "HEAD"}),
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=pool_size, pool_maxsize=pool_size)
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"Accept-Encoding": "identity", "User-Agent": "pyimagesearch-fetch"})
    return session


def verify_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """Decode the file with the toolkit's checked reader; return ``(width, height)``."""
    image = read_image(path, max_pixels)
    return int(image.shape[1]), int(image.shape[0])


def image_verifier(max_pixels: int = DEFAULT_MAX_PIXELS) -> Verifier:
    """:func:`verify_image` refusing images of more than ``max_pixels`` pixels."""
    return functools.partial(verify_image, max_pixels=max_pixels)


def part_path(dest: Path) -> Path:
    """The temp file a download of ``dest`` is written to before its final rename."""
    return dest.with_name(f".{dest.name}{PART_SUFFIX}")


def file_digests(path: Path) -> tuple[int, str, str]:
    """``(size, sha256 hex, md5 hex)`` of a file, read in chunks."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest(), md5.hexdigest()


def md5_b64_to_hex(value: str) -> str | None:
    """Open Images' ``OriginalMD5`` (base64) as hex; None when empty or malformed."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (ValueError, TypeError):
        return None
    return raw.hex() if len(raw) == 16 else None


def download_files(
    tasks: Sequence[DownloadTask],
    options: DownloadOptions | None = None,
    verify: Verifier | None = None,
    desc: str = "fetch",
    root: str | os.PathLike | None = None,
) -> DownloadSummary:
    """Fetch every task with at most ``options.workers`` in flight; never raises for one bad file.

    ``verify`` checks each file (default: it decodes as an image of at most
    ``options.max_image_pixels`` pixels). With ``root`` (the output folder), a task whose
    file (or its temp file) would lie outside it, symlinks resolved, stops the batch
    before anything is fetched.
    """
    opts = options or DownloadOptions()
    verify = verify or image_verifier(opts.max_image_pixels)
    dests = [t.dest for t in tasks]
    if len(set(dests)) != len(dests):
        raise DownloadError("two download tasks write the same file")
    if root is not None:
        check_inside(tasks, Path(root))
    local = threading.local()
    sessions: list[requests.Session] = []
    lock = threading.Lock()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = make_session(opts.retries, opts.backoff, pool_size=2)
            with lock:
                sessions.append(local.session)
        return local.session

    def run(task: DownloadTask) -> FileResult:
        try:
            return _fetch_one(task, session, verify, opts.timeout, opts.max_bytes)
        except OSError as exc:  # a disk or folder problem of this one file: one line
            return FileResult(task, "failed", os_error_text(exc))
        except Exception as exc:  # a bug or odd OS error must not kill the batch
            log.exception("%s: unexpected error", task.key)
            return FileResult(task, "failed", f"unexpected error: {exc!r}")

    summary = DownloadSummary()
    bar = tqdm(total=len(tasks), desc=desc, unit="file", disable=not opts.progress, leave=False)
    pool = ThreadPoolExecutor(max_workers=opts.workers, thread_name_prefix="fetch")
    try:
        futures = [pool.submit(run, task) for task in tasks]
        for future in as_completed(futures):
            res = future.result()
            summary.results.append(res)
            if res.status == "failed":  # reported in the summary too
                log.info("%s: failed: %s", res.task.key, res.reason)
            bar.update(1)
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        bar.close()
        for sess in sessions:
            sess.close()
    order = {task.dest: i for i, task in enumerate(tasks)}
    summary.results.sort(key=lambda r: order[r.task.dest])
    return summary


def check_inside(tasks: Iterable[DownloadTask], root: Path) -> None:
    """Raise naming the first task whose file or temp file would lie outside ``root``."""
    for task in tasks:
        for path in (task.dest, part_path(task.dest)):
            if not is_inside(path, root) or Path(path).resolve() == root.resolve():
                raise UnsafePathError(
                    f"{task.key}: refused: its file {path} would lie outside the output "
                    f"folder {root}"
                )


def _fetch_one(
    task: DownloadTask,
    session: Callable[[], requests.Session],
    verify: Verifier,
    timeout: tuple[float, float],
    max_bytes: int,
) -> FileResult:
    """Skip a complete file, else fetch to ``.part``, check, verify and rename into place."""
    for path in (task.dest, part_path(task.dest)):
        blocked = blocker(path)
        if blocked:
            return FileResult(task, "failed", blocked)
    if task.dest.exists():
        try:
            return _result(task, "skipped", task.dest, verify, existing=True)
        except (DownloadError, ImageReadError) as exc:
            log.info("%s: existing file is not usable (%s); fetching again", task.dest, exc)
            task.dest.unlink()  # a file that fails its checks is never kept
    part = part_path(task.dest)
    task.dest.parent.mkdir(parents=True, exist_ok=True)
    network_tries, whole_retry = NETWORK_TRIES, True
    while True:
        resumed = False
        try:
            if isinstance(task.source, Path):
                shutil.copyfile(task.source, part)
            else:
                resumed = _http_get(session(), task.source, part, timeout, max_bytes)
            result = _result(task, "downloaded", part, verify)
        except (requests.ConnectionError, requests.Timeout, ChunkedEncodingError) as exc:
            # the connection broke: keep what arrived and resume it with a Range request
            network_tries -= 1
            if part.exists() and part.stat().st_size:
                if network_tries > 0:
                    log.info("%s: %s; resuming", task.key, _short(exc))
                    continue
            else:
                part.unlink(missing_ok=True)
            return FileResult(task, "failed", f"network error: {_short(exc, part)}")
        except (DownloadError, ImageReadError, requests.RequestException, OSError) as exc:
            part.unlink(missing_ok=True)
            if resumed and whole_retry:  # the old partial file may not belong to this file
                log.info("%s: resumed file failed its checks (%s); fetching whole", task.key, exc)
                whole_retry = False
                continue
            return FileResult(task, "failed", _short(exc, part))
        os.replace(part, task.dest)
        return result


def blocker(path: Path) -> str | None:
    """Why no file can be written at ``path`` (a folder or special file sits there), or None."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    if stat.S_ISREG(mode):
        return None
    kind = "a folder" if stat.S_ISDIR(mode) else "a special file (not a regular file)"
    return f"{path}: {kind} sits where the downloaded file goes; move it away and re-run"


def _result(
    task: DownloadTask, status: str, path: Path, verify: Verifier, existing: bool = False
) -> FileResult:
    """Check ``path`` against the task's expected size/checksums and decode it."""
    size, sha256, md5 = file_digests(path)
    if existing and task.recorded_size is not None and size != task.recorded_size:
        raise DownloadError(f"size {size} differs from the manifest's {task.recorded_size}")
    if existing and task.recorded_sha256 and sha256 != task.recorded_sha256.lower():
        raise DownloadError("sha256 differs from the manifest's")
    if task.size is not None and size != task.size:
        raise DownloadError(f"size mismatch: {size} bytes, expected {task.size}")
    if task.sha256 and sha256 != task.sha256.lower():
        raise DownloadError(f"sha256 mismatch: expected {task.sha256.lower()}, got {sha256}")
    if task.md5 and md5 != task.md5.lower():
        raise DownloadError(f"md5 mismatch: expected {task.md5.lower()}, got {md5}")
    width, height = verify(path)
    return FileResult(task, status, "", size, sha256, width, height)


def _http_get(
    sess: requests.Session,
    url: str,
    part: Path,
    timeout: tuple[float, float],
    max_bytes: int,
) -> bool:
    """Stream ``url`` into ``part``; return True when it appended to an earlier partial file."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with sess.get(url, stream=True, timeout=timeout, headers=headers) as resp:
        if resp.status_code == 416 and offset:  # the partial file is useless: start over
            part.unlink()
            return _http_get(sess, url, part, timeout, max_bytes)
        if resp.status_code >= 400:
            raise DownloadError(f"HTTP {resp.status_code} {resp.reason or ''}".strip())
        content_range = resp.headers.get("Content-Range", "")
        append = bool(offset) and resp.status_code == 206
        if append and not content_range.startswith(f"bytes {offset}-"):
            raise DownloadError(f"unexpected Content-Range {content_range!r}")
        start = offset if append else 0
        expected = resp.headers.get("Content-Length")
        written = 0
        # keep the bytes of a body cut short (urllib3 would drop its last buffer): the
        # length check below turns the short body into a resumable network error
        resp.raw.enforce_content_length = False
        with open(part, "ab" if append else "wb") as fh, body_deadline(resp, timeout[1]) as cut:
            try:
                for chunk in resp.iter_content(_CHUNK):
                    written += len(chunk)
                    if start + written > max_bytes:
                        raise DownloadError(f"larger than {max_bytes} bytes")
                    fh.write(chunk)
            except requests.RequestException:
                if not cut.is_set():
                    raise
            if cut.is_set():  # not a broken connection to resume: a server too slow
                raise DownloadError(too_slow(timeout[1]))
        if _whole(expected) is not None and written != _whole(expected):
            raise requests.ConnectionError(f"incomplete body: {written} of {expected} bytes")
        if append:
            log.debug("%s: resumed at byte %d", url, offset)
        return append


def _short(exc: BaseException, part: Path | None = None) -> str:
    """An exception as one short line, without the temp file's path (it no longer exists)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if part is not None:
        text = text.replace(f"{part}: ", "").replace(f"{part.name}: ", "")
    if isinstance(exc, requests.exceptions.RetryError):
        text = "too many retries (" + text.split("(Caused by ")[-1].rstrip(")") + ")"
    return text[:300]


def read_manifest(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """Rows of a manifest CSV keyed by ``file_name`` ({} when the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        with open_regular(path, DownloadError, "manifest", "r", newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, csv.Error, UnicodeDecodeError, DownloadError) as exc:
        log.warning("%s: unreadable manifest ignored (%s)", path, exc)
        return {}
    if rows and "file_name" not in rows[0]:
        log.warning("%s: manifest without a file_name column ignored", path)
        return {}
    out = {}
    for line, row in enumerate(rows, start=2):
        try:
            out[safe_file_name(row.get("file_name"), what=f"{path}:{line}: file_name")] = row
        except UnsafePathError as exc:  # the manifest is a cache: a bad row is only ignored
            log.warning("%s; row ignored", exc)
    return out


def write_manifest(path: str | os.PathLike, rows: Iterable[Mapping[str, object]]) -> Path:
    """Write manifest rows (sorted by file name) atomically as CSV."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: str(r["file_name"])):
        writer.writerow(row)
    return write_text_atomic(path, buf.getvalue())


def manifest_row(image_id: object, res: FileResult) -> dict[str, object]:
    """The manifest row of one kept file."""
    return {
        "image_id": image_id,
        "file_name": res.task.dest.name,
        "source": str(res.task.source),
        "width": res.width,
        "height": res.height,
        "bytes": res.bytes,
        "sha256": res.sha256,
    }


def _whole(text: object) -> int | None:
    """``text`` as a whole number of bytes, or None (a cache or header value we only trust
    when it is plain ASCII digits: ``'²'.isdigit()`` is true, ``int('²')`` fails)."""
    text = str(text or "").strip()
    return int(text) if re.fullmatch(r"\d+", text, re.ASCII) else None


def recorded_checks(row: Mapping[str, str] | None) -> dict[str, object]:
    """``recorded_size``/``recorded_sha256`` task arguments from an earlier manifest row."""
    if not row:
        return {}
    out: dict[str, object] = {}
    size = _whole(row.get("bytes"))
    if size is not None:
        out["recorded_size"] = size
    if row.get("sha256"):
        out["recorded_sha256"] = row["sha256"]
    return out


def finish_image_folder(
    out: Path,
    summary: DownloadSummary,
    previous: Mapping[str, Mapping[str, str]],
    image_id: Callable[[FileResult], object],
    labels: bool = True,
    prune: bool = False,
) -> tuple[list[Path], int]:
    """Labels, stale images and manifest of an ``out/images`` folder after a fetch.

    With ``labels``, every kept image gets an empty ``out/labels/<stem>.txt`` (a YOLO
    background) and failed ones lose theirs. Images in ``out/images`` that this run did
    not ask for are returned as stale, or deleted with ``prune``. ``out/manifest.csv``
    keeps earlier rows of images still on disk and this run's rows of kept images.
    Returns ``(stale images, number pruned)``.
    """
    img_dir, label_dir = out / "images", out / "labels"
    if labels:
        for res in summary.failed:
            (label_dir / f"{res.task.dest.stem}.txt").unlink(missing_ok=True)
        for res in summary.kept:
            label = label_dir / f"{res.task.dest.stem}.txt"
            if not label.is_file() or label.stat().st_size:
                write_text_atomic(label, "")
    asked = {res.task.dest.name for res in summary.results}
    stale = sorted(
        p
        for p in (img_dir.iterdir() if img_dir.is_dir() else ())
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and p.name not in asked
    )
    pruned = 0
    if prune:
        for path in stale:
            path.unlink(missing_ok=True)
            (label_dir / f"{path.stem}.txt").unlink(missing_ok=True)
            pruned += 1
        log.info("%s: pruned %d image(s) not in this selection", img_dir, pruned)
        stale = []
    rows = {name: dict(row) for name, row in previous.items() if (img_dir / name).is_file()}
    for res in summary.failed:
        rows.pop(res.task.dest.name, None)
    for res in summary.kept:
        rows[res.task.dest.name] = manifest_row(image_id(res), res)
    write_manifest(out / "manifest.csv", rows.values())
    return stale, pruned


def stale_lines(stale: Sequence[Path], pruned: int, out_dir: Path) -> list[str]:
    """Summary lines about images an earlier run left in the output folder."""
    lines = []
    if stale:
        lines.append(
            f"warning: {len(stale)} image(s) in {out_dir / 'images'} are not in "
            "this selection (an earlier run with other options?); --prune removes them"
        )
    if pruned:
        lines.append(f"pruned {pruned} image(s) not in this selection")
    return lines
