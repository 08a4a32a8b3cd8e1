"""Pictures of detections and of mined windows, tiled into contact sheets."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from ..infrastructure.errors import ImageReadError
from ..io.atomic import atomic_path
from ..io.images import DEFAULT_MAX_PIXELS, read_image, to_gray_uint8
from ..io.remote import RemoteOptions

log = logging.getLogger(__name__)

GREEN, RED = (0, 170, 0), (0, 0, 230)


def draw_detections(
    image: np.ndarray, boxes, probabilities, gt_boxes=(), thickness: int = 2
) -> np.ndarray:
    """A BGR copy of the image with ground truth (green) and detections (red, probability)."""
    canvas = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if canvas.shape[2] == 4:
        canvas = cv2.cvtColor(canvas, cv2.COLOR_BGRA2BGR)
    for box in gt_boxes:
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2 - 1, y2 - 1), GREEN, thickness)
    for box, p in zip(boxes, probabilities):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2 - 1, y2 - 1), RED, thickness)
        label = f"{p:.2f}"
        cv2.putText(
            canvas,
            label,
            (x1 + 2, max(12, y1 - 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            RED,
            1,
            cv2.LINE_AA,
        )
    return canvas


def tile(images: list[np.ndarray], columns: int, cell: tuple[int, int], pad: int = 4) -> np.ndarray:
    """Tile BGR images (each fitted into ``cell`` = width, height) on a white sheet."""
    cw, ch = cell
    rows = max(1, -(-len(images) // columns))
    sheet = np.full((rows * (ch + pad) + pad, columns * (cw + pad) + pad, 3), 255, np.uint8)
    for i, im in enumerate(images):
        scale = min(cw / im.shape[1], ch / im.shape[0])
        im = cv2.resize(
            im,
            (max(1, int(im.shape[1] * scale)), max(1, int(im.shape[0] * scale))),
            interpolation=cv2.INTER_AREA,
        )
        r, c = divmod(i, columns)
        y, x = pad + r * (ch + pad), pad + c * (cw + pad)
        sheet[y : y + im.shape[0], x : x + im.shape[1]] = im
    return sheet


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Encode and write a PNG atomically."""
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"{path}: cannot encode image")
    with atomic_path(path, suffix=".png") as tmp:
        tmp.write_bytes(data.tobytes())
    return Path(path)


def detection_gallery(
    images: list[dict],
    path: str | os.PathLike,
    min_probability: float,
    limit: int = 16,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Path:
    """Sheet of test images with ground truth and detections at ``>= min_probability``."""
    tiles = []
    for entry in images[:limit]:
        image = read_image(entry["path"], max_pixels)
        probs = np.asarray(entry["probabilities"])
        keep = probs >= min_probability
        boxes = np.asarray(entry["boxes"]).reshape(-1, 4)[keep]
        tiles.append(draw_detections(image, boxes, probs[keep], entry.get("gt", ())))
    if not tiles:
        tiles = [np.full((60, 200, 3), 255, np.uint8)]
    return write_png(path, tile(tiles, columns=4, cell=(300, 200)))


def _gray_or_blank(src: str, max_pixels: int, remote: RemoteOptions | None = None) -> np.ndarray:
    """The image as 8-bit gray, or an empty array (logged) when it cannot be read."""
    try:
        return to_gray_uint8(read_image(src, max_pixels, remote), src)
    except ImageReadError as exc:
        log.warning("%s; its windows are left blank on the sheet", exc)
        return np.zeros((0, 0), np.uint8)


def window_sheet(
    rows: dict[str, np.ndarray],
    path: str | os.PathLike,
    limit: int = 48,
    columns: int = 6,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    window_dim: tuple[int, int] | list[int] = (96, 32),
    remote: RemoteOptions | None = None,
) -> Path:
    """Contact sheet of mined windows, each labelled with source image, scale and score.

    ``rows`` holds ``source``, ``box`` (original-image pixels), ``scale`` and
    ``probability`` (or ``score``), most confident first. Each window is drawn at the
    aspect of ``window_dim`` (width, height): square windows stay square.
    """
    cw, ch = cell_size(window_dim)
    width = max(cw, _LABEL_WIDTH)
    tiles, cache = [], {}
    n = min(limit, len(rows.get("source", [])))
    for i in range(n):
        src = str(rows["source"][i])
        if src not in cache:
            cache = {src: _gray_or_blank(src, max_pixels, remote)}
        image = cache[src]
        x1, y1, x2, y2 = (int(round(v)) for v in rows["box"][i])
        crop = image[max(0, y1) : y2, max(0, x1) : x2]
        crop = (
            cv2.resize(crop, (cw, ch), interpolation=cv2.INTER_AREA)
            if crop.size
            else np.zeros((ch, cw), np.uint8)
        )
        crop = np.hstack([crop, np.full((ch, width - cw), 255, np.uint8)])
        label = np.full((30, width), 255, np.uint8)
        value = rows["probability"][i] if "probability" in rows else rows["score"][i]
        cv2.putText(
            label,
            Path(src).parent.name[:12] + "/" + Path(src).stem[-10:],
            (2, 11),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.35,
            0,
            1,
            cv2.LINE_AA,
        )
        cv2.putText(
            label,
            f"x{rows['scale'][i]:.2f}  p={value:.3f}",
            (2, 25),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.35,
            0,
            1,
            cv2.LINE_AA,
        )
        tiles.append(cv2.cvtColor(np.vstack([crop, label]), cv2.COLOR_GRAY2BGR))
    if not tiles:
        tiles = [np.full((ch + 30, width, 3), 255, np.uint8)]
    return write_png(path, tile(tiles, columns=columns, cell=(width, ch + 30)))


_LABEL_WIDTH = 128  # room for the two label lines under a narrow window
_CELL_LONG_SIDE = 192


def cell_size(window_dim: tuple[int, int] | list[int]) -> tuple[int, int]:
    """(width, height) of a window on the contact sheet: long side 192 px, window aspect."""
    w, h = window_dim
    scale = _CELL_LONG_SIDE / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))
