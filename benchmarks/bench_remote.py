"""Benchmark mining images from where they live: local files, HTTP and S3 (issue 13).

Usage::

    python benchmarks/bench_remote.py [--n 4000] [--workers 1 2] [--sources local http s3]
                                      [--conf conf/cars.json]

What it measures
----------------
``mine_hard_negatives`` over the same N images read three ways, each run in a fresh
(spawned) client process, on 1 and 2 worker processes (``n_jobs``):

- ``local``: SceneClass13 files from disk (the list cycled to N entries);
- ``http``: a URL list of N distinct URLs (``/k/<i>/<category>/<file>``) on a local HTTP
  server (stdlib ``http.server`` in its own process on 127.0.0.1) that serves the same
  SceneClass13 file for every key of it, so N = 40,000 costs no disk;
- ``s3``: the same N keys uploaded to a local S3-compatible server (``moto``'s server in
  its own process on 127.0.0.1, the objects held in its memory), listed as the prefix
  ``s3://bench/k`` through ``storage_options``.

Each line: seconds of the mining call (listing included for ``s3``), images/s,
``x local`` (images/s over the local run's with the same workers), ``core ms/img``
(workers x seconds / N: the per-image cost of one core), the client's peak RSS
(``getrusage`` max RSS of the client process, not of its workers or the servers) and
how many images failed. The model is trained once (cars config, 300 negatives, in a
temp folder). ``hn_max_total`` stays the config's (20,000): the client keeps
at most that many rows whatever N is.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def scene_files(datasets: Path) -> list[Path]:
    from pyimagesearch.io.images import list_images

    return list_images(datasets / "sceneclass13")


def keys(files: list[Path], root: Path, n: int) -> list[str]:
    """N distinct keys ``k/<i>/<category>/<file>`` cycling over the files."""
    return [f"k/{i:06d}/{files[i % len(files)].relative_to(root).as_posix()}" for i in range(n)]


class _KeyHandler(SimpleHTTPRequestHandler):
    """``/k/<i>/<rest>`` -> the file ``<rest>`` of the served folder."""

    def translate_path(self, path):
        parts = unquote(path.split("?", 1)[0]).lstrip("/").split("/")
        rest = parts[2:] if parts[:1] == ["k"] else parts
        return str(Path(self.directory, *rest))

    def log_message(self, *args):
        pass


def serve_http(folder: str, port: int) -> None:
    server = ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(_KeyHandler, directory=folder)
    )
    server.daemon_threads = True
    server.request_queue_size = 128
    server.serve_forever()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


def upload_s3(endpoint: str, root: Path, names: list[str]) -> float:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket="bench")
    data = {}
    start = time.perf_counter()

    def put(key: str) -> None:
        rel = key.split("/", 2)[2]
        if rel not in data:
            data[rel] = (root / rel).read_bytes()
        s3.put_object(Bucket="bench", Key=key, Body=data[rel])

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, names))
    return time.perf_counter() - start


def client(conf_path: str, refs: list[str] | None, workers: int, queue) -> None:
    """One mining run in this (fresh) process; reports seconds, RSS and failures."""
    import logging

    logging.disable(logging.WARNING)
    from pyimagesearch.infrastructure.config import load_config
    from pyimagesearch.mining import mine_hard_negatives
    from pyimagesearch.sources.image_lists import list_image_refs

    conf = load_config(conf_path).replace(n_jobs=workers)
    start = time.perf_counter()
    if refs is None:  # a URL prefix: listing is part of the run
        refs = list_image_refs(conf["image_distractions"], storage_options=conf["storage_options"])
    summary = mine_hard_negatives(conf, 1, images=refs, progress=False)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # loky keeps idle workers for minutes (used when the fsspec thread forbids forking):
    # stop them, or this process would wait for them at exit
    from joblib.externals.loky import reusable_executor

    if reusable_executor._executor is not None:  # only if one was started
        reusable_executor._executor.shutdown(wait=True)
    queue.put(
        {
            "seconds": seconds,
            "n": len(refs),
            "kept": summary.n_kept,
            "failed": len(summary.skipped),
            "rss_mb": rss,
        }
    )


def run_client(conf_path: Path, refs, workers: int) -> dict:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=client, args=(str(conf_path), refs, workers, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def train(conf_raw: dict, tmp: Path) -> Path:
    from pyimagesearch.features.extract import extract_features
    from pyimagesearch.infrastructure.config import load_config
    from pyimagesearch.model.training import train_model

    path = tmp / "train.json"
    path.write_text(json.dumps(conf_raw))
    conf = load_config(path)
    extract_features(conf, progress=False)
    train_model(conf)
    return Path(conf["classifier_path"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--n", type=int, default=4000, help="images per run (default 4000)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--sources", nargs="+", default=["local", "http", "s3"])
    p.add_argument("--conf", default=str(ROOT / "conf" / "cars.json"))
    args = p.parse_args()

    import json5

    datasets = Path(os.environ.get("PYIMAGESEARCH_DATASETS", ROOT.parent / "shared/datasets"))
    scenes = datasets / "sceneclass13"
    files = scene_files(datasets)
    names = keys(files, scenes, args.n)
    tmp = Path(tempfile.mkdtemp(prefix="bench_remote_"))
    servers: list = []
    try:
        raw = json5.loads(Path(args.conf).read_text())
        raw.update(
            datasets_root=str(datasets),
            features_path=str(tmp / "features.hdf5"),
            classifier_path=str(tmp / "model.json"),
            output_dir=str(tmp / "out"),
            search=False,
            num_distraction_images=300,
            eval_num_distraction_images=0,
            hn_min_probability=0.3,  # a weak model fires often: rows to keep and merge
        )
        t = time.perf_counter()
        train(raw, tmp)
        print(f"model trained in {time.perf_counter() - t:.1f} s; N = {args.n}", flush=True)
        store = tmp / "features.hdf5"

        def conf_for(source: str, **extra) -> Path:
            folder = tmp / source
            folder.mkdir(exist_ok=True)
            shutil.copy(store, folder / "features.hdf5")
            path = folder / "conf.json"
            path.write_text(
                json.dumps(
                    {**raw, "features_path": str(folder / "features.hdf5"), **extra},
                )
            )
            return path

        runs: dict[str, tuple[Path, list | None]] = {}
        if "local" in args.sources:
            runs["local"] = (conf_for("local"), [str(files[i % len(files)]) for i in range(args.n)])
        if "http" in args.sources:
            port = free_port()
            proc = multiprocessing.get_context("spawn").Process(
                target=serve_http, args=(str(scenes), port), daemon=True
            )
            proc.start()
            servers.append(proc)
            wait_port(port)
            url_list = tmp / "urls.txt"
            url_list.write_text("\n".join(f"http://127.0.0.1:{port}/{quote(k)}" for k in names))
            runs["http"] = (conf_for("http", image_distractions=str(url_list)), None)
        if "s3" in args.sources:
            port = free_port()
            moto = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            servers.append(moto)
            wait_port(port)
            endpoint = f"http://127.0.0.1:{port}"
            seconds = upload_s3(endpoint, scenes, names)
            print(f"s3: {args.n} objects uploaded to moto in {seconds:.1f} s", flush=True)
            options = {"endpoint_url": endpoint, "key": "bench", "secret": "bench"}
            runs["s3"] = (
                conf_for("s3", image_distractions="s3://bench/k", storage_options=options),
                None,
            )
        header = (
            f"{'source':<7}{'workers':>8}{'N':>8}{'seconds':>9}{'img/s':>8}{'x local':>9}"
            f"{'core ms/img':>13}{'client RSS MB':>15}{'kept':>7}{'failed':>7}"
        )
        print(header, flush=True)
        local_rate: dict[int, float] = {}
        for workers in args.workers:
            for source, (conf_path, refs) in runs.items():
                r = run_client(conf_path, refs, workers)
                rate = r["n"] / r["seconds"]
                if source == "local":
                    local_rate[workers] = rate
                ratio = rate / local_rate[workers] if workers in local_rate else float("nan")
                print(
                    f"{source:<7}{workers:>8}{r['n']:>8}{r['seconds']:>9.1f}{rate:>8.1f}"
                    f"{ratio:>9.2f}{1000 * workers * r['seconds'] / r['n']:>13.1f}"
                    f"{r['rss_mb']:>15.0f}{r['kept']:>7}{r['failed']:>7}",
                    flush=True,
                )
    finally:
        for server in servers:
            if isinstance(server, subprocess.Popen):
                server.terminate()
                server.wait()
            else:
                server.terminate()
                server.join()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
