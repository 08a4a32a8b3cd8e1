"""The settings search's part of the report: the table of every setting tried."""

from __future__ import annotations

import json
from pathlib import Path

from ..io.atomic import write_text_atomic


def search_section(result: dict) -> list[str]:
    """Markdown lines: what was chosen, and every setting tried, best first."""
    chosen = result["chosen"]
    folds = result.get("n_folds", 1)
    held = (
        f"the training images were split into {folds} folds, each held out in turn"
        if folds > 1
        else f"{result['n_validation_images']} of the training images were held out"
    )
    looks = (
        "the objects fill their images (crops), so validation scenes were made by pasting "
        "the held-out objects at random sizes and places on distraction images"
        if result.get("crops")
        else f"evaluated as variants {', '.join(result.get('validation_variants', ['original']))}"
    )
    lines = [
        "## Settings chosen on validation data",
        "",
        f"{held[0].upper()}{held[1:]}; {looks}. A model was trained on the rest for each "
        "candidate (positives and random negatives, no mining: every `C` at the config's "
        "window, the other windows at the `C` within noise of the best, the leading window "
        "at every `C`) and "
        "run at each pyramid step and upsampling. The criterion is the mean of AP at IoU "
        "0.5 and 0.7 (localisation counts); among the settings within noise of the best "
        "(the standard error of their difference over bootstrap resamples of the validation "
        f"images, at least {result.get('tolerance', 0):.3f}: one object's worth), the "
        f"cheaper detector and the setting nearer the config won ({result['seconds']:.0f} s): "
        f"descriptor **{chosen.get('descriptor', 'hog')}** (cells "
        f"{chosen.get('pixels_per_cell', '')}), "
        f"window_dim **{chosen['window_dim']}**, C **{chosen['C']:g}**, pyramid_scale "
        f"**{chosen['pyramid_scale']:g}**, upsample **{chosen['upsample']}**. The model "
        "file records them; `load_detector`, `test_model.py`, `evaluate.py` and the other "
        'steps use them (set `"search": false` to use the config\'s own values).',
        "",
        *_rounds_lines(result),
        "| descriptor | window_dim | C | pyramid_scale | upsample | AP (IoU ≥ 0.5) | "
        "AP (IoU ≥ 0.7) | mean IoU | |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows = sorted(result["rows"], key=lambda r: -(r["ap50"] + r["ap70"]))
    for r in rows:
        mark = "**chosen**" if r.get("chosen") else ""
        lines.append(
            f"| {r.get('descriptor', 'hog')} | {r['window_dim']} | {r['C']:g} | "
            f"{r['pyramid_scale']:g} | {r['upsample']} | "
            f"{r['ap50']:.4f} | {r['ap70']:.4f} | {r['mean_iou']:.3f} | {mark} |"
        )
    return [*lines, ""]


def _rounds_lines(result: dict) -> list[str]:
    """How many mining rounds validation chose, and its figures after each."""
    rounds = result.get("rounds") or []
    if not rounds:
        return []
    best = result["chosen"].get("hn_rounds", rounds[-1]["round"])
    lines = [
        f"Mining rounds: **{best}**, chosen on the same validation images: a round is kept "
        "while the criterion stays within noise of its best so far (mining lowers false "
        "positives at the operating threshold, which AP barely shows; with `hn_min_ap_gain`, "
        "while each round gains that much), and mining stops at the first round that is "
        "not. The noise is the standard error of the round's difference to the best round, "
        "over bootstrap resamples of the validation images. The test set only reports.",
        "",
        "| round | hard negatives added | AP (IoU ≥ 0.5) | AP (IoU ≥ 0.7) | mean IoU | noise |",
        "|---|---|---|---|---|---|",
    ]
    for r in rounds:
        noise = f"{r['noise']:.4f}" if "noise" in r else "–"
        lines.append(
            f"| {r['round']} | {r.get('hard_negatives_added', 0)} | {r['ap50']:.4f} | "
            f"{r['ap70']:.4f} | {r['mean_iou']:.3f} | {noise} |"
        )
    return [*lines, ""]


def write_search_json(result: dict, report_dir: str | Path) -> Path:
    return write_text_atomic(Path(report_dir) / "search.json", json.dumps(result, indent=1))
