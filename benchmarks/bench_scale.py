"""Benchmark mining at scale: every SceneClass13 image, locally and on a Dask LocalCluster.

Usage::

    python benchmarks/bench_scale.py [--conf conf/cars.json] [--limit N]

Mines all distraction images of the config (3,859 SceneClass13 photos by default) with
the config's model (or one trained into a temp dir), twice, in one process:

1. locally, all cores (joblib workers forked from this process);
2. on a ``dask.distributed.LocalCluster`` of 2 worker processes (loopback), through the
   very same ``mine_hard_negatives`` with ``scheduler`` set.

For each: wall seconds, images per second, hard negatives found, peak RSS of this
process and of its workers (MiB), and the ratio of the two wall times. Both runs write
into a temporary copy of the store, never the user's. Needs ``dask[distributed]``
(the ``dev`` extra). The last line is machine-readable:
``local_s=<float> dask_s=<float> local_img_per_s=<float> dask_img_per_s=<float>
peak_rss_mib=<float> same_rows=<bool>``.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from pyimagesearch.descriptor.hog import HogParams
from pyimagesearch.features.store import FeatureStore, hard_negative_group, write_store
from pyimagesearch.infrastructure.config import load_config
from pyimagesearch.io.images import list_images
from pyimagesearch.mining import mine_hard_negatives
from pyimagesearch.model import check_compatible, load_model
from pyimagesearch.model.linear import LinearModel
from pyimagesearch.orchestration.settings import settled_config


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--conf", default="conf/cars.json", help="config (default conf/cars.json)")
    p.add_argument("--limit", type=int, help="mine only the first N images (quick check)")
    return p.parse_args()


def rss_mib() -> tuple[float, float]:
    """Peak RSS (MiB) of this process and of its largest reaped child."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, kids


def get_model(conf, folder: Path) -> LinearModel:
    """The config's model when it fits the config, else one trained into ``folder``."""
    try:
        model = load_model(conf["classifier_path"])
        check_compatible(model, conf.options.descriptor, conf["window_dim"])
        return model
    except Exception:
        from pyimagesearch.features.extract import extract_features
        from pyimagesearch.model.training import train_model

        tmp = conf.replace(
            features_path=str(folder / "train.hdf5"), classifier_path=str(folder / "model.json")
        )
        extract_features(tmp, progress=False)
        return train_model(tmp)


def store_copy(conf, model: LinearModel, folder: Path):
    """A config whose store is a small valid store in ``folder``."""
    hog = HogParams.from_config(conf)
    d = hog.descriptor_size(tuple(conf["window_dim"]))
    rows = {
        "features": np.zeros((2, d), np.float32),
        "source": np.array(["x", "y"], object),
        "box": np.zeros((2, 4)),
    }
    path = folder / "features.hdf5"
    write_store(path, hog, tuple(conf["window_dim"]), {"positives": rows, "negatives": rows})
    return conf.replace(features_path=str(path), output_dir=str(folder / "out"))


def mine(conf, model, images) -> tuple[float, int, dict]:
    start = time.perf_counter()
    summary = mine_hard_negatives(conf, 1, model=model, images=images, progress=False)
    seconds = time.perf_counter() - start
    store = FeatureStore(
        conf["features_path"], HogParams.from_config(conf), tuple(conf["window_dim"])
    )
    return seconds, summary.n_found, store.read(hard_negative_group(1), ("source", "score"))


def main() -> None:
    args = parse_args()
    conf = settled_config(load_config(args.conf))  # the settings the search chose
    images = list_images(conf["image_distractions"])[: args.limit]
    print(
        f"config {args.conf}: {len(images)} distraction images, hn_window_step="
        f"{conf['hn_window_step']} hn_pyramid_scale={conf['hn_pyramid_scale']} "
        f"hn_min_probability={conf['hn_min_probability']}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = get_model(conf, folder)
        (folder / "local").mkdir()
        local_conf = store_copy(conf, model, folder / "local")
        local_s, local_found, local_rows = mine(local_conf.replace(n_jobs=-1), model, images)
        own, kids = rss_mib()
        print(
            f"local (all cores):   {local_s:7.2f} s  {len(images) / local_s:7.0f} img/s  "
            f"{local_found} found  peak RSS {own:.0f} / {kids:.0f} MiB (self / workers)"
        )
        try:
            from dask.distributed import LocalCluster
        except ImportError:
            print("dask.distributed is not installed: pip install -e '.[dev]'")
            dask_s, same = float("nan"), False
        else:
            (folder / "dask").mkdir()
            dask_conf = store_copy(conf, model, folder / "dask")
            with LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster:
                dask_s, dask_found, dask_rows = mine(
                    dask_conf.replace(scheduler=cluster.scheduler_address), model, images
                )
            same = local_rows["source"].tolist() == dask_rows["source"].tolist() and np.allclose(
                local_rows["score"], dask_rows["score"], atol=1e-6
            )
            print(
                f"dask LocalCluster(2): {dask_s:7.2f} s  {len(images) / dask_s:7.0f} img/s  "
                f"{dask_found} found  same rows as local: {same}"
            )
            print(f"ratio dask / local wall time: {dask_s / local_s:.2f}")
        shutil.rmtree(folder, ignore_errors=True)
    own, _ = rss_mib()
    print("target: all SceneClass13 images < 30 s locally, peak RSS < 1024 MiB")
    print(
        f"local_s={local_s:.3f} dask_s={dask_s:.3f} local_img_per_s={len(images) / local_s:.1f} "
        f"dask_img_per_s={len(images) / dask_s:.1f} peak_rss_mib={own:.1f} same_rows={same}"
    )


if __name__ == "__main__":
    main()
