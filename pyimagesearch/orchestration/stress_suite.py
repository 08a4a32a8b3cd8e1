"""The stress suite: the held-out images made harder, and a detector trained on them rotated.

The variants themselves are built by :mod:`pyimagesearch.evaluation.variants`; this
module runs them, and for ``transposed`` trains a model on the rotated set with the
whole pipeline (so it sits above the pipeline, not inside evaluation).
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path

import cv2
import numpy as np

from ..evaluation.held_out import evaluate_items
from ..evaluation.variants import VARIANTS, SceneFiles, derive_variant, load_samples, write_variant
from ..infrastructure.config import Config
from ..io.atomic import write_bytes_atomic, write_text_atomic
from ..io.images import read_gray
from ..io.remote import RemoteOptions
from ..model.linear import LinearModel
from ..model.modelfile import load_model
from ..sources.annotations import AnnotatedImage, read_annotations, split_train_test
from ..sources.dims import box_statistics, suggest_window_dim
from ..sources.distractions import split_distractions
from ..sources.export import dlib_xml
from .pipeline import run_pipeline
from .settings import settled_config

log = logging.getLogger(__name__)


def stress_suite(
    conf: Config,
    model: LinearModel,
    variants: tuple[str, ...] = VARIANTS,
    progress: bool = True,
) -> dict:
    """Evaluate ``model`` (and, for ``transposed``, a model trained on the rotated set)
    on every variant; returns ``{"variants": {name: {ap50, ap70, mean_iou, n_objects}}}``."""
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown stress variant {unknown[0]!r} (known: {', '.join(VARIANTS)})")
    root = Path(conf["output_dir"]) / "stress"
    items = read_annotations(conf.options.annotations)
    _, test = split_train_test(items, conf["percent_gt_images"], conf["seed"])
    samples = load_samples(test, conf["max_image_pixels"])
    scenes = SceneFiles(
        split_distractions(conf.options.distractions).evaluation,
        conf["max_image_pixels"],
        RemoteOptions.from_config(conf),
    )
    results: dict[str, dict] = {}
    for name in variants:
        if name == "transposed":
            results[name] = _transposed(conf, root / name, progress)
            continue
        rng = np.random.default_rng([conf["seed"], zlib.crc32(name.encode())])
        items = write_variant(root / name, derive_variant(name, samples, scenes, rng))
        results[name] = evaluate_items(conf, model, items, progress)
        log.info("stress %s: %s", name, results[name])
    return {"variants": results}


def _transposed(conf: Config, folder: Path, progress: bool) -> dict:
    """Rotate every annotated image by 90 degrees, train with the default pipeline and
    the suggested window, and evaluate on the rotated held-out half."""
    items = read_annotations(conf.options.annotations)
    images_dir = folder / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    rotated = []
    for i, item in enumerate(items):
        image = read_gray(item.path, conf["max_image_pixels"])
        h = image.shape[0]
        turned = np.ascontiguousarray(np.rot90(image, -1))  # clockwise: (x, y) -> (h - y, x)
        boxes = item.boxes_inside(image.shape[1], h)
        new = np.stack([h - boxes[:, 3], boxes[:, 0], h - boxes[:, 1], boxes[:, 2]], axis=1)
        path = images_dir / f"{i:04d}_{item.path.stem}.png"
        write_bytes_atomic(path, cv2.imencode(".png", turned)[1].tobytes())
        rotated.append(AnnotatedImage(path, new))
    xml = folder / "annotations.xml"
    write_text_atomic(xml, dlib_xml(rotated, images_dir, decimals=3))
    window = suggest_window_dim(
        box_statistics(rotated), conf["pixels_per_cell"], descriptor=conf["descriptor"]
    )
    derived = conf.replace(
        image_dataset=str(images_dir),
        image_annotations=str(xml),
        annotation_format="dlib-xml",
        annotation_class=None,
        window_dim=list(window),
        features_path=str(folder / "features.hdf5"),
        classifier_path=str(folder / "model.json"),
        output_dir=str(folder / "out"),
        report_compare_annotated_mining=False,
    )
    log.info("stress transposed: training with window_dim %s", list(window))
    run_pipeline(derived, progress=progress)
    derived = settled_config(derived)  # what the pipeline chose, as evaluate.py uses it
    model = load_model(derived["classifier_path"])
    _, test = split_train_test(rotated, conf["percent_gt_images"], conf["seed"])
    figures = evaluate_items(derived, model, test, progress)
    figures["window_dim"] = list(window)
    return figures
