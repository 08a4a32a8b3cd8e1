"""Open Images subsets: positive crops of some classes, or backgrounds free of them.

Classes are given by display name (``Car``) and resolved through
``class-descriptions-boxable.csv``; ``bbox_labels_600_hierarchy.json`` expands a class
to its descendants (only ``Subcategory`` edges; ``Part`` edges such as Person ->
Human body are not "kinds of"). Boxes come from a bbox CSV (coordinates normalised
0..1), image URLs from an image CSV (``ImageID`` plus ``OriginalURL``, ``url`` or
``image_url``; ``OriginalSize``/``OriginalMD5`` are checked when present).

Flickr answers a deleted photo with a small "photo unavailable" image instead of an
error. A downloaded file is discarded (and reported as failed) when
:func:`placeholder_reason` finds that it does not decode, is tiny (shorter side
< 32 px), is a single flat colour, has a sha256 in :data:`PLACEHOLDER_SHA256`, or has
a known placeholder size (:data:`PLACEHOLDER_SIZES`) *and* is nearly flat (at least
80 % of its pixels within 8 grey levels of the median).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..evaluation.oid_metric import BOX_CORNERS
from ..infrastructure.errors import AnnotationError, ImageReadError, did_you_mean
from ..infrastructure.numbers import quote, read_box, read_number
from ..io.atomic import write_bytes_atomic, write_text_atomic
from ..io.data_files import open_regular, read_json
from ..io.images import DEFAULT_MAX_PIXELS, read_image, to_gray_uint8
from ..io.remote import (  # noqa: F401  (the placeholder check is shared with remote reads)
    FLAT_FRACTION,
    FLAT_TOLERANCE,
    MIN_SIDE,
    PLACEHOLDER_SHA256,
    PLACEHOLDER_SIZES,
    placeholder_reason,
)
from ..io.safe_paths import safe_child, safe_id
from .download import (
    DownloadError,
    DownloadOptions,
    DownloadSummary,
    DownloadTask,
    download_files,
    file_digests,
    finish_image_folder,
    md5_b64_to_hex,
    read_manifest,
    recorded_checks,
    stale_lines,
)

log = logging.getLogger(__name__)

ROOT_LABEL = "/m/0bl9f"  # "Entity", the root of the hierarchy
MANIFEST_NAME = "manifest.csv"
URL_COLUMNS = ("OriginalURL", "url", "image_url")
BBOX_COLUMNS = ("ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax")


class OpenImagesError(AnnotationError):
    """A class name, CSV or hierarchy file that cannot be used."""


class PlaceholderError(ImageReadError):
    """A downloaded file that is a placeholder for a deleted photo, not a photo."""


@dataclass(frozen=True)
class OIBox:
    """One Open Images box (normalised coordinates) and its flags (1 yes, 0 no, -1 unknown)."""

    label: str
    xmin: float
    xmax: float
    ymin: float
    ymax: float
    occluded: int = -1
    truncated: int = -1
    group_of: int = -1
    depiction: int = -1
    inside: int = -1


@dataclass(frozen=True)
class ImageSource:
    """Where one image is fetched from, and what the CSV promises about it."""

    url: str
    size: int | None = None
    md5: str | None = None
    rotation: float = 0.0


@dataclass(frozen=True)
class OpenImagesFiles:
    """The Open Images metadata a subset is selected from.

    ``bbox_csv``: boxes (normalised coordinates); ``images_csv``: ImageID and URL;
    ``class_descriptions``: ``class-descriptions-boxable.csv``; ``hierarchy``:
    ``bbox_labels_600_hierarchy.json`` (needed for backgrounds and descendants).
    """

    bbox_csv: str | os.PathLike
    images_csv: str | os.PathLike
    class_descriptions: str | os.PathLike
    hierarchy: str | os.PathLike | None = None
    #: human-verified image-level labels; with it, ``positives`` also writes
    #: ``image-labels.csv`` for the Open Images evaluation protocol
    image_labels_csv: str | os.PathLike | None = None


@dataclass(frozen=True)
class SubsetSpec:
    """What an Open Images subset holds: classes, mode, box filters, how many images.

    ``mode`` is ``positives`` (crops of the classes) or ``backgrounds`` (images with none
    of them); ``descendants`` adds the classes' subcategories to positives;
    ``look_alikes`` also excludes the classes' siblings from backgrounds; ``drop_*`` skip
    positive boxes flagged 1; ``min_box_size`` skips smaller crops (pixels per side);
    ``num``/``seed`` limit the images; ``prune`` deletes images of an earlier background
    run that this selection does not hold; ``extra_placeholder_sha256`` adds known
    placeholder files to discard.
    """

    classes: Sequence[str]
    mode: str = "positives"
    descendants: bool = False
    look_alikes: bool = True
    drop_group_of: bool = False
    drop_depiction: bool = False
    drop_truncated: bool = False
    drop_occluded: bool = False
    min_box_size: int = 16
    num: int | None = None
    seed: int | None = None
    prune: bool = False
    extra_placeholder_sha256: Sequence[str] = ()

    def __post_init__(self) -> None:  # tuples: a spec is a value, not a view of a list
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "extra_placeholder_sha256", tuple(self.extra_placeholder_sha256))


@dataclass
class SubsetReport:
    """What an Open Images subset run selected, fetched and wrote."""

    mode: str
    out_dir: Path
    labels: dict[str, str]
    selected: list[str]
    summary: DownloadSummary
    crops: int = 0
    boxes_dropped: dict[str, int] = field(default_factory=dict)
    missing_urls: int = 0
    notes: list[str] = field(default_factory=list)
    stale: list[Path] = field(default_factory=list)
    pruned: int = 0

    def format(self) -> str:
        """Several lines for the command line."""
        lines = [
            f"mode: {self.mode}; classes: {', '.join(sorted(self.labels.values()))}",
            f"images selected: {len(self.selected)} (no URL for {self.missing_urls})",
            self.summary.format(),
        ]
        if self.mode == "positives":
            dropped = ", ".join(f"{k} {v}" for k, v in sorted(self.boxes_dropped.items()) if v)
            suffix = f" (dropped: {dropped})" if dropped else ""
            lines.append(f"crops written: {self.crops}{suffix}")
        lines.extend(f"note: {note}" for note in self.notes)
        lines.extend(stale_lines(self.stale, self.pruned, self.out_dir))
        lines.append(f"output: {self.out_dir}")
        return "\n".join(lines)


# ---- classes and hierarchy -------------------------------------------------------


def _open_csv(path: Path):
    """A CSV opened for reading (a FIFO or a folder refused, never blocking)."""
    return open_regular(path, OpenImagesError, "CSV", "r", newline="", encoding="utf-8")


def read_class_descriptions(path: str | os.PathLike) -> dict[str, str]:
    """``LabelName -> DisplayName`` from ``class-descriptions-boxable.csv`` (no header)."""
    path = Path(path)
    try:
        with _open_csv(path) as fh:
            rows = [row for row in csv.reader(fh) if row]
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise OpenImagesError(f"{path}: cannot read class descriptions ({exc})") from None
    if not rows or any(len(row) < 2 or not row[0].startswith("/m/") for row in rows[:5]):
        raise OpenImagesError(f"{path}: expected rows 'LabelName,DisplayName' (no header)")
    return {row[0]: row[1] for row in rows}


def resolve_classes(names: Iterable[str], descriptions: dict[str, str]) -> dict[str, str]:
    """``LabelName -> DisplayName`` for display names (case-insensitive) or /m/ ids."""
    by_lower = {name.lower(): mid for mid, name in descriptions.items()}
    out: dict[str, str] = {}
    for name in names:
        mid = name if name in descriptions else by_lower.get(name.strip().lower())
        if mid is None:
            hint = did_you_mean(name, sorted(descriptions.values()), n=5)
            raise OpenImagesError(
                f"unknown Open Images class '{name}'{hint} (see class-descriptions-boxable.csv)"
            )
        out[mid] = descriptions[mid]
    if not out:
        raise OpenImagesError("name at least one Open Images class")
    return out


def read_hierarchy(path: str | os.PathLike) -> dict[str, set[str]]:
    """``LabelName -> direct subcategories`` from ``bbox_labels_600_hierarchy.json``."""
    path = Path(path)
    root = read_json(path, OpenImagesError, "label hierarchy")
    if not isinstance(root, dict) or "LabelName" not in root:
        raise OpenImagesError(f"{path}: not a label hierarchy (no top-level 'LabelName')")
    children: dict[str, set[str]] = defaultdict(set)
    stack = [root]
    try:
        while stack:
            node = stack.pop()
            for sub in node.get("Subcategory", []):
                children[node["LabelName"]].add(sub["LabelName"])
                stack.append(sub)
            stack.extend(node.get("Part", []))  # parts are walked for their own subcategories
    except (AttributeError, KeyError, TypeError) as exc:
        raise OpenImagesError(
            f"{path}: not a label hierarchy (a node is malformed: {exc!r})"
        ) from None
    return dict(children)


def expand_descendants(labels: Iterable[str], children: dict[str, set[str]]) -> set[str]:
    """The labels plus all their descendants (subcategories, recursively)."""
    out: set[str] = set()
    stack = list(labels)
    while stack:
        label = stack.pop()
        if label not in out:
            out.add(label)
            stack.extend(children.get(label, ()))
    return out


def related_not_excluded(
    labels: Iterable[str], excluded: set[str], children: dict[str, set[str]]
) -> set[str]:
    """Siblings of the labels (same parent, below the root) that the exclusion leaves in."""
    parents: dict[str, set[str]] = defaultdict(set)
    for parent, subs in children.items():
        for sub in subs:
            parents[sub].add(parent)
    out: set[str] = set()
    for label in labels:
        for parent in parents.get(label, ()):
            if parent != ROOT_LABEL:
                out |= children.get(parent, set()) - excluded
    return out


# ---- CSVs --------------------------------------------------------------------------


def _flag(row: dict[str, str], column: str, where: str) -> int:
    """A box flag column: 1 yes, 0 no, -1 (or empty, or no such column) unknown."""
    value = row.get(column)
    if value is None or not value.strip():
        return -1
    return int(read_number(value, where, f"column '{column}'", -1, 1, True, OpenImagesError))


def _oi_box(row: dict[str, str], where: str) -> list[float]:
    """``XMin, XMax, YMin, YMax`` of a bbox CSV row: normalised (0..1), not inverted."""
    x1, y1, x2, y2 = read_box(row, BOX_CORNERS, where, 0.0, 1.0, OpenImagesError, "column '{}'")
    return [x1, x2, y1, y2]


def read_bbox_csv(
    path: str | os.PathLike, labels: set[str]
) -> tuple[set[str], dict[str, list[OIBox]]]:
    """All image ids in a bbox CSV, and the boxes whose label is in ``labels`` per image."""
    path = Path(path)
    ids: set[str] = set()
    boxes: dict[str, list[OIBox]] = defaultdict(list)
    try:
        with _open_csv(path) as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in BBOX_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise OpenImagesError(f"{path}: bbox CSV lacks column(s) {', '.join(missing)}")
            for line, row in enumerate(reader, start=2):
                if row["ImageID"] not in ids:
                    ids.add(safe_id(row["ImageID"], what=f"{path}:{line}: ImageID"))
                if row["LabelName"] not in labels:
                    continue
                where = f"{path}:{line}"
                boxes[row["ImageID"]].append(
                    OIBox(
                        row["LabelName"],
                        *_oi_box(row, where),
                        occluded=_flag(row, "IsOccluded", where),
                        truncated=_flag(row, "IsTruncated", where),
                        group_of=_flag(row, "IsGroupOf", where),
                        depiction=_flag(row, "IsDepiction", where),
                        inside=_flag(row, "IsInside", where),
                    )
                )
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise OpenImagesError(f"{path}: cannot read bbox CSV ({exc})") from None
    return ids, dict(boxes)


def read_image_sources(
    path: str | os.PathLike, wanted: set[str] | None = None
) -> dict[str, ImageSource]:
    """``ImageID -> ImageSource`` from an image CSV (OriginalURL, url or image_url column)."""
    path = Path(path)
    out: dict[str, ImageSource] = {}
    try:
        with _open_csv(path) as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            url_col = next((c for c in URL_COLUMNS if c in fields), None)
            if "ImageID" not in fields or url_col is None:
                raise OpenImagesError(
                    f"{path}: image CSV needs columns ImageID and one of {', '.join(URL_COLUMNS)}"
                )
            for line, row in enumerate(reader, start=2):
                image_id = row["ImageID"]
                if (wanted is not None and image_id not in wanted) or not row.get(url_col):
                    continue
                safe_id(image_id, what=f"{path}:{line}: ImageID")
                try:
                    out[image_id] = _image_source(row, url_col, f"{path}:{line}")
                except OpenImagesError as exc:  # one image lost, not the whole table
                    log.warning("%s; image skipped", exc)
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise OpenImagesError(f"{path}: cannot read image CSV ({exc})") from None
    return out


def _image_source(row: dict[str, str], url_col: str, where: str) -> ImageSource:
    """The :class:`ImageSource` of an image CSV row; a size or rotation that is given
    must be a number (a rotation read wrongly would misplace every box)."""
    size = row.get("OriginalSize") or ""
    rotation = row.get("Rotation") or ""
    return ImageSource(
        row[url_col],
        int(read_number(size, where, "column 'OriginalSize'", 0, None, True, OpenImagesError))
        if size.strip()
        else None,
        md5_b64_to_hex(row.get("OriginalMD5") or ""),
        read_number(rotation, where, "column 'Rotation'", error=OpenImagesError)
        if rotation.strip()
        else 0.0,
    )


# ---- placeholders ------------------------------------------------------------------


def make_placeholder_verifier(
    extra_sha256: Iterable[str] = (), max_pixels: int = DEFAULT_MAX_PIXELS
) -> Callable[[Path], tuple[int, int]]:
    """A download verifier that decodes the file and rejects placeholders."""
    extra = frozenset(s.lower() for s in extra_sha256)

    def verify(path: Path) -> tuple[int, int]:
        image = read_image(path, max_pixels)
        sha = file_digests(path)[1] if (PLACEHOLDER_SHA256 or extra) else ""
        reason = placeholder_reason(image, sha, extra)
        if reason:
            raise PlaceholderError(f"{path}: discarded as a deleted-photo placeholder: {reason}")
        return int(image.shape[1]), int(image.shape[0])

    return verify


# ---- selection and the whole command ----------------------------------------------


def filter_boxes(
    boxes: Sequence[OIBox],
    drop_group_of: bool = False,
    drop_depiction: bool = False,
    drop_truncated: bool = False,
    drop_occluded: bool = False,
) -> tuple[list[OIBox], dict[str, int]]:
    """Boxes left after dropping those flagged 1 in the chosen flags, and the drop counts."""
    rules = [
        ("group-of", drop_group_of, "group_of"),
        ("depiction", drop_depiction, "depiction"),
        ("truncated", drop_truncated, "truncated"),
        ("occluded", drop_occluded, "occluded"),
    ]
    kept, dropped = [], dict.fromkeys((r[0] for r in rules), 0)
    for box in boxes:
        hit = next((name for name, on, attr in rules if on and getattr(box, attr) == 1), None)
        if hit:
            dropped[hit] += 1
        else:
            kept.append(box)
    return kept, dropped


def _limit(ids: list[str], num: int | None, seed: int | None) -> list[str]:
    """First ``num`` ids (sorted), or a seeded sample of ``num`` returned sorted."""
    ids = sorted(ids)
    if num is None or len(ids) <= num:
        return ids
    if seed is None:
        return ids[:num]
    picks = np.random.default_rng(seed).choice(len(ids), num, replace=False)
    return sorted(ids[i] for i in picks)


def build_subset(
    spec: SubsetSpec,
    files: OpenImagesFiles,
    out_dir: str | os.PathLike,
    options: DownloadOptions | None = None,
) -> SubsetReport:
    """Fetch an Open Images subset: positive crops, or background images without the classes.

    ``spec`` says what to select, ``files`` where the metadata are, ``options`` how to
    download. ``positives``: images with a kept box of the classes (plus descendants when
    ``descendants``) go to ``out/images``; each kept box of at least ``min_box_size``
    pixels per side is cropped to ``out/crops/<ImageID>_<k>.jpg`` (a folder for
    ``annotation_format: "crops"``). ``backgrounds``: images of the bbox CSV with no box
    of the classes or of any descendant go to ``out/images`` with an empty
    ``out/labels/<ImageID>.txt`` each (a folder for ``image_distractions``); images of an
    earlier run that this selection does not hold are reported, or deleted with ``prune``.
    With ``look_alikes`` (the default for backgrounds), the classes' siblings in the
    hierarchy and their descendants are excluded too: a background for a ``Car``
    detector should hold no ``Taxi`` (a sibling of ``Car`` under ``Land vehicle``).

    ``positives`` also writes what the Open Images evaluation protocol needs
    (:mod:`pyimagesearch.evaluation.oid_metric`): ``boxes.csv`` (the bbox CSV rows of
    the kept images for the classes and their descendants, group-of and all, whatever
    the ``drop_*`` options), ``classes.csv`` (the classes asked for) and, with
    ``image_labels_csv`` (the human-verified image-level labels CSV), ``image-labels.csv``
    (its rows for the classes, their descendants and their ancestors);
    images whose image-level labels verify a class (present or absent) are then selected
    too, with or without boxes.
    """
    options = options or DownloadOptions()
    _check_spec(spec)
    classes = _classes(spec, files)
    positives = spec.mode == "positives"
    wanted = classes.wanted
    # positives also read the family's boxes: the evaluation protocol's files keep them
    read = wanted | classes.family if positives else wanted
    all_ids, eval_boxes = read_bbox_csv(files.bbox_csv, read)
    boxes = {i: b for i, bs in eval_boxes.items() if (b := [x for x in bs if x.label in wanted])}
    verified = _verified_labels(files, classes) if positives else {}
    if positives:
        kept_boxes, dropped = _kept_boxes(spec, boxes, verified, wanted)
        candidates = list(kept_boxes)
    else:
        kept_boxes, dropped = {}, {}
        candidates = _background_candidates(all_ids, boxes, classes)
    sources, selected, n_missing = _select(spec, files, candidates, classes.notes)
    out = Path(out_dir)
    summary, previous = _download(spec, files, sources, selected, out, options)
    stale, pruned = finish_image_folder(
        out, summary, previous, lambda res: res.task.key, labels=not positives, prune=spec.prune
    )
    report = SubsetReport(
        spec.mode, out, classes.labels, selected, summary, 0, dropped, n_missing, classes.notes
    )
    if positives:
        _write_positives(report, spec, files, classes, kept_boxes, eval_boxes, verified, options)
    else:
        report.stale, report.pruned = stale, pruned
    return report


@dataclass
class _Classes:
    """The classes a subset is about: asked for, with their family and look-alikes."""

    #: ``LabelName -> DisplayName`` of every boxable class
    names: dict[str, str]
    #: the classes asked for (``LabelName -> DisplayName``)
    labels: dict[str, str]
    #: the label hierarchy (``LabelName -> direct subcategories``; empty without the file)
    children: dict[str, set[str]]
    #: the classes asked for and their descendants
    family: set[str]
    #: the classes whose boxes count (positives) or exclude an image (backgrounds)
    wanted: set[str]
    #: what the report says about the selection
    notes: list[str]


def _check_spec(spec: SubsetSpec) -> None:
    """Refuse a mode or a count that makes no sense, before reading anything."""
    if spec.mode not in ("positives", "backgrounds"):
        raise OpenImagesError(f"mode must be 'positives' or 'backgrounds' (got '{spec.mode}')")
    if spec.num is not None and spec.num < 1:
        raise OpenImagesError(f"num must be >= 1 (got {spec.num})")


def _classes(spec: SubsetSpec, files: OpenImagesFiles) -> _Classes:
    """The classes asked for, expanded by the hierarchy as the mode wants."""
    names = read_class_descriptions(files.class_descriptions)
    labels = resolve_classes(spec.classes, names)
    expand = spec.mode == "backgrounds" or spec.descendants
    if expand and files.hierarchy is None:
        raise OpenImagesError("the label hierarchy file is needed to expand descendants")
    children = read_hierarchy(files.hierarchy) if files.hierarchy is not None else {}
    family = expand_descendants(labels, children)  # the labels and their descendants
    wanted = set(family) if expand else set(labels)
    notes = []
    if spec.mode == "backgrounds" and spec.look_alikes:
        related = related_not_excluded(labels, wanted, children)
        if related:
            wanted |= expand_descendants(related, children)
            notes.append(
                "look-alikes excluded too (siblings in the hierarchy and their descendants; "
                "--no-look-alikes keeps them): "
                + ", ".join(sorted(names.get(m, m) for m in related))
            )
    if expand and family != set(labels):
        extra = sorted(names.get(m, m) for m in family - set(labels))
        notes.append(f"descendants included: {', '.join(extra)}")
    return _Classes(names, labels, children, family, wanted, notes)


def _verified_labels(files: OpenImagesFiles, classes: _Classes) -> dict:
    """The image-level label rows the protocol can use: the family and its ancestors
    (none without ``image_labels_csv``)."""
    if not files.image_labels_csv:
        return {}
    children, labels = classes.children, classes.labels
    above = {p for p, subs in children.items() for s in subs if s in labels} - {ROOT_LABEL}
    while more := {p for p, subs in children.items() if subs & above} - above - {ROOT_LABEL}:
        above |= more
    return read_image_labels(files.image_labels_csv, classes.wanted | classes.family | above)


def _kept_boxes(
    spec: SubsetSpec, boxes: dict, verified: dict, wanted: set[str]
) -> tuple[dict[str, list[OIBox]], dict[str, int]]:
    """The positives: images with a box left by the ``drop_*`` flags (or verified by an
    image-level label), and how many boxes each flag dropped."""
    dropped: dict[str, int] = {}
    kept_boxes = {i: [] for i, rows in verified.items() if any(r[1] in wanted for r in rows)}
    for image_id, image_boxes in boxes.items():
        kept, counts = filter_boxes(
            image_boxes,
            spec.drop_group_of,
            spec.drop_depiction,
            spec.drop_truncated,
            spec.drop_occluded,
        )
        for key, value in counts.items():
            dropped[key] = dropped.get(key, 0) + value
        if kept:
            kept_boxes[image_id] = kept
    return kept_boxes, dropped


def _background_candidates(all_ids: set[str], boxes: dict, classes: _Classes) -> list[str]:
    """The backgrounds: images with no box of the wanted classes (noting related classes
    that are not excluded)."""
    siblings = related_not_excluded(classes.labels, classes.wanted, classes.children)
    if siblings:
        classes.notes.append(
            "related classes NOT excluded (siblings in the hierarchy; name them too if "
            "they look like your object): "
            + ", ".join(sorted(classes.names.get(m, m) for m in siblings))
        )
    return list(all_ids - set(boxes))


def _select(
    spec: SubsetSpec, files: OpenImagesFiles, candidates: list[str], notes: list[str]
) -> tuple[dict[str, ImageSource], list[str], int]:
    """The images to fetch (with a URL; positives without a Rotation), at most ``num``;
    their sources, and how many candidates had no URL."""
    sources = read_image_sources(files.images_csv, set(candidates))
    missing = [i for i in candidates if i not in sources]
    if missing:
        log.warning("%d selected image(s) have no URL in %s", len(missing), files.images_csv)
    if spec.mode == "positives":
        rotated = {i for i in candidates if i in sources and sources[i].rotation % 360}
        if rotated:
            notes.append(f"{len(rotated)} image(s) with a Rotation skipped (boxes may not fit)")
        candidates = [i for i in candidates if i not in rotated]
    selected = _limit([i for i in candidates if i in sources], spec.num, spec.seed)
    return sources, selected, len(missing)


def _download(
    spec: SubsetSpec,
    files: OpenImagesFiles,
    sources: dict[str, ImageSource],
    selected: list[str],
    out: Path,
    options: DownloadOptions,
):
    """Fetch the selected images into ``out/images`` (checks recorded by an earlier run
    reused); the download summary and that run's manifest."""
    img_dir = out / "images"
    previous = read_manifest(out / MANIFEST_NAME)
    tasks = []
    for image_id in selected:
        src = sources[image_id]
        dest = safe_child(img_dir, f"{image_id}.jpg", what=f"{files.images_csv}: ImageID")
        checks = recorded_checks(previous.get(dest.name))
        tasks.append(DownloadTask(image_id, src.url, dest, size=src.size, md5=src.md5, **checks))
    summary = download_files(
        tasks,
        options,
        verify=make_placeholder_verifier(spec.extra_placeholder_sha256, options.max_image_pixels),
        desc=f"Open Images {spec.mode}",
        root=out,
    )
    return summary, previous


def _write_positives(
    report: SubsetReport,
    spec: SubsetSpec,
    files: OpenImagesFiles,
    classes: _Classes,
    kept_boxes: dict,
    eval_boxes: dict,
    verified: dict,
    options: DownloadOptions,
) -> None:
    """The crops of the fetched positives and the evaluation protocol's files."""
    out, kept = report.out_dir, [r.task.key for r in report.summary.kept]
    report.crops, small = write_crops(
        out,
        {key: kept_boxes[key] for key in kept},
        spec.min_box_size,
        classes.names,
        options.max_image_pixels,
    )
    report.boxes_dropped["smaller than min_box_size"] = small
    write_evaluation_files(
        out, kept, eval_boxes, verified, classes.labels,
        with_image_labels=files.image_labels_csv is not None,
    )  # fmt: skip


IMAGE_LABEL_FIELDS = ("ImageID", "Source", "LabelName", "Confidence")
BBOX_FIELDS = (
    "ImageID", "Source", "LabelName", "Confidence", "XMin", "XMax", "YMin", "YMax",
    "IsOccluded", "IsTruncated", "IsGroupOf", "IsDepiction", "IsInside",
)  # fmt: skip


def read_image_labels(
    path: str | os.PathLike, keep: set[str] | None = None
) -> dict[str, list[tuple[str, str, str]]]:
    """``ImageID -> [(Source, LabelName, Confidence)]`` from an image-level labels CSV
    (only the rows whose label is in ``keep``, when given: the CSVs are large)."""
    path = Path(path)
    out: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    try:
        with _open_csv(path) as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in ("ImageID", "LabelName", "Confidence")
                       if c not in (reader.fieldnames or [])]  # fmt: skip
            if missing:
                raise OpenImagesError(f"{path}: image-level labels CSV lacks {', '.join(missing)}")
            for line, row in enumerate(reader, start=2):
                if keep is not None and row["LabelName"] not in keep:
                    continue
                if row["Confidence"] not in ("0", "1"):
                    raise OpenImagesError(
                        f"{path}:{line}: column 'Confidence': must be 0 or 1 "
                        f"(got {quote(row['Confidence'])})"
                    )
                image_id = safe_id(row["ImageID"], what=f"{path}:{line}: ImageID")
                out[image_id].append((row.get("Source") or "", row["LabelName"], row["Confidence"]))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise OpenImagesError(f"{path}: cannot read image-level labels CSV ({exc})") from None
    return dict(out)


def write_evaluation_files(
    out: Path,
    image_ids: Sequence[str],
    boxes: dict[str, list[OIBox]],
    verified: dict[str, list[tuple[str, str, str]]],
    labels: dict[str, str],
    with_image_labels: bool,
) -> None:
    """``boxes.csv``, ``classes.csv`` and (optionally) ``image-labels.csv`` of the kept images."""
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(BBOX_FIELDS)
    for image_id in sorted(image_ids):
        for b in boxes.get(image_id, []):
            coords = (b.xmin, b.xmax, b.ymin, b.ymax)
            flags = (b.occluded, b.truncated, b.group_of, b.depiction, b.inside)
            writer.writerow([image_id, "", b.label, 1, *coords, *flags])
    write_text_atomic(out / "boxes.csv", rows.getvalue())
    classes = io.StringIO()
    csv.writer(classes).writerows(sorted(labels.items()))
    write_text_atomic(out / "classes.csv", classes.getvalue())
    if with_image_labels:
        rows = io.StringIO()
        writer = csv.writer(rows)
        writer.writerow(IMAGE_LABEL_FIELDS)
        for image_id in sorted(image_ids):
            writer.writerows([image_id, *r] for r in verified.get(image_id, []))
        write_text_atomic(out / "image-labels.csv", rows.getvalue())


_CROP_NAME = re.compile(r"^.+_\d+\.jpg$")
CROP_INDEX_FIELDS = (
    "crop", "image_id", "label", "display_name", "x1", "y1", "x2", "y2",
    "group_of", "depiction", "truncated", "occluded",
)  # fmt: skip


def box_to_pixels(box: OIBox, width: int, height: int) -> tuple[int, int, int, int]:
    """A normalised box as integer ``x1, y1, x2, y2`` (x2/y2 exclusive), clipped to the image."""
    x1 = int(np.clip(np.floor(box.xmin * width + 0.5), 0, width))
    x2 = int(np.clip(np.floor(box.xmax * width + 0.5), 0, width))
    y1 = int(np.clip(np.floor(box.ymin * height + 0.5), 0, height))
    y2 = int(np.clip(np.floor(box.ymax * height + 0.5), 0, height))
    return x1, y1, x2, y2


def write_crops(
    out: Path,
    boxes: dict[str, list[OIBox]],
    min_box_size: int,
    names: dict[str, str],
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[int, int]:
    """Crop every box into ``out/crops`` (rewritten each run) and index them in crops.csv."""
    crop_dir = out / "crops"
    crop_dir.mkdir(parents=True, exist_ok=True)
    written: set[str] = set()
    index = io.StringIO()
    writer = csv.writer(index)
    writer.writerow(CROP_INDEX_FIELDS)
    small = 0
    for image_id in sorted(boxes):
        safe_id(image_id, what="crop of ImageID")
        try:
            path = safe_child(out / "images", f"{image_id}.jpg", what="ImageID")
            image = read_image(path, max_pixels)
        except ImageReadError as exc:
            log.warning("%s", exc)
            continue
        image = _to_bgr8(image)
        height, width = image.shape[:2]
        for k, box in enumerate(boxes[image_id]):
            box_px = box_to_pixels(box, width, height)
            x1, y1, x2, y2 = box_px
            if min(x2 - x1, y2 - y1) < max(min_box_size, 1):
                small += 1
                continue
            ok, data = cv2.imencode(".jpg", image[y1:y2, x1:x2], [cv2.IMWRITE_JPEG_QUALITY, 95])
            if not ok:
                raise DownloadError(f"{image_id}: cannot encode crop {k}")
            name = f"{image_id}_{k}.jpg"
            write_bytes_atomic(safe_child(crop_dir, name, what="crop"), data.tobytes())
            written.add(name)
            flags = (box.group_of, box.depiction, box.truncated, box.occluded)
            writer.writerow([name, image_id, box.label, names.get(box.label, ""), *box_px, *flags])
    for path in crop_dir.iterdir():  # crops of an earlier run with other options
        if path.is_file() and _CROP_NAME.match(path.name) and path.name not in written:
            path.unlink()
    write_text_atomic(out / "crops.csv", index.getvalue())
    return len(written), small


def _to_bgr8(image: np.ndarray) -> np.ndarray:
    """Any decoded image as 8-bit, 1 or 3 channels (what JPEG can store)."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = to_gray_uint8(image)
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image
