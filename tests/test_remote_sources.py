"""Images from URLs (issue 13): mining images served over HTTP or S3 (local servers on
127.0.0.1) stores exactly the rows of mining the same local files; failures are listed,
never fatal; the bounded top-K merge equals a brute-force sort."""

from __future__ import annotations

import csv
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import cv2
import numpy as np
import pytest

from pyimagesearch.descriptor.hog import HogParams
from pyimagesearch.features.store import FeatureStore, hard_negative_group
from pyimagesearch.infrastructure.checkpoint import checkpoint_folder
from pyimagesearch.infrastructure.config import load_config
from pyimagesearch.infrastructure.errors import ConfigError, Skipped
from pyimagesearch.io.images import list_images
from pyimagesearch.mining import mine_hard_negatives
from pyimagesearch.mining.hard_negatives import merge_top_k, top_k_rows
from pyimagesearch.sources.distractions import split_distractions
from pyimagesearch.sources.image_lists import list_image_refs, ref_category

from .conftest import ROOT, SCENES, train_small


class _Handler(SimpleHTTPRequestHandler):
    """Serves a folder; ``/slow/...`` answers after 3 s, ``/junk.jpg`` is not an image."""

    def do_GET(self):
        if self.path.startswith("/slow/"):
            time.sleep(3)
        if self.path == "/junk.jpg":
            body = b"<html>not an image</html>" * 20
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def http_scenes():
    """SceneClass13 served over HTTP from 127.0.0.1; yields the base URL."""
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(SCENES))
    )
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _url(base: str, path: Path) -> str:
    return base + quote(path.relative_to(SCENES).as_posix())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small store and a weak model (it fires often) from the real data."""
    return train_small(
        tmp_path_factory.mktemp("trained"),
        padding=0.0,
        positive_truncation=0,
        box_regression_samples=0,
    )


def _run_conf(trained, folder: Path, **overrides):
    src, raw = trained
    folder.mkdir()
    shutil.copy(src / "features.hdf5", folder / "features.hdf5")
    shutil.copy(src / "model.json", folder / "model.json")
    raw = {
        **raw,
        "features_path": str(folder / "features.hdf5"),
        "classifier_path": str(folder / "model.json"),
        "output_dir": str(folder / "out"),
        **overrides,
    }
    (folder / "conf.json").write_text(json.dumps(raw))
    return load_config(folder / "conf.json")


def _rows(conf, round_index=1):
    store = FeatureStore(conf["features_path"], HogParams.from_config(conf), (96, 32))
    return store.read(hard_negative_group(round_index))


def _assert_same_rows(local, remote, base):
    """Same windows, scores and descriptors; sources are the same files by URL."""
    assert len(local["score"]) > 0
    assert [_url(base, Path(s)) for s in local["source"]] == remote["source"].tolist()
    np.testing.assert_array_equal(local["score"], remote["score"])
    np.testing.assert_array_equal(local["box"], remote["box"])
    np.testing.assert_array_equal(local["features"], remote["features"])


def _write_url_list(path: Path, base: str, images: list[Path]) -> Path:
    urls = [_url(base, p) for p in images]
    np.random.default_rng(0).shuffle(urls)  # any order: the listing order is restored
    path.write_text("# SceneClass13 over HTTP\n" + "\n".join(urls) + "\n\n")
    return path


@pytest.mark.needs_data
@pytest.mark.slow
def test_url_list_split_and_mining_equal_local_files(trained, tmp_path, http_scenes):
    common = {"hn_num_distraction_images": 16, "n_jobs": 1, "checkpoint_every": 5}
    local = _run_conf(trained, tmp_path / "local", **common)
    url_list = _write_url_list(tmp_path / "urls.txt", http_scenes, list_images(SCENES))
    remote = _run_conf(trained, tmp_path / "remote", image_distractions=str(url_list), **common)

    a = split_distractions(local.options.distractions)
    b = split_distractions(remote.options.distractions)
    assert [_url(http_scenes, p) for p in a.pool] == b.pool  # the same seeded split
    assert [a.category(p) for p in a.pool[:50]] == [b.category(u) for u in b.pool[:50]]

    s_local = mine_hard_negatives(local, 1, progress=False)
    s_remote = mine_hard_negatives(remote, 1, progress=False)
    assert s_remote.skipped == [] and s_remote.n_found == s_local.n_found
    assert s_remote.per_category == s_local.per_category
    _assert_same_rows(_rows(local), _rows(remote), http_scenes)

    # the review reads the URLs too: same counts, categories and suspects, same sheet
    from pyimagesearch.report.review import review_round

    r_local = review_round(local, 1, tmp_path / "review_local")
    r_remote = review_round(remote, 1, tmp_path / "review_remote")
    assert r_remote.n_mined == r_local.n_mined == len(_rows(local)["score"])
    assert r_remote.per_category == r_local.per_category
    assert r_remote.n_suspects == r_local.n_suspects
    sheet_local, sheet_remote = (cv2.imread(str(r.sheet)) for r in (r_local, r_remote))
    assert sheet_local.shape == sheet_remote.shape
    # the same crops; only the source names printed under them differ
    assert np.mean(sheet_local == sheet_remote) > 0.9


@pytest.mark.needs_data
@pytest.mark.slow
def test_dask_cluster_mines_urls_like_local_files(trained, tmp_path, http_scenes):
    distributed = pytest.importorskip("dask.distributed")
    common = {"hn_num_distraction_images": 12, "n_jobs": 1}
    local = _run_conf(trained, tmp_path / "local", **common)
    mine_hard_negatives(local, 1, progress=False)
    url_list = _write_url_list(tmp_path / "urls.txt", http_scenes, list_images(SCENES))
    remote = _run_conf(trained, tmp_path / "remote", image_distractions=str(url_list), **common)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        summary = mine_hard_negatives(
            remote.replace(scheduler=cluster.scheduler_address), 1, progress=False
        )
    assert summary.skipped == []
    _assert_same_rows(_rows(local), _rows(remote), http_scenes)


@pytest.mark.needs_data
@pytest.mark.slow
def test_kill_9_then_rerun_resumes_url_mining(trained, tmp_path, http_scenes):
    common = {"hn_num_distraction_images": 48, "checkpoint_every": 4, "n_jobs": 1}
    url_list = _write_url_list(tmp_path / "urls.txt", http_scenes, list_images(SCENES))
    reference = _run_conf(trained, tmp_path / "a", image_distractions=str(url_list), **common)
    mine_hard_negatives(reference, 1, progress=False)
    killed = _run_conf(trained, tmp_path / "b", image_distractions=str(url_list), **common)
    folder = checkpoint_folder(killed["features_path"], "mining_round_001")
    cmd = [sys.executable, str(ROOT / "scripts/hard_negative_mine.py"), "-c", str(killed.path)]
    proc = subprocess.Popen([*cmd, "-q"], cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(folder.glob("batch_*.npz")) and time.time() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "mining finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < len(list(folder.glob("batch_*.npz"))) < 12
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stderr and "0 skipped" in result.stdout
    a, b = _rows(reference), _rows(killed)
    assert len(a["score"]) > 0 and a["source"].tolist() == b["source"].tolist()
    np.testing.assert_array_equal(a["score"], b["score"])
    np.testing.assert_array_equal(a["features"], b["features"])


@pytest.mark.needs_data
@pytest.mark.slow
def test_failed_urls_are_listed_not_fatal(trained, tmp_path, http_scenes):
    good = list_images(SCENES / "MITcoast")[:2]
    table = tmp_path / "images.csv"
    with open(table, "w", newline="") as fh:  # an Open Images image table, as it comes
        writer = csv.writer(fh)
        writer.writerow(["ImageID", "Subset", "OriginalURL", "OriginalLandingURL"])
        for i, url in enumerate(
            [_url(http_scenes, p) for p in good]
            + [
                http_scenes + "MITcoast/no_such_image.jpg",
                http_scenes + "junk.jpg",
                http_scenes + "slow/" + quote(good[0].relative_to(SCENES).as_posix()),
            ]
        ):
            writer.writerow([f"id{i}", "train", url, "https://example.invalid/"])
    conf = _run_conf(
        trained,
        tmp_path / "run",
        image_distractions=str(table),
        remote_timeout=0.5,
        remote_retries=0,
    )
    refs = list_image_refs(table)
    assert len(refs) == 5 and all(r.startswith(http_scenes) for r in refs)
    start = time.perf_counter()
    summary = mine_hard_negatives(conf, 1, images=refs, progress=False)
    assert time.perf_counter() - start < 20
    assert summary.n_images == 5 and len(summary.skipped) == 3
    reasons = " | ".join(sorted(summary.skipped))
    assert "no_such_image.jpg: HTTP 404" in reasons
    assert "junk.jpg: not a decodable image" in reasons
    assert "timed out after 0.5 s" in reasons
    sources = set(_rows(conf)["source"].tolist())
    assert sources <= {_url(http_scenes, p) for p in good}


@pytest.mark.needs_data
@pytest.mark.slow
def test_s3_prefix_is_listed_and_mined_like_local_files(trained, tmp_path):
    boto3 = pytest.importorskip("boto3")
    server_mod = pytest.importorskip("moto.server")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        options = {"endpoint_url": f"http://{host}:{port}", "key": "test", "secret": "test"}
        s3 = boto3.client(
            "s3",
            endpoint_url=options["endpoint_url"],
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket="scenes")
        images = list_images(SCENES / "MITstreet")[:3] + list_images(SCENES / "CALsuburb")[:2]
        for p in images:
            s3.upload_file(str(p), "scenes", "sc13/" + p.relative_to(SCENES).as_posix())
        s3.put_object(Bucket="scenes", Key="sc13/README.txt", Body=b"not an image")

        refs = list_image_refs("s3://scenes/sc13", storage_options=options)
        # listed in a local folder's order (CALsuburb before MITstreet), non-images skipped
        keys = [p.relative_to(SCENES).as_posix() for p in sorted(images)]
        assert refs == ["s3://scenes/sc13/" + key for key in keys]
        categories = [ref_category(r, "s3://scenes/sc13") for r in refs]
        assert categories == ["CALsuburb"] * 2 + ["MITstreet"] * 3

        local = _run_conf(trained, tmp_path / "local", n_jobs=1)
        mine_hard_negatives(local, 1, images=sorted(images), progress=False)
        remote = _run_conf(trained, tmp_path / "s3", n_jobs=1, storage_options=options)
        summary = mine_hard_negatives(remote, 1, images=refs, progress=False)
    finally:
        server.stop()
    assert summary.skipped == []
    a, b = _rows(local), _rows(remote)
    assert len(a["score"]) > 0
    assert ["s3://scenes/sc13/" + Path(s).relative_to(SCENES).as_posix() for s in a["source"]] == (
        b["source"].tolist()
    )
    np.testing.assert_array_equal(a["score"], b["score"])
    np.testing.assert_array_equal(a["features"], b["features"])


def test_merge_top_k_equals_a_brute_force_sort():
    rng = np.random.default_rng(3)
    batches = [np.round(rng.normal(size=n), 1) for n in (0, 7, 30, 1, 55, 12)]  # many ties
    everything = np.concatenate(batches)
    batch_of = np.concatenate([np.full(len(s), b) for b, s in enumerate(batches)])
    row_of = np.concatenate([np.arange(len(s)) for s in batches])
    for k in (1, 5, 40, 500):
        expected = np.argsort(-everything, kind="stable")[:k]
        top = merge_top_k(enumerate(batches), k)
        np.testing.assert_array_equal(top["score"], everything[expected])
        np.testing.assert_array_equal(top["batch"], batch_of[expected])
        np.testing.assert_array_equal(top["row"], row_of[expected])


def test_top_k_rows_trims_a_task_to_its_best_rows():
    scores = [np.array([0.9, 0.5, 0.5]), np.array([0.7, 0.5]), np.array([0.1])]
    results = [
        {"score": s, "box": np.arange(len(s) * 4.0).reshape(-1, 4), "n_found": len(s)}
        for s in scores
    ]
    results.insert(1, Skipped("x.jpg: not a decodable image"))
    out = top_k_rows(results, 3)
    # by hand: 0.9 (image 0), 0.7 (image 1), then the first 0.5 (image 0, row 1)
    assert out[1] == results[1]
    assert out[0]["score"].tolist() == [0.9, 0.5] and out[0]["box"][1].tolist() == [4, 5, 6, 7]
    assert out[2]["score"].tolist() == [0.7] and out[3]["score"].tolist() == []
    assert [r["n_found"] for i, r in enumerate(out) if i != 1] == [3, 2, 1]


def test_url_lists_order_categories_and_errors(tmp_path):
    coco = tmp_path / "images.csv"  # COCO's image table, as exported
    coco.write_text(
        "id,file_name,coco_url\n"
        "2,b.jpg,http://images.cocodataset.org/val2017/b.jpg\n"
        "1,a.jpg,http://images.cocodataset.org/val2017/a.jpg\n"
        "3,c.jpg,http://images.cocodataset.org/val2017/a.jpg\n"  # a duplicate URL
    )
    refs = list_image_refs(coco)
    assert refs == [
        "http://images.cocodataset.org/val2017/a.jpg",
        "http://images.cocodataset.org/val2017/b.jpg",
    ]
    assert {ref_category(r, None) for r in refs} == {"val2017"}
    # a folder's walk order: files of a folder (by name) before its sub-folders
    text = tmp_path / "urls.txt"
    text.write_text("http://h/x/sub/a.jpg\nhttp://h/x/z.jpg\nhttp://h/x/b%20c.jpg\n")
    assert list_image_refs(text) == [
        "http://h/x/b%20c.jpg",
        "http://h/x/z.jpg",
        "http://h/x/sub/a.jpg",
    ]
    assert list_image_refs(text, exclude_categories=["sub"], exclude_images=["b c.jpg"]) == [
        "http://h/x/z.jpg"
    ]
    bad = tmp_path / "boxes.csv"
    bad.write_text("ImageID,XMin\nabc,0.1\n")
    with pytest.raises(ConfigError, match=r"boxes.csv: URL list CSV has no url, OriginalURL"):
        list_image_refs(bad)


@pytest.mark.needs_data
def test_fsspec_reads_cache_and_limits(tmp_path):
    import fsspec

    from pyimagesearch.infrastructure.errors import ImageReadError
    from pyimagesearch.io.images import read_gray
    from pyimagesearch.io.remote import RemoteOptions

    local = list_images(SCENES / "MITforest")[0]
    fs = fsspec.filesystem("memory")
    fs.pipe("/bench/MITforest/a.jpg", local.read_bytes())
    url = "memory://bench/MITforest/a.jpg"
    cached = RemoteOptions(cache_dir=str(tmp_path / "cache"))
    np.testing.assert_array_equal(read_gray(url, remote=cached), read_gray(local))
    (copy,) = (tmp_path / "cache").rglob("*.jpg")
    assert copy.read_bytes() == local.read_bytes()
    fs.rm("/bench/MITforest/a.jpg")
    np.testing.assert_array_equal(read_gray(url, remote=cached), read_gray(local))  # cache
    with pytest.raises(ImageReadError, match=r"a\.jpg: no such object"):
        read_gray(url, remote=RemoteOptions(retries=0))
    fs.pipe("/bench/big.jpg", local.read_bytes())
    with pytest.raises(ImageReadError, match=r"big\.jpg: larger than 1000 bytes"):
        read_gray("memory://bench/big.jpg", remote=RemoteOptions(max_bytes=1000))
    assert list_image_refs("memory://bench") == ["memory://bench/big.jpg"]


@pytest.mark.needs_data
@pytest.mark.slow
def test_http_prefix_listing_equals_the_local_folder(http_scenes):
    folder = SCENES / "MITcoast"
    refs = list_image_refs(http_scenes + "MITcoast/")
    assert refs == [_url(http_scenes, p) for p in list_images(folder)]
    assert {ref_category(r, http_scenes) for r in refs} == {"MITcoast"}
