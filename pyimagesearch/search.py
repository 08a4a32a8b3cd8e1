"""Choose the settings that decide accuracy on validation data, not by hand.

A validation share of the training images is held out; for each window size and ``C``
a model is trained (positives, random negatives, no mining) on the rest, and each
model is run at every pyramid step and upsampling; validation AP at IoU 0.5 (then
0.7, then the cheaper and nearer-to-the-config setting) picks the winner. The window
``explore_dims`` suggests is a starting point: how many cells an object spans
matters as much as its aspect, so smaller and larger windows of the same aspect are
tried too.
"""

from __future__ import annotations

import itertools
import logging
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .evaluation.evaluate import evaluate_items
from .features.extract import extract_features
from .io.remote import RemoteOptions
from .model.training import train_model
from .settings import SEARCHED
from .sources.annotations import read_annotations, split_train_test

if TYPE_CHECKING:
    from .config import Config

log = logging.getLogger(__name__)


@dataclass
class SearchResult:
    """Every setting tried with its validation figures, and the chosen one."""

    rows: list[dict] = field(default_factory=list)
    chosen: dict = field(default_factory=dict)
    n_fit_images: int = 0
    n_validation_images: int = 0
    validation_variants: list = field(default_factory=list)
    seconds: float = 0.0


def candidate_windows(conf: Config) -> list[tuple[int, int]]:
    """The config's window and windows of the same aspect with 3/4 and 4/3 of its cells."""
    ww, wh = conf["window_dim"]
    c_r, c_c = conf["pixels_per_cell"]
    # the smallest window: one grid position more than a HOG block (FHOG: a cell)
    b_r, b_c = conf["cells_per_block"] if conf["descriptor"] == "hog" else (1, 1)
    out = []
    for factor in conf["search_window_scales"]:
        w = max(c_c * (b_c + 1), int(round(ww * factor / c_c)) * c_c)
        h = max(c_r * (b_r + 1), int(round(wh * factor / c_r)) * c_r)
        if (w, h) not in out:
            out.append((w, h))
    return out


def candidate_settings(conf: Config) -> dict[str, list]:
    """The values tried for each searched key (the config's own value first)."""
    c = conf["C"]
    scales = [conf["pyramid_scale"]] + [
        s for s in conf["search_pyramid_scales"] if s != conf["pyramid_scale"]
    ]
    ups = [conf["upsample"]] + [u for u in conf["search_upsample"] if u != conf["upsample"]]
    return {
        "window_dim": candidate_windows(conf),
        "C": [c] + [c * f for f in conf["search_C_factors"] if f != 1],
        "pyramid_scale": scales,
        "upsample": ups,
    }


def search_settings(conf: Config, progress: bool = True, overwrite: bool = False) -> SearchResult:
    """Try the candidate settings on a validation share of the training images
    (``overwrite``: replace search files another config made in ``output_dir``)."""
    start = time.perf_counter()
    train, _ = split_train_test(read_annotations(conf), conf["percent_gt_images"], conf["seed"])
    fit, val = _validation_split(train, conf["search_validation_share"], conf["seed"])
    result = SearchResult(
        n_fit_images=len(fit),
        n_validation_images=len(val),
        validation_variants=list(conf["search_validation_variants"]),
    )
    val = validation_images(conf, val, Path(conf["output_dir"]) / "search" / "validation")
    grid = candidate_settings(conf)
    root = Path(conf["output_dir"]) / "search"
    for window in grid["window_dim"]:
        tag = f"{window[0]}x{window[1]}"
        wconf = conf.replace(
            window_dim=list(window),
            features_path=str(root / tag / "features.hdf5"),
            output_dir=str(root / tag),
        )
        extract_features(
            wconf, progress=progress, drop_mined=True, train_items=fit, overwrite=overwrite
        )
        for c in grid["C"]:
            cconf = wconf.replace(C=c, classifier_path=str(root / tag / f"C{c:g}.json"))
            try:
                model = train_model(cconf, overwrite=overwrite)
            except ValueError as exc:  # e.g. calibration failed: a setting that cannot work
                log.warning("search: window %s, C %g: %s", tag, c, exc)
                continue
            for scale, up in itertools.product(grid["pyramid_scale"], grid["upsample"]):
                dconf = cconf.replace(pyramid_scale=scale, upsample=up)
                figures = evaluate_items(dconf, model, val, progress=False)
                row = {
                    "window_dim": list(window),
                    "C": c,
                    "pyramid_scale": scale,
                    "upsample": up,
                    "ap50": round(figures["ap50"], 6),
                    "ap70": round(figures["ap70"], 6),
                    "mean_iou": round(figures["mean_iou"], 6),
                }
                result.rows.append(row)
                log.info("search: %s", row)
    if not result.rows:
        raise ValueError('the settings search trained no model; set "search": false')
    best = max(result.rows, key=lambda r: _preference(r, grid))
    result.chosen = {k: best[k] for k in SEARCHED}
    for row in result.rows:
        row["chosen"] = row is best
    result.seconds = time.perf_counter() - start
    log.info("search chose %s in %.1f s", result.chosen, result.seconds)
    return result


def validation_images(conf: Config, val: list, folder: Path) -> list:
    """The validation images as they are, plus the variants named in
    ``search_validation_variants``: settings must also find objects smaller than those
    of the training images (``scale_0.5``, pasted on a distraction scene) and objects
    cut by the border (``border``), not only objects like the training ones."""
    from .evaluation.stress import SceneFiles, derive_variant, load_samples, write_variant
    from .sources.distractions import split_distractions

    out = list(val)
    names = [v for v in conf["search_validation_variants"] if v != "original"]
    if not names:
        return out
    samples = load_samples(val, conf["max_image_pixels"])
    scenes = SceneFiles(
        split_distractions(conf).negatives,
        conf["max_image_pixels"],
        RemoteOptions.from_config(conf),
    )
    for name in names:
        rng = np.random.default_rng([conf["seed"], 2, zlib.crc32(name.encode())])
        out += write_variant(folder / name, derive_variant(name, samples, scenes, rng))
    return out


def _preference(row: dict, grid: dict) -> tuple:
    """Higher validation AP first, then tighter boxes, then the cheaper detector (no
    upsampling, coarser pyramid), then the setting nearest the config's."""
    return (
        round(row["ap50"], 3),
        round(row["ap70"], 3),
        -row["upsample"],
        row["pyramid_scale"],
        -grid["window_dim"].index(tuple(row["window_dim"])),
        -grid["C"].index(row["C"]),
    )


def _validation_split(items: list, share: float, seed: int) -> tuple[list, list]:
    """Seeded split of the training images into a fitting and a validation share."""
    order = np.random.default_rng([seed, 1]).permutation(len(items))
    n_val = min(max(1, int(round(len(items) * share))), len(items) - 2)
    if n_val < 1:
        raise ValueError(
            f"too few training images ({len(items)}) to hold out a validation share; "
            'set "search": false'
        )
    val = [items[i] for i in sorted(order[:n_val])]
    fit = [items[i] for i in sorted(order[n_val:])]
    return fit, val
