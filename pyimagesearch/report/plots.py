"""Matplotlib figures written as PNG (no display needed)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from ..io.atomic import atomic_path


def _save(fig, path: str | os.PathLike) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)


def plot_pr_curves(curves: dict[str, dict], path: str | os.PathLike) -> None:
    """Precision/recall curves, one per named evaluation (label shows its AP)."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for name, c in curves.items():
        ax.plot(
            c["recall"], c["precision"], label=f"{name} (AP {c['ap']:.4f})", drawstyle="steps-post"
        )
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    ax.set_title("Precision / recall (IoU >= 0.5)")
    _save(fig, path)


def plot_rounds(history: list[dict], path: str | os.PathLike) -> None:
    """AP and false positives per image against the number of hard negatives used."""
    hn = [h["hard_negatives_total"] for h in history]
    fig, ax1 = plt.subplots(figsize=(6, 4))
    ax1.plot(hn, [h["average_precision"] for h in history], "o-", color="tab:blue")
    ax1.set_xlabel("hard negatives used for training")
    ax1.set_ylabel("average precision", color="tab:blue")
    ax2 = ax1.twinx()
    ax2.plot(hn, [h["false_positives_per_image"] for h in history], "s--", color="tab:red")
    ax2.set_ylabel("false positives per image", color="tab:red")
    for h, x in zip(history, hn):
        ax1.annotate(
            f"r{h['round']}",
            (x, h["average_precision"]),
            fontsize=8,
            textcoords="offset points",
            xytext=(3, 3),
        )
    aps = [h["average_precision"] for h in history]
    fppi = [h["false_positives_per_image"] for h in history]
    ax1.set_ylim(max(0.0, min(aps) - 0.05), 1.005)  # do not magnify tiny AP changes
    ax2.set_ylim(0, max(fppi) * 1.15 + 1e-3)
    ax1.grid(alpha=0.3)
    ax1.set_title("Effect of hard-negative mining rounds")
    _save(fig, path)


def plot_box_statistics(widths: np.ndarray, heights: np.ndarray, path: str | os.PathLike) -> None:
    """Histograms of box widths, heights and aspect ratios."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3))
    for ax, values, name in zip(
        axes,
        (widths, heights, widths / heights),
        ("width (px)", "height (px)", "aspect ratio (w/h)"),
    ):
        ax.hist(values, bins=20, color="tab:gray")
        ax.set_xlabel(name)
    axes[0].set_ylabel("boxes")
    _save(fig, path)


def plot_stress(results: dict, path: str | os.PathLike) -> None:
    """AP at IoU 0.5 and 0.7 per stress variant, as grouped bars."""
    names = list(results["variants"])
    ap50 = [results["variants"][n]["ap50"] for n in names]
    ap70 = [results["variants"][n]["ap70"] for n in names]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(5.5, 0.8 * len(names)), 4))
    ax.bar(x - 0.2, ap50, width=0.4, label="AP (IoU >= 0.5)")
    ax.bar(x + 0.2, ap70, width=0.4, label="AP (IoU >= 0.7)")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.axhline(0.97, color="grey", lw=0.8, ls="--")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower left")
    ax.set_title("Stress suite")
    _save(fig, path)
