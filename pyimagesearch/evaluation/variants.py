"""A stress suite derived from the held-out images: scales, borders, neighbours, rotation.

The seed data are saturated (AP 1.0), so they cannot tell whether a change helps. The
suite derives harder, seeded variants of the held-out half of the annotated images and
measures each one (AP at IoU 0.5 and 0.7, mean IoU of the true positives):

- ``original``: the held-out images as they are;
- ``scale_S``: each image rescaled by S, pasted on an object-free scene of the original
  size when it shrinks (objects smaller than the window);
- ``border``: each image cropped so that 25-50 % of one object's width lies outside it;
- ``side_by_side``: two held-out objects pasted next to each other on one scene,
  touching or slightly overlapping;
- ``pasted``: every held-out object pasted at a random size and place on a scene, up
  to three per scene (validation for a detector trained on crops);
- ``transposed``: the whole annotated set rotated by 90 degrees, trained from scratch by
  the default pipeline with the window ``explore_dims`` suggests (a tall object).

Variant images are written as PNG under ``output_dir/stress/`` so they can be looked at.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..infrastructure.geometry import clip_boxes
from ..io.atomic import write_bytes_atomic
from ..io.images import read_gray
from ..io.remote import RemoteOptions
from ..sources.annotations import AnnotatedImage

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

SCALES = (0.5, 0.75, 1.5, 2.0)
VARIANTS = (
    "original",
    *(f"scale_{s:g}" for s in SCALES),
    "border",
    "side_by_side",
    "transposed",
)

Sample = tuple[np.ndarray, np.ndarray]  # grayscale image, boxes (n, 4)


@dataclass(frozen=True)
class SceneFiles:
    """The object-free scenes variants are pasted on, read within ``max_pixels``."""

    paths: list[Path]
    max_pixels: int
    remote: RemoteOptions | None = None  # for scenes given as URLs

    def __len__(self) -> int:
        return len(self.paths)


def load_samples(items: list[AnnotatedImage], max_pixels: int) -> list[Sample]:
    """Each item's grayscale image and its boxes clipped to it."""
    out = []
    for item in items:
        image = read_gray(item.path, max_pixels)
        out.append((image, item.boxes_inside(image.shape[1], image.shape[0])))
    return out


def derive_variant(
    name: str, samples: list[Sample], scenes: SceneFiles, rng: np.random.Generator
) -> list[Sample]:
    """The variant ``name`` (any of :data:`VARIANTS` but ``transposed``) of the samples."""
    return _MAKERS["scale" if name.startswith("scale_") else name](name, samples, scenes, rng)


# ---------------------------------------------------------------------------
# variants derived from the held-out images


def _original(name: str, samples: list[Sample], scenes, rng) -> list[Sample]:
    return list(samples)


def rescaled(name: str, samples: list[Sample], scenes: SceneFiles, rng) -> list[Sample]:
    """Each image rescaled; a shrunk image is pasted at a random place on a scene."""
    factor = float(name.split("_", 1)[1])
    out = []
    for image, boxes in samples:
        h, w = image.shape
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
        small = cv2.resize(image, size, interpolation=interp)
        fx, fy = size[0] / w, size[1] / h
        scaled = boxes * np.array([fx, fy, fx, fy])
        if factor >= 1 or not scenes:
            out.append((small, scaled))
            continue
        canvas = _scene(scenes, rng, w, h)
        x0 = int(rng.integers(0, w - size[0] + 1))
        y0 = int(rng.integers(0, h - size[1] + 1))
        canvas[y0 : y0 + size[1], x0 : x0 + size[0]] = small
        out.append((canvas, scaled + np.array([x0, y0, x0, y0])))
    return out


def _border(name: str, samples: list[Sample], scenes, rng) -> list[Sample]:
    """Each image cropped so that 25-50 % of one object's width lies outside it."""
    out = []
    for image, boxes in samples:
        if not len(boxes):
            continue
        x1, _, x2, _ = boxes[int(rng.integers(len(boxes)))]
        cut = float(rng.uniform(0.25, 0.5)) * (x2 - x1)
        h = image.shape[0]
        if rng.random() < 0.5:  # the object leaves on the left
            left = int(np.ceil(x1 + cut))
            crop, shift = image[:, left:], left
        else:
            right = int(np.floor(x2 - cut))
            crop, shift = image[:, :right], 0
        moved = boxes - np.array([shift, 0, shift, 0])
        kept = clip_boxes(moved, crop.shape[1], h)
        kept = kept[(kept[:, 2] - kept[:, 0] >= 1) & (kept[:, 3] - kept[:, 1] >= 1)]
        out.append((np.ascontiguousarray(crop), kept))
    return out


def _side_by_side(name: str, samples: list[Sample], scenes: SceneFiles, rng) -> list[Sample]:
    """Two held-out objects (with some context) pasted side by side on a scene, their
    boxes touching or overlapping by up to 10 % of the narrower one's width."""
    objects = [(img, box) for img, boxes in samples for box in boxes]
    out = []
    for i in range(len(objects)):
        (img_a, box_a), (img_b, box_b) = objects[i], objects[(i + 1) % len(objects)]
        patch_a, inner_a = _object_patch(img_a, box_a)
        patch_b, inner_b = _object_patch(img_b, box_b)
        height = max(patch_a.shape[0], patch_b.shape[0])
        width_a, width_b = inner_a[2] - inner_a[0], inner_b[2] - inner_b[0]
        gap = -float(rng.uniform(0.0, 0.1)) * min(width_a, width_b)  # <= 0: touch/overlap
        margin = height // 2
        xa = margin
        xb = int(round(xa + inner_a[2] + gap - inner_b[0]))
        w = xb + patch_b.shape[1] + margin
        h = height + 2 * margin
        canvas = _scene(scenes, rng, w, h) if scenes else np.full((h, w), 128, np.uint8)
        ya = margin + (height - patch_a.shape[0]) // 2
        yb = margin + (height - patch_b.shape[0]) // 2
        canvas[ya : ya + patch_a.shape[0], xa : xa + patch_a.shape[1]] = patch_a
        canvas[yb : yb + patch_b.shape[0], xb : xb + patch_b.shape[1]] = patch_b
        gt = np.array(
            [
                [xa + inner_a[0], ya + inner_a[1], xa + inner_a[2], ya + inner_a[3]],
                [xb + inner_b[0], yb + inner_b[1], xb + inner_b[2], yb + inner_b[3]],
            ],
            np.float64,
        )
        out.append((canvas, gt))
    return out


def _object_patch(image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The object with a context of 10 % of its size, and its box inside the patch."""
    h, w = image.shape
    x1, y1, x2, y2 = box
    mx, my = 0.1 * (x2 - x1), 0.1 * (y2 - y1)
    px1, py1 = max(0, int(x1 - mx)), max(0, int(y1 - my))
    px2, py2 = min(w, int(np.ceil(x2 + mx))), min(h, int(np.ceil(y2 + my)))
    return image[py1:py2, px1:px2], np.array([x1 - px1, y1 - py1, x2 - px1, y2 - py1])


def _pasted(name: str, samples: list[Sample], scenes: SceneFiles, rng) -> list[Sample]:
    """Every held-out object pasted on a distraction scene at a random size (0.5-2 times
    its own, log-uniform, as the scene allows) and place, up to 3 per scene without
    overlap: what a detector trained on crops meets in photos."""
    objects = [(img, box) for img, boxes in samples for box in boxes]
    order = rng.permutation(len(objects))
    out, i = [], 0
    while i < len(order):
        canvas = _scene_natural(scenes, rng) if scenes else np.full((480, 640), 128, np.uint8)
        h, w = canvas.shape
        placed: list[np.ndarray] = []
        for _ in range(int(rng.integers(1, 4))):
            if i >= len(order):
                break
            image, box = objects[order[i]]
            i += 1
            patch, inner = _object_patch(image, box)
            fit = min(0.9 * w / patch.shape[1], 0.9 * h / patch.shape[0])
            scale = min(float(np.exp(rng.uniform(np.log(0.5), np.log(2.0)))), fit)
            size = (max(1, round(patch.shape[1] * scale)), max(1, round(patch.shape[0] * scale)))
            for _attempt in range(10):
                x0 = int(rng.integers(0, w - size[0] + 1))
                y0 = int(rng.integers(0, h - size[1] + 1))
                spot = np.array([x0, y0, x0 + size[0], y0 + size[1]], np.float64)
                if not any(_overlaps(spot, p) for p in placed):
                    break
            else:
                continue
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            canvas[y0 : y0 + size[1], x0 : x0 + size[0]] = cv2.resize(
                patch, size, interpolation=interp
            )
            fx, fy = size[0] / patch.shape[1], size[1] / patch.shape[0]
            placed.append(inner * np.array([fx, fy, fx, fy]) + np.array([x0, y0, x0, y0]))
        if placed:
            out.append((canvas, np.array(placed)))
    return out


def _overlaps(a: np.ndarray, b: np.ndarray) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def _scene_natural(scenes: SceneFiles, rng: np.random.Generator) -> np.ndarray:
    """A random object-free scene at its own size, enlarged to at least 480 pixels on
    its long side (room for objects of several sizes)."""
    scene = read_gray(
        scenes.paths[int(rng.integers(len(scenes)))], scenes.max_pixels, scenes.remote
    )
    factor = 480 / max(scene.shape)
    if factor > 1:
        size = (round(scene.shape[1] * factor), round(scene.shape[0] * factor))
        scene = cv2.resize(scene, size, interpolation=cv2.INTER_LINEAR)
    return scene.copy()


_MAKERS: dict[str, Callable] = {
    "original": _original,
    "pasted": _pasted,
    "scale": rescaled,
    "border": _border,
    "side_by_side": _side_by_side,
}


def _scene(scenes: SceneFiles, rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A random object-free scene resized to ``width`` x ``height``."""
    scene = read_gray(
        scenes.paths[int(rng.integers(len(scenes)))], scenes.max_pixels, scenes.remote
    )
    return cv2.resize(scene, (width, height), interpolation=cv2.INTER_AREA).copy()


def write_variant(folder: Path, samples: list[Sample]) -> list[AnnotatedImage]:
    """Write the variant's images as PNG (lossless) and return them with their boxes."""
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for i, (image, boxes) in enumerate(samples):
        path = folder / f"{i:04d}.png"
        ok, data = cv2.imencode(".png", image)
        if not ok:  # pragma: no cover - OpenCV always encodes uint8 PNG
            raise OSError(f"{path}: cannot encode PNG")
        write_bytes_atomic(path, data.tobytes())
        items.append(AnnotatedImage(path, boxes))
    return items


# ---------------------------------------------------------------------------
# the transposed data set, trained from scratch
