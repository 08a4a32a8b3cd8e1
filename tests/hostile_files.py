"""Odd and broken files of every kind the toolkit reads, built in memory (no data sets).

The hostile-input tests share these generators: images in every accepted format
(complete, with bytes after the picture, cut), the bad numbers fed to every annotation
reader, and servers on 127.0.0.1 that refuse or never answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
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
    _other_formats(root / "data", n_images)
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
        num_distraction_images=100,  # every scene, and any odd file added among them
        num_distractions_per_image=4,
        eval_num_distraction_images=0,
        hn_num_distraction_images=100,
        n_jobs=1,
        search=False,
    )
    project = Project(root, root / "conf.json", raw)
    project.write_conf()
    return project


#: Where each annotation format of the mini project lives (``data/...``), and the one file
#: of it that hostile cases replace.
FORMATS = {
    "voc-xml": ("images", "annotations", "annotations/car_03.xml"),
    "coco-json": ("images", "coco.json", "coco.json"),
    "yolo-txt": ("images", "yolo", "yolo/car_03.txt"),
    "dlib-xml": ("images", "dlib.xml", "dlib.xml"),
    "caltech-mat": ("caltech_images", "caltech", "caltech/annotation_0004.mat"),
}


def _other_formats(data: Path, n_images: int) -> None:
    """The mini project's boxes in COCO, YOLO, dlib and Caltech form, an Open Images
    subset of its images (for ``evaluate --protocol openimages``) and URL lists."""
    import scipy.io

    x1, y1, x2, y2 = OBJECT_BOX
    names = [f"car_{i:02d}.png" for i in range(n_images)]
    coco = {
        "images": [{"id": i + 1, "file_name": n, "width": 160, "height": 120}
                   for i, n in enumerate(names)],
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
        "annotations": [{"id": i + 1, "image_id": i + 1, "category_id": 3, "iscrowd": 0,
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": 1152}
                        for i in range(n_images)],
    }  # fmt: skip
    (data / "coco.json").write_text(json.dumps(coco))
    shutil.copy(data / "coco.json", data / "coco.json.good")  # what odd COCO files start from
    (data / "yolo").mkdir()
    (data / "yolo" / "classes.txt").write_text("car\n")
    line = f"0 {(x1 + x2) / 320} {(y1 + y2) / 240} {(x2 - x1) / 160} {(y2 - y1) / 120}\n"
    for name in names:
        (data / "yolo" / name.replace(".png", ".txt")).write_text(line)
    boxes = f"<box top='{y1}' left='{x1}' width='{x2 - x1}' height='{y2 - y1}'/>"
    images = "".join(f"<image file='images/{n}'>{boxes}</image>" for n in names)
    (data / "dlib.xml").write_text(f"<dataset><images>{images}</images></dataset>")
    (data / "caltech").mkdir()
    (data / "caltech_images").mkdir()
    for i in range(n_images):
        cv2.imwrite(str(data / "caltech_images" / f"image_{i + 1:04d}.jpg"), object_picture(i))
        scipy.io.savemat(
            data / "caltech" / f"annotation_{i + 1:04d}.mat",
            {"box_coord": np.array([[y1, y2, x1, x2]], np.uint8)},
        )
    subset = data / "oi_subset"
    (subset / "images").mkdir(parents=True)
    rows = ["ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,"
            "IsTruncated,IsGroupOf,IsDepiction,IsInside"]  # fmt: skip
    for i in range(n_images):
        cv2.imwrite(str(subset / "images" / f"id{i:02d}.jpg"), object_picture(i))
        rows.append(f"id{i:02d},x,/m/car,1,{x1 / 160},{x2 / 160},{y1 / 120},{y2 / 120},0,0,0,0,0")
    (subset / "boxes.csv").write_text("\n".join(rows) + "\n")
    shutil.copy(subset / "boxes.csv", data / "oi_bbox.csv")  # for openimages-subset
    (data / "oi_images.csv").write_text(  # port 9 (discard): nothing is fetched
        "ImageID,OriginalURL\n"
        + "".join(f"id{i:02d},http://127.0.0.1:9/id{i:02d}.jpg\n" for i in range(n_images))
    )
    (subset / "classes.csv").write_text("/m/car,Car\n")
    (subset / "image-labels.csv").write_text(
        "ImageID,Source,LabelName,Confidence\n"
        + "".join(f"id{i:02d},x,/m/car,1\n" for i in range(n_images))
    )
    (data / "hierarchy.json").write_text(
        json.dumps({"LabelName": "/m/0bl9f", "Subcategory": [{"LabelName": "/m/car"}]})
    )
    (data / "class-descriptions.csv").write_text("/m/car,Car\n/m/0bl9f,Entity\n")
    (data / "list.txt").write_text("".join(f"images/{n}\n" for n in names))
    (data / "scenes.csv").write_text(
        "ImageID,url\n" + "".join(f"s{i},scenes/street/scene_{i:02d}.jpg\n" for i in range(6))
    )


def use_format(project: Project, fmt: str) -> Project:
    """Point the project's config at its annotations in ``fmt``."""
    images, annotations, _ = FORMATS[fmt]
    data = project.root / "data"
    project.write_conf(
        annotation_format=fmt,
        image_dataset=str(data / images),
        image_annotations=str(data / annotations),
        annotation_class="car" if fmt != "caltech-mat" else None,
    )
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


# ---- catalogues of odd files, by kind: name -> writer(path) --------------------------------

Writer = Callable[[Path], None]


def _bytes(data: bytes) -> Writer:
    return lambda path: path.write_bytes(data)


def _text(text: str) -> Writer:
    return lambda path: path.write_text(text, encoding="utf-8")


def _folder(path: Path) -> None:
    path.mkdir()
    (path / "inside.txt").write_text("a folder where a file should be")


def _dangling_link(path: Path) -> None:
    path.symlink_to(path.with_name("no-such-target"))


def _link_loop(path: Path) -> None:
    other = path.with_name(path.name + ".loop")
    other.symlink_to(path)
    path.symlink_to(other)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


#: Odd contents or kinds any file may have, whatever it should hold.
ANY_FILE: dict[str, Writer] = {
    "empty": _bytes(b""),
    "NUL bytes": _bytes(b"\x00" * 64),
    "random bytes": _bytes(np.random.default_rng(7).integers(0, 256, 4096, np.uint8).tobytes()),
    "UTF-16 text": _bytes("{ 'not': 'utf-8' }".encode("utf-16")),
    "latin-1 text": _bytes("caf\xe9 na\xefve \xff".encode("latin-1")),
    "a folder": _folder,
    "a dangling symlink": _dangling_link,
    "a symlink loop": _link_loop,
    "a FIFO": _fifo,
}


def _png_header(width: int, height: int) -> bytes:
    """A PNG announcing ``width`` x ``height`` in a few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def _image(ext: str, change: Callable[[bytes], bytes] = lambda d: d, **kw) -> Writer:
    def write(path: Path) -> None:
        path.write_bytes(change(encoded(ext, object_picture(5) if not kw else kw["image"])))

    return write


def _gray_object(depth: type) -> np.ndarray:
    image = object_picture(5).astype(np.float64)
    return (image * (257 if depth is np.uint16 else 1)).astype(depth)


ODD_IMAGES: dict[str, Writer] = {
    **ANY_FILE,
    "text named .png": _text("<html>404 not found</html>"),
    "JPEG named .png": _image(".jpg"),
    "trailing bytes": _image(".png", lambda d: d + TRAILER),
    "cut in half": _image(".png", lambda d: d[: len(d) // 2]),
    "cut by one byte": _image(".png", lambda d: d[:-1]),
    "header only": _image(".png", lambda d: d[:60]),
    "zero width": _bytes(_png_header(0, 120)),
    "huge header": _bytes(_png_header(30000, 30000)),
    "16-bit": _image(".png", image=_gray_object(np.uint16)),
    "1x1 pixel": _image(".png", image=np.zeros((1, 1), np.uint8)),
    "BMP cut short": _image(".bmp", lambda d: d[: len(d) - 100]),
    "TIFF cut short": _image(".tif", lambda d: d[: len(d) // 3]),
    "WebP with trailing bytes": _image(".webp", lambda d: d + TRAILER),
}
#: Odd images that are fine: they must be used.
VALID_ODD_IMAGES = {"JPEG named .png", "trailing bytes", "16-bit", "WebP with trailing bytes"}


def _deep_json(depth: int = 100_000) -> bytes:
    return b"[" * depth + b"]" * depth


ODD_CONFIGS: dict[str, bytes | Writer] = {
    **ANY_FILE,
    "not JSON": b"window_dim = 96x32\n",
    "a JSON list": b"[1, 2, 3]\n",
    "a JSON string": b'"conf"\n',
    "null": b"null\n",
    "cut JSON": b'{"image_dataset": "a", "window_dim": [96,',
    "deeply nested": _deep_json(),
    "huge number": b'{"C": 1e999999}',
    "huge integer": b'{"seed": ' + b"9" * 5000 + b"}",
}


def _model_doc(change: Callable[[dict], None]) -> Writer:
    """The trained model file (beside ``path``'s folder) changed by ``change``."""

    def write(path: Path) -> None:
        doc = json.loads(path.with_name("model.json.good").read_text())
        change(doc)
        path.write_text(json.dumps(doc))

    return write


ODD_MODELS: dict[str, Writer] = {
    **ANY_FILE,
    "not JSON": _text("weights: 1 2 3"),
    "a JSON list": _text("[]"),
    "empty object": _text("{}"),
    "deeply nested": _bytes(_deep_json()),
    "pickle": _bytes(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94."),
    "an HDF5 store": lambda path: shutil.copy(path.with_name("features.hdf5"), path),
    "weights as text": _model_doc(lambda d: d.__setitem__("weights", "0.1 0.2")),
    "weights too short": _model_doc(lambda d: d.__setitem__("weights", d["weights"][:-3])),
    "no hog": _model_doc(lambda d: d.pop("hog")),
    "hog as a list": _model_doc(lambda d: d.__setitem__("hog", [9, 4, 2])),
    "orientations 0": _model_doc(lambda d: d["hog"].__setitem__("orientations", 0)),
    "huge window": _model_doc(lambda d: d.__setitem__("window_dim", [10**9, 10**9])),
    "negative window": _model_doc(lambda d: d.__setitem__("window_dim", [-32, 16])),
    "window of text": _model_doc(lambda d: d.__setitem__("window_dim", ["32", "16"])),
    "future version": _model_doc(lambda d: d.__setitem__("format_version", 99)),
    "calibration a = 0": _model_doc(lambda d: d["calibration"].__setitem__("a", 0.0)),
    "no calibration": _model_doc(lambda d: d.pop("calibration")),
    "metadata a string": _model_doc(lambda d: d.__setitem__("metadata", "x")),
    "box regressor of text": _model_doc(lambda d: d.__setitem__("box_regressor", "x")),
}


def _store(change: Callable[..., None]) -> Writer:
    """The trained store (``features.hdf5.good`` beside ``path``) changed by ``change(f)``."""

    def write(path: Path) -> None:
        import h5py

        shutil.copy(path.with_name("features.hdf5.good"), path)
        with h5py.File(path, "a") as f:
            change(f)

    return write


def _half(path: Path) -> bytes:
    data = path.read_bytes()
    return data[: len(data) // 2]


def _replace(f, name: str, data) -> None:
    del f[name]
    f[name] = data


ODD_STORES: dict[str, Writer] = {
    **ANY_FILE,
    "text": _text("features"),
    "cut in half": lambda p: p.write_bytes(
        p.with_name("features.hdf5.good").read_bytes()[
            : p.with_name("features.hdf5.good").stat().st_size // 2
        ]
    ),
    "no attributes": _store(lambda f: [f.attrs.__delitem__(k) for k in list(f.attrs)]),
    "hog attribute of text": _store(lambda f: f.attrs.__setitem__("hog", "nine")),
    "no positives": _store(lambda f: f.__delitem__("positives")),
    "features 1-D": _store(lambda f: _replace(f, "positives/features", np.zeros(10, np.float32))),
    "features of text": _store(
        lambda f: _replace(f, "negatives/features", np.array(["a"] * 3, dtype=object).astype("S"))
    ),
    "features too narrow": _store(
        lambda f: _replace(f, "negatives/features", np.zeros((24, 5), np.float32))
    ),
    "a group where a dataset is": _store(
        lambda f: (f.__delitem__("negatives/features"), f.create_group("negatives/features"))
    ),
    "mined round without scores": _store(lambda f: f.__delitem__("hard_negatives/round_001/score")),
}


def _voc_change(text: str) -> Writer:
    return _text(text)


ODD_VOC: dict[str, Writer] = {
    **ANY_FILE,
    "not XML": _text("xmin=1 ymin=2"),
    "cut XML": _text(voc_text("car_03.png", [OBJECT_BOX])[:80]),
    "other root": _text("<dataset><images/></dataset>"),
    "no bndbox": _text(
        "<annotation><filename>car_03.png</filename><object><name>car</name></object></annotation>"
    ),
    "NaN corner": _text(voc_text("car_03.png", [(float("nan"), 50, 88, 74)])),
    "inverted box": _text(voc_text("car_03.png", [(88, 50, 40, 74)])),
    "box outside the image": _text(voc_text("car_03.png", [(1000, 1000, 1100, 1040)])),
    "huge box": _text(voc_text("car_03.png", [(0, 0, 9e6, 9e6)])),
    "filename leaves the folder": _text(voc_text("../../conf.json", [OBJECT_BOX])),
    "filename absolute": _text(voc_text("/etc/passwd", [OBJECT_BOX])),
    "filename of a missing image": _text(voc_text("car_99.png", [OBJECT_BOX])),
    "billion laughs": _text(
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(
            f'<!ENTITY lol{i + 1} "{("&lol" + (str(i) if i else "") + ";") * 10}">'
            for i in range(9)
        )
        + "]><annotation><filename>&lol9;</filename></annotation>"
    ),
    "external entity": _text(
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
        "<annotation><filename>&x;</filename></annotation>"
    ),
}


def _coco_doc(change: Callable[[dict], object]) -> Writer:
    """The project's COCO JSON (``coco.json`` beside ``path``) changed by ``change``."""

    def write(path: Path) -> None:
        doc = json.loads(path.with_name("coco.json.good").read_text())
        change(doc)
        path.write_text(json.dumps(doc))

    return write


def _first_bbox(value: object) -> Callable[[dict], None]:
    return lambda d: d["annotations"][3].__setitem__("bbox", value)


ODD_COCO: dict[str, Writer] = {
    **ANY_FILE,
    "a JSON list": _text("[]"),
    "deeply nested": _bytes(_deep_json()),
    "no images": _coco_doc(lambda d: d.pop("images")),
    "images not a list": _coco_doc(lambda d: d.__setitem__("images", 7)),
    "annotations of text": _coco_doc(lambda d: d.__setitem__("annotations", "none")),
    "annotation without image": _coco_doc(lambda d: d["annotations"][3].pop("image_id")),
    "bbox of text": _coco_doc(_first_bbox("40 50 48 24")),
    "bbox of 3 numbers": _coco_doc(_first_bbox([40, 50, 48])),
    "bbox with NaN": _coco_doc(_first_bbox([40, float("nan"), 48, 24])),
    "bbox with a huge integer": _coco_doc(_first_bbox([10**400, 50, 48, 24])),
    "negative width": _coco_doc(_first_bbox([40, 50, -48, 24])),
    "file_name leaves the folder": _coco_doc(
        lambda d: d["images"][3].__setitem__("file_name", "../../conf.json")
    ),
    "file_name a number": _coco_doc(lambda d: d["images"][3].__setitem__("file_name", 12)),
    "image id of text": _coco_doc(lambda d: d["images"][3].__setitem__("id", "four")),
}

ODD_YOLO: dict[str, Writer] = {
    **ANY_FILE,
    "NaN": _text("0 nan 0.5 0.2 0.2\n"),
    "4 columns": _text("0 0.5 0.5 0.2\n"),
    "pixels": _text("0 64 62 48 24\n"),
    "commas": _text("0,0.4,0.5,0.3,0.2\n"),
    "negative class": _text("-1 0.4 0.5 0.3 0.2\n"),
    "class 1e30": _text("1e30 0.4 0.5 0.3 0.2\n"),
    "a class not named": _text("7 0.4 0.5 0.3 0.2\n"),
    "a thousand duplicate boxes": _text("0 0.4 0.5 0.3 0.2\n" * 1000),
}
#: Odd annotations that are fine: an empty YOLO label is an image with no object.
VALID_ODD_YOLO = {"empty", "a thousand duplicate boxes"}

ODD_DLIB: dict[str, Writer] = {
    **ANY_FILE,
    "not XML": _text("<dataset><images>"),
    "no images": _text("<dataset><name>x</name></dataset>"),
    "image without file": _text("<dataset><images><image/></images></dataset>"),
    "box without attributes": _text(
        "<dataset><images><image file='images/car_03.png'><box/></image></images></dataset>"
    ),
    "box with NaN": _text(
        "<dataset><images><image file='images/car_03.png'><box top='nan' left='1' width='2' "
        "height='3'/></image></images></dataset>"
    ),
    "file leaves the folder": _text(
        "<dataset><images><image file='../../conf.json'/></images></dataset>"
    ),
    "file of a missing image": _text(
        "<dataset><images><image file='images/none.png'/></images></dataset>"
    ),
}


def _mat(value: object) -> Writer:
    def write(path: Path) -> None:
        import scipy.io

        scipy.io.savemat(path, {"box_coord": value})

    return write


def _mat73(path: Path) -> None:
    """A MATLAB v7.3 file (HDF5 inside), which scipy cannot read."""
    import h5py

    with h5py.File(path, "w") as f:
        f["box_coord"] = np.array([[50, 74, 40, 88]], np.float64)


ODD_MAT: dict[str, Writer] = {
    **ANY_FILE,
    "text": _mat("50 74 40 88"),
    "NaN": _mat(np.array([[50, np.nan, 40, 88]])),
    "inverted": _mat(np.array([[74, 50, 40, 88]], np.float64)),
    "3 columns": _mat(np.ones((1, 3))),
    "no boxes": _mat(np.zeros((0, 4))),
    "a struct": _mat({"a": 1}),
    "MATLAB v7.3": _mat73,
}

ODD_URL_LISTS: dict[str, Writer] = {
    **{k: v for k, v in ANY_FILE.items() if k != "empty"},
    "only comments": _text("# nothing here\n\n"),
    "a NUL in an entry": _text("images/car_00.png\nimages/car\x0001.png\n"),
    "entries that are not images": _text("nan\ninf\n-1\n"),
    "a path out of the project": _text("../../../../../../etc/hostname.png\n"),
    "a URL without host": _text("http:///car.png\n"),
    "a huge line": _text("x" * 2_000_000 + ".png\n"),
}

ODD_CSV: dict[str, Writer] = {
    **ANY_FILE,
    "header only": _text("ImageID,LabelName\n"),
    "no header": _text("id00,/m/car,0.1,0.2\n"),
    "a NUL byte": _text("ImageID,url\nid00,images/car\x00.png\n"),
    "an open quote": _text('ImageID,url\n"id00,images/car.png\n'),
    "a huge field": _text("ImageID,url\nid00," + "x" * 200_000 + "\n"),
}

ODD_JSON: dict[str, Writer] = {
    **ANY_FILE,
    "not JSON": _text("{'single': 'quotes'}"),
    "a JSON list": _text("[]"),
    "deeply nested": _bytes(_deep_json()),
    "a string": _text('"hierarchy"'),
    "nodes of numbers": _text('{"LabelName": "/m/0bl9f", "Subcategory": [1, 2]}'),
    "excluded windows of text": _text('{"format": "x", "version": 1, "windows": "all"}'),
}


@contextlib.contextmanager
def trickling_server(interval: float = 0.2) -> Iterator[int]:
    """A port of 127.0.0.1 that answers every request with a 200 whose body arrives one
    byte every ``interval`` seconds (never slow enough for a read timeout); yields the port."""
    import threading

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
                while not stop.is_set():
                    conn.sendall(b"\xff")
                    stop.wait(interval)
            except OSError:
                pass

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        sock.close()
