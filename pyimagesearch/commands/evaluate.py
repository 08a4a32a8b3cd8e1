"""Evaluate models: PR curve and AP on held-out annotated images, FPPI on distraction images.

With ``--protocol openimages --subset DIR``, the model is scored on an Open Images subset
(``openimages_subset.py --mode positives``) with the Open Images protocol: hierarchy,
group-of boxes, verified image-level labels, AP per class and mAP.

With several ``--model`` files (e.g. the pipeline's ``models/compare_annotated_off.json``
beside ``model.json``), all are evaluated on the same images in one run and compared.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..detection.files import check_outputs
from ..evaluation.held_out import evaluate
from ..infrastructure.config import DATASETS_ENV
from ..infrastructure.errors import PyImageSearchError
from ..io.atomic import write_text_atomic
from ..io.remote import is_url
from ..io.safe_paths import among_inputs
from ..model import check_compatible, load_model
from ..orchestration.pipeline import report_dir
from ..orchestration.stress_suite import stress_suite
from ..report.plots import plot_pr_curves
from ..report.stress_section import write_stress_report
from .cli import add_execution_options, configure, parser


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command line of this step."""
    p = parser(__doc__.split("\n")[0], prog=prog)
    p.add_argument(
        "--model",
        action="append",
        help="model file to evaluate (repeatable; default: classifier_path)",
    )
    p.add_argument("--json", help="write the figures to this JSON file (a list with --model x2)")
    p.add_argument("--plot", help="PR curve PNG (default: output_dir/pr_curve.png)")
    p.add_argument(
        "--suite",
        choices=["stress"],
        help="evaluate on the stress suite (rescaled, border-cut, side-by-side and rotated "
        "variants of the held-out images) and add its table to the report",
    )
    p.add_argument(
        "--protocol",
        choices=["voc", "openimages"],
        default="voc",
        help="voc (default): AP and FPPI on the config's held-out images; openimages: the "
        "Open Images protocol on --subset",
    )
    meta = Path(os.environ.get(DATASETS_ENV) or "../shared/datasets") / "openimages"
    p.add_argument("--subset", help="openimages: subset folder from openimages_subset.py")
    p.add_argument(
        "--oi-class", help="openimages: the class the detector finds (default: the subset's)"
    )
    p.add_argument(
        "--hierarchy",
        default=str(meta / "bbox_labels_600_hierarchy.json"),
        help="openimages: bbox_labels_600_hierarchy.json (default: %(default)s)",
    )
    p.add_argument(
        "--class-descriptions",
        default=str(meta / "class-descriptions-boxable.csv"),
        help="openimages: class-descriptions-boxable.csv, for names (default: %(default)s)",
    )
    add_execution_options(p)
    return p


def run(args: argparse.Namespace) -> int | None:
    """Run the step on the parsed command line."""
    conf = configure(args)
    _check_outputs(conf, args)
    if args.protocol == "openimages":
        return run_openimages(conf, args)
    if args.suite:
        return run_suite(conf, args)
    results = {}
    for path in args.model or [conf["classifier_path"]]:
        model = load_model(path)
        check_compatible(model, conf.options.descriptor, conf["window_dim"], path, conf.path)
        results[path] = evaluate(conf, model, progress=not args.quiet)
    plot = args.plot or f"{conf['output_dir']}/pr_curve.png"
    plot_pr_curves(
        {Path(k).stem: {**ev.curve, "ap": ev.average_precision} for k, ev in results.items()},
        plot,
    )
    if args.json:
        figures = [{"model": k, **ev.summary()} for k, ev in results.items()]
        write_text_atomic(
            args.json, json.dumps(figures[0] if len(figures) == 1 else figures, indent=1)
        )
    for path, ev in results.items():
        if len(results) > 1:
            print(f"== {path}")
        print(
            f"average precision (IoU >= 0.5): {ev.average_precision:.4f} "
            f"({ev.n_objects} objects in {ev.n_test_images} test images); at IoU >= 0.7: "
            f"{ev.average_precision_70:.4f}; mean IoU of true positives {ev.mean_iou:.3f}"
        )
        print(
            f"at p >= {ev.min_probability}: precision {ev.precision:.3f}, recall "
            f"{ev.recall:.3f}, false positives per image {ev.false_positives_per_image:.4f} "
            f"({ev.n_false_positives} in {ev.n_distraction_images} distraction images)"
        )
        t = ev.false_positive_types
        print(
            f"false positives on test images: {t['localisation']} localisation, "
            f"{t['duplicate']} duplicate, {t['background']} background"
        )
    print(f"PR curve: {plot}")


def _check_outputs(conf, args: argparse.Namespace) -> None:
    """Refuse, before the work, a --json or --plot file that is an input (the config, a
    model, the store, an annotation file) or the other output."""
    plot = args.plot or f"{conf['output_dir']}/pr_curve.png"
    outputs = [("--json file", Path(args.json))] if args.json else []
    outputs.append(("PR curve", Path(plot)))
    inputs = [conf.path, *(args.model or [conf["classifier_path"]]), conf["features_path"]]
    inputs += [args.hierarchy, args.class_descriptions] if args.protocol == "openimages" else []
    check_outputs(outputs, [p for p in inputs if p is not None])
    folders = {f"the input '{k}'": conf[k] for k in _INPUTS if not is_url(conf[k])}
    if args.subset:
        folders["the --subset folder"] = args.subset
    for what, path in outputs:
        reason = among_inputs(path, folders)
        if reason:
            raise PyImageSearchError(f"the {what}: {reason}")


_INPUTS = ("image_dataset", "image_annotations", "image_distractions")


def run_openimages(conf, args) -> None:
    """The Open Images protocol on ``--subset`` for the config's model (or ``--model``)."""
    from ..evaluation.oid_evaluation import evaluate_openimages

    if not args.subset:
        raise PyImageSearchError("--protocol openimages needs --subset DIR")
    path = (args.model or [conf["classifier_path"]])[0]
    model = load_model(path)
    check_compatible(model, conf.options.descriptor, conf["window_dim"], path, conf.path)
    given = os.path.lexists(args.class_descriptions)  # there, even if broken: read it
    descriptions = args.class_descriptions if given else None
    figures = evaluate_openimages(
        conf, model, args.subset, args.hierarchy, descriptions, args.oi_class, not args.quiet
    )
    if args.json:
        write_text_atomic(args.json, json.dumps({"model": path, **figures}, indent=1))
    print(f"{'class':<24} {'AP':>7} {'objects':>8} {'group-of':>9} {'TP':>5} {'ignored':>8}")
    for c in figures["classes"].values():
        ap = "n/a" if c["average_precision"] is None else f"{c['average_precision']:.4f}"
        print(
            f"{c['name'][:24]:<24} {ap:>7} {c['n_objects']:8d} {c['n_group_of']:9d} "
            f"{c['n_true_positives']:5d} {c['n_ignored']:8d}"
        )
    mean_ap = figures["mean_average_precision"]
    print(
        f"mAP (Open Images protocol, IoU >= 0.5): "
        f"{'n/a' if mean_ap is None else f'{mean_ap:.4f}'} on {figures['n_images']} images"
    )


def run_suite(conf, args) -> None:
    """The stress suite of the config's model (the first ``--model`` if given)."""
    path = (args.model or [conf["classifier_path"]])[0]
    model = load_model(path)
    check_compatible(model, conf.options.descriptor, conf["window_dim"], path, conf.path)
    results = stress_suite(conf, model, progress=not args.quiet)
    report = write_stress_report(results, report_dir(conf))
    if args.json:
        write_text_atomic(args.json, json.dumps(results, indent=1))
    print(f"{'variant':<14} {'ap50':>7} {'ap70':>7} {'mean_iou':>9} {'objects':>8}")
    for name, v in results["variants"].items():
        print(
            f"{name:<14} {v['ap50']:7.4f} {v['ap70']:7.4f} {v['mean_iou']:9.3f} {v['n_objects']:8d}"
        )
    print(f"report: {report}")
