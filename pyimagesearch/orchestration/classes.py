"""Several classes from one annotation set: the one-class workflow once per class, then
one bundle model file and a table of every class's figures.

A config naming ``classes`` (as the annotations name them) trains, for each class, the
whole one-class pipeline (settings search, extraction, mining rounds, evaluation and
its report) in ``output_dir/<class>/``, with the window ``explore_dims`` suggests for
the class's boxes (the config's ``window_dim`` is not used), on every annotated image
of the set. The boxes of the class are its objects. **Another class's object that
overlaps one of them is an ignore region** (never a positive, never a negative: mining
skips windows an ignored object covers, as for dlib's ``ignore`` boxes): a rider on a
horse is no negative of ``horse``. Other classes' objects elsewhere are background, mined
like any, so a class learns that the others are not it. Every class sees the same
images in the same order, so all classes share one train/test split. The classes'
models are then bundled into ``classifier_path`` (``model/bundle.py``), and
``output_dir/report/classes.md`` lists each class's figures.

The class's annotations are staged as a dlib imglab XML (its boxes, the overlapping
others as ``ignore``) in ``output_dir/<class>/annotations.xml`` (the images are not
copied), and its config in ``output_dir/<class>/conf.json``: the one-class steps
(``evaluate``, ``review``, ``mine``...) run on one class with it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..infrastructure.config import Config
from ..infrastructure.errors import AnnotationError
from ..infrastructure.geometry import overlapping
from ..io.atomic import write_text_atomic
from ..model.bundle import ClassBundle
from ..model.modelfile import load_model, save_model
from ..sources.annotated_image import AnnotatedImage
from ..sources.annotations import read_annotations
from ..sources.export import dlib_xml
from .pipeline import report_dir, run_pipeline

log = logging.getLogger(__name__)


def class_configs(conf: Config) -> list[tuple[str, Config]]:
    """Each class's one-class config, its annotations staged (see the module docstring)."""
    classes = list(conf["classes"])
    annotations = conf.options.annotations
    per_class = [read_annotations(replace(annotations, class_name=c)) for c in classes]
    paths = [item.path for item in per_class[0]]
    for name, items in zip(classes, per_class):
        if [item.path for item in items] != paths:
            raise AnnotationError(
                f"{conf['image_annotations']}: class {name!r} is read from other images "
                "than the first class; one annotation set must list the same images"
            )
    out = []
    for k, name in enumerate(classes):
        folder = Path(conf["output_dir"]) / folder_name(name)
        staged = []
        for i, item in enumerate(per_class[k]):
            others = [per_class[j][i].boxes for j in range(len(classes)) if j != k]
            others = overlapping(np.concatenate([np.zeros((0, 4)), *others]), item.boxes)
            ignore = np.concatenate([item.ignore, others])
            staged.append(AnnotatedImage(item.path, item.boxes, ignore))
        window = _window(per_class[k], conf)
        xml = folder / "annotations.xml"
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(xml, dlib_xml(staged, Path(conf["image_dataset"])))
        class_conf = conf.replace(
            classes=None,
            annotation_class=None,
            annotation_format="dlib-xml",
            image_annotations=str(xml),
            object_name=name,
            output_dir=str(folder),
            features_path=str(folder / "features.hdf5"),
            classifier_path=str(folder / "model.json"),
            window_dim=window,
        )
        # the class's own config, for its one-class steps (evaluate, review, mine...)
        values = {k: v for k, v in class_conf.to_dict().items() if k != "scheduler"}
        write_text_atomic(folder / "conf.json", json.dumps(values, indent=1))
        out.append((name, class_conf))
    return out


def run_classes(
    conf: Config,
    rounds: int | None = None,
    progress: bool = True,
    drop_mined: bool = False,
    overwrite: bool = False,
) -> Path:
    """Train and evaluate every class of ``conf["classes"]``, bundle their models into
    ``classifier_path`` and write ``report/classes.md``; returns the report folder."""
    configs = class_configs(conf)
    figures = {}
    for name, class_conf in configs:
        log.info("class %r: the one-class pipeline in %s", name, class_conf["output_dir"])
        run_pipeline(class_conf, rounds, progress, drop_mined, overwrite)
        figures[name] = _last_round(report_dir(class_conf))
    models = [load_model(c["classifier_path"]) for _, c in configs]
    bundle = ClassBundle(
        [name for name, _ in configs],
        models,
        category_ids(conf),
        {"classes_from": str(conf["image_annotations"]), "config": str(conf.path)},
    )
    save_model(bundle, conf["classifier_path"])
    out = report_dir(conf)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "classes.md", classes_table(figures, conf))
    return out


def _window(items: list[AnnotatedImage], conf: Config) -> list[int]:
    """A class's window: the one ``explore_dims`` suggests for its boxes (the classes'
    shapes differ: a car is wide, a raccoon about square); the settings search, when on,
    chooses around it as for one class."""
    from ..sources.dims import box_statistics, suggest_window_dim

    stats = box_statistics([item for item in items if len(item.boxes)])
    cell = tuple(conf["pixels_per_cell"])
    return list(suggest_window_dim(stats, cell, descriptor=conf["descriptor"]))


def category_ids(conf: Config) -> list[int]:
    """The classes' ids in the annotation set: COCO's ``category_id``s; elsewhere the
    position in ``classes`` plus one."""
    classes = list(conf["classes"])
    if conf["annotation_format"] != "coco-json":
        return list(range(1, len(classes) + 1))
    from ..sources.coco import load_coco

    coco = load_coco(conf["image_annotations"])
    by_name = {c["name"]: int(c["id"]) for c in coco.loadCats(coco.getCatIds())}
    return [by_name[c] for c in classes]


def classes_table(figures: dict[str, dict], conf: Config) -> str:
    """``report/classes.md``: each class's held-out figures after its last round."""
    lines = [
        f"# {len(figures)} classes: {', '.join(figures)}",
        "",
        f"One detector per class, bundled in `{conf['classifier_path']}`; each class's own "
        "report is in `output_dir/<class>/report/`. Another class's object that overlaps one "
        "of a class's is its ignore region (never a positive, never a negative); elsewhere "
        "the other classes' objects are background.",
        "",
        "| class | AP (IoU 0.5) | precision | recall | false positives / image | rounds |",
        "|---|---|---|---|---|---|",
    ]
    for name, f in figures.items():
        lines.append(
            f"| {name} | {_num(f.get('average_precision'))} | {_num(f.get('precision'))} "
            f"| {_num(f.get('recall'))} | {_num(f.get('false_positives_per_image'))} "
            f"| {f.get('round', '')} |"
        )
    aps = [f.get("average_precision") for f in figures.values()]
    aps = [a for a in aps if isinstance(a, (int, float))]
    if aps:
        lines.append(f"| **mean** | {np.mean(aps):.3f} | | | | |")
    return "\n".join(lines) + "\n"


def _last_round(report: Path) -> dict:
    """The figures of the pipeline's last round (``history.json``)."""
    history = json.loads((report / "history.json").read_text(encoding="utf-8"))
    keys = ("round", "average_precision", "precision", "recall", "false_positives_per_image")
    return {k: history[-1].get(k) for k in keys}


def _num(value) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "–"


def folder_name(name: str) -> str:
    """A class name as a folder name (path separators and dots replaced)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_ " else "_" for ch in name).strip()
    return safe or "class"
