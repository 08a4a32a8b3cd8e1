"""Detect objects in an image or a folder; draw the boxes and write them as JSON."""

import pyimagesearch.interrupt  # noqa: F401  (first: Ctrl-C while loading -> 130)

# isort: split

import json
from pathlib import Path

import cv2

from pyimagesearch.cli import (
    add_execution_options,
    configure,
    main,
    nonneg_int,
    parser,
    probability,
)
from pyimagesearch.detection.files import detect_files, drawing_paths, image_paths
from pyimagesearch.io.atomic import write_text_atomic
from pyimagesearch.io.images import read_image
from pyimagesearch.model import check_compatible, load_model
from pyimagesearch.report.gallery import draw_detections, write_png
from pyimagesearch.sources.export import (
    image_ids_from_coco,
    to_coco_results,
    write_coco_results,
    write_yolo_txt,
)


@main
def run() -> int:
    p = parser(__doc__)
    p.add_argument("-i", "--image", required=True, help="an image, or a folder of images")
    p.add_argument(
        "-o",
        "--output",
        help="folder for copies of the images with boxes drawn (default: output_dir/detections)",
    )
    p.add_argument("--json", help="write {image path: [{box, probability}, ...]} to this file")
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
    p.add_argument("--yolo-class", type=nonneg_int, default=0, help="class id for --yolo-dir")
    p.add_argument("--coco-results", help="also write COCO results JSON (needs --coco-annotations)")
    p.add_argument("--coco-annotations", help="COCO JSON whose image ids --coco-results uses")
    p.add_argument("--coco-category-id", type=nonneg_int, default=1, help="category id for results")
    add_execution_options(p)
    args = p.parse_args()
    conf = configure(args)
    if args.upsample is not None:
        conf = conf.replace(upsample=args.upsample)
    model_path = args.model or conf["classifier_path"]
    model = load_model(model_path)
    check_compatible(model, conf, model_path)
    paths = image_paths(args.image)
    out_dir = Path(args.output or Path(conf["output_dir"]) / "detections")
    drawings = dict(zip(paths, drawing_paths(paths, args.image, out_dir)))
    if args.coco_results and not args.coco_annotations:
        p.error("--coco-results needs --coco-annotations (for the image ids)")
    found, sizes, failed = {}, {}, 0
    for path, res in detect_files(conf, paths, model, args.min_probability, not args.quiet):
        if isinstance(res, str):
            print(f"skipped: {res}")
            failed += 1
            continue
        sizes[str(path)] = (res["shape"][1], res["shape"][0])
        found[str(path)] = [
            {"box": [round(float(v), 2) for v in box], "probability": round(float(prob), 6)}
            for box, prob in zip(res["boxes"], res["probabilities"])
        ]
        drawn = draw_detections(
            read_image(path, conf["max_image_pixels"]), res["boxes"], res["probabilities"]
        )
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
        write_yolo_txt(found, args.yolo_dir, sizes, args.yolo_class)
        print(f"YOLO labels in {args.yolo_dir}")
    if args.coco_results:
        ids = image_ids_from_coco(args.coco_annotations)
        results = to_coco_results(found, ids, args.coco_category_id)
        write_coco_results(args.coco_results, results)
        print(f"{len(results)} COCO results in {args.coco_results}")
    n = sum(len(v) for v in found.values())
    print(f"{n} detections in {len(found)} images ({failed} skipped); drawings in {out_dir}")
    return 1 if failed and not found else 0  # no image could be read: say so in the status


if __name__ == "__main__":
    run()
