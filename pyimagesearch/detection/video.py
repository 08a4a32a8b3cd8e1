"""Detect objects in every frame of a video file or a camera: draw them, write the video
and list the detections per frame.

The loop reads frames with OpenCV's ``VideoCapture``, detects on a grayscale copy
(downscaled to ``max_width`` when asked, boxes scaled back to the frame's pixels), draws
the boxes on the original frame and writes it with ``VideoWriter``. The video is written
to a temporary file beside the output and renamed at the end, also after Ctrl-C: the
writer is released first, so the file holds every frame read until then and plays.

Frames skipped under ``every`` (only every N-th frame is detected on) show and list the
detections of the last frame detected on, so the drawn video does not blink; the
result's ``processed`` says which frames were looked at.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..infrastructure.errors import VideoError, did_you_mean
from ..io.atomic import atomic_path, write_text_atomic
from .detector import Detections

log = logging.getLogger(__name__)

#: Output extension -> the FourCC written by default (both ship with opencv-python).
CODECS: dict[str, str] = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "XVID", ".mov": "mp4v"}

#: Frames per second written when the source does not say (cameras often report 0).
DEFAULT_FPS = 30.0

#: What a detection is called when the detector has one class and no name was given.
DEFAULT_LABEL = "object"

#: Box colours (BGR) by class index, cycled.
COLOURS = ((0, 0, 230), (0, 170, 0), (230, 120, 0), (0, 190, 230), (200, 0, 200), (128, 128, 0))


@dataclass
class VideoResult:
    """What :func:`detect_video` did.

    ``frames`` holds, per frame in order, its detections as JSON-ready dicts (``box`` in
    the frame's pixels, ``probability``, ``label``); ``processed`` the indices of the
    frames detected on (the others repeat the previous processed frame's list);
    ``interrupted`` whether Ctrl-C (or the end of a camera) stopped the loop early.
    """

    frames: list[list[dict]] = field(default_factory=list)
    processed: list[int] = field(default_factory=list)
    fps: float = DEFAULT_FPS
    size: tuple[int, int] = (0, 0)
    seconds: float = 0.0
    interrupted: bool = False
    output: Path | None = None

    @property
    def frames_per_second(self) -> float:
        """Frames read, detected (or skipped), drawn and written per second of wall time."""
        return len(self.frames) / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """``{"frames": [[{box, probability, label}, ...], ...], ...}`` with the source's
        frame rate, size and the processed frame indices."""
        return {
            "frames": self.frames,
            "fps": round(self.fps, 3),
            "size": list(self.size),
            "processed": self.processed,
        }


def open_source(source: str | os.PathLike | int) -> cv2.VideoCapture:
    """An open ``VideoCapture`` of a video file, or of camera ``source`` (an ``int``).

    Raises :class:`VideoError` (one line) when the file is missing, is not a video
    OpenCV can decode, or the camera does not open.
    """
    _quiet_opencv()
    if isinstance(source, int):
        capture = cv2.VideoCapture(source)
        if not capture.isOpened():
            raise VideoError(
                f"camera {source} does not open (no such device, in use, or this OpenCV "
                "build cannot read cameras)"
            )
        return capture
    path = Path(source)
    if not path.is_file():
        near = [p.name for p in path.parent.glob("*")] if path.parent.is_dir() else []
        raise VideoError(f"{path}: no such video file{did_you_mean(path.name, near)}")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise VideoError(f"{path}: cannot read it as a video (not a video, or damaged)")
    return capture


def open_writer(
    path: str | os.PathLike,
    fps: float,
    size: tuple[int, int],
    codec: str | None = None,
    name: str | os.PathLike | None = None,
) -> cv2.VideoWriter:
    """A ``VideoWriter`` of ``size`` (width, height) frames at ``fps`` into ``path``,
    with ``codec`` (a FourCC) or the default of the path's extension (:data:`CODECS`).

    Raises :class:`VideoError` naming ``name`` (the file the user asked for; default
    ``path``) when the extension is unknown or OpenCV has no encoder for the codec.
    """
    _quiet_opencv()
    path = Path(path)
    shown = Path(name) if name is not None else path
    fourcc = codec or _codec_of(shown)
    if len(fourcc) != 4:
        raise VideoError(f"codec {fourcc!r}: a FourCC has 4 characters (e.g. mp4v, MJPG)")
    # the container follows the file's extension, the encoder the FourCC
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    if not writer.isOpened():
        raise VideoError(
            f"{shown}: this OpenCV build has no {fourcc!r} encoder for {path.suffix} files; "
            f"use --codec mp4v with .mp4, or MJPG with .avi"
        )
    return writer


def check_output_name(path: str | os.PathLike, codec: str | None = None) -> None:
    """Refuse, before any work, an output whose extension names no known container."""
    if codec is None:
        _codec_of(Path(path))


def detect_video(
    detect: Callable[[np.ndarray], Detections],
    source: str | os.PathLike | int,
    output: str | os.PathLike | None = None,
    json_path: str | os.PathLike | None = None,
    *,
    every: int = 1,
    max_width: int | None = None,
    label: str = DEFAULT_LABEL,
    codec: str | None = None,
    max_frames: int | None = None,
    progress: bool = True,
) -> VideoResult:
    """Detect in every frame of ``source`` (a video file, or a camera index); draw and
    write the frames to ``output`` and the detections to ``json_path`` (both optional).

    Parameters
    ----------
    detect : callable
        ``detect(gray) -> Detections`` on a 2-D ``uint8`` image (a detector's ``detect``).
    every : int
        Detect on every ``every``-th frame only (0, N, 2N...); the frames between repeat
        the last processed frame's detections.
    max_width : int, optional
        Detect on frames shrunk to at most this width; boxes are given (and drawn) in
        the original frame's pixels, and the written video keeps the original size.
    label : str
        The class name of detections whose detector gives none.
    codec : str, optional
        FourCC of the written video (default by extension: :data:`CODECS`).
    max_frames : int, optional
        Stop after this many frames (a camera otherwise runs until Ctrl-C).

    Returns
    -------
    VideoResult
        Per-frame detections and timing. Ctrl-C ends the loop early: the files are
        still finished and renamed, and ``interrupted`` is set.
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    if max_width is not None and max_width < 16:
        raise ValueError(f"max_width must be >= 16 pixels, got {max_width}")
    if output is not None:
        check_output_name(output, codec)
    capture = open_source(source)
    try:
        frames = _frames(capture, max_frames)
        first = next(frames, None)
        if first is None:
            what = f"camera {source}" if isinstance(source, int) else str(source)
            raise VideoError(f"{what}: no frame could be decoded (not a video, or damaged)")
        frames = itertools.chain([first], frames)
        fps = capture.get(cv2.CAP_PROP_FPS)
        fps = fps if 0 < fps < 1000 else DEFAULT_FPS
        size = (first.shape[1], first.shape[0])
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if not isinstance(source, int) else 0
        if max_frames is not None:
            total = min(total, max_frames) if total > 0 else max_frames
        result = VideoResult(fps=float(fps), size=size)
        loop = _Loop(detect, every, max_width, label, result)
        if output is None:
            loop.run(frames, None, total, progress)
        else:
            with atomic_path(output, suffix=Path(output).suffix) as tmp:
                writer = open_writer(tmp, fps, size, codec, name=output)
                try:
                    loop.run(frames, writer, total, progress)
                finally:
                    writer.release()  # finishes the file (an .mp4's index): it plays
            result.output = Path(output)
    finally:
        capture.release()
    if json_path is not None:
        write_text_atomic(json_path, json.dumps(result.to_json()))
    log.debug(
        "%d frames (%d detected on) in %.1f s: %.1f frames/s%s",
        len(result.frames),
        len(result.processed),
        result.seconds,
        result.frames_per_second,
        " (interrupted)" if result.interrupted else "",
    )
    return result


def draw_labelled(
    frame: np.ndarray, detections: list[dict], classes: list[str] | None = None
) -> np.ndarray:
    """``frame`` (BGR, drawn on in place) with each detection's box and ``label p``;
    one colour per class, by its place in ``classes`` (a list is extended in place with
    the names it lacks, so a video keeps each class's colour from frame to frame)."""
    order = classes if isinstance(classes, list) else list(classes or [])
    for det in detections:
        name = det.get("label", DEFAULT_LABEL)
        if name not in order:
            order.append(name)
        colour = COLOURS[order.index(name) % len(COLOURS)]
        x1, y1, x2, y2 = (int(round(v)) for v in det["box"])
        cv2.rectangle(frame, (x1, y1), (x2 - 1, y2 - 1), colour, 2)
        text = f"{name} {det['probability']:.2f}"
        cv2.putText(
            frame, text, (x1 + 2, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1,
            cv2.LINE_AA,
        )  # fmt: skip
    return frame


def frame_detections(
    detections: Detections, factor: float = 1.0, label: str = DEFAULT_LABEL
) -> list[dict]:
    """JSON-ready dicts of ``detections`` found in a frame shrunk by ``factor`` (boxes
    scaled back to the frame's pixels); each names its class (``detections.labels`` when
    the detector gives them, else ``label``)."""
    labels = getattr(detections, "labels", None)
    out = []
    for i, (box, p) in enumerate(zip(detections.boxes, detections.probabilities)):
        name = str(labels[i]) if labels is not None else label
        box = [round(float(v) * factor, 2) for v in box]
        out.append({"box": box, "probability": round(float(p), 6), "label": name})
    return out


# ---- helpers ---------------------------------------------------------------------------


class _Loop:
    """The per-frame work of :func:`detect_video`: detect, draw, write, count."""

    def __init__(self, detect, every: int, max_width: int | None, label: str, result):
        self.detect, self.every, self.max_width = detect, every, max_width
        self.label, self.result = label, result
        # colours in the order of a multi-class detector's classes (``detect`` bound to it)
        owner = getattr(detect, "__self__", None)
        self.classes: list[str] = list(getattr(owner, "classes", []))

    def run(self, frames: Iterator[np.ndarray], writer, total: int, progress: bool) -> None:
        from tqdm import tqdm

        bar = tqdm(
            total=total or None, desc="detecting", unit="frame", disable=not progress,
            leave=False, dynamic_ncols=True,
        )  # fmt: skip
        start = time.perf_counter()
        last: list[dict] = []
        try:
            for index, frame in enumerate(frames):
                if index % self.every == 0:
                    last = self._detect(frame)
                    self.result.processed.append(index)
                self.result.frames.append(last)
                if writer is not None:
                    writer.write(draw_labelled(frame, last, self.classes))
                bar.update(1)
        except KeyboardInterrupt:
            self.result.interrupted = True
            log.warning("interrupted after %d frames: finishing the files", len(self.result.frames))
        finally:
            self.result.seconds = time.perf_counter() - start
            bar.close()

    def _detect(self, frame: np.ndarray) -> list[dict]:
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        factor = 1.0
        if self.max_width is not None and gray.shape[1] > self.max_width:
            factor = gray.shape[1] / self.max_width
            height = max(1, int(round(gray.shape[0] / factor)))
            gray = cv2.resize(gray, (self.max_width, height), interpolation=cv2.INTER_AREA)
            factor = frame.shape[1] / self.max_width  # x and y: one factor (aspect kept)
        return frame_detections(self.detect(gray), factor, self.label)


def _frames(capture: cv2.VideoCapture, max_frames: int | None) -> Iterator[np.ndarray]:
    """The frames of ``capture`` until it ends (or ``max_frames``)."""
    n = 0
    while max_frames is None or n < max_frames:
        ok, frame = capture.read()
        if not ok or frame is None:
            return
        n += 1
        yield frame


def _codec_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in CODECS:
        raise VideoError(
            f"{path}: unknown video extension {suffix or '(none)'!r}"
            f"{did_you_mean(suffix, CODECS)}; use one of {', '.join(CODECS)}"
        )
    return CODECS[suffix]


_QUIET = False


def _quiet_opencv() -> None:
    """Silence OpenCV's and FFmpeg's own log lines (a failed open prints several): the
    error raised here says what went wrong in one line. A user's own setting wins."""
    global _QUIET
    if _QUIET:
        return
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # read when FFmpeg first loads
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    _QUIET = True
