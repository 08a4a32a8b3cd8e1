"""Benchmark several classes at once: per-class AP, and one shared pyramid against N passes.

Usage::

    python benchmarks/bench_multiclass.py [--train 60] [--test 40] [--json FILE]
                                          [--save BUNDLE | --model BUNDLE]

Assembles a two-class data set from ``../shared/datasets``: CALTECH ``car_side`` photos
(``.mat`` boxes, class ``car``) and the raccoon photos (Pascal VOC, class ``raccoon``),
the first ``--train`` of each for training, the next ``--test`` of each held out.
Negatives: 30 SceneClass13 coast photos. Trains one detector per class with
``train_detector(images, boxes, labels=...)`` (each class its own window, one mining
round, no settings search so the classes share the pyramid), then on the held-out
images of both classes together:

- AP (IoU 0.5 and 0.7), precision and recall of each class, and the mean AP; a car
  found in a raccoon photo is a false positive of ``car``;
- milliseconds per image of the multi-class detector (one pyramid, every template)
  against running each class's own detector (N pyramids), one process; the two are
  timed in alternation, ``--repeat`` rounds over the held-out images, and the cost ratio
  is the median of the rounds' ratios (a busy machine slows both alike).

``--save`` keeps the trained bundle; ``--model`` loads one instead of training;
``--exact`` times with every pyramid level computed (no approximated levels).

Writes only into a temporary folder (and ``--json``). Last line machine-readable:
``map50=<float> ap50_car=<float> ap50_raccoon=<float> ms_shared=<float>
ms_separate=<float> cost_ratio=<float>``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import cv2
import numpy as np

import pyimagesearch
from pyimagesearch.sources.caltech import read_caltech_mat
from pyimagesearch.sources.formats import parse_voc_xml

DATASETS = Path(os.environ.get("PYIMAGESEARCH_DATASETS", "../shared/datasets"))
CARS = DATASETS / "caltech101" / "101_ObjectCategories" / "car_side"
CAR_BOXES = DATASETS / "caltech101" / "Annotations" / "car_side"
RACCOONS = DATASETS / "raccoon"
COAST = DATASETS / "sceneclass13" / "MITcoast"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train", type=int, default=60, help="training photos per class")
    p.add_argument("--test", type=int, default=40, help="held-out photos per class")
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--repeat", type=int, default=5, help="timing rounds (default 5)")
    p.add_argument("--save", help="save the trained bundle here")
    p.add_argument("--model", help="load this bundle instead of training")
    p.add_argument(
        "--exact",
        action="store_true",
        help="time with every pyramid level computed "
        "(pyramid_approximate off): the descriptor's share of the time grows",
    )
    return p.parse_args()


def cars(start: int, n: int):
    """``(image, boxes, labels)`` of car_side photos ``start..start+n``."""
    out = []
    for path in sorted(CARS.glob("image_*.jpg"))[start : start + n]:
        boxes = read_caltech_mat(CAR_BOXES / f"annotation_{path.stem.split('_')[1]}.mat")
        out.append((cv2.imread(str(path)), boxes, ["car"] * len(boxes)))
    return out


def raccoons(start: int, n: int):
    """``(image, boxes, labels)`` of raccoon photos ``start..start+n`` (by number)."""
    xmls = sorted(
        (RACCOONS / "annotations").glob("raccoon-*.xml"), key=lambda p: int(p.stem.split("-")[1])
    )
    out = []
    for xml in xmls[start : start + n]:
        filename, objects = parse_voc_xml(xml)
        image = cv2.imread(str(RACCOONS / "images" / filename))
        boxes = np.array([box for _, box in objects]).reshape(-1, 4)
        out.append((image, boxes, [name for name, _ in objects]))
    return out


def ms_per_image(detect, images) -> float:
    start = time.perf_counter()
    for image in images:
        detect(image)
    return 1000 * (time.perf_counter() - start) / len(images)


def timings(detector, images, repeat: int) -> dict[str, list[float]]:
    """Milliseconds per image, per round: the shared pyramid, the N separate passes, and
    each class alone, timed one after the other in every round."""
    rounds: dict[str, list[float]] = {"shared": [], "separate": []}
    for _ in range(repeat):
        rounds["shared"].append(ms_per_image(detector.detect, images))
        rounds["separate"].append(
            ms_per_image(lambda im: [d.detect(im) for d in detector.detectors], images)
        )
        for name, d in zip(detector.classes, detector.detectors):
            rounds.setdefault(name, []).append(ms_per_image(d.detect, images))
    return rounds


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    train = cars(0, args.train) + raccoons(0, args.train)
    test = cars(args.train, args.test) + raccoons(args.train, args.test)
    negatives = [cv2.imread(str(p)) for p in sorted(COAST.glob("*.jpg"))[:30]]
    print(f"train: {len(train)} photos, test: {len(test)} photos (cars and raccoons)")
    start = time.perf_counter()
    if args.model:
        detector = pyimagesearch.load_detector(args.model)
    else:
        detector = pyimagesearch.train_detector(
            [t[0] for t in train],
            [t[1] for t in train],
            negatives,
            labels=[t[2] for t in train],
            search=False,
            hn_rounds=1,
        )
    if args.save:
        detector.save(args.save)
    train_s = time.perf_counter() - start
    windows = {n: d.model.window_dim for n, d in zip(detector.classes, detector.detectors)}
    print(f"trained {detector.classes} in {train_s:.0f} s; windows {windows}")
    print(f"one shared pyramid: {detector.shares_pyramid()}")
    figures = pyimagesearch.evaluate_detector(
        detector, [t[0] for t in test], [t[1] for t in test], labels=[t[2] for t in test]
    )
    print("\n| class | AP@0.5 | AP@0.7 | precision | recall | objects |")
    print("|---|---|---|---|---|---|")
    for name, f in figures["classes"].items():
        print(
            f"| {name} | {f['average_precision']:.3f} | {f['average_precision_70']:.3f} | "
            f"{f['precision']:.3f} | {f['recall']:.3f} | {f['n_objects']} |"
        )
    print(f"| mean | {figures['mean_average_precision']:.3f} | | | | |\n")

    grays = [cv2.cvtColor(t[0], cv2.COLOR_BGR2GRAY) for t in test]
    if args.exact:
        for _, template in detector.components():
            template.approximate = False
    rounds = timings(detector, grays, args.repeat)
    shared, separate = min(rounds["shared"]), min(rounds["separate"])
    ratio = float(np.median(np.array(rounds["shared"]) / np.array(rounds["separate"])))
    alone = {n: min(rounds[n]) for n in detector.classes}
    print(
        f"per image (best of {args.repeat}): {shared:.1f} ms for both classes on one pyramid, "
        f"{separate:.1f} ms for {len(alone)} separate passes "
        f"({', '.join(f'{n} {v:.1f} ms' for n, v in alone.items())}); "
        f"cost ratio {ratio:.2f} (median of the rounds)"
    )
    keys = ("average_precision", "average_precision_70", "precision", "recall", "n_objects")
    result = {
        "classes": {n: {k: f[k] for k in keys} for n, f in figures["classes"].items()},
        "map50": figures["mean_average_precision"],
        "ms_shared": shared,
        "ms_separate": separate,
        "ms_alone": alone,
        "train_s": train_s,
        "windows": {n: list(w) for n, w in windows.items()},
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    aps = " ".join(f"ap50_{n}={f['average_precision']:.3f}" for n, f in figures["classes"].items())
    print(
        f"map50={result['map50']:.3f} {aps} ms_shared={shared:.2f} ms_separate={separate:.2f} "
        f"cost_ratio={ratio:.3f}"
    )


if __name__ == "__main__":
    main()
