"""The HTTP downloader against a real server on 127.0.0.1: retries, resume, checks."""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pyimagesearch.datatools.download import (
    DownloadError,
    DownloadOptions,
    DownloadTask,
    download_files,
    part_path,
    read_manifest,
    recorded_checks,
    write_manifest,
)
from pyimagesearch.io.images import read_image

from ..conftest import DATASETS

pytestmark = pytest.mark.needs_data

DATA = DATASETS.resolve()
COCO_IMAGES = DATA / "coco_tiny/images"
SAMPLE_IMAGES = sorted((COCO_IMAGES / "train2017").glob("*.jpg"))[:6]


class MirrorServer:
    """Serve ``{url path: file or bytes}`` on 127.0.0.1 with scripted faults, counting requests.

    ``fail_first[path] = n``: answer the first n requests with 503. ``truncate[path] = n``:
    serve only the first n bytes (with a matching Content-Length, like a truncated file
    on the server). ``cut[path] = n``: announce the full length but close after n bytes
    (``cut_times`` times). ``Range: bytes=N-`` is honoured with 206.
    """

    def __init__(self, files: dict[str, Path | bytes]):
        self.files = dict(files)
        self.requests: Counter[str] = Counter()
        self.ranges: list[tuple[str, int]] = []
        self.fail_first: dict[str, int] = {}
        self.truncate: dict[str, int] = {}
        self.cut: dict[str, int] = {}
        self.cut_times = 1
        self.delay = 0.0
        self.active = self.max_active = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                server.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> MirrorServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def total(self) -> int:
        return sum(self.requests.values())

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        path = req.path.split("?")[0]
        with self.lock:
            self.requests[path] += 1
            count = self.requests[path]
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.delay:
                time.sleep(self.delay)
            if count <= self.fail_first.get(path, 0):
                req.send_error(503, "busy")
                return
            if path not in self.files:
                req.send_error(404, "not found")
                return
            data = self.files[path]
            data = data.read_bytes() if isinstance(data, Path) else data
            data = data[: self.truncate[path]] if path in self.truncate else data
            start = 0
            header = req.headers.get("Range", "")
            if header.startswith("bytes=") and header.endswith("-"):
                start = int(header[6:-1])
                self.ranges.append((path, start))
                if start >= len(data):
                    req.send_error(416, "range not satisfiable")
                    return
                req.send_response(206)
                req.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                req.send_response(200)
            body = data[start:]
            req.send_header("Content-Type", "image/jpeg")
            req.send_header("Content-Length", str(len(body)))
            req.end_headers()
            if path in self.cut and self.cut_times > 0:
                with self.lock:
                    self.cut_times -= 1
                req.wfile.write(body[: self.cut[path]])
                req.wfile.flush()
                req.close_connection = True
                return
            req.wfile.write(body)
        finally:
            with self.lock:
                self.active -= 1


def _tasks(server: MirrorServer, out: Path, images=SAMPLE_IMAGES, **checks) -> list[DownloadTask]:
    return [
        DownloadTask(p.stem, f"{server.url}/img/{p.name}", out / p.name, **checks) for p in images
    ]


def _files(images=SAMPLE_IMAGES) -> dict[str, Path | bytes]:
    return {f"/img/{p.name}": p for p in images}


def _fetch(tasks, **kw):
    kw.setdefault("retries", 3)
    kw.setdefault("backoff", 0.0)
    kw.setdefault("progress", False)
    return download_files(tasks, DownloadOptions(**kw))


def test_sample_images_exist():
    assert len(SAMPLE_IMAGES) == 6


def test_downloads_verify_and_report(tmp_path):
    with MirrorServer(_files()) as server:
        summary = _fetch(_tasks(server, tmp_path), workers=3)
    assert len(summary.downloaded) == 6 and not summary.failed
    for res, src in zip(summary.results, SAMPLE_IMAGES, strict=True):
        assert res.task.dest.read_bytes() == src.read_bytes()
        assert res.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
        assert (res.height, res.width) == read_image(src).shape[:2]
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in SAMPLE_IMAGES]
    assert "downloaded: 6" in summary.format()


def test_503_answers_are_retried(tmp_path):
    with MirrorServer(_files()) as server:
        first, second = (f"/img/{p.name}" for p in SAMPLE_IMAGES[:2])
        server.fail_first = {first: 2, second: 1}
        summary = _fetch(_tasks(server, tmp_path), retries=3)
    assert len(summary.downloaded) == 6
    assert server.requests[first] == 3 and server.requests[second] == 2


def test_persistent_503_fails_without_leaving_files(tmp_path):
    with MirrorServer(_files()) as server:
        bad = f"/img/{SAMPLE_IMAGES[0].name}"
        server.fail_first = {bad: 100}
        summary = _fetch(_tasks(server, tmp_path), retries=2)
    assert [r.task.key for r in summary.failed] == [SAMPLE_IMAGES[0].stem]
    assert "503" in summary.failed[0].reason
    assert server.requests[bad] == 3  # first try + 2 retries
    assert not (tmp_path / SAMPLE_IMAGES[0].name).exists()
    assert not list(tmp_path.glob(".*"))


def test_truncated_image_is_discarded(tmp_path):
    src = SAMPLE_IMAGES[1]
    with MirrorServer(_files()) as server:
        server.truncate = {f"/img/{src.name}": src.stat().st_size // 2}
        summary = _fetch(_tasks(server, tmp_path))
    assert [r.task.key for r in summary.failed] == [src.stem]
    assert "truncated JPEG" in summary.failed[0].reason
    assert not (tmp_path / src.name).exists() and not part_path(tmp_path / src.name).exists()
    assert len(summary.downloaded) == 5


def test_connection_cut_mid_file_resumes_with_range(tmp_path):
    src = SAMPLE_IMAGES[2]
    with MirrorServer(_files([src])) as server:
        server.cut = {f"/img/{src.name}": 1000}
        server.cut_times = 1
        summary = _fetch(_tasks(server, tmp_path, [src]))
    assert len(summary.downloaded) == 1
    assert server.ranges == [(f"/img/{src.name}", 1000)]
    assert (tmp_path / src.name).read_bytes() == src.read_bytes()


def test_partial_file_survives_a_failed_run_and_is_resumed(tmp_path):
    src = SAMPLE_IMAGES[2]
    with MirrorServer(_files([src])) as server:
        server.cut = {f"/img/{src.name}": 700}
        server.cut_times = 99  # every attempt of this run breaks
        summary = _fetch(_tasks(server, tmp_path, [src]))
        assert summary.failed and "network error" in summary.failed[0].reason
        assert not (tmp_path / src.name).exists()
        part = part_path(tmp_path / src.name)
        assert part.is_file() and 0 < part.stat().st_size < src.stat().st_size
        done = part.stat().st_size
        server.cut, server.ranges = {}, []
        summary = _fetch(_tasks(server, tmp_path, [src]))
    assert len(summary.downloaded) == 1
    assert server.ranges == [(f"/img/{src.name}", done)]
    assert (tmp_path / src.name).read_bytes() == src.read_bytes() and not part.exists()


def test_stale_garbage_part_is_replaced_by_a_whole_download(tmp_path):
    src = SAMPLE_IMAGES[3]
    part_path(tmp_path / src.name).write_bytes(b"not the start of this jpeg" * 10)
    with MirrorServer(_files([src])) as server:
        summary = _fetch(_tasks(server, tmp_path, [src]))
    assert len(summary.downloaded) == 1
    assert server.requests[f"/img/{src.name}"] == 2  # the Range attempt, then whole
    assert (tmp_path / src.name).read_bytes() == src.read_bytes()


def test_rerun_skips_complete_files_and_refetches_changed_ones(tmp_path):
    with MirrorServer(_files()) as server:
        first = _fetch(_tasks(server, tmp_path))
        rows = {r.task.dest.name: {"bytes": r.bytes, "sha256": r.sha256} for r in first.results}
        before = server.total()
        # one file replaced by another valid image: its sha256 no longer matches the record
        shutil.copyfile(SAMPLE_IMAGES[0], tmp_path / SAMPLE_IMAGES[1].name)
        tasks = [
            DownloadTask(t.key, t.source, t.dest, **recorded_checks(rows[t.dest.name]))
            for t in _tasks(server, tmp_path)
        ]
        second = _fetch(tasks)
        assert server.total() - before == 1
        assert server.requests[f"/img/{SAMPLE_IMAGES[1].name}"] == 2
        third = _fetch(tasks)
        assert server.total() - before == 1  # nothing fetched the third time
    assert len(second.skipped) == 5 and len(second.downloaded) == 1
    assert len(third.skipped) == 6
    assert (tmp_path / SAMPLE_IMAGES[1].name).read_bytes() == SAMPLE_IMAGES[1].read_bytes()


def test_existing_file_that_does_not_decode_is_refetched(tmp_path):
    src = SAMPLE_IMAGES[0]
    (tmp_path / src.name).write_bytes(src.read_bytes()[:5000])  # cut JPEG, no record
    with MirrorServer(_files([src])) as server:
        summary = _fetch(_tasks(server, tmp_path, [src]))
    assert len(summary.downloaded) == 1 and server.total() == 1


def test_expected_size_and_md5_are_checked(tmp_path):
    src = SAMPLE_IMAGES[0]
    data = src.read_bytes()
    with MirrorServer(_files([src])) as server:
        url = f"{server.url}/img/{src.name}"
        good = DownloadTask("ok", url, tmp_path / "ok.jpg", size=len(data),
                            md5=hashlib.md5(data).hexdigest())  # fmt: skip
        bad_size = DownloadTask("size", url, tmp_path / "size.jpg", size=len(data) + 1)
        bad_md5 = DownloadTask("md5", url, tmp_path / "md5.jpg", md5="0" * 32)
        summary = _fetch([good, bad_size, bad_md5])
    reasons = {r.task.key: r.reason for r in summary.results}
    assert reasons["ok"] == "" and "size mismatch" in reasons["size"]
    assert "md5 mismatch" in reasons["md5"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.jpg"]


def test_concurrency_is_bounded_by_workers(tmp_path):
    with MirrorServer(_files()) as server:
        server.delay = 0.1
        summary = _fetch(_tasks(server, tmp_path), workers=2)
    assert len(summary.downloaded) == 6
    assert server.max_active == 2


def test_read_timeout_is_a_failure_not_a_hang(tmp_path):
    with MirrorServer(_files(SAMPLE_IMAGES[:1])) as server:
        server.delay = 1.0
        start = time.monotonic()
        summary = _fetch(_tasks(server, tmp_path, SAMPLE_IMAGES[:1]), retries=0,
                         timeout=(1.0, 0.2))  # fmt: skip
    assert time.monotonic() - start < 1.0
    assert summary.failed and "network error" in summary.failed[0].reason


def test_local_copy_source_and_missing_file(tmp_path):
    out = tmp_path / "out"
    tasks = [
        DownloadTask("a", SAMPLE_IMAGES[0], out / "a.jpg"),
        DownloadTask("b", tmp_path / "nope.jpg", out / "b.jpg"),
    ]
    summary = _fetch(tasks)
    assert [r.status for r in summary.results] == ["downloaded", "failed"]
    assert (out / "a.jpg").read_bytes() == SAMPLE_IMAGES[0].read_bytes()
    assert not (out / "b.jpg").exists()


def test_bad_arguments_raise():
    with pytest.raises(DownloadError):
        download_files([], DownloadOptions(workers=0))
    t = DownloadTask("x", "http://127.0.0.1:9/x.jpg", Path("/tmp/x.jpg"))
    with pytest.raises(DownloadError, match="same file"):
        download_files([t, t])


def test_manifest_round_trip(tmp_path):
    rows = [
        {"image_id": 2, "file_name": "b.jpg", "source": "u2", "width": 3, "height": 4,
         "bytes": 10, "sha256": "ab"},
        {"image_id": 1, "file_name": "a.jpg", "source": "u1", "width": 5, "height": 6,
         "bytes": 11, "sha256": "cd"},
    ]  # fmt: skip
    path = write_manifest(tmp_path / "manifest.csv", rows)
    assert path.read_text().splitlines()[0] == "image_id,file_name,source,width,height,bytes,sha256"
    got = read_manifest(path)
    assert list(got) == ["a.jpg", "b.jpg"]
    assert recorded_checks(got["a.jpg"]) == {"recorded_size": 11, "recorded_sha256": "cd"}
    assert read_manifest(tmp_path / "missing.csv") == {}
