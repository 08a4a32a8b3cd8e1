"""Annotation readers for Pascal VOC XML, COCO JSON, YOLO txt, dlib XML and crop folders.

Each reader is registered under its ``annotation_format`` name and takes the typed
``AnnotationOptions`` (``conf.options.annotations``): ``images`` (``image_dataset``),
``annotations`` (``image_annotations``: a folder, or the JSON/XML file for
coco-json/dlib-xml) and ``class_name`` (``annotation_class``; None = every box). All boxes come out
as ``x1, y1, x2, y2`` in 0-based pixels with x2/y2 exclusive. An image whose
annotation has no box of the class is kept with no boxes (useful for mining) and
logged. Plain functions taking paths (``read_voc_xml`` ...) are there for reuse.
"""

from __future__ import annotations

import logging
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..infrastructure.errors import AnnotationError, ImageReadError, UnsafePathError, did_you_mean
from ..infrastructure.numbers import MAX_PIXEL_COORDINATE, read_box, read_number
from ..io.data_files import read_bytes, read_text
from ..io.images import header_size, list_images
from ..io.remote import RemoteOptions
from ..io.safe_paths import check_relative, is_inside, safe_child
from .annotated_image import AnnotatedImage
from .coco import load_coco, unknown_category

if TYPE_CHECKING:
    from ..infrastructure.options import AnnotationOptions

log = logging.getLogger(__name__)

#: The corners of a Pascal VOC ``<bndbox>``, 1-based and inclusive.
VOC_TAGS = ("xmin", "ymin", "xmax", "ymax")
#: The columns of a YOLO label line after the class id.
YOLO_FIELDS = ("cx", "cy", "w", "h")

#: Files that may name the YOLO classes, one per line, looked up next to the labels.
YOLO_NAME_FILES = ("classes.txt", "obj.names", "classes.names", "names", "names.txt")


def _empty() -> np.ndarray:
    return np.zeros((0, 4), np.float64)


def _boxes(rows: list[list[float]]) -> np.ndarray:
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4) if rows else _empty()


def image_size(path: str | os.PathLike, remote=None) -> tuple[int, int]:
    """``(width, height)`` from the image header only (no decode)."""
    try:
        return header_size(path, remote)
    except ImageReadError as exc:
        raise AnnotationError(f"cannot read the image size: {exc}") from None


def _log_empty(fmt: str, items: list[AnnotatedImage], cls: str | None) -> None:
    empty = [item for item in items if not len(item.boxes)]
    for item in empty:
        log.debug("%s: no box of class %r", item.path, cls)
    if empty:
        log.info(
            "%s: %d of %d image(s) have no box of class %r; kept with no boxes",
            fmt,
            len(empty),
            len(items),
            cls,
        )


def _parse_xml(path: Path) -> ET.Element:
    data = read_bytes(path, AnnotationError, "XML file")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise AnnotationError(f"{path}: not a readable XML file ({exc})") from None


# ---- Pascal VOC -------------------------------------------------------------------


def parse_voc_xml(path: str | os.PathLike) -> tuple[str, list[tuple[str, np.ndarray]]]:
    """``(<filename>, [(name, box)])`` of a VOC XML, boxes converted to 0-based exclusive."""
    path = Path(path)
    root = _parse_xml(path)
    if root.tag != "annotation":
        raise AnnotationError(f"{path}: not a Pascal VOC file (root <{root.tag}>)")
    filename = (root.findtext("filename") or "").strip()
    objects = []
    for k, obj in enumerate(root.iter("object"), start=1):
        name = (obj.findtext("name") or "").strip()
        where = f"{path}: <object> {k} ('{name}')"
        bnd = obj.find("bndbox")
        if bnd is None:
            raise AnnotationError(f"{where}: has no <bndbox>")
        values = {t: bnd.findtext(t) for t in VOC_TAGS}
        limit = MAX_PIXEL_COORDINATE
        xmin, ymin, xmax, ymax = read_box(values, VOC_TAGS, where, -limit, limit, label="<{}>")
        objects.append((name, np.array([xmin - 1, ymin - 1, xmax, ymax], np.float64)))
    return filename, objects


def read_voc_xml(path: str | os.PathLike, class_name: str | None) -> np.ndarray:
    """Boxes of ``class_name`` (all when None) in one VOC XML file."""
    _, objects = parse_voc_xml(path)
    return _boxes([box for name, box in objects if class_name is None or name == class_name])


def read_voc(options: AnnotationOptions) -> list[AnnotatedImage]:
    """One VOC XML per image in ``image_annotations``; the image is ``<filename>``."""
    ann_dir, img_dir = Path(options.annotations), Path(options.images)
    cls = options.class_name
    if not ann_dir.is_dir():
        raise AnnotationError(f"{ann_dir}: VOC annotation folder does not exist")
    items, seen = [], set()
    for xml in sorted(ann_dir.glob("*.xml")):
        filename, objects = parse_voc_xml(xml)
        image = safe_child(img_dir, filename or f"{xml.stem}.jpg", what=f"{xml}: <filename>")
        if not image.is_file():
            raise AnnotationError(f"{xml}: its image {image} does not exist")
        boxes = [box for name, box in objects if cls is None or name == cls]
        items.append(AnnotatedImage(image, _boxes(boxes)))
        seen.update(name for name, _ in objects)
    _check_class(ann_dir, cls, seen)
    _log_empty("voc-xml", items, cls)
    return items


def _check_class(where: Path, cls: str | None, seen: set[str]) -> None:
    """Stop when ``annotation_class`` names no object of the annotations (a misspelling)."""

    if cls is not None and seen and cls not in seen:
        raise AnnotationError(
            f"{where}: no object of class '{cls}' in the annotations{did_you_mean(cls, seen)}"
            f"; classes found: {', '.join(sorted(seen))}"
        )


# ---- COCO ---------------------------------------------------------------------------


def read_coco_json(path: str | os.PathLike, class_name: str | None) -> dict[str, np.ndarray]:
    """``file_name -> boxes`` of one category (all when None) for every image of a COCO JSON.

    Crowd annotations (``iscrowd=1``, one box around many objects) are left out.
    """
    coco = load_coco(path)
    try:
        cat_ids = coco.getCatIds()
        if class_name is not None:
            cat_ids = coco.getCatIds(catNms=[class_name])
            if not cat_ids:
                names = [c["name"] for c in coco.loadCats(coco.getCatIds())]
                raise unknown_category("category", class_name, names, path)
        out = {}
        for img_id in sorted(coco.getImgIds()):
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[img_id], catIds=cat_ids))
            rows = [_coco_box(path, a) for a in anns if not a.get("iscrowd")]
            name = coco.imgs[img_id].get("file_name")
            out[check_relative(name, what=f"{path}: image id {img_id}: file_name")] = _boxes(rows)
    except (UnsafePathError, AnnotationError):
        raise
    except (ValueError, KeyError, TypeError, AssertionError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"{path}: not a usable COCO annotation file ({exc!r})") from None
    return out


def _coco_box(path: str | os.PathLike, ann: dict) -> list[float]:
    """``[x1, y1, x2, y2]`` of one COCO annotation's ``bbox`` (``[x, y, width, height]``)."""
    where = f"{path}: annotation id {ann.get('id')}"
    bbox = ann.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise AnnotationError(f"{where}: 'bbox' must be [x, y, width, height], got {bbox!r:.60}")
    names, limit = ("x", "y", "width", "height"), MAX_PIXEL_COORDINATE
    x, y, w, h = (  # a negative width or height is an inverted box
        read_number(v, where, f"'bbox'[{i}] ({names[i]})", 0 if i > 1 else -limit, limit)
        for i, v in enumerate(bbox)
    )
    return [x, y, x + w, y + h]


def read_coco(options: AnnotationOptions) -> list[AnnotatedImage]:
    """Every image of the JSON found in ``image_dataset``; missing image files are skipped."""
    img_dir, cls = Path(options.images), options.class_name
    boxes = read_coco_json(options.annotations, cls)
    items, missing = [], 0
    for name, image_boxes in boxes.items():
        image = safe_child(img_dir, name, what=f"{options.annotations}: file_name")
        if image.is_file():
            items.append(AnnotatedImage(image, image_boxes))
        else:
            missing += 1
    if missing:
        log.warning(
            "%s: %d of %d image(s) of the JSON are not in %s; skipped",
            options.annotations,
            missing,
            len(boxes),
            img_dir,
        )
    _log_empty("coco-json", items, cls)
    return items


# ---- YOLO ---------------------------------------------------------------------------


def read_yolo_names(label_dir: str | os.PathLike) -> list[str] | None:
    """Class names from a classes.txt / *.names file next to (or above) the labels."""
    label_dir = Path(label_dir)
    for folder in (label_dir, label_dir.parent):
        for name in YOLO_NAME_FILES:
            path = folder / name
            if path.is_file():
                text = read_text(path, AnnotationError, "YOLO names file")
                return [ln.strip() for ln in text.splitlines() if ln.strip()]
    return None


def yolo_class_id(label_dir: str | os.PathLike, class_name: str | None) -> int | None:
    """The integer class of ``annotation_class``: an id as text, or a name in the names file."""
    if class_name is None:
        return None
    if re.fullmatch(r"\s*\d+\s*", class_name, re.ASCII):  # not str.isdigit: '²' is a digit
        return int(class_name)
    names = read_yolo_names(label_dir)
    if names is None:
        raise AnnotationError(
            f"{label_dir}: class '{class_name}' is a name but there is no "
            f"{' / '.join(YOLO_NAME_FILES)} file to resolve it (or give the integer id)"
        )
    if class_name not in names:
        raise AnnotationError(
            f"{label_dir}: no class '{class_name}' in the names file"
            f"{did_you_mean(class_name, names, n=3)}"
        )
    return names.index(class_name)


def read_yolo_txt(
    path: str | os.PathLike,
    class_id: int | None,
    width: int,
    height: int,
    n_classes: int | None = None,
) -> np.ndarray:
    """Boxes of ``class_id`` (all when None) in a YOLO label file, as pixels; with
    ``n_classes`` (the names file's length) a class id beyond the names is refused."""
    path = Path(path)
    rows = []
    lines = read_text(path, AnnotationError, "YOLO label file").splitlines()
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) not in (5, 6):  # 6: a trailing confidence, as detectors write
            raise AnnotationError(
                f"{path}:{number}: expected 'class cx cy w h', got {len(parts)} values"
            )
        cls, cx, cy, w, h = _yolo_values(f"{path}:{number}", parts[:5])
        if n_classes is not None and cls >= n_classes:
            raise AnnotationError(
                f"{path}:{number}: column 1 (class): {cls} is not a class of the names "
                f"file ({n_classes} names: ids 0 to {n_classes - 1})"
            )
        if class_id is None or cls == class_id:
            rows.append(
                [(cx - w / 2) * width, (cy - h / 2) * height,
                 (cx + w / 2) * width, (cy + h / 2) * height]
            )  # fmt: skip
    return _boxes(rows)


def _yolo_values(where: str, parts: list[str]) -> tuple[int, float, float, float, float]:
    """The class id (a whole number >= 0) and the normalised ``cx cy w h`` of a label line."""
    cls = read_number(parts[0], where, "column 1 (class)", 0, integer=True)
    cx, cy, w, h = (
        read_number(v, where, f"column {i} ({n})", 0.0, 1.0, hint=_NORMALISED)
        for i, (n, v) in enumerate(zip(YOLO_FIELDS, parts[1:]), start=2)
    )
    return int(cls), cx, cy, w, h


_NORMALISED = "YOLO values are normalised to 0..1; pixels given?"


def read_yolo(options: AnnotationOptions) -> list[AnnotatedImage]:
    """Each image of ``image_dataset`` with ``<stem>.txt`` from ``image_annotations``.

    Labels mirror the image tree (``labels/a/b.txt`` for ``images/a/b.jpg``) or sit flat
    by stem; an image with no label file is a background (no boxes), as in YOLO.
    """
    img_dir, label_dir = Path(options.images), Path(options.annotations)
    if not label_dir.is_dir():
        raise AnnotationError(f"{label_dir}: YOLO label folder does not exist")
    cls = options.class_name
    class_id = yolo_class_id(label_dir, cls)
    names = read_yolo_names(label_dir)
    items = []
    for image in list_images(img_dir):
        rel = image.relative_to(img_dir).with_suffix(".txt")
        # a label that is there but not a readable file (a folder, a FIFO, a broken
        # link) is an error, not a background
        candidates = (label_dir / rel, label_dir / rel.name)
        label = next((p for p in candidates if os.path.lexists(p)), None)
        if label is not None and not is_inside(label, label_dir):
            raise AnnotationError(f"{label}: label file refused: it resolves outside {label_dir}")
        if label is None:
            log.debug("%s: no label file (background)", image)
            items.append(AnnotatedImage(image, _empty()))
            continue
        width, height = image_size(image)
        boxes = read_yolo_txt(label, class_id, width, height, len(names) if names else None)
        items.append(AnnotatedImage(image, boxes))
    _log_empty("yolo-txt", items, cls)
    return items


# ---- dlib imglab XML ------------------------------------------------------------------


def read_dlib_xml(
    path: str | os.PathLike, class_name: str | None, image_dir: str | os.PathLike | None = None
) -> list[AnnotatedImage]:
    """Images and boxes of an imglab XML (``ignore='1'`` boxes as the items' ``ignore``).

    ``file`` is resolved against the XML's folder, then ``image_dir``. With a class, a
    box matches by its ``<label>``; a file whose boxes carry no labels at all counts as
    single-class, so every box matches.
    """
    path = Path(path)
    root = _parse_xml(path)
    images = root.find("images") if root.tag == "dataset" else None
    if images is None:
        raise AnnotationError(f"{path}: not a dlib imglab file (no <dataset><images>)")
    labelled = any(box.findtext("label") for box in images.iter("box"))
    items = []
    for node in images.findall("image"):
        rel = node.get("file")
        if not rel:
            raise AnnotationError(f"{path}: <image> without a 'file' attribute")
        image = _dlib_image(path, rel, image_dir)
        rows, ignored = [], []
        for j, box in enumerate(node.findall("box"), start=1):
            skip = box.get("ignore", "0").strip() not in ("0", "", "false")
            label = (box.findtext("label") or "").strip()
            if class_name is not None and labelled and label != class_name:
                continue
            where = f"{path}: <image file='{rel}'> <box> {j}"
            top, left, width, height = _dlib_box(where, box)
            (ignored if skip else rows).append([left, top, left + width, top + height])
        items.append(AnnotatedImage(image, _boxes(rows), _boxes(ignored)))
    return items


def _dlib_box(where: str, box: ET.Element) -> tuple[float, float, float, float]:
    """``top, left, width, height`` of an imglab ``<box>``: finite pixels, sizes >= 0."""
    limit = MAX_PIXEL_COORDINATE
    low = {"top": -limit, "left": -limit, "width": 0.0, "height": 0.0}
    top, left, width, height = (read_number(box.get(k), where, f"'{k}'", lo, limit)
                                for k, lo in low.items())  # fmt: skip
    return top, left, width, height


def _dlib_image(xml: Path, rel: str, image_dir: str | os.PathLike | None) -> Path:
    """The image ``file='rel'`` beside the XML or in ``image_dir``, never outside them."""
    what = f"{xml}: <image file>"
    check_relative(rel, what=what)
    for base in [xml.parent] + ([Path(image_dir)] if image_dir else []):
        if (base / rel).is_file():
            return safe_child(base, rel, what=what)  # refused when a symlink leads outside
    raise AnnotationError(f"{xml}: image '{rel}' not found beside the XML or in {image_dir}")


def read_dlib(options: AnnotationOptions) -> list[AnnotatedImage]:
    """The imglab XML named by ``image_annotations``; images beside it or in ``image_dataset``."""
    cls = options.class_name
    items = read_dlib_xml(options.annotations, cls, options.images)
    _log_empty("dlib-xml", items, cls)
    return items


# ---- folders of crops -----------------------------------------------------------------


def read_crops_folder(
    folder: str | os.PathLike,
    storage_options: Mapping | None = None,
    remote: RemoteOptions | None = None,
) -> list[AnnotatedImage]:
    """Every image in the folder (recursively) with one box covering the whole image.

    ``folder`` may also be a URL prefix or a URL list (see ``sources/image_lists.py``),
    listed and read with ``remote`` (default: ``storage_options`` and default timeouts).
    """
    from .image_lists import list_image_refs

    items = []
    remote = remote or RemoteOptions(dict(storage_options or {}))
    for image in list_image_refs(folder, remote=remote):
        width, height = image_size(image, remote)
        items.append(AnnotatedImage(image, _boxes([[0, 0, width, height]])))
    return items


def read_crops(options: AnnotationOptions) -> list[AnnotatedImage]:
    """Positive crops in ``image_dataset`` (``image_annotations`` is not used)."""
    return read_crops_folder(options.images, remote=options.remote)
