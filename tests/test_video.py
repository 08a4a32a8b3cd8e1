"""Detection on videos (issue 24): the frame loop, its files and messages, with a stub
detector on a synthetic video (fast), then a trained car detector on a video of a car
driving across a scene, through the Python API and the ``pyimagesearch detect`` command."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from pyimagesearch.detection.detector import Detections
from pyimagesearch.detection.video import detect_video
from pyimagesearch.infrastructure.errors import VideoError
from pyimagesearch.infrastructure.geometry import iou

from .conftest import CAR_ANNOTATIONS, CARS, ROOT, SCENES, cars_conf_dict

# ---- a synthetic video and a detector that finds its one bright square -------------------


def _write_video(path, frames, fps: float = 10.0) -> None:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()


def _moving_square(path, n: int = 12, size=(160, 120)) -> list[list[float]]:
    """A white 30x20 rectangle moving right across grey noise; its box in each frame."""
    rng = np.random.default_rng(0)
    frames, truth = [], []
    for i in range(n):
        frame = rng.integers(40, 90, (size[1], size[0], 3), dtype=np.uint8)
        x, y = 5 + 9 * i, 40 + 2 * i
        frame[y : y + 20, x : x + 30] = 255
        frames.append(frame)
        truth.append([x, y, x + 30, y + 20])
    _write_video(path, frames)
    return truth


class BrightSpot:
    """Finds the pixels brighter than 160 (the square): one box, probability 0.9; records
    the width of every image it was given."""

    def __init__(self, interrupt_at: int | None = None):
        self.widths: list[int] = []
        self.interrupt_at = interrupt_at

    def detect(self, gray: np.ndarray) -> Detections:
        assert gray.ndim == 2 and gray.dtype == np.uint8
        if self.interrupt_at is not None and len(self.widths) == self.interrupt_at:
            raise KeyboardInterrupt
        self.widths.append(gray.shape[1])
        ys, xs = np.nonzero(gray > 160)
        if not len(xs):
            return Detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0))
        box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], float)
        return Detections(box, np.array([0.9]), np.array([1.0]))


def _iou(a, b) -> float:
    return float(iou(np.array(a, float), np.array([b], float))[0])


def _read_frames(path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def test_every_frame_is_detected_drawn_written_and_listed(tmp_path):
    truth = _moving_square(tmp_path / "in.avi")
    result = detect_video(
        BrightSpot().detect,
        tmp_path / "in.avi",
        tmp_path / "out.mp4",
        tmp_path / "out.json",
        label="square",
        progress=False,
    )
    assert not result.interrupted and result.size == (160, 120)
    saved = json.loads((tmp_path / "out.json").read_text())
    assert len(saved["frames"]) == len(truth) and saved["processed"] == list(range(len(truth)))
    for found, box in zip(saved["frames"], truth):
        assert [d["label"] for d in found] == ["square"]
        assert found[0]["probability"] == 0.9
        assert _iou(found[0]["box"], box) > 0.9
    written = _read_frames(tmp_path / "out.mp4")
    assert len(written) == len(truth) and written[0].shape == (120, 160, 3)
    # the box is drawn in the class's colour (red) around the square
    x1, y1, x2, _ = truth[3]
    edge = written[3][y1 - 1 : y1 + 2, x1 + 5 : x2 - 5].astype(int)
    assert (edge[..., 2] - edge[..., 1] > 80).any()
    assert not list(tmp_path.glob(".out.*"))  # no temporary file left


def test_every_n_frames_repeats_the_last_detections_and_max_width_scales_back(tmp_path):
    truth = _moving_square(tmp_path / "in.avi", n=10)
    spot = BrightSpot()
    result = detect_video(
        spot.detect, tmp_path / "in.avi", json_path=tmp_path / "d.json", every=3, max_width=80,
        progress=False,
    )  # fmt: skip
    assert result.processed == [0, 3, 6, 9] and spot.widths == [80] * 4
    saved = json.loads((tmp_path / "d.json").read_text())
    assert saved["processed"] == [0, 3, 6, 9] and len(saved["frames"]) == 10
    for i, found in enumerate(saved["frames"]):
        shown = i - i % 3  # the frame whose detections this one repeats
        assert found == saved["frames"][shown]
        # found at half the size, given in the original frame's pixels
        assert _iou(found[0]["box"], truth[shown]) > 0.75


def test_ctrl_c_leaves_a_playable_video_and_the_json_of_the_frames_read(tmp_path):
    _moving_square(tmp_path / "in.avi", n=12)
    result = detect_video(
        BrightSpot(interrupt_at=7).detect,
        tmp_path / "in.avi",
        tmp_path / "out.mp4",
        tmp_path / "out.json",
        progress=False,
    )
    assert result.interrupted and len(result.frames) == 7
    assert len(_read_frames(tmp_path / "out.mp4")) == 7
    assert len(json.loads((tmp_path / "out.json").read_text())["frames"]) == 7


def test_unreadable_videos_cameras_and_codecs_get_one_line_messages(tmp_path):
    _moving_square(tmp_path / "clip.avi", n=2)
    (tmp_path / "notes.avi").write_text("not a video")
    spot = BrightSpot().detect

    def message(*args, **kwargs) -> str:
        with pytest.raises(VideoError) as err:
            detect_video(spot, *args, progress=False, **kwargs)
        assert "\n" not in str(err.value)
        return str(err.value)

    assert message(tmp_path / "clp.avi").endswith(
        "clp.avi: no such video file (did you mean 'clip.avi'?)"
    )
    assert "notes.avi: cannot read it as a video" in message(tmp_path / "notes.avi")
    assert message(99).startswith("camera 99 does not open")
    assert "unknown video extension '.mp5' (did you mean '.mp4'?)" in message(
        tmp_path / "clip.avi", tmp_path / "out.mp5"
    )
    no_codec = message(tmp_path / "clip.avi", tmp_path / "out.mp4", codec="ZZZZ")
    assert no_codec == (
        f"{tmp_path / 'out.mp4'}: this OpenCV build has no 'ZZZZ' encoder for .mp4 files; "
        "use --codec mp4v with .mp4, or MJPG with .avi"
    )
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".out*"))


# ---- a trained car detector on a car driving across a scene ----------------------------------


def _car_video(path, n: int = 24, size=(320, 240)) -> list[list[float]]:
    """A held-out car (car_side image 71, its box and 8 pixels of context) driving across a
    car-free coast scene; the car's box in each frame."""
    from pyimagesearch.sources.caltech import read_caltech_mat

    width, height = size
    scene = cv2.resize(cv2.imread(str(sorted((SCENES / "MITcoast").glob("*.jpg"))[5])), size)
    photo = sorted(CARS.glob("image_*.jpg"))[70]
    image = cv2.imread(str(photo))
    number = photo.stem.split("_")[1]
    x1, y1, x2, y2 = (
        int(v) for v in read_caltech_mat(CAR_ANNOTATIONS / f"annotation_{number}.mat")[0]
    )
    m = 8
    crop = image[max(0, y1 - m) : y2 + m, max(0, x1 - m) : x2 + m]
    scale = 0.4 * width / (x2 - x1)  # the car spans 40 % of the frame's width
    crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frames, truth = [], []
    for i in range(n):
        frame = scene.copy()
        x = int(5 + i * (width - crop.shape[1] - 10) / (n - 1))
        y = height // 2 - crop.shape[0] // 2
        frame[y : y + crop.shape[0], x : x + crop.shape[1]] = crop
        frames.append(frame)
        left, top = x + m * scale, y + m * scale
        truth.append([left, top, left + (x2 - x1) * scale, top + (y2 - y1) * scale])
    _write_video(path, frames)
    return truth


def _best_iou(found: list[dict], box) -> float:
    return max((_iou(d["box"], box) for d in found), default=0.0)


@pytest.fixture
def car_detector(trained_cars):
    return trained_cars  # the session's car detector (tests/conftest.py)


@pytest.mark.needs_data
@pytest.mark.slow
def test_a_car_driving_across_a_scene_is_found_in_every_frame(car_detector, tmp_path):
    truth = _car_video(tmp_path / "drive.avi")
    result = car_detector.detect_video(tmp_path / "drive.avi", json_path=tmp_path / "cars.json")
    frames = json.loads((tmp_path / "cars.json").read_text())["frames"]
    assert len(frames) == len(truth) == len(result.frames)
    ious = [_best_iou(found, box) for found, box in zip(frames, truth)]
    assert sum(v >= 0.5 for v in ious) >= 0.9 * len(truth), np.round(ious, 2)


@pytest.mark.needs_data
@pytest.mark.slow
def test_the_detect_command_writes_the_video_and_json_and_stops_cleanly_on_ctrl_c(
    car_detector, tmp_path
):
    truth = _car_video(tmp_path / "drive.avi")
    model = car_detector.save(tmp_path / "car.json")
    raw = cars_conf_dict(tmp_path, classifier_path=str(model), annotation_class="car")
    (tmp_path / "conf.json").write_text(json.dumps(raw))
    command = [sys.executable, "-c", "from pyimagesearch.commands import console; console()"]
    common = ["detect", "--conf", str(tmp_path / "conf.json")]
    done = subprocess.run(
        [*command, *common, "--video", str(tmp_path / "drive.avi"), "--output",
         str(tmp_path / "out.mp4"), "--json", str(tmp_path / "out.json"), "--every", "2",
         "--max-width", "240", "-q"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"{len(truth)} frames ({len(truth) // 2} detected on" in done.stdout
    saved = json.loads((tmp_path / "out.json").read_text())
    assert saved["processed"] == list(range(0, len(truth), 2))
    hits = [_best_iou(saved["frames"][i], truth[i]) >= 0.5 for i in saved["processed"]]
    assert sum(hits) >= 0.8 * len(hits)
    assert {d["label"] for f in saved["frames"] for d in f} == {"car"}
    assert len(_read_frames(tmp_path / "out.mp4")) == len(truth)

    # Ctrl-C in the middle of a long video: status 130, a playable video of the frames read
    long = tmp_path / "long.avi"
    _write_video(long, _read_frames(tmp_path / "drive.avi") * 20)
    proc = subprocess.Popen(
        [*command, *common, "--video", str(long), "--output", str(tmp_path / "cut.mp4"),
         "--json", str(tmp_path / "cut.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        # Ctrl-C as in a terminal, even when the tests run with SIGINT ignored (a
        # background job of a shell without job control, nohup): the child would inherit it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline, seen = time.monotonic() + 120, ""
    while time.monotonic() < deadline:  # until the progress bar has counted 10 frames
        chunk = os.read(proc.stderr.fileno(), 4096).decode(errors="replace")
        seen += chunk
        counts = re.findall(r"(\d+)/\d+ \[", seen)
        if not chunk or (counts and int(counts[-1]) >= 10):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, seen + err
    assert "interrupted: " in out and "Traceback" not in seen + err
    kept = len(_read_frames(tmp_path / "cut.mp4"))
    assert 10 <= kept < len(truth) * 20
    assert len(json.loads((tmp_path / "cut.json").read_text())["frames"]) == kept
