"""Every wait has a limit and says so: each network path pointed at a port of 127.0.0.1
where nothing listens, and at one that accepts and never answers, ends in one line
naming what it waited for, within a bound (short timeouts here; the bound is generous).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from pyimagesearch.datatools.datasets import download_archives
from pyimagesearch.datatools.download import DownloadOptions, DownloadTask, download_files
from pyimagesearch.infrastructure.errors import PyImageSearchError, SchedulerError
from pyimagesearch.infrastructure.parallel import connect_scheduler, map_images
from pyimagesearch.io.images import read_gray
from pyimagesearch.io.remote import RemoteOptions
from pyimagesearch.sources.image_lists import list_image_refs

from .hostile_files import closed_port, mini_project, run_command, silent_server, trickling_server

#: Seconds any of these may take with half-second timeouts and no retries: generous (a
#: loaded machine), yet far below the minutes an unbounded wait would take.
BOUND = 60.0
TIMEOUT = 0.5


@pytest.fixture(params=["nothing listens", "never answers"])
def dead_port(request) -> Iterator[int]:
    """A port of 127.0.0.1 where nothing listens, or that accepts and stays silent."""
    if request.param == "nothing listens":
        yield closed_port()
        return
    with silent_server() as port:
        yield port


def _s3(port: int) -> RemoteOptions:
    pytest.importorskip("s3fs")
    options = {"endpoint_url": f"http://127.0.0.1:{port}", "key": "k", "secret": "s"}
    return RemoteOptions(options, timeout=TIMEOUT, retries=0, backoff=0.0)


def _http(port: int) -> RemoteOptions:
    return RemoteOptions({}, timeout=TIMEOUT, retries=0, backoff=0.0)


def _failure(call: Callable[[], object]) -> tuple[str, float]:
    """The one-line message of ``call``'s error, and the seconds it took."""
    start = time.monotonic()
    with pytest.raises(PyImageSearchError) as info:
        call()
    elapsed = time.monotonic() - start
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message, message
    return message, elapsed


@pytest.mark.parametrize(
    "what, options, url",
    [
        ("HTTP image", _http, "http://127.0.0.1:{port}/img/a.jpg"),
        ("object storage image", _s3, "s3://bucket/img/a.jpg"),
    ],
)
def test_remote_image_reads_give_up_in_one_line(dead_port, what, options, url):
    url = url.format(port=dead_port)
    remote = options(dead_port)
    message, elapsed = _failure(lambda: read_gray(url, remote=remote))
    assert message.startswith(f"{url}: "), message
    assert elapsed < BOUND


@pytest.mark.parametrize(
    "what, options, prefix",
    [
        ("HTTP listing", _http, "http://127.0.0.1:{port}/images/"),
        ("object storage listing", _s3, "s3://bucket/images"),
    ],
)
def test_remote_listings_give_up_in_one_line(dead_port, what, options, prefix):
    prefix = prefix.format(port=dead_port)
    remote = options(dead_port)
    message, elapsed = _failure(lambda: list_image_refs(prefix, remote=remote))
    assert message.startswith(f"{prefix}: cannot list images ("), message
    assert elapsed < BOUND


def test_downloads_give_up_and_report_one_line(tmp_path, dead_port):
    url = f"http://127.0.0.1:{dead_port}/img/a.jpg"
    options = DownloadOptions(retries=0, backoff=0.0, timeout=(TIMEOUT, TIMEOUT), progress=False)
    start = time.monotonic()
    summary = download_files([DownloadTask("a", url, tmp_path / "a.jpg")], options)
    assert time.monotonic() - start < BOUND
    (failed,) = summary.failed
    assert failed.reason and "\n" not in failed.reason
    assert f"failed a ({url}): " in summary.format()
    assert list(tmp_path.iterdir()) == []  # no file, no partial file


def test_archive_downloads_give_up_in_one_line(tmp_path, dead_port):
    url = f"http://127.0.0.1:{dead_port}/caltech.tar.gz"
    options = DownloadOptions(retries=0, backoff=0.0, timeout=(TIMEOUT, TIMEOUT), progress=False)
    message, elapsed = _failure(
        lambda: download_archives("caltech", [url], tmp_path / "dl", {}, options)
    )
    assert message.startswith(f"cannot download {url}: "), message
    assert elapsed < BOUND
    assert not [p for p in (tmp_path / "dl").rglob("*") if p.name.endswith(".tar.gz")]


def test_scheduler_gives_up_naming_the_address_and_what_to_check(dead_port):
    pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{dead_port}"
    message, elapsed = _failure(lambda: connect_scheduler(address, timeout=2.0))
    assert message.startswith(f"cannot reach the Dask scheduler at {address} within 2 s ("), message
    assert "check that `dask scheduler` runs there" in message
    assert elapsed < BOUND


def test_map_images_on_a_dead_scheduler_raises_before_any_work(dead_port):
    pytest.importorskip("distributed")
    done = []
    address = f"tcp://127.0.0.1:{dead_port}"
    results = map_images(
        done.append, [1, 2], scheduler=address, progress=False, scheduler_timeout=1.5
    )
    with pytest.raises(SchedulerError, match=r"within 1\.5 s"):
        next(results)
    assert done == []


def test_scheduler_without_workers_is_named(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=0, processes=False, dashboard_address=":0", scheduler_port=0
    ) as cluster:
        address = cluster.scheduler_address
        message, elapsed = _failure(lambda: connect_scheduler(address, timeout=1.0))
        assert message == (
            f"the Dask scheduler at {address} answers but has no worker after 1 s: start "
            f"workers with `dask worker {address}`, or raise --scheduler-timeout"
        )
        cluster.scale(1)
        cluster.wait_for_workers(1, timeout=30)
        assert list(map_images(abs, [-1, -2], scheduler=address, progress=False)) == [1, 2]
    assert elapsed < BOUND


@pytest.mark.slow
def test_the_command_line_says_it_in_one_line(tmp_path, dead_port):
    """``pyimagesearch extract --scheduler`` at a dead address: one line, nothing written."""
    pytest.importorskip("distributed")
    project = mini_project(tmp_path)
    address = f"tcp://127.0.0.1:{dead_port}"
    start = time.monotonic()
    result = run_command(
        "extract", "--conf", project.conf, "-q", "--scheduler", address,
        "--scheduler-timeout", "2",
    )  # fmt: skip
    assert time.monotonic() - start < BOUND + 30  # interpreter start-up and imports
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: cannot reach the Dask scheduler at {address} within 2 s")
    assert not project.store.exists()
    assert project.written_outside() == []


# ---- a server that answers, one byte just before every read timeout ----------------------


TRICKLED = [
    ("HTTP image", _http, "http://127.0.0.1:{port}/a.jpg"),
    ("object storage image", _s3, "s3://bucket/a.jpg"),
]


@pytest.mark.parametrize("what, options, url", TRICKLED)
def test_a_trickling_answer_is_cut_in_one_line(what, options, url):
    with trickling_server(interval=0.2) as port:
        url = url.format(port=port)
        message, elapsed = _failure(lambda: read_gray(url, remote=options(port)))
    assert message.startswith(f"{url}: ") and "too slow" in message, message
    assert elapsed < BOUND


def test_a_trickling_download_fails_without_a_partial_file(tmp_path):
    with trickling_server(interval=0.2) as port:
        url = f"http://127.0.0.1:{port}/img/a.jpg"
        options = DownloadOptions(
            retries=0, backoff=0.0, timeout=(TIMEOUT, TIMEOUT), progress=False
        )
        start = time.monotonic()
        summary = download_files([DownloadTask("a", url, tmp_path / "a.jpg")], options)
    assert time.monotonic() - start < BOUND
    (failed,) = summary.failed
    assert (
        failed.reason == f"the body took longer than {4 * TIMEOUT:g} s (4 read timeouts): too slow"
    )
    assert list(tmp_path.iterdir()) == []
