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

from ..evaluation.held_out import Evaluation, evaluate
from ..features.extract import extract_features
from ..infrastructure.config import Config, require_outputs
from ..infrastructure.provenance import check_owner
from ..io.atomic import write_text_atomic
from ..mining.hard_negatives import mine_annotated, mine_hard_negatives
from ..model.modelfile import save_model
from ..model.training import train_model
from ..sources.annotations import read_annotations
from ..sources.dims import box_statistics
from .search import search_settings
from .settings import chosen_config

log = logging.getLogger(__name__)


def report_dir(conf: Config) -> Path:
    return Path(conf["output_dir"]) / "report"


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
    rounds = conf["hn_rounds"] if rounds is None else rounds
    require_outputs(conf, "features_path", "classifier_path", "output_dir")
    check_owner(conf["features_path"], conf, "feature store", overwrite)
    check_owner(conf["classifier_path"], conf, "model", overwrite)
    out = report_dir(conf)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    t = time.perf_counter()
    boxes = box_statistics(read_annotations(conf))
    timings["explore_dims"] = time.perf_counter() - t
    _check_components(conf, boxes)

    search, chosen = None, {}
    if conf["search"]:
        result = search_settings(conf, progress=progress, overwrite=overwrite)
        timings["search_settings"] = result.seconds
        chosen = {"chosen_settings": result.chosen}
        search = asdict(result)
        conf = chosen_config(conf, result.chosen)
        rounds = min(rounds, result.chosen.get("hn_rounds", rounds))

    extraction = extract_features(
        conf, progress=progress, drop_mined=drop_mined or bool(search), overwrite=overwrite
    )
    timings["extract_features"] = extraction.seconds

    history: list[dict] = []
    evaluations: dict[int, Evaluation] = {}
    mining: dict[int, dict] = {}
    t = time.perf_counter()
    model = train_model(conf, hard_negatives=False, metadata=chosen, overwrite=overwrite)
    timings["train"] = time.perf_counter() - t
    _keep_round_model(conf, model, 0)
    evaluations[0] = evaluate(conf, model, progress=progress)
    history.append(_round_record(0, model, evaluations[0], 0, 0, conf))
    _write_history(out, history)

    use_annotated = conf["hn_mine_annotated"]
    mine_both = use_annotated or conf["report_compare_annotated_mining"]
    for r in range(1, rounds + 1):
        summary = mine_hard_negatives(conf, r, model=model, progress=progress)
        mining[r] = asdict(summary)
        if mine_both:
            annotated = mine_annotated(conf, r, model=model, progress=progress)
            mining[r]["annotated"] = asdict(annotated)
            if use_annotated:
                summary.n_kept += annotated.n_kept
        t = time.perf_counter()
        model = train_model(conf, hard_negatives=True, max_round=r, metadata=chosen)
        timings["train"] += time.perf_counter() - t
        _keep_round_model(conf, model, r)
        evaluations[r] = evaluate(conf, model, progress=progress)
        history.append(
            _round_record(
                r,
                model,
                evaluations[r],
                summary.n_kept,
                model.metadata["hard_negatives"],
                conf,
                summary,
            )
        )
        if "annotated" in mining[r]:
            history[-1]["annotated_hard_negatives_found"] = mining[r]["annotated"]["n_found"]
            history[-1]["annotated_hard_negatives_used"] = use_annotated
        _write_history(out, history)
        if not summary.n_kept:
            log.info("stopping after round %d: it added no hard negative", r)
            break

    comparison = None
    if mine_both and len(history) > 1:
        comparison = _compare_annotated_mining(conf, history[-1]["round"], evaluations, progress)

    from ..report.markdown import write_report

    write_report(
        conf, out, history, evaluations, mining, boxes, extraction, timings, comparison, search
    )
    return out


def _check_components(conf: Config, boxes) -> None:
    """The config pipeline trains one window: refuse ``components`` > 1, and say so when
    the boxes vary in shape more than one window serves."""
    from ..infrastructure.errors import ConfigError
    from ..sources.dims import aspect_components

    if (conf["components"] or 1) > 1:
        raise ConfigError(
            f"{conf.path or '<config>'}: key 'components': mixtures of windows are trained by "
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
    other = not conf["hn_mine_annotated"]
    path = (
        Path(conf["output_dir"]) / "models" / f"compare_annotated_{'on' if other else 'off'}.json"
    )
    model = train_model(conf, hard_negatives=True, max_round=last, annotated=other, path=str(path))
    ev = evaluate(conf, model, progress=progress)
    ours = evaluations[last]
    with_, without = (ev, ours) if other else (ours, ev)
    return {
        "round": last,
        "default": "with" if conf["hn_mine_annotated"] else "without",
        "with": {**_figures(with_), "model": str(path) if other else conf["classifier_path"]},
        "without": {**_figures(without), "model": conf["classifier_path"] if other else str(path)},
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
    path = Path(conf["output_dir"]) / "models" / f"round_{round_index:03d}.json"
    save_model(model, path)


def _round_record(r, model, ev: Evaluation, added: int, total: int, conf, summary=None) -> dict:
    record = {
        "round": r,
        "images_mined": summary.n_images if summary else 0,
        "hard_negatives_found": summary.n_found if summary else 0,
        "hard_negatives_added": added,
        "hard_negatives_total": total,
        "train_seconds": model.metadata.get("train_seconds"),
        "mine_seconds": round(summary.seconds, 3) if summary else 0.0,
        "average_precision": round(ev.average_precision, 6),
        "precision": round(ev.precision, 6),
        "recall": round(ev.recall, 6),
        "false_positives_per_image": round(ev.false_positives_per_image, 6),
        "min_probability": conf["min_probability"],
        "decision_threshold": round(model.decision_threshold(conf["min_probability"]), 6),
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
