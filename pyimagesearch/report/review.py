"""Review what a mining round stored: a contact sheet, suspects, counts per category.

Mined "negatives" are where labelling mistakes hide: a window scored far above the
threshold on a supposedly object-free image is often an unlabelled object (SceneClass13
street scenes contain cars). Those are listed as *suspects* so the user can exclude
the images or their categories and mine again. Confident windows on flat patches
(gray-level standard deviation below ``hn_suspect_min_contrast``) are counted apart:
they are artefacts of block normalisation, not objects.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..features.store import FeatureStore, hard_negative_group
from ..infrastructure.errors import ImageReadError
from ..io.atomic import write_text_atomic
from ..io.images import DEFAULT_MAX_PIXELS, category_of, read_gray
from ..io.remote import RemoteOptions, is_url
from ..io.safe_paths import is_inside
from ..sources.image_lists import is_remote_source, is_url_list, list_image_refs, ref_category

if TYPE_CHECKING:
    from ..infrastructure.config import Config
    from ..infrastructure.options import Options

log = logging.getLogger(__name__)

_COLUMNS = ("source", "box", "scale", "score", "probability")


@dataclass
class Review:
    round: int
    n_mined: int
    n_suspects: int
    n_flat: int
    per_category: dict[str, int]
    suspects_per_category: dict[str, int]
    sheet: Path
    suspects_csv: Path
    suspects_json: Path
    n_annotated: int = 0
    annotated_sheet: Path | None = None
    #: the windows drawn on the sheet (source, box, scale, probability), most confident first
    windows: list[dict] = field(default_factory=list)
    #: the suspect records written to ``suspects_json``
    suspects: list[dict] = field(default_factory=list)


def _store(options: Options) -> FeatureStore:
    return FeatureStore(options.paths.features_path, options.descriptor, options.window.window_dim)


def mined_rows(conf: Config, round_index: int, annotated: bool = False) -> dict[str, np.ndarray]:
    """The stored windows of a round (without features), most confident first.

    With ``annotated``, the windows mined on the annotated images
    (``hard_negatives/annotated_round_NNN``) instead of the distraction images.
    """
    group = (
        hard_negative_group(round_index, annotated=True)
        if annotated
        else hard_negative_group(round_index)
    )
    return _store(conf.options).read(group, _COLUMNS)


def annotated_sheet(
    conf: Config, round_index: int, out_dir: str | Path, top: int = 48
) -> tuple[int, Path | None]:
    """The contact sheet of the windows mined on the annotated images, when stored."""
    from .gallery import window_sheet

    options = conf.options
    if round_index not in _store(options).hard_negative_rounds(annotated=True):
        return 0, None
    rows = _inside_inputs(options, mined_rows(conf, round_index, annotated=True))
    if not len(rows["score"]):
        return 0, None
    path = Path(out_dir) / f"hard_negatives_annotated_round_{round_index:03d}.png"
    sheet = window_sheet(
        rows,
        path,
        limit=top,
        max_pixels=options.execution.max_image_pixels,
        window_dim=options.window.window_dim,
        remote=options.remote,
    )
    return len(rows["score"]), sheet


def review_round(
    conf: Config, round_index: int, out_dir: str | Path, top: int = 48, annotated: bool = False
) -> Review:
    """Write the contact sheet of the ``top`` windows and the suspect list of a round.

    With ``annotated``, review the windows mined on the annotated images instead; else
    their sheet is written too (``hard_negatives_annotated_round_NNN.png``) when stored.
    """
    from .gallery import window_sheet

    out, options = Path(out_dir), conf.options
    rows = _inside_inputs(options, mined_rows(conf, round_index, annotated))
    root = options.paths.image_distractions
    categories = np.array([_category(s, root) for s in rows["source"]], dtype=object)
    confident = rows["probability"] >= options.review.suspect_probability
    max_pixels, remote = options.execution.max_image_pixels, options.remote
    contrast = window_contrast(rows, np.flatnonzero(confident), max_pixels, remote)
    # a confident window on a flat patch (e.g. a white wall, where L1 block
    # normalisation blows JPEG noise up into strong histograms) is not an object
    flat = confident & (contrast < options.review.suspect_min_contrast)
    suspect = confident & ~flat
    kind = "annotated_" if annotated else ""
    sheet_path = out / f"hard_negatives_{kind}round_{round_index:03d}.png"
    sheet = window_sheet(
        rows,
        sheet_path,
        limit=top,
        max_pixels=max_pixels,
        window_dim=options.window.window_dim,
        remote=remote,
    )
    csv_path = out / f"suspects_{kind}round_{round_index:03d}.csv"
    json_path = out / f"suspects_{kind}round_{round_index:03d}.json"
    suspects = _write_suspects(rows, categories, contrast, suspect, csv_path, json_path)
    n_annotated, other = (0, None) if annotated else annotated_sheet(conf, round_index, out, top)
    return Review(
        round=round_index,
        n_mined=len(rows["score"]),
        n_suspects=int(suspect.sum()),
        n_flat=int(flat.sum()),
        per_category=dict(sorted(Counter(categories.tolist()).items())),
        suspects_per_category=dict(sorted(Counter(categories[suspect].tolist()).items())),
        sheet=sheet,
        suspects_csv=csv_path,
        suspects_json=json_path,
        n_annotated=n_annotated,
        annotated_sheet=other,
        windows=_records(rows, range(min(top, len(rows["score"])))),
        suspects=suspects,
    )


def _inside_inputs(options: Options, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The rows whose source image lies in ``image_distractions`` or ``image_dataset``.

    A store from elsewhere must not make the review read (and draw into its sheet)
    images outside the folders the config names; such rows are left out with a warning.
    Remote images (URLs) count when they are below a URL prefix the config names, or in
    the URL list it names.
    """
    roots = [options.paths.image_distractions, options.paths.image_dataset]
    local = [Path(r) for r in roots if not is_remote_source(r)]
    prefixes = tuple(str(r) for r in roots if is_url(r))
    listed = {ref for r in roots if is_url_list(r) for ref in list_image_refs(r) if is_url(ref)}

    def inside(source: str) -> bool:
        if is_url(source):
            return source.startswith(prefixes) or source in listed
        return any(is_inside(source, r) for r in local)

    keep = np.array([inside(str(s)) for s in rows["source"]], bool)
    if not keep.all():
        first = rows["source"][int(np.flatnonzero(~keep)[0])]
        log.warning(
            "%s: %d mined window(s) left out of the review: their source (first: %s) is "
            "outside image_distractions and image_dataset",
            options.paths.features_path,
            int((~keep).sum()),
            first,
        )
    return {k: v[keep] for k, v in rows.items()}


def window_contrast(
    rows: dict,
    index: np.ndarray,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    remote: RemoteOptions | None = None,
) -> np.ndarray:
    """Standard deviation of the gray levels inside the given windows (NaN elsewhere)."""
    out = np.full(len(rows["score"]), np.nan)
    cache: dict[str, np.ndarray] = {}  # one image at a time; windows grouped by image
    for i in sorted(index, key=lambda i: str(rows["source"][i])):
        src = str(rows["source"][i])
        if src not in cache:
            try:
                cache = {src: read_gray(src, max_pixels, remote)}
            except ImageReadError:
                continue
        x1, y1, x2, y2 = (int(round(v)) for v in rows["box"][i])
        crop = cache[src][max(0, y1) : y2, max(0, x1) : x2]
        out[i] = float(crop.std()) if crop.size else np.nan
    return out


def _category(source: str, root: str) -> str:
    if is_url(source):
        return ref_category(source, root if is_url(root) else None)
    try:
        return category_of(source, Path(root))
    except ValueError:  # mined from a folder other than image_distractions
        return Path(source).parent.name


def _records(rows: dict[str, np.ndarray], index) -> list[dict]:
    """The windows ``index`` of ``rows`` as JSON-ready records."""
    return [
        {
            "source": str(rows["source"][i]),
            "box": [round(float(v), 1) for v in rows["box"][i]],
            "scale": round(float(rows["scale"][i]), 4),
            "probability": round(float(rows["probability"][i]), 6),
        }
        for i in index
    ]


def _write_suspects(
    rows, categories, contrast, suspect, csv_path: Path, json_path: Path
) -> list[dict]:
    records = [
        {
            "source": str(rows["source"][i]),
            "category": str(categories[i]),
            "box": [round(float(v), 1) for v in rows["box"][i]],
            "scale": round(float(rows["scale"][i]), 4),
            "probability": round(float(rows["probability"][i]), 6),
            "contrast": round(float(contrast[i]), 2),
        }
        for i in np.flatnonzero(suspect)
    ]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(
        ["source", "category", "x1", "y1", "x2", "y2", "scale", "probability", "contrast"]
    )
    for r in records:
        writer.writerow(
            [r["source"], r["category"], *r["box"], r["scale"], r["probability"], r["contrast"]]
        )
    write_text_atomic(csv_path, buf.getvalue())
    write_text_atomic(json_path, json.dumps(records, indent=1))
    return records
