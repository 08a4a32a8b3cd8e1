"""Odd and broken files of every kind the toolkit reads, built in memory (no data sets).

The hostile-input tests share these generators: images in every accepted format
(complete, with bytes after the picture, cut), the bad numbers fed to every annotation
reader, and servers on 127.0.0.1 that refuse or never answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import json5
import numpy as np

from .conftest import ROOT

#: Every image suffix the toolkit reads, and the OpenCV encoder of each.
IMAGE_FORMATS = (".jpg", ".png", ".webp", ".bmp", ".tif", ".pgm", ".ppm", ".pbm")

#: What a camera, a phone app or an editor may leave after the end of the picture: a
#: second (thumbnail) JPEG, padding and text; it holds JPEG and PNG end markers.
TRAILER = (
    b"\x00" * 16
    + b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
    + b"IEND\xaeB`\x82"
    + b"<x:xmpmeta>edited by a phone app</x:xmpmeta>\n" * 8
)


def picture(height: int = 120, width: int = 160, seed: int = 0) -> np.ndarray:
    """A BGR test picture with structure and noise (not flat, not tiny: not a placeholder)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = (127 + 60 * np.sin(x / 9.0) * np.cos(y / 7.0)).astype(np.float64)
    noise = rng.normal(0, 20, (height, width, 3))
    return np.clip(base[..., None] + noise, 0, 255).astype(np.uint8)


def encoded(ext: str, image: np.ndarray | None = None) -> bytes:
    """``image`` (default :func:`picture`) encoded as ``ext`` by OpenCV."""
    image = picture() if image is None else image
    if ext in (".pgm", ".pbm"):
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if ext == ".pbm":
        image = np.where(image > 127, 255, 0).astype(np.uint8)
    ok, data = cv2.imencode(ext, image)
    assert ok, ext
    return data.tobytes()


def decoded_gray(data: bytes) -> np.ndarray:
    """What OpenCV decodes from ``data``, as 8-bit gray (the pixels a reader must return)."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


#: Ways a download is cut short: half the file, and all but its last byte.
CUTS = {"half": lambda data: data[: len(data) // 2], "last byte": lambda data: data[:-1]}


# ---- network ends that never answer ----------------------------------------------------


def closed_port() -> int:
    """A port of 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port of 127.0.0.1 that accepts connections (the kernel completes the handshake)
    and never sends a byte; yields the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def rle8_bmp(width: int = 64, height: int = 48) -> bytes:
    """An 8-bit run-length encoded BMP (a structure the end check leaves to the decoder)."""
    import struct

    rows = b"".join(bytes([width, (7 * y) % 256, 0, 0]) for y in range(height)) + b"\x00\x01"
    palette = b"".join(bytes([i, i, i, 0]) for i in range(256))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(rows), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(rows), 0, 0, offset) + info + palette + rows


# ---- a small self-contained project: images, VOC boxes, scenes, a config -----------------


@dataclass
class Project:
    """A synthetic project under ``root``: inputs in ``root/data``, every output in
    ``root/out``; ``written_outside()`` lists files created or changed anywhere else."""

    root: Path
    conf: Path
    raw: dict
    before: dict[Path, tuple[int, int]] = field(default_factory=dict)

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def store(self) -> Path:
        return self.out / "features.hdf5"

    @property
    def model(self) -> Path:
        return self.out / "model.json"

    def snapshot(self) -> None:
        """Remember every file outside ``out`` (after the test changed its inputs)."""
        self.before = _files(self.root, self.out)

    def written_outside(self) -> list[str]:
        """Files outside ``out`` that are new or changed since :meth:`snapshot`."""
        now = _files(self.root, self.out)
        return sorted(str(p) for p, stamp in now.items() if self.before.get(p) != stamp)

    def write_conf(self, **overrides) -> Path:
        """Rewrite the config with ``overrides`` (then snapshot again)."""
        self.raw.update(overrides)
        self.conf.write_text(json.dumps(self.raw, indent=1))
        self.snapshot()
        return self.conf


def _files(root: Path, skip: Path) -> dict[Path, tuple[int, int]]:
    out = {}
    for path in root.rglob("*"):
        if skip in path.parents or path == skip or not path.is_file() or path.is_symlink():
            continue
        st = path.stat()
        out[path] = (st.st_size, st.st_mtime_ns)
    return out


#: The object of the synthetic images: a dark car-like bar with wheels, 48x24 pixels.
OBJECT_BOX = (40, 50, 88, 74)


def object_picture(seed: int) -> np.ndarray:
    """A 160x120 gray scene with the object at :data:`OBJECT_BOX` (x1, y1, x2, y2)."""
    image = cv2.cvtColor(picture(seed=seed), cv2.COLOR_BGR2GRAY)
    x1, y1, x2, y2 = OBJECT_BOX
    image[y1:y2, x1:x2] = 40
    image[y1 + 4 : y1 + 12, x1 + 8 : x2 - 8] = 200  # windows
    for cx in (x1 + 10, x2 - 10):
        cv2.circle(image, (cx, y2 - 2), 5, 10, -1)
    return image


def voc_text(filename: str, boxes: list[tuple[float, ...]], name: str = "car") -> str:
    """A Pascal VOC annotation; ``boxes`` 0-based exclusive are written 1-based inclusive."""
    objects = "".join(
        f"<object><name>{name}</name><bndbox><xmin>{x1 + 1}</xmin><ymin>{y1 + 1}</ymin>"
        f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
        for x1, y1, x2, y2 in boxes
    )
    return (
        f"<annotation><filename>{filename}</filename><size><width>160</width>"
        f"<height>120</height><depth>1</depth></size>{objects}</annotation>"
    )


def mini_project(tmp_path: Path, n_images: int = 8, n_scenes: int = 6) -> Project:
    """Write a small project (PNG images with VOC boxes, JPEG scenes) and its config."""
    root = tmp_path / "project"
    images, annotations = root / "data" / "images", root / "data" / "annotations"
    scenes = root / "data" / "scenes" / "street"
    for folder in (images, annotations, scenes):
        folder.mkdir(parents=True)
    for i in range(n_images):
        cv2.imwrite(str(images / f"car_{i:02d}.png"), object_picture(i))
        (annotations / f"car_{i:02d}.xml").write_text(voc_text(f"car_{i:02d}.png", [OBJECT_BOX]))
    for i in range(n_scenes):
        cv2.imwrite(str(scenes / f"scene_{i:02d}.jpg"), picture(seed=100 + i))
    raw = json5.loads((ROOT / "conf" / "cars.json").read_text())
    raw.update(
        datasets_root=str(root / "data"),
        image_dataset=str(images),
        image_annotations=str(annotations),
        annotation_format="voc-xml",
        annotation_class="car",
        image_distractions=str(root / "data" / "scenes"),
        distraction_exclude_categories=[],
        eval_distraction_categories=None,
        features_path=str(root / "out" / "features.hdf5"),
        classifier_path=str(root / "out" / "model.json"),
        output_dir=str(root / "out"),
        window_dim=[32, 16],
        num_distraction_images=n_scenes,
        num_distractions_per_image=4,
        eval_num_distraction_images=0,
        hn_num_distraction_images=n_scenes,
        n_jobs=1,
        search=False,
    )
    project = Project(root, root / "conf.json", raw)
    project.write_conf()
    return project


def run_command(name: str, *args: object, cwd: Path | None = None, timeout: float = 300):
    """Run ``pyimagesearch <name> <args>`` in a fresh interpreter (this checkout first)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYIMAGESEARCH_SCHEDULER", None)
    code = "import sys; from pyimagesearch.commands import console; console(sys.argv[1:])"
    return subprocess.run(
        [sys.executable, "-c", code, name, *map(str, args)],
        capture_output=True, text=True, cwd=cwd or ROOT, timeout=timeout, env=env,
    )  # fmt: skip
