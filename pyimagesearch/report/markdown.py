"""The run report: a Markdown page next to its PNG figures and JSON/CSV data."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..io.atomic import write_text_atomic
from ..model.modelfile import load_model
from ..sources.dims import BoxStatistics, suggest_window_dim
from .gallery import detection_gallery
from .html import write_html_report
from .plots import plot_box_statistics, plot_pr_curves, plot_rounds
from .search_section import search_section, write_search_json
from .template import template_picture

if TYPE_CHECKING:
    from ..evaluation.held_out import Evaluation
    from ..features.extract import ExtractionSummary
    from ..infrastructure.config import Config
    from ..infrastructure.options import Options
    from ..model.linear import LinearModel


@dataclass
class RunRecord:
    """What a pipeline run produced, as the report shows it."""

    #: one record per round (``history.json``)
    history: list[dict]
    #: the held-out evaluation of each round's model
    evaluations: dict[int, Evaluation]
    #: each mining round's summary (``MiningSummary`` as a dict)
    mining: dict[int, dict]
    boxes: BoxStatistics
    extraction: ExtractionSummary
    #: seconds per step
    timings: dict[str, float]
    #: the last round retrained with the other ``hn_mine_annotated`` setting
    comparison: dict | None = None
    #: the settings search's result (``SearchResult`` as a dict)
    search: dict | None = None
    #: which images trained, validated, mined and tested (``split.json``)
    split: dict | None = None

    @property
    def rounds(self) -> list[int]:
        return sorted(self.evaluations)


def write_report(conf: Config, out: Path, run: RunRecord) -> Path:
    """Write figures, per-round data, ``report.md`` and ``report.html`` into ``out``."""
    from .review import review_round

    out, options = Path(out), conf.options
    final_model = load_model(options.paths.classifier_path)
    _write_data(out, run, final_model)
    _draw_figures(out, run, final_model, options)
    reviews = [review_round(conf, r, out) for r in run.rounds[1:]]
    name = options.review.object_name
    lines = [
        *_title(name, conf.path),
        *_result_section(run, options),
        *_rounds_section(run.history),
        *(search_section(run.search) if run.search else []),
        *_fp_types_section(run.history, options),
        *(_comparison_section(run.comparison, options) if run.comparison else []),
        *_data_section(run, options),
        *_detections_section(run.rounds[-1], options),
        *_hard_negatives_section(run, reviews, options),
        *_template_section(final_model, name),
        *provenance_section(final_model.metadata.get("provenance"), options.paths.classifier_path),
        *_timings_section(run),
    ]
    text = "\n".join(lines) + "\n"
    write_text_atomic(out / "report.md", text)
    write_html_report(
        out,
        text,
        reviews,
        f"Detector report: {name}",
        options.execution.max_image_pixels,
        options.remote,
    )
    return out / "report.md"


def _write_data(out: Path, run: RunRecord, final_model: LinearModel) -> None:
    """The machine-readable files beside the report: evaluations, search, comparison,
    provenance."""
    for r in run.rounds:
        write_text_atomic(
            out / f"evaluation_round_{r:03d}.json",
            json.dumps(run.evaluations[r].summary(), indent=1),
        )
    if run.search:
        write_search_json(run.search, out)
    if run.comparison:
        write_text_atomic(out / "annotated_mining.json", json.dumps(run.comparison, indent=1))
    if final_model.metadata.get("provenance"):
        write_text_atomic(
            out / "provenance.json", json.dumps(final_model.metadata["provenance"], indent=1)
        )


def _draw_figures(out: Path, run: RunRecord, final_model: LinearModel, options: Options) -> None:
    """PR curves, rounds, box statistics, the template and the detection galleries."""
    evaluations, last = run.evaluations, run.rounds[-1]
    plot_pr_curves(
        {
            f"round {r}": {**evaluations[r].curve, "ap": evaluations[r].average_precision}
            for r in run.rounds
        },
        out / "pr_curves.png",
    )
    plot_rounds(run.history, out / "rounds.png")
    plot_box_statistics(run.boxes.widths, run.boxes.heights, out / "box_statistics.png")
    template_picture(final_model, out / "template.png")
    for r in (0, last) if last else (0,):
        detection_gallery(
            evaluations[r].images,
            out / f"detections_round_{r:03d}.png",
            options.evaluation.min_probability,
            max_pixels=options.execution.max_image_pixels,
        )


def _title(name: str, config_path) -> list[str]:
    return [
        f"# Detector report: {name}",
        "",
        f"Config `{config_path}` · {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} · "
        f"Python {platform.python_version()}",
        "",
    ]


def _result_section(run: RunRecord, options: Options) -> list[str]:
    """Before and after mining: AP, false positives per image, precision / recall."""
    before, after = run.history[0], run.history[-1]
    first, last = run.evaluations[0], run.evaluations[run.rounds[-1]]
    p = options.evaluation.min_probability
    return [
        "## Result",
        "",
        f"| | before mining (round 0) | after mining (round {after['round']}) |",
        "|---|---|---|",
        f"| average precision (IoU ≥ 0.5) | {before['average_precision']:.4f} | "
        f"{after['average_precision']:.4f} |",
        f"| false positives per image (p ≥ {p}) | "
        f"{before['false_positives_per_image']:.4f} | {after['false_positives_per_image']:.4f} |",
        f"| precision / recall at p ≥ {p} | "
        f"{before['precision']:.3f} / {before['recall']:.3f} | "
        f"{after['precision']:.3f} / {after['recall']:.3f} |",
        f"| AP (IoU ≥ 0.7) / mean IoU of matches | "
        f"{first.average_precision_70:.4f} / {first.mean_iou:.3f} | "
        f"{last.average_precision_70:.4f} / {last.mean_iou:.3f} |",
        "",
        *_box_error_lines(last, p),
        f"{fppi_change(before['false_positives_per_image'], after['false_positives_per_image'])} "
        f"Test set: {before['n_test_images']} held-out annotated images; false positives "
        f"counted on {before['n_distraction_images']} distraction images never used for "
        "training or mining.",
        "",
        *_no_false_positives_note(run.history, options.review.object_name),
        "![PR curves](pr_curves.png)",
        "",
    ]


def _rounds_section(history: list[dict]) -> list[str]:
    """One table row per round."""
    lines = [
        "## Rounds",
        "",
        "| round | images mined | hard negatives added | total used | train s | AP | FPPI "
        "| precision | recall | threshold (decision) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for h in history:
        lines.append(
            f"| {h['round']} | {h['images_mined']} | {h['hard_negatives_added']} | "
            f"{h['hard_negatives_total']} | {h['train_seconds']:.2f} | "
            f"{h['average_precision']:.4f} | {h['false_positives_per_image']:.4f} | "
            f"{h['precision']:.3f} | {h['recall']:.3f} | {h['decision_threshold']:.4f} |"
        )
    return [*lines, "", "Machine-readable: `history.json`.", "", "![rounds](rounds.png)", ""]


def _data_section(run: RunRecord, options: Options) -> list[str]:
    """Positives, negatives, the window and the boxes' statistics."""
    extraction, hog = run.extraction, options.descriptor
    window_dim = list(options.window.window_dim)
    suggested = suggest_window_dim(run.boxes, hog.pixels_per_cell, None, hog.descriptor)
    return [
        "## Data",
        "",
        f"- positives: {extraction.n_positives} (from {extraction.n_train_images} training "
        f"images{', with mirrors' if options.extraction.use_flip else ''})",
        f"- random negatives: {extraction.n_negatives} from {extraction.n_negative_images} "
        "distraction images",
        f"- skipped inputs: {len(extraction.skipped)}",
        *([f"- split: {_split_summary(run.split)}"] if run.split else []),
        f"- window: {window_dim} (suggested from the boxes: {list(suggested)})",
        _smallest_object_line(window_dim, options.window.upsample),
        "",
        _stats_table(run.boxes.table()),
        "",
        "![box statistics](box_statistics.png)",
        "",
    ]


def _split_summary(record: dict) -> str:
    """One line of counts of the run's ``split.json``."""
    annotated, roles = record["annotated"], record["distractions"]
    parts = [f"{len(annotated['train'])} annotated images trained, {len(annotated['test'])} tested"]
    if "search_folds" in record:
        folds = record["search_folds"]
        held = sum(len(f["validation"]) for f in folds)
        parts.append(
            f"the search held out {held} of the training images "
            f"({len(folds)} fold{'s' if len(folds) > 1 else ''}) and "
            f"{len(roles['search_validation'])} object-free scenes"
        )
    mined = {x for images in roles["mining"].values() for x in images}
    parts.append(
        f"distraction images: {len(roles['negatives'])} for random negatives, {len(mined)} "
        f"mined, {len(roles['evaluation'])} for false positives at test"
    )
    return "; ".join(parts) + ". Each image's role: `split.json`."


def _detections_section(last: int, options: Options) -> list[str]:
    """The galleries of detections before mining and after the last round."""
    lines = [
        "## Detections on held-out images",
        "",
        "Green: ground truth; red: detections with probability ≥ "
        f"{options.evaluation.min_probability}.",
        "",
        "Before mining:",
        "",
        "![detections before](detections_round_000.png)",
        "",
    ]
    if last:
        lines += [
            f"After round {last}:",
            "",
            f"![detections after](detections_round_{last:03d}.png)",
            "",
        ]
    return lines


def _hard_negatives_section(run: RunRecord, reviews: list, options: Options) -> list[str]:
    """One sub-section per mining round."""
    lines = ["## Hard negatives", ""]
    for r, review in zip(run.rounds[1:], reviews):
        lines += _mined_section(r, run.mining[r], review, options)
    return lines


def _template_section(model: LinearModel, name: str) -> list[str]:
    return [
        "## Learned template",
        "",
        f"The SVM weights drawn as {_glyphs(model)} on the window's cells: left, "
        f"what the detector looks for; right, what counts against a {name}.",
        "",
        "![template](template.png)",
        "",
    ]


def _timings_section(run: RunRecord) -> list[str]:
    timings = {**run.timings, **{f"mine round {r}": run.mining[r]["seconds"] for r in run.mining}}
    timings.update({f"evaluate round {r}": run.evaluations[r].seconds for r in run.rounds})
    return [
        "## Timings (s)",
        "",
        "| step | seconds |",
        "|---|---|",
        *(f"| {k} | {v:.2f} |" for k, v in timings.items()),
    ]


def provenance_section(record: dict | None, model_path: str) -> list[str]:
    """What the final model was made from: config, data, versions, commit (issue 15)."""
    lines = ["## Provenance", ""]
    if not record:
        return lines + [f"`{model_path}` records no provenance (an older model file).", ""]
    config, data, env = record["config"], record["data"], record["environment"]
    git = record.get("git")
    if git:
        commit = f"`{git['commit'][:12]}`" + (" (with uncommitted changes)" if git["dirty"] else "")
    else:
        commit = "not a git checkout"
    packages = ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v)
    lines += [
        f"- config: `{config['path']}`, sha256 `{config['sha256'][:16]}` "
        "(of its parsed values, in `provenance.json`)",
        f"- data: sha256 `{data['sha256'][:16]}` of the file names and sizes of",
    ]
    for key, folder in data.items():
        if isinstance(folder, dict):
            what = "missing" if folder.get("missing") else f"{folder['files']} files"
            lines.append(f"  - `{key}`: `{folder['path']}` ({what})")
    lines += [
        f"- Python {env['python']} on {env['platform']}; {packages}",
        f"- code: {commit}",
        "",
    ]
    return lines


def _smallest_object_line(window_dim, up: int) -> str:
    """How small an object the detector can find: its window on the largest layer."""
    w, h = window_dim
    f = 2.0**up
    more = (
        f"set `upsample` {up + 1} to find objects down to {w / f / 2:.0f}x{h / f / 2:.0f}"
        if up < 3
        else "the most `upsample` allows"
    )
    return (
        f"- smallest object found: about {w / f:.0f}x{h / f:.0f} pixels (the window on the "
        f"largest pyramid layer, the image enlarged {f:g}x by `upsample` {up}); {more}"
    )


def _box_error_lines(ev, min_probability: float) -> list[str]:
    """The width and height errors of the boxes that found an object (final round)."""
    e = ev.box_errors
    if not e or not e.get("n_matched"):
        return []

    def q(name: str) -> str:
        v = e[name]
        return f"{v['p10']:+.1%} / {v['median']:+.1%} / {v['p90']:+.1%}"

    return [
        f"Box accuracy of the {e['n_matched']} detections at p ≥ {min_probability} "
        "that found an object (10th percentile / median / 90th percentile of the error "
        f"relative to the object): width {q('width_error')}, height {q('height_error')}; "
        f"IoU {e['iou']['p10']:.3f} / {e['iou']['median']:.3f} / {e['iou']['p90']:.3f}.",
        "",
    ]


def fppi_change(before: float, after: float) -> str:
    """One sentence comparing false positives per image before and after mining."""
    if before == 0 and after == 0:
        return "False positives per image: 0 before and after mining."
    if before == 0:
        return f"False positives per image went from 0 before mining to {after:.4f} after."
    return (
        f"False positives per image after mining are {after / before:.2f}× the figure "
        "before mining."
    )


def _no_false_positives_note(history: list[dict], name: str) -> list[str]:
    """Advice when no round found a false positive on the distraction images."""
    if any(h["false_positives_per_image"] for h in history):
        return []
    return [
        f"No round gave a false positive on the evaluation distraction images: they may "
        f"hold nothing that looks like a {name}, so this figure says little. Choose "
        "`eval_distraction_categories` among scenes where look-alikes occur (for a street "
        "sign: streets, highways, city centres).",
        "",
    ]


def _fp_types_section(history, options: Options) -> list[str]:
    lines = [
        "### False positives by cause",
        "",
        f"At p ≥ {options.evaluation.min_probability}, on the held-out annotated images: "
        "*localisation* "
        "(overlaps an object, 0.1 ≤ IoU < 0.5), *duplicate* (a second detection of a found "
        "object), *background* (IoU < 0.1); and detections on object-free distraction images.",
        "",
        "| round | localisation | duplicate | background | on distraction images |",
        "|---|---|---|---|---|",
    ]
    for h in history:
        t = h.get("false_positive_types", {})
        lines.append(
            f"| {h['round']} | {t.get('localisation', 0)} | {t.get('duplicate', 0)} | "
            f"{t.get('background', 0)} | {t.get('background_distraction_images', 0)} |"
        )
    return [*lines, ""]


def _comparison_section(c: dict, options: Options) -> list[str]:
    rows = []
    for name in ("without", "with"):
        f = c[name]
        t = f["false_positive_types"]
        rows.append(
            f"| {name} | {f['average_precision']:.4f} | {f['false_positives_per_image']:.4f} | "
            f"{f['precision']:.3f} / {f['recall']:.3f} | {t.get('localisation', 0)} / "
            f"{t.get('duplicate', 0)} / {t.get('background', 0)} |"
        )
    return [
        "## Mining the annotated images",
        "",
        f"Round {c['round']} retrained with and without the hard negatives mined on the "
        "training share of the annotated images (windows whose IoU with every object is "
        f"below {options.mining.negative_iou_max}), evaluated on the same held-out images. "
        f"This run's model is *{c['default']}* (`hn_mine_annotated`).",
        "",
        "| annotated images mined | AP | FPPI | precision / recall | FP: localisation / "
        "duplicate / background |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "Machine-readable: `annotated_mining.json`.",
        "",
    ]


def _counts(counts: dict) -> str:
    return ", ".join(f"{k}: {v}" for k, v in counts.items())


def _stats_table(stats: dict) -> str:
    rows = ["| | min | mean | median | max |", "|---|---|---|---|---|"]
    for name, s in stats.items():
        rows.append(
            f"| {name} | {s['min']:.1f} | {s['mean']:.1f} | {s['median']:.1f} | {s['max']:.1f} |"
            if name != "aspect_ratio"
            else f"| {name} | {s['min']:.2f} | {s['mean']:.2f} | {s['median']:.2f} | "
            f"{s['max']:.2f} |"
        )
    return "\n".join(rows)


def _mined_section(r: int, summary: dict, review, options: Options) -> list[str]:
    cats = summary.get("per_category", {})
    cat_line = ", ".join(f"{k}: {v}" for k, v in cats.items() if v) or "none"
    return [
        f"### Round {r}",
        "",
        f"{summary['n_found']} windows at p ≥ {options.mining.window.min_probability} in "
        f"{summary['n_images']} images ({summary['n_kept']} kept), {summary['seconds']:.2f} s. "
        f"By category: {cat_line}.",
        "",
        f"{review.n_suspects} suspect windows (p ≥ {options.review.suspect_probability}, likely "
        f"unlabelled objects; {review.n_flat} more on flat patches left out): "
        f"`suspects_round_{r:03d}.csv`"
        + (f", by category: {_counts(review.suspects_per_category)}" if review.n_suspects else "")
        + ". Exclude categories or images with `distraction_exclude_categories` / "
        "`distraction_exclude_images` and mine again (in `report.html`, tick the real "
        "objects and save them as a file `distraction_exclude_images` accepts).",
        "",
        f"![hard negatives round {r}](hard_negatives_round_{r:03d}.png)",
        "",
        *_annotated_sheet(r, review),
    ]


def _annotated_sheet(r: int, review) -> list[str]:
    """The sheet of windows mined on the annotated images, when the round stored any."""
    if not review.n_annotated:
        return []
    return [
        f"{review.n_annotated} windows mined on the training share of the annotated images "
        "(away from every object):",
        "",
        f"![hard negatives on annotated images round {r}]({review.annotated_sheet.name})",
        "",
    ]


def _glyphs(model: LinearModel) -> str:
    """What the template picture draws, by descriptor."""
    if model.hog.descriptor == "fhog":
        return "FHOG glyphs (per cell, its 9 contrast-insensitive orientations)"
    return "HOG glyphs"
