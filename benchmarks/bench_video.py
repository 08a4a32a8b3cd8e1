"""Benchmark detection on video: frames per second at 320x240 and 640x480.

Usage::

    python benchmarks/bench_video.py [--model FILE] [--frames 120] [--repeat 3]

Makes a video per size (a held-out CALTECH ``car_side`` car driving across a SceneClass13
coast scene, MJPG), then runs :func:`pyimagesearch.detection.video.detect_video` on it
the way ``pyimagesearch detect --video IN --output OUT.mp4`` does: decode, detect, draw,
encode (mp4v). Figures per size, best of ``--repeat`` runs after one warm-up frame:

- ``fps``: whole loop (decode + detect + draw + encode), every frame detected on;
- ``detect_ms``: the detector alone, per frame;
- ``fps_every2``: with ``every=2``; ``fps_max320``: with ``max_width=320``.

The detector is ``--model`` (any model file, with the settings it records), or, by
default, the car detector the tests train (40 ``car_side`` photos, 30 coast scenes, one
mining round, window 96x32, the API's defaults: step 4, 5 levels per octave,
approximated pyramid, padding 0.5). Everything is written into a temporary folder. The
last line is machine-readable: ``fps_320x240=<float> fps_640x480=<float> ...``.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

import pyimagesearch
from pyimagesearch.detection.video import detect_video
from pyimagesearch.sources.caltech import read_caltech_mat

DATASETS = Path(os.environ.get("PYIMAGESEARCH_DATASETS", "../shared/datasets"))
CARS = DATASETS / "caltech101" / "101_ObjectCategories" / "car_side"
CAR_BOXES = DATASETS / "caltech101" / "Annotations" / "car_side"
COAST = DATASETS / "sceneclass13" / "MITcoast"
SIZES = ((320, 240), (640, 480))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="model file (default: train the tests' car detector)")
    p.add_argument("--frames", type=int, default=120, help="frames per video (default 120)")
    p.add_argument("--repeat", type=int, default=3, help="runs per figure, best kept")
    return p.parse_args()


def car(number: int) -> tuple[np.ndarray, np.ndarray]:
    path = sorted(CARS.glob("image_*.jpg"))[number]
    boxes = read_caltech_mat(CAR_BOXES / f"annotation_{path.stem.split('_')[1]}.mat")
    return cv2.imread(str(path)), boxes


def train() -> pyimagesearch.Detector:
    images, boxes = zip(*(car(i) for i in range(40)))
    scenes = [cv2.imread(str(p)) for p in sorted(COAST.glob("*.jpg"))[:30]]
    return pyimagesearch.train_detector(
        list(images), list(boxes), scenes, search=False, hn_rounds=1, window_dim=[96, 32]
    )


def make_video(path: Path, size: tuple[int, int], n: int) -> None:
    """A car (40 % of the frame's width) driving across a coast scene, left to right."""
    width, height = size
    scene = cv2.resize(cv2.imread(str(sorted(COAST.glob("*.jpg"))[5])), size)
    image, boxes = car(70)
    x1, y1, x2, y2 = (int(v) for v in boxes[0])
    crop = image[max(0, y1 - 8) : y2 + 8, max(0, x1 - 8) : x2 + 8]
    scale = 0.4 * width / (x2 - x1)
    crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, size)
    for i in range(n):
        frame = scene.copy()
        x = int(5 + i * (width - crop.shape[1] - 10) / max(1, n - 1))
        y = height // 2 - crop.shape[0] // 2
        frame[y : y + crop.shape[0], x : x + crop.shape[1]] = crop
        writer.write(frame)
    writer.release()


def best_fps(detector, video: Path, out: Path, repeat: int, **options) -> float:
    runs = [
        detect_video(detector.detect, video, out, progress=False, **options).frames_per_second
        for _ in range(repeat)
    ]
    return max(runs)


def detect_ms(detector, video: Path, repeat: int) -> float:
    capture = cv2.VideoCapture(str(video))
    frames = []
    while (frame := capture.read()[1]) is not None:
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    capture.release()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for frame in frames:
            detector.detect(frame)
        best = min(best, (time.perf_counter() - start) / len(frames))
    return 1000 * best


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    detector = pyimagesearch.load_detector(args.model) if args.model else train()
    print(f"detector: window {detector.model.window_dim}, settings {detector.settings()}")
    print(f"cores: {os.cpu_count()}, OpenCV {cv2.__version__}, {args.frames} frames per video")
    figures = {}
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        for width, height in SIZES:
            video = Path(tmp) / f"car_{width}x{height}.avi"
            make_video(video, (width, height), args.frames)
            detector.detect(np.zeros((height, width), np.uint8))  # warm-up (compiled kernels)
            out = Path(tmp) / "out.mp4"
            tag = f"{width}x{height}"
            figures[f"fps_{tag}"] = best_fps(detector, video, out, args.repeat)
            figures[f"detect_ms_{tag}"] = detect_ms(detector, video, args.repeat)
            figures[f"fps_every2_{tag}"] = best_fps(detector, video, out, args.repeat, every=2)
            if width > 320:
                figures[f"fps_max320_{tag}"] = best_fps(
                    detector, video, out, args.repeat, max_width=320
                )
            print(
                f"{tag}: {figures[f'fps_{tag}']:.1f} frames/s (decode + detect + draw + encode), "
                f"detector {figures[f'detect_ms_{tag}']:.1f} ms/frame, "
                f"every 2nd frame {figures[f'fps_every2_{tag}']:.1f} frames/s"
                + (
                    f", --max-width 320 {figures[f'fps_max320_{tag}']:.1f} frames/s"
                    if f"fps_max320_{tag}" in figures
                    else ""
                )
            )
    print(" ".join(f"{k}={v:.2f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
