"""Read image bytes from a URL (``http(s)://``) or an fsspec path (``s3://``, ``gs://``, ...).

Workers fetch and decode images in memory: nothing is written locally unless a cache
folder is configured (``remote_cache_dir``). HTTP goes through ``requests`` with
``urllib3`` retries (connection errors, 429 and 5xx answers, exponential backoff) and
(connect, read) timeouts; other protocols go through ``fsspec`` with the same number of
attempts and backoff. Every failure becomes a :class:`RemoteReadError` (an
:class:`ImageReadError`) naming the URL, so a bad image is skipped and reported,
never fatal.

A fetched image also passes the fetch commands' placeholder check
(:func:`placeholder_reason`): a deleted-photo placeholder is not a photo.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..infrastructure.errors import ImageReadError

log = logging.getLogger(__name__)

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: HTTP statuses retried with exponential backoff.
RETRY_STATUSES = (429, 500, 502, 503, 504)
#: Refuse objects larger than this (bytes): no image we want is that big.
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
_CHUNK = 1 << 16

#: sha256 of placeholder files seen in the wild (extend per run with ``extra_sha256``).
PLACEHOLDER_SHA256: frozenset[str] = frozenset()
#: (width, height) of Flickr's "photo unavailable" images.
PLACEHOLDER_SIZES: frozenset[tuple[int, int]] = frozenset({(500, 374), (500, 375)})
MIN_SIDE = 32
FLAT_TOLERANCE = 8
FLAT_FRACTION = 0.8


class RemoteReadError(ImageReadError):
    """An image that could not be fetched (HTTP error, timeout, missing object)."""


def is_url(ref: object) -> bool:
    """Whether ``ref`` is a URL string (``scheme://...``) rather than a local path."""
    return isinstance(ref, str) and bool(_URL.match(ref))


@dataclass(frozen=True, eq=False)
class RemoteOptions:
    """How remote images are fetched; sent to the workers with each task.

    ``storage_options`` go to fsspec (e.g. ``{"endpoint_url": ..., "key": ...,
    "secret": ...}`` for S3); for HTTP only its ``headers`` are used.
    """

    storage_options: Mapping[str, Any] = field(default_factory=dict, repr=False)  # secrets
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5
    cache_dir: str | None = None
    max_bytes: int = DEFAULT_MAX_BYTES

    @classmethod
    def from_config(cls, conf: Mapping[str, Any]) -> RemoteOptions:
        """The options named by the config's ``storage_options`` and ``remote_*`` keys."""
        return cls(
            dict(conf["storage_options"]),
            float(conf["remote_timeout"]),
            int(conf["remote_retries"]),
            cache_dir=conf["remote_cache_dir"],
        )


#: A body must arrive within this many read timeouts: the read timeout bounds each wait
#: for a byte, not a server that sends one byte just before every timeout.
BODY_TIMEOUTS = 4


def too_slow(read_timeout: float) -> str:
    """Why a body was cut: it took longer than :data:`BODY_TIMEOUTS` read timeouts."""
    limit = BODY_TIMEOUTS * read_timeout
    return f"the body took longer than {limit:g} s ({BODY_TIMEOUTS} read timeouts): too slow"


@contextlib.contextmanager
def body_deadline(response: Any, read_timeout: float) -> Iterator[threading.Event]:
    """While the body of ``response`` (a streamed ``requests`` response) is read, cut its
    connection once :data:`BODY_TIMEOUTS` read timeouts have passed; yields the event
    that says it was cut (the read then fails: say :func:`too_slow` instead)."""
    fired = threading.Event()

    def cut() -> None:
        fired.set()
        connection = getattr(response.raw, "connection", None) or getattr(
            response.raw, "_connection", None
        )
        sock = getattr(connection, "sock", None)
        if sock is not None:  # shutdown wakes a blocked recv; close would not
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(BODY_TIMEOUTS * read_timeout, cut)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


def fetch_bytes(url: str, options: RemoteOptions | None = None) -> bytes:
    """The bytes at ``url`` (from the cache folder when configured and present)."""
    options = options or RemoteOptions()
    cached = _cache_path(url, options)
    if cached is not None and cached.is_file():
        return cached.read_bytes()
    if url.startswith(("http://", "https://")):
        data = _http_bytes(url, options)
    else:
        data = _fsspec_bytes(url, options)
    if cached is not None and data:
        from .atomic import write_bytes_atomic

        write_bytes_atomic(cached, data)
    return data


def check_placeholder(url: str, image: np.ndarray, data: bytes) -> None:
    """Raise when a fetched image is a deleted-photo placeholder (as the fetch commands do)."""
    sha = hashlib.sha256(data).hexdigest() if PLACEHOLDER_SHA256 else ""
    reason = placeholder_reason(image, sha)
    if reason:
        raise RemoteReadError(f"{url}: discarded as a deleted-photo placeholder: {reason}")


def placeholder_reason(
    image: np.ndarray, sha256: str = "", extra_sha256: Iterable[str] = ()
) -> str | None:
    """Why a decoded image looks like a deleted-photo placeholder, or None if it looks real."""
    from .images import to_gray_uint8

    height, width = image.shape[:2]
    if sha256 and (sha256 in PLACEHOLDER_SHA256 or sha256 in set(extra_sha256)):
        return "known placeholder file (sha256)"
    if min(width, height) < MIN_SIDE:
        return f"tiny image ({width}x{height})"
    gray = to_gray_uint8(image)
    if int(gray.max()) - int(gray.min()) <= 2:
        return f"single flat colour ({width}x{height})"
    if (width, height) in PLACEHOLDER_SIZES:
        median = float(np.median(gray))
        near = float(np.mean(np.abs(gray.astype(np.float32) - median) <= FLAT_TOLERANCE))
        if near >= FLAT_FRACTION:
            return f"placeholder-like {width}x{height} image ({near:.0%} flat)"
    return None


def _cache_path(url: str, options: RemoteOptions) -> Path | None:
    if not options.cache_dir:
        return None
    digest = hashlib.sha256(url.encode()).hexdigest()
    suffix = Path(url.split("?", 1)[0]).suffix[:8]
    return Path(options.cache_dir) / digest[:2] / (digest + suffix)


_SESSIONS: dict[tuple, Any] = {}
_SESSIONS_LOCK = threading.Lock()


def _session(options: RemoteOptions):
    """One ``requests`` session per process, thread and retry setting (reused: keep-alive)."""
    import requests
    import urllib3
    from requests.adapters import HTTPAdapter

    key = (os.getpid(), threading.get_ident(), options.retries, options.backoff)
    with _SESSIONS_LOCK:
        session = _SESSIONS.get(key)
        if session is None:
            retry = urllib3.util.Retry(
                total=options.retries,
                connect=options.retries,
                read=options.retries,
                status=options.retries,
                backoff_factor=options.backoff,
                status_forcelist=list(RETRY_STATUSES),
                allowed_methods=frozenset({"GET", "HEAD"}),
                raise_on_status=False,
            )
            session = requests.Session()
            adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=4)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update({"User-Agent": "pyimagesearch"})
            _SESSIONS[key] = session
    return session


def _http_bytes(url: str, options: RemoteOptions) -> bytes:
    import requests

    headers = dict(options.storage_options.get("headers") or {})
    timeout = (options.timeout, options.timeout)
    try:
        with _session(options).get(url, stream=True, timeout=timeout, headers=headers) as resp:
            if resp.status_code >= 400:
                raise RemoteReadError(f"{url}: HTTP {resp.status_code} {resp.reason or ''}".strip())
            chunks, size = [], 0
            with body_deadline(resp, options.timeout) as cut:
                try:
                    for chunk in resp.iter_content(_CHUNK):
                        size += len(chunk)
                        if size > options.max_bytes:
                            raise RemoteReadError(f"{url}: larger than {options.max_bytes} bytes")
                        chunks.append(chunk)
                except requests.RequestException:
                    if not cut.is_set():
                        raise
                if cut.is_set():
                    raise RemoteReadError(f"{url}: {too_slow(options.timeout)}")
    except requests.RequestException as exc:
        raise RemoteReadError(f"{url}: {_http_failure(exc, options)}") from None
    return b"".join(chunks)


def _http_failure(exc: Exception, options: RemoteOptions) -> str:
    """One line for a failed request: timeouts and exhausted retries named as such."""
    import requests

    attempts = f"{options.retries + 1} attempt(s)"
    text = repr(exc)
    if isinstance(exc, requests.Timeout) or "TimeoutError" in text:
        return f"timed out after {options.timeout:g} s ({attempts})"
    if isinstance(exc, requests.exceptions.RetryError):
        return f"server error on every one of {attempts}"
    return f"network error ({attempts}): {_short(exc)}"


def _fsspec_bytes(url: str, options: RemoteOptions) -> bytes:
    fs, path = filesystem(url, options)
    for attempt in range(options.retries + 1):
        try:  # one ranged GET: never more than max_bytes + 1 bytes in memory
            data = _cat_bounded(fs, path, options)
        except FileNotFoundError:
            raise RemoteReadError(f"{url}: no such object") from None
        except PermissionError as exc:
            raise RemoteReadError(f"{url}: access denied ({_short(exc)})") from None
        except Exception as exc:  # network, throttling, server errors: retried
            if attempt == options.retries:
                raise RemoteReadError(f"{url}: {failure_text(exc, options)}") from None
            log.debug("%s: %s; retrying", url, failure_text(exc, options))
            time.sleep(options.backoff * 2**attempt)
            continue
        if len(data) > options.max_bytes:
            raise RemoteReadError(f"{url}: larger than {options.max_bytes} bytes")
        return data
    raise AssertionError("unreachable")  # pragma: no cover


def _cat_bounded(fs: Any, path: str, options: RemoteOptions) -> bytes:
    """``fs.cat_file`` of at most ``max_bytes + 1`` bytes, given up (``TimeoutError``) after
    a connect and :data:`BODY_TIMEOUTS` read timeouts: the timeouts of the object store's
    client bound each wait, not a server that trickles its answer."""
    end = options.max_bytes + 1
    if not getattr(fs, "async_impl", False):
        return fs.cat_file(path, start=0, end=end)
    from fsspec.asyn import sync

    limit = (BODY_TIMEOUTS + 1) * options.timeout
    try:
        return sync(fs.loop, fs._cat_file, path, start=0, end=end, timeout=limit)
    except TimeoutError:  # fsspec's FSTimeoutError too
        raise TimeoutError(f"no complete answer within {limit:g} s: too slow") from None


def filesystem(url: str, options: RemoteOptions | None = None) -> tuple[Any, str]:
    """The fsspec filesystem and path of ``url``; S3 gets the configured timeouts."""
    try:
        import fsspec
    except ImportError:  # pragma: no cover - an install without the remote extra
        raise RemoteReadError(
            f"{url}: reading URLs needs fsspec (pip install 'pyimagesearch[remote]')"
        ) from None
    options = options or RemoteOptions()
    kwargs = _bounded_options(url, options)
    try:
        fs, path = fsspec.core.url_to_fs(url, **kwargs)
    except (ImportError, ValueError, TypeError) as exc:
        raise RemoteReadError(f"{url}: {_short(exc)}") from None
    if url.startswith(("s3://", "s3a://")):
        fs.retries = 1  # s3fs's own retry loop (5 by default): ours is in _fsspec_bytes
    return fs, path


def failure_text(exc: BaseException, options: RemoteOptions) -> str:
    """One line for a failed fsspec call: a timeout named with its limit."""
    if isinstance(exc, TimeoutError) and str(exc):
        return _short(exc)
    if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__:
        return f"timed out after {options.timeout:g} s"
    return _short(exc)


def _bounded_options(url: str, options: RemoteOptions) -> dict[str, Any]:
    """fsspec options for ``url`` whose every wait is bounded by ``options.timeout``.

    S3: botocore's connect and read timeouts, and one attempt per call (neither
    botocore nor s3fs retrying on its own: :func:`_fsspec_bytes` retries, so a bucket
    that never answers costs ``retries + 1`` timeouts, not 25). HTTP(S) listings: the
    socket timeouts of aiohttp (whose default waits five minutes) and only the
    ``headers`` of ``storage_options`` (the others are S3's keys).
    """
    kwargs = dict(options.storage_options)
    headers = kwargs.pop("headers", None)
    if url.startswith(("s3://", "s3a://")):
        config = {
            "connect_timeout": options.timeout,
            "read_timeout": options.timeout,
            "retries": {"total_max_attempts": 1, "mode": "standard"},
        }
        kwargs["config_kwargs"] = {**config, **kwargs.get("config_kwargs", {})}
    elif url.startswith(("http://", "https://")):
        import aiohttp

        timeout = aiohttp.ClientTimeout(sock_connect=options.timeout, sock_read=options.timeout)
        kwargs = {"client_kwargs": {"timeout": timeout}}
        if headers:
            kwargs["headers"] = dict(headers)
    return kwargs


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]
