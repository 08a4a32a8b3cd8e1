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
``output_dir/report/classes.md`` lists each class's figures, settings and template, with
links to its own report; ``output_dir/report/report.html`` is the same page to open in a
browser.

The class's annotations are staged as a dlib imglab XML (its boxes, the overlapping
others as ``ignore``) in ``output_dir/<class>/annotations.xml`` (the images are not
copied), and its config in ``output_dir/<class>/conf.json``: the one-class steps
(``evaluate``, ``review``, ``mine``...) run on one class with it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import numpy as np

from ..infrastructure.config import Config
from ..infrastructure.errors import AnnotationError
from ..infrastructure.geometry import overlapping
from ..io.atomic import write_text_atomic
from ..model.bundle import ClassBundle
from ..model.modelfile import load_model, save_model
from ..report.html import markdown_escape, write_markdown_page
from ..sources.annotated_image import AnnotatedImage
from ..sources.annotations import read_annotations
from ..sources.export import dlib_xml
from .pipeline import report_dir, run_pipeline

log = logging.getLogger(__name__)

#: The figures of a round's ``history.json`` line a class's row shows.
ROUND_KEYS = (
    "round",
    "average_precision",
    "precision",
    "recall",
    "false_positives_per_image",
    "min_probability",
)
#: The settings a class's row shows: the config's, or those its search chose.
SETTING_KEYS = ("descriptor", "pixels_per_cell", "window_dim", "C", "pyramid_scale", "upsample")
#: The figures of the table, in its column order (after the class).
FIGURE_KEYS = (
    "average_precision",
    "average_precision_70",
    "mean_iou",
    "precision",
    "recall",
    "false_positives_per_image",
)


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
    ``classifier_path`` and write ``report/classes.md`` and ``report/report.html``;
    returns the report folder."""
    configs = class_configs(conf)
    for name, class_conf in configs:
        log.info("class %r: the one-class pipeline in %s", name, class_conf["output_dir"])
        run_pipeline(class_conf, rounds, progress, drop_mined, overwrite)
    models = [load_model(c["classifier_path"]) for _, c in configs]
    bundle = ClassBundle(
        [name for name, _ in configs],
        models,
        category_ids(conf),
        {"classes_from": str(conf["image_annotations"]), "config": str(conf.path)},
    )
    save_model(bundle, conf["classifier_path"])
    return write_classes_report(conf, configs)


def write_classes_report(conf: Config, configs: list[tuple[str, Config]]) -> Path:
    """``report/classes.md`` and the same page as ``report/report.html``, from each
    class's own report; returns the report folder."""
    figures = {name: class_figures(class_conf) for name, class_conf in configs}
    out = report_dir(conf)
    out.mkdir(parents=True, exist_ok=True)
    text = classes_table(figures, conf)
    write_text_atomic(out / "classes.md", text)
    write_markdown_page(out / "report.html", text, f"Detector report: {len(figures)} classes")
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


def class_figures(class_conf: Config) -> dict:
    """A class's held-out figures after its last round (``history.json`` and the round's
    evaluation), the settings its model was trained with and its report folder."""
    from .settings import settled_config

    report = report_dir(class_conf)
    last = json.loads((report / "history.json").read_text(encoding="utf-8"))[-1]
    name = f"evaluation_round_{last['round']:03d}.json"
    evaluation = json.loads((report / name).read_text(encoding="utf-8"))
    settled = settled_config(class_conf)
    return {
        **{k: last.get(k) for k in ROUND_KEYS},
        "average_precision_70": evaluation.get("average_precision_70"),
        "mean_iou": evaluation.get("mean_iou"),
        "settings": {k: settled[k] for k in SETTING_KEYS},
        "searched": bool(class_conf["search"]),
        "report_dir": str(report),
    }


def classes_table(figures: dict[str, dict], conf: Config) -> str:
    """``report/classes.md``: each class's held-out figures after its last round, then a
    section per class with its settings, its template and links to its own report."""
    lines = [
        f"# {len(figures)} classes: {', '.join(markdown_escape(n) for n in figures)}",
        "",
        f"One detector per class, bundled in `{conf['classifier_path']}`; each class's own "
        "report is in `output_dir/<class>/report/`. Another class's object that overlaps one "
        "of a class's is its ignore region (never a positive, never a negative); elsewhere "
        "the other classes' objects are background. This page is also `report.html`, "
        "beside it, to open in a browser.",
        "",
        "| class | AP (IoU 0.5) | AP (IoU 0.7) | mean IoU | precision | recall "
        "| false positives / image | at p ≥ | window | rounds |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(_row(name, f) for name, f in figures.items()),
        *_mean_row(figures),
        "",
        "Held-out figures of each class's last round: AP at IoU 0.5 and 0.7, the mean IoU of "
        "the matched detections, and precision, recall and false positives per image for "
        "the detections at p ≥ the threshold.",
        "",
    ]
    here = report_dir(conf)
    for name, f in figures.items():
        lines += _class_section(name, f, here)
    return "\n".join(lines)


def _row(name: str, f: dict) -> str:
    """A class's line of the table."""
    window = (f.get("settings") or {}).get("window_dim")
    cells = [
        markdown_escape(name),
        *(_num(f.get(k)) for k in FIGURE_KEYS),
        _value(f.get("min_probability")),
        _value(window),
        _value(f.get("round")),
    ]
    return "| " + " | ".join(cells) + " |"


def _mean_row(figures: dict[str, dict]) -> list[str]:
    """The mean of each AP column over the classes (none without any AP)."""
    means = []
    for key in ("average_precision", "average_precision_70"):
        values = [f.get(key) for f in figures.values()]
        values = [v for v in values if isinstance(v, (int, float))]
        means.append(f"{np.mean(values):.3f}" if values else "")
    if not means[0]:
        return []
    return [f"| **mean** | {means[0]} | {means[1]} | | | | | | | |"]


def _class_section(name: str, f: dict, here: Path) -> list[str]:
    """A class's heading, its settings, links to its own report and its template."""
    lines = [f"## {markdown_escape(name)}", ""]
    settings = f.get("settings")
    if settings:
        how = "chosen by its settings search" if f.get("searched") else "the config's values"
        values = ", ".join(f"{k} {_value(v)}" for k, v in settings.items())
        lines.append(f"- settings ({how}): {values}")
    if not f.get("report_dir"):
        return [*lines, ""]
    folder = _relative(Path(f["report_dir"]), here)
    return [
        *lines,
        f"- its own report: [report.html]({folder}/report.html) · [report.md]({folder}/report.md)",
        "",
        f"![learned template of {markdown_escape(name)}]({folder}/template.png)",
        "",
    ]


def _relative(target: Path, start: Path) -> str:
    """``target`` as a link from a page in ``start``: relative, POSIX, percent-encoded."""
    return quote(Path(os.path.relpath(target, start)).as_posix())


def _num(value) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "–"


def _value(value) -> str:
    """A setting or count as Markdown text ("–" when unknown; strings escaped)."""
    if value is None:
        return "–"
    if isinstance(value, str):
        return markdown_escape(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def folder_name(name: str) -> str:
    """A class name as a folder name (path separators and dots replaced)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_ " else "_" for ch in name).strip()
    return safe or "class"
