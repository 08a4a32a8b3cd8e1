"""Benchmark feature extraction and training for a config (targets: < 5 s and < 10 s).

Usage::

    python benchmarks/bench_extract_train.py [--conf conf/cars.json]

What it measures
----------------
1. ``extract_features`` on a copy of the config whose outputs live in a temp dir: the
   positives (annotated boxes grown by ``offset``, plus mirrors when ``use_flip``) of the
   training images and ``num_distraction_images`` x ``num_distractions_per_image``
   random negatives (5,000 with ``conf/cars.json``), with ``n_jobs`` worker processes
   started fresh, HOG with a one-cell context margin, and the atomic HDF5 write. Wall
   time, start-up included: what a user waits for.
2. ``train_model`` on that store: ``LinearSVC`` on all rows, ``calibration_folds``
   more fits for the cross-validated Platt calibration, and the model file write.

How to read it
--------------
``rows/s`` is feature rows written (or trained on) per second. ``peak RSS`` is the
``getrusage`` maximum of this process and of its largest reaped child (the extraction
workers, reaped after the run; h5py's import forks a ``uname -p`` that reports the
parent's RSS at the time), in MiB. The last line is machine-readable.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

import numpy as np
from joblib.externals.loky import get_reusable_executor

from pyimagesearch.features.extract import extract_features
from pyimagesearch.infrastructure.config import Config, load_config
from pyimagesearch.model.training import train_model

EXTRACT_TARGET_S = 5.0
TRAIN_TARGET_S = 10.0


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conf", default="conf/cars.json", help="config file (JSON)")
    return parser.parse_args()


def peak_rss() -> tuple[float, float]:
    """Peak resident set size (MiB) of this process and of its largest reaped child."""
    self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return self_kib / 1024, child_kib / 1024


def temp_config(conf: Config, folder: str) -> Config:
    """A copy of the config whose outputs all live in ``folder``."""
    return conf.replace(
        features_path=os.path.join(folder, "features.hdf5"),
        classifier_path=os.path.join(folder, "model.json"),
        output_dir=folder,
    )


def status(seconds: float, target: float) -> str:
    """'ok' or 'MISSED' against a target in seconds."""
    return "ok" if seconds < target else "MISSED"


def main() -> int:
    """Time extraction then training, print the table and the summary line."""
    args = parse_args()
    conf = load_config(args.conf)
    n_neg = conf["num_distraction_images"] * conf["num_distractions_per_image"]
    print(
        f"config {args.conf}: window_dim={conf['window_dim']} orientations="
        f"{conf['orientations']} pixels_per_cell={conf['pixels_per_cell']} "
        f"negatives={conf['num_distraction_images']}x{conf['num_distractions_per_image']}"
        f"={n_neg} C={conf['C']} calibration_folds={conf['calibration_folds']}"
    )
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, "
        f"Python {sys.version.split()[0]}, numpy {np.__version__}, n_jobs={conf['n_jobs']}"
    )
    with tempfile.TemporaryDirectory(prefix="bench_extract_") as folder:
        conf_tmp = temp_config(conf, folder)
        get_reusable_executor().shutdown(wait=True)  # start-up of fresh workers is counted

        print("extracting ...")
        start = time.perf_counter()
        summary = extract_features(conf_tmp, progress=False)
        extract_s = time.perf_counter() - start
        get_reusable_executor().shutdown(wait=True)  # reap the workers: count their RSS
        extract_rss = peak_rss()
        store_mib = os.path.getsize(conf_tmp["features_path"]) / 2**20
        if summary.skipped:
            print(f"  skipped {len(summary.skipped)} image(s), first: {summary.skipped[0]}")

        print("training ...")
        start = time.perf_counter()
        model = train_model(conf_tmp)
        train_s = time.perf_counter() - start
        train_rss = peak_rss()

    n_pos, n_neg = summary.n_positives, summary.n_negatives
    n_rows = n_pos + n_neg
    head = (
        f"{'step':<10} {'seconds':>8} {'target':>8} {'status':>7} {'rows':>7} {'rows/s':>9} "
        f"{'peak RSS MiB self/child':>23}  detail"
    )
    print("\n" + head)
    print("-" * (len(head) + 30))
    print(
        f"{'extract':<10} {extract_s:>8.2f} {'< 5':>8} {status(extract_s, EXTRACT_TARGET_S):>7} "
        f"{n_rows:>7} {n_rows / extract_s:>9,.0f} "
        f"{f'{extract_rss[0]:.0f} / {extract_rss[1]:.0f}':>23}  "
        f"{n_pos} positives from {summary.n_train_images} images, {n_neg} negatives from "
        f"{summary.n_negative_images} images, store {store_mib:.1f} MiB"
    )
    print(
        f"{'train':<10} {train_s:>8.2f} {'< 10':>8} {status(train_s, TRAIN_TARGET_S):>7} "
        f"{n_rows:>7} {n_rows / train_s:>9,.0f} "
        f"{f'{train_rss[0]:.0f} / {train_rss[1]:.0f}':>23}  "
        f"LinearSVC + {conf['calibration_folds']}-fold Platt calibration, "
        f"{model.weights.size} features"
    )
    print(
        f"extract_s={extract_s:.3f} train_s={train_s:.3f} n_positives={n_pos} n_negatives={n_neg}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
