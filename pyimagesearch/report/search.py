"""The settings search's part of the report: the table of every setting tried."""

from __future__ import annotations

import json
from pathlib import Path

from ..io.atomic import write_text_atomic


def search_section(result: dict) -> list[str]:
    """Markdown lines: what was chosen, and every setting tried, best first."""
    chosen = result["chosen"]
    lines = [
        "## Settings chosen on validation data",
        "",
        f"{result['n_validation_images']} of the training images were held out and evaluated "
        f"as variants {', '.join(result.get('validation_variants', ['original']))}; a model "
        f"was trained on the other {result['n_fit_images']} for each window and `C` "
        "(positives and random negatives, no mining) and run at each pyramid step and "
        "upsampling. The "
        "highest validation AP (then AP at IoU 0.7, then the cheaper setting) won "
        f"({result['seconds']:.0f} s): window_dim **{chosen['window_dim']}**, C "
        f"**{chosen['C']:g}**, pyramid_scale **{chosen['pyramid_scale']:g}**, upsample "
        f"**{chosen['upsample']}**. The model file records them; `test_model.py`, "
        '`evaluate.py` and the other steps use them (set `"search": false` to use the '
        "config's own values).",
        "",
        "| window_dim | C | pyramid_scale | upsample | AP (IoU ≥ 0.5) | AP (IoU ≥ 0.7) | "
        "mean IoU | |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = sorted(result["rows"], key=lambda r: (-r["ap50"], -r["ap70"]))
    for r in rows:
        mark = "**chosen**" if r.get("chosen") else ""
        lines.append(
            f"| {r['window_dim']} | {r['C']:g} | {r['pyramid_scale']:g} | {r['upsample']} | "
            f"{r['ap50']:.4f} | {r['ap70']:.4f} | {r['mean_iou']:.3f} | {mark} |"
        )
    return [*lines, ""]


def write_search_json(result: dict, report_dir: str | Path) -> Path:
    return write_text_atomic(Path(report_dir) / "search.json", json.dumps(result, indent=1))
