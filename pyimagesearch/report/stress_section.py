"""The stress suite's part of the report: a table, a bar plot and the JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..io.atomic import write_text_atomic
from .plots import plot_stress

_BEGIN, _END = "<!-- stress suite -->", "<!-- /stress suite -->"


def stress_section(results: dict) -> list[str]:
    """Markdown lines of the stress table."""
    lines = [
        _BEGIN,
        "## Stress suite",
        "",
        "Variants derived (seeded) from the held-out images: rescaled, cut by the border, "
        "two objects side by side, and the whole set rotated by 90° (trained from scratch).",
        "",
        "| variant | AP (IoU ≥ 0.5) | AP (IoU ≥ 0.7) | mean IoU of true positives | objects |",
        "|---|---|---|---|---|",
    ]
    for name, v in results["variants"].items():
        lines.append(
            f"| `{name}` | {v['ap50']:.4f} | {v['ap70']:.4f} | {v['mean_iou']:.3f} | "
            f"{v['n_objects']} |"
        )
    lines += ["", "![stress suite](stress.png)", _END, ""]
    return lines


def write_stress_report(results: dict, report_dir: str | Path) -> Path:
    """Write ``stress.json``, ``stress.png`` and the table into ``report.md`` (replacing
    an earlier stress section; creating ``stress.md`` when there is no report yet)."""
    out = Path(report_dir)
    write_text_atomic(out / "stress.json", json.dumps(results, indent=1))
    plot_stress(results, out / "stress.png")
    section = "\n".join(stress_section(results))
    report = out / "report.md"
    if not report.is_file():
        return write_text_atomic(out / "stress.md", section)
    text = report.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(_BEGIN) + r".*?" + re.escape(_END) + r"\n?", re.S)
    text = pattern.sub("", text).rstrip("\n") + "\n\n" + section
    return write_text_atomic(report, text)
