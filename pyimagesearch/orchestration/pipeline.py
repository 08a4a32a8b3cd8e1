"""The whole workflow as one call: explore, extract, train, then mine/retrain/evaluate rounds.

Round 0 is the model trained on positives and random negatives; each later round
mines fresh distraction images with the current model, retrains with every hard
negative so far (capped by ``hn_max_total``, most confident first) and evaluates on
the held-out test set. How many rounds run is chosen on validation data by the
settings search (``hn_rounds`` is the most); the test set only reports. A history of
the rounds and a report are written to ``output_dir/report``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from ..evaluation.held_out import Evaluation, evaluate
from ..features.extract import extract_features
from ..infrastructure.config import Config, require_outputs
from ..infrastructure.options import Options
from ..infrastructure.provenance import check_owner
from ..io.atomic import write_text_atomic
from ..mining.hard_negatives import MiningSummary, mine_annotated, mine_hard_negatives
from ..model.modelfile import save_model
from ..model.training import train_model
from ..sources.annotations import read_annotations
from ..sources.dims import box_statistics
from .search import search_settings
from .settings import chosen_config
from .split_record import split_record

if TYPE_CHECKING:
    from ..report.markdown import RunRecord

log = logging.getLogger(__name__)


def report_dir(conf: Config) -> Path:
    return Path(conf.options.paths.output_dir) / "report"


def run_pipeline(
    conf: Config,
    rounds: int | None = None,
    progress: bool = True,
    drop_mined: bool = False,
    overwrite: bool = False,
) -> Path:
    """Run every step and write the report; returns the report folder.

    Rounds already in the store are kept (each round mined here replaces its own);
    ``drop_mined`` discards them first. A store or model made by another config is
    refused before any work, unless ``overwrite``.
    """
    from ..report.markdown import RunRecord, write_report  # matplotlib: only when reporting

    rounds = conf.options.pipeline.rounds if rounds is None else rounds
    out = _check_outputs(conf, overwrite)
    timings: dict[str, float] = {}
    boxes = _explore(conf, timings)
    search, chosen = None, {}
    if conf.options.pipeline.search:
        conf, rounds, search, chosen = _search(conf, rounds, timings, progress, overwrite)
    split = split_record(conf, rounds)
    write_text_atomic(out / "split.json", json.dumps(split, indent=1))
    extraction = extract_features(
        conf, progress=progress, drop_mined=drop_mined or bool(search), overwrite=overwrite
    )
    timings["extract_features"] = extraction.seconds
    run = RunRecord([], {}, {}, boxes, extraction, timings, search=search, split=split)
    model = _first_round(conf, run, out, chosen, progress, overwrite)
    _mining_rounds(conf, run, model, rounds, out, chosen, progress)
    if _mine_both(conf.options) and len(run.history) > 1:
        run.comparison = _compare_annotated_mining(
            conf, run.history[-1]["round"], run.evaluations, progress
        )
    write_report(conf, out, run)
    return out


def _check_outputs(conf: Config, overwrite: bool) -> Path:
    """Refuse outputs that cannot be written or that another config made; the report
    folder, created."""
    paths = conf.options.paths
    require_outputs(conf, "features_path", "classifier_path", "output_dir")
    check_owner(paths.features_path, conf, "feature store", overwrite)
    check_owner(paths.classifier_path, conf, "model", overwrite)
    out = report_dir(conf)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _explore(conf: Config, timings: dict[str, float]):
    """The boxes' statistics (and whether one window serves them)."""
    t = time.perf_counter()
    boxes = box_statistics(read_annotations(conf.options.annotations))
    timings["explore_dims"] = time.perf_counter() - t
    _check_components(conf.options, boxes)
    return boxes


def _search(conf: Config, rounds: int, timings, progress: bool, overwrite: bool):
    """The settings search: the config with the chosen settings, the rounds to run, the
    search's record for the report, and the choice the model files record."""
    result = search_settings(conf, progress=progress, overwrite=overwrite)
    timings["search_settings"] = result.seconds
    rounds = min(rounds, result.chosen.get("hn_rounds", rounds))
    chosen = {"chosen_settings": result.chosen}
    return chosen_config(conf, result.chosen), rounds, asdict(result), chosen


def _first_round(conf: Config, run: RunRecord, out: Path, chosen, progress, overwrite):
    """Round 0: the model trained on positives and random negatives, evaluated."""
    t = time.perf_counter()
    model = train_model(conf, hard_negatives=False, metadata=chosen, overwrite=overwrite)
    run.timings["train"] = time.perf_counter() - t
    _evaluate_round(conf, run, model, 0, None, out, progress)
    return model


def _mining_rounds(conf: Config, run: RunRecord, model, rounds: int, out, chosen, progress):
    """Mine, retrain and evaluate each round; stop after a round that adds nothing."""
    for r in range(1, rounds + 1):
        summary = _mine(conf, run, model, r, progress)
        t = time.perf_counter()
        model = train_model(conf, hard_negatives=True, max_round=r, metadata=chosen)
        run.timings["train"] += time.perf_counter() - t
        _evaluate_round(conf, run, model, r, summary, out, progress)
        if not summary.n_kept:
            log.info("stopping after round %d: it added no hard negative", r)
            break


def _mine_both(options: Options) -> bool:
    """Whether rounds also mine the annotated images (to train on, or to compare)."""
    return options.training.mine_annotated or options.pipeline.compare_annotated_mining


def _mine(conf: Config, run: RunRecord, model, r: int, progress: bool) -> MiningSummary:
    """Mine round ``r`` on the distraction images (and the annotated ones); its summary
    counts the annotated windows kept when training uses them."""
    summary = mine_hard_negatives(conf, r, model=model, progress=progress)
    run.mining[r] = asdict(summary)
    if _mine_both(conf.options):
        annotated = mine_annotated(conf, r, model=model, progress=progress)
        run.mining[r]["annotated"] = asdict(annotated)
        if conf.options.training.mine_annotated:
            summary.n_kept += annotated.n_kept
    return summary


def _evaluate_round(conf: Config, run: RunRecord, model, r: int, summary, out, progress) -> None:
    """Keep the round's model, evaluate it and add its record to ``history.json``."""
    _keep_round_model(conf, model, r)
    run.evaluations[r] = evaluate(conf, model, progress=progress)
    record = _round_record(r, model, run.evaluations[r], conf.options, summary)
    if "annotated" in run.mining.get(r, {}):
        record["annotated_hard_negatives_found"] = run.mining[r]["annotated"]["n_found"]
        record["annotated_hard_negatives_used"] = conf.options.training.mine_annotated
    run.history.append(record)
    _write_history(out, run.history)


def _check_components(options: Options, boxes) -> None:
    """The config pipeline trains one window: refuse ``components`` > 1, and say so when
    the boxes vary in shape more than one window serves."""
    from ..infrastructure.errors import ConfigError
    from ..sources.dims import aspect_components

    if (options.pipeline.components or 1) > 1:
        raise ConfigError(
            f"{options.where}: key 'components': mixtures of windows are trained by "
            "the Python API (pyimagesearch.train_detector); the config pipeline trains one"
        )
    k = int(aspect_components(boxes.aspect_ratios).max()) + 1
    if k > 1:
        log.info(
            "the boxes' aspect ratios spread over more than one window serves (%d groups); "
            "pyimagesearch.train_detector(..., components=None) trains one window per group",
            k,
        )


def _compare_annotated_mining(conf: Config, last: int, evaluations, progress: bool) -> dict:
    """The final round retrained with the other ``hn_mine_annotated`` setting, evaluated
    on the same test set, so the report shows the effect of mining annotated images."""
    paths = conf.options.paths
    other = not conf.options.training.mine_annotated
    path = Path(paths.output_dir) / "models" / f"compare_annotated_{'on' if other else 'off'}.json"
    model = train_model(conf, hard_negatives=True, max_round=last, annotated=other, path=str(path))
    ev = evaluate(conf, model, progress=progress)
    ours = evaluations[last]
    with_, without = (ev, ours) if other else (ours, ev)
    return {
        "round": last,
        "default": "without" if other else "with",
        "with": {**_figures(with_), "model": str(path) if other else paths.classifier_path},
        "without": {**_figures(without), "model": paths.classifier_path if other else str(path)},
    }


def _figures(ev: Evaluation) -> dict:
    return {
        "average_precision": round(ev.average_precision, 6),
        "false_positives_per_image": round(ev.false_positives_per_image, 6),
        "precision": round(ev.precision, 6),
        "recall": round(ev.recall, 6),
        "false_positive_types": ev.false_positive_types,
    }


def _keep_round_model(conf: Config, model, round_index: int) -> None:
    """Keep a copy of each round's model beside the report, for comparison."""
    path = Path(conf.options.paths.output_dir) / "models" / f"round_{round_index:03d}.json"
    save_model(model, path)


def _round_record(r, model, ev: Evaluation, options: Options, summary=None) -> dict:
    """A round's line of ``history.json`` (round 0 has no mining ``summary``)."""
    p = options.evaluation.min_probability
    record = {
        "round": r,
        "images_mined": summary.n_images if summary else 0,
        "hard_negatives_found": summary.n_found if summary else 0,
        "hard_negatives_added": summary.n_kept if summary else 0,
        "hard_negatives_total": model.metadata["hard_negatives"] if summary else 0,
        "train_seconds": model.metadata.get("train_seconds"),
        "mine_seconds": round(summary.seconds, 3) if summary else 0.0,
        "average_precision": round(ev.average_precision, 6),
        "precision": round(ev.precision, 6),
        "recall": round(ev.recall, 6),
        "false_positives_per_image": round(ev.false_positives_per_image, 6),
        "min_probability": p,
        "decision_threshold": round(model.decision_threshold(p), 6),
        "n_test_images": ev.n_test_images,
        "n_distraction_images": ev.n_distraction_images,
        "false_positive_types": ev.false_positive_types,
    }
    if summary:
        record["per_category"] = summary.per_category
    return record


def _write_history(out: Path, history: list[dict]) -> None:
    write_text_atomic(out / "history.json", json.dumps(history, indent=1))


__all__ = ["report_dir", "run_pipeline"]
