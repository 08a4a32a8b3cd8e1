"""Accuracy before and after, in one run: the course's pipeline against the defaults.

Trains two detectors from the same config, each with the whole default pipeline
(``run_pipeline``), into a temporary folder:

- ``course``: the course's detector: no padding, no upsampling, no box regression, no
  settings search, no truncated positives, one round mined by probability only;
- ``default``: this toolkit's defaults (padding, box regression, settings chosen on
  validation data, margin mining, truncated positives, two rounds).

Then runs the stress suite (``evaluate.py --suite stress``) on both and prints, per
variant, AP at IoU 0.5 / 0.7 and the mean IoU of the true positives, then the held-out
AP / FPPI of each pipeline. ``--no-transposed`` skips the variant that trains on the
rotated set (about half the time). Prints figures; writes nothing outside the temp dir.

    python benchmarks/bench_accuracy.py [--conf conf/cars.json] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from pyimagesearch.evaluation.variants import VARIANTS
from pyimagesearch.infrastructure.config import load_config
from pyimagesearch.model.modelfile import load_model
from pyimagesearch.orchestration.pipeline import run_pipeline
from pyimagesearch.orchestration.settings import settled_config
from pyimagesearch.orchestration.stress_suite import stress_suite

COURSE = dict(
    padding=0.0,
    upsample=0,
    box_regression_samples=0,
    search=False,
    positive_truncation=0,
    hn_margin=None,
    hn_rounds=1,
)


def run(conf, folder: Path, variants: tuple[str, ...]) -> dict:
    """The pipeline's last round and the stress suite of its model (the transposed
    variant trains with the same settings)."""
    conf = conf.replace(
        features_path=str(folder / "features.hdf5"),
        classifier_path=str(folder / "model.json"),
        output_dir=str(folder),
        report_compare_annotated_mining=False,
    )
    start = time.perf_counter()
    report = run_pipeline(conf, progress=False)
    seconds = time.perf_counter() - start
    history = json.loads((report / "history.json").read_text())
    conf = settled_config(conf)
    model = load_model(conf["classifier_path"])
    stress = stress_suite(conf, model, variants, progress=False)
    return {"pipeline_seconds": round(seconds, 1), "history": history[-1], **stress}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--conf", default="conf/cars.json")
    p.add_argument("--json", help="write the figures here")
    p.add_argument("--no-transposed", action="store_true", help="skip the rotated data set")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    conf = load_config(args.conf)
    variants = tuple(v for v in VARIANTS if not (args.no_transposed and v == "transposed"))
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench_accuracy_") as tmp:
        for name, overrides in (("course", COURSE), ("default", {})):
            print(f"{name}: pipeline + stress suite ...", flush=True)
            results[name] = run(conf.replace(**overrides), Path(tmp) / name, variants)
    print(f"\n{'variant':<14} {'course ap50/ap70/mIoU':>24} {'default ap50/ap70/mIoU':>24}")
    for v in variants:
        a, b = results["course"]["variants"][v], results["default"]["variants"][v]
        print(
            f"{v:<14} {a['ap50']:>8.4f}/{a['ap70']:.4f}/{a['mean_iou']:.3f}"
            f" {b['ap50']:>8.4f}/{b['ap70']:.4f}/{b['mean_iou']:.3f}"
        )
    for name, r in results.items():
        h = r["history"]
        print(
            f"{name}: held-out AP {h['average_precision']:.4f}, FPPI "
            f"{h['false_positives_per_image']:.4f}, recall at p >= {h['min_probability']} "
            f"{h['recall']:.3f}, pipeline {r['pipeline_seconds']} s"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    worst = min(results["default"]["variants"].values(), key=lambda f: f["ap50"])
    print(
        f"min_ap50_default={worst['ap50']:.4f} "
        f"ap70_original_default={results['default']['variants']['original']['ap70']:.4f} "
        f"min_ap50_course={min(f['ap50'] for f in results['course']['variants'].values()):.4f}"
    )


if __name__ == "__main__":
    main()
