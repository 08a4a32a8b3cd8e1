"""Detect objects in an image, a folder, a video or a camera; draw the boxes and write
them as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2

from ..detection.detector import detections_json
from ..detection.files import (
    check_outputs,
    detect_files,
    drawing_paths,
    existing_labels,
    image_paths,
    label_paths,
)
from ..detection.video import draw_labelled
from ..infrastructure.errors import ImageReadError, PyImageSearchError, Skipped
from ..io.atomic import write_text_atomic
from ..io.images import read_image
from ..io.remote import RemoteOptions
from ..model import check_compatible, load_model
from ..model.bundle import ClassBundle
from ..report.gallery import draw_detections, write_png
from ..sources.export import (
    check_image_ids,
    image_ids_from_coco,
    to_coco_results,
    write_coco_results,
    write_yolo_txt,
)
from .cli import (
    add_execution_options,
    configure,
    nonneg_int,
    parser,
    probability,
)
from .detect_video import add_video_options, class_name, run_video, wants_video


def planned_labels(
    args: argparse.Namespace, paths: list[Path], inputs: list, drawings: dict[Path, Path]
) -> dict[Path, Path]:
    """The label file of each image; refuse outputs that are inputs, or labels already there."""
    yolo = Path(args.yolo_dir) if args.yolo_dir else None
    labels = dict(zip(paths, label_paths(paths, args.image, yolo))) if yolo else {}
    outputs = [("drawing", d) for d in drawings.values()]
    outputs += [("YOLO label file", path) for path in labels.values()]
    outputs += [(f"{flag} file", Path(v)) for flag, v in _files(args) if v]
    check_outputs(outputs, [*inputs, *([args.coco_annotations] if args.coco_annotations else [])])
    kept = existing_labels(labels.values())
    if kept and not args.overwrite:
        raise PyImageSearchError(
            f"{kept[0]}: label file already exists ({len(kept)} of {len(labels)} do); pass "
            "--overwrite to replace them, or choose another --yolo-dir"
        )
    return labels


def _bgr(image):
    return image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)


def _files(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    return [("--json", args.json), ("--coco-results", args.coco_results)]


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command line of this step."""
    p = parser(__doc__, prog=prog)
    inputs = p.add_mutually_exclusive_group(required=True)
    inputs.add_argument(
        "-i",
        "--image",
        help="an image, a folder of images, an image URL, a URL prefix (s3://bucket/dir, "
        "http://host/dir/) or a URL list (.txt, or .csv with a url/OriginalURL/coco_url column)",
    )
    p.add_argument(
        "-o",
        "--output",
        help="folder for copies of the images with boxes drawn (default: output_dir/detections); "
        "with --video/--camera, the video file to write (.mp4, .avi)",
    )
    p.add_argument(
        "--json",
        help="write {image path: [{box, probability, label}, ...]} to this file; with "
        '--video/--camera {"frames": [[{box, probability, label}, ...], ...]}, one list per frame',
    )
    p.add_argument("--min-probability", type=probability, help="override min_probability")
    p.add_argument("--model", help="model file (default: classifier_path)")
    p.add_argument(
        "--upsample",
        type=nonneg_int,
        help="enlarge images up to 2^N in the pyramid, to find objects smaller than the "
        "window (overrides upsample and the value the settings search chose)",
    )
    p.add_argument("--show", action="store_true", help="also show each result in a window")
    p.add_argument("--yolo-dir", help="also write YOLO txt files (class cx cy w h score) here")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace label files that already exist in --yolo-dir (refused by default)",
    )
    p.add_argument(
        "--yolo-class",
        type=nonneg_int,
        default=0,
        help="class id for --yolo-dir (a multi-class model: the class index in classes.txt)",
    )
    p.add_argument("--coco-results", help="also write COCO results JSON (needs --coco-annotations)")
    p.add_argument("--coco-annotations", help="COCO JSON whose image ids --coco-results uses")
    p.add_argument(
        "--coco-category-id",
        type=nonneg_int,
        default=1,
        help="category id for results (a multi-class model: its own ids)",
    )
    add_video_options(p, inputs)
    add_execution_options(p)
    return p


def run(args: argparse.Namespace) -> int | None:
    """Run the step on the parsed command line."""
    if wants_video(args):
        return run_video(args)
    conf = configure(args, several_classes=True)
    if args.upsample is not None:
        conf = conf.replace(upsample=args.upsample)
    if args.coco_results and not args.coco_annotations:
        raise PyImageSearchError("--coco-results needs --coco-annotations (for the image ids)")
    model_path = args.model or conf["classifier_path"]
    remote = RemoteOptions.from_config(conf)
    paths = image_paths(args.image, conf["storage_options"], remote)
    if not paths:
        raise ImageReadError(f"{args.image}: no image found")
    out_dir = Path(args.output or Path(conf["output_dir"]) / "detections")
    drawings = dict(zip(paths, drawing_paths(paths, args.image, out_dir)))
    labels = planned_labels(args, paths, [*paths, model_path, args.conf], drawings)
    coco_ids = image_ids_from_coco(args.coco_annotations) if args.coco_results else None
    if coco_ids is not None:  # every image needs an id: said before the work, not after
        check_image_ids(coco_ids, paths, args.coco_annotations)
    model = load_model(model_path)
    check_compatible(model, conf.options.descriptor, conf["window_dim"], model_path, conf.path)
    found, sizes, failed = {}, {}, 0
    for path, res in detect_files(
        paths,
        model,
        conf.options.window,
        conf.options.execution,
        args.min_probability,
        not args.quiet,
        remote,
    ):
        if isinstance(res, Skipped):
            print(f"skipped: {res}")
            failed += 1
            continue
        sizes[str(path)] = (res["shape"][1], res["shape"][0])
        classes = res["labels"]
        if classes is None:  # one class: named as the annotations (or the report) name it
            classes = [class_name(conf)] * len(res["boxes"])
        found[str(path)] = detections_json(res["boxes"], res["probabilities"], classes)
        image = read_image(path, conf["max_image_pixels"], remote)
        if res["labels"] is None:
            drawn = draw_detections(image, res["boxes"], res["probabilities"])
        else:  # several classes: each box with its class's name and colour
            drawn = draw_labelled(_bgr(image), found[str(path)], model.classes)
        write_png(drawings[path], drawn)
        if args.show:
            try:
                cv2.imshow("detections", drawn)
                cv2.waitKey(0)
            except cv2.error:
                print("--show: this OpenCV build has no GUI (headless); see the drawings")
                args.show = False
        print(f"{path}: {len(found[str(path)])} detection(s)")
    if args.json:
        write_text_atomic(args.json, json.dumps(found, indent=1))
    if args.yolo_dir:
        names = {str(p): labels[p].relative_to(args.yolo_dir).as_posix() for p in labels}
        class_id = args.yolo_class
        if isinstance(model, ClassBundle):  # ids in classes.txt order, written beside them
            class_id = {name: i for i, name in enumerate(model.classes)}
            write_text_atomic(Path(args.yolo_dir) / "classes.txt", "\n".join(model.classes) + "\n")
        write_yolo_txt(found, args.yolo_dir, sizes, class_id, label_names=names)
        print(f"YOLO labels in {args.yolo_dir}")
    if args.coco_results:
        category = args.coco_category_id
        if isinstance(model, ClassBundle):  # the annotation set's ids, kept in the bundle
            category = dict(zip(model.classes, model.category_ids))
        results = to_coco_results(found, coco_ids, category)
        write_coco_results(args.coco_results, results)
        print(f"{len(results)} COCO results in {args.coco_results}")
    n = sum(len(v) for v in found.values())
    print(f"{n} detections in {len(found)} images ({failed} skipped); drawings in {out_dir}")
    return 1 if failed and not found else 0  # no image could be read: say so in the status
