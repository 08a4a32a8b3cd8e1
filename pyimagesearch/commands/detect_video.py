"""``pyimagesearch detect --video IN --output OUT.mp4`` (or ``--camera INDEX``): detect in
every frame, draw, write the video and, with ``--json``, the detections per frame.

The ``detect`` sub-command (``commands/test_model.py``) owns the command line; this
module adds the video options to it and runs the video branch.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..detection.files import check_outputs
from ..detection.multiclass import detector_of
from ..detection.video import CODECS, detect_video
from ..infrastructure.errors import PyImageSearchError
from ..model import check_compatible, load_model
from .cli import configure, nonneg_int, positive_int

log = logging.getLogger(__name__)

#: Options of ``detect`` that only make sense for still images.
IMAGE_ONLY = {
    "show": "--show",
    "yolo_dir": "--yolo-dir",
    "coco_results": "--coco-results",
    "coco_annotations": "--coco-annotations",
}


def add_video_options(p: argparse.ArgumentParser, inputs: argparse._ActionsContainer) -> None:
    """``--video`` / ``--camera`` (into the ``inputs`` group) and the options of the video
    branch (``--every``, ``--max-width``, ``--codec``, ``--max-frames``)."""
    inputs.add_argument("--video", help="a video file: detect in every frame (see --output)")
    inputs.add_argument(
        "--camera", type=nonneg_int, metavar="INDEX", help="a camera (0: the first); Ctrl-C stops"
    )
    p.add_argument(
        "--every",
        type=positive_int,
        default=1,
        metavar="N",
        help="video: detect on every N-th frame only; the frames between repeat its detections",
    )
    p.add_argument(
        "--max-width",
        type=positive_int,
        metavar="W",
        help="video: detect on frames shrunk to at most W pixels wide (boxes in the "
        "original frame's pixels; the video written keeps its size)",
    )
    p.add_argument(
        "--codec",
        help=f"video: FourCC of the video written (default by extension: "
        f"{', '.join(f'{k} {v}' for k, v in CODECS.items())})",
    )
    p.add_argument(
        "--max-frames", type=positive_int, metavar="N", help="video: stop after N frames"
    )


def wants_video(args: argparse.Namespace) -> bool:
    """Whether the command line asks for the video branch."""
    return args.video is not None or args.camera is not None


def run_video(args: argparse.Namespace) -> int:
    """Run the video branch of ``detect`` on the parsed command line."""
    used = [flag for key, flag in IMAGE_ONLY.items() if getattr(args, key, None)]
    if used:
        raise PyImageSearchError(f"{used[0]} works with --image only, not with --video/--camera")
    conf = configure(args, several_classes=True)
    if args.upsample is not None:
        conf = conf.replace(upsample=args.upsample)
    source = args.video if args.video is not None else args.camera
    model_path = args.model or conf["classifier_path"]
    output = Path(args.output) if args.output else _default_output(conf["output_dir"], source)
    outputs = [("video", output), *([("--json file", Path(args.json))] if args.json else [])]
    inputs = [model_path, args.conf, *([args.video] if args.video is not None else [])]
    check_outputs(outputs, inputs)
    model = load_model(model_path)
    check_compatible(model, conf.options.descriptor, conf["window_dim"], model_path, conf.path)
    window = conf.options.window
    if args.min_probability is not None:
        from dataclasses import replace

        window = replace(window, min_probability=args.min_probability)
    detector = detector_of(model, window)
    label = class_name(conf)
    result = detect_video(
        detector.detect,
        source,
        output,
        args.json,
        every=args.every,
        max_width=args.max_width,
        label=label,
        codec=args.codec,
        max_frames=args.max_frames,
        progress=not args.quiet,
    )
    n = sum(len(result.frames[i]) for i in result.processed)
    print(
        f"{len(result.frames)} frames ({len(result.processed)} detected on, {n} detections) "
        f"at {result.frames_per_second:.1f} frames/s; video in {output}"
        + (f", detections in {args.json}" if args.json else "")
    )
    if result.interrupted and args.camera is None:
        print(f"interrupted: {output} holds the first {len(result.frames)} frames")
        return 130
    return 0


def class_name(conf) -> str:
    """The name of a one-class model's detections: ``annotation_class``, else the
    config's ``object_name`` (by default the image folder's name, e.g. ``car_side``)."""
    return conf["annotation_class"] or conf["object_name"]


def _default_output(output_dir: str, source: str | int) -> Path:
    """``output_dir/detections/<video name>.mp4``, or ``camera<INDEX>.mp4``."""
    name = f"camera{source}" if isinstance(source, int) else Path(source).stem
    return Path(output_dir) / "detections" / f"{name}.mp4"
