"""Hostile inputs: each gets a clear message naming the file or key, and nothing half-written."""

import errno
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import cv2
import json5
import numpy as np
import pytest
import scipy.io

from pyimagesearch.descriptor.hog import HogParams
from pyimagesearch.detection import WindowDetector
from pyimagesearch.features.extract import extract_features
from pyimagesearch.features.store import write_store
from pyimagesearch.infrastructure.config import load_config
from pyimagesearch.infrastructure.errors import (
    AnnotationError,
    ConfigError,
    ImageReadError,
    ModelError,
    StoreError,
)
from pyimagesearch.io import atomic, images
from pyimagesearch.io.atomic import write_text_atomic
from pyimagesearch.io.images import list_images, read_gray
from pyimagesearch.mining.hard_negatives import mine_image
from pyimagesearch.model.linear import LinearModel
from pyimagesearch.model.modelfile import load_model, save_model
from pyimagesearch.model.training import train_model, training_set
from pyimagesearch.sources.annotations import AnnotatedImage, split_train_test
from pyimagesearch.sources.caltech import read_caltech_mat
from pyimagesearch.sources.formats import read_voc_xml

from .conftest import CAR_ANNOTATIONS, CARS, ROOT, SCENES, cars_conf_dict, mining

COURSE = HogParams()


def _model():
    rng = np.random.default_rng(0)
    return LinearModel(rng.normal(size=COURSE.descriptor_size((96, 32))), 0, 1, 0, COURSE, (96, 32))


@pytest.mark.needs_data
def test_truncated_png_is_refused(tmp_path):
    cv2.imwrite(str(tmp_path / "full.png"), read_gray(sorted(CARS.glob("*.jpg"))[0]))
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=r"cut.png: truncated PNG"):
        read_gray(tmp_path / "cut.png")


@pytest.mark.needs_data
def test_corrupt_jpeg_body_is_refused(tmp_path):
    data = bytearray((SCENES / "MITcoast" / "image_0001.jpg").read_bytes())
    data[20:] = b"\x00" * (len(data) - 22) + b"\xff\xd9"  # header kept, body destroyed
    (tmp_path / "garbage.jpg").write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match=r"garbage\.jpg"):
        read_gray(tmp_path / "garbage.jpg")


@pytest.mark.needs_data
def test_image_smaller_than_the_window_is_mined_without_error(tmp_path):
    small = read_gray(SCENES / "MITcoast" / "image_0001.jpg")[:20, :50]
    cv2.imwrite(str(tmp_path / "small.png"), small)
    rows = mine_image(tmp_path / "small.png", _model(), mining(_model(), 4, 1.5, 0.0))
    assert rows["windows_scored"] == 0 and len(rows["score"]) == 0
    assert len(WindowDetector(_model()).detect(small)) == 0


def test_mining_a_missing_file_reports_it():
    from pyimagesearch.infrastructure.errors import Skipped

    result = mine_image("/no/such/image.jpg", _model(), mining(_model(), 4, 1.5, 0.5))
    assert isinstance(result, Skipped) and "/no/such/image.jpg" in result.message


def test_boxes_outside_the_image_or_empty_are_dropped(caplog):
    item = AnnotatedImage(
        "x.jpg", [[10, 10, 50, 40], [-20, 5, 30, 30], [300, 0, 400, 10], [5, 5, 5, 20]]
    )
    boxes = item.boxes_inside(200, 100)
    np.testing.assert_array_equal(boxes, [[10, 10, 50, 40], [0, 5, 30, 30]])
    assert "dropped 2 box(es)" in caplog.text and "x.jpg" in caplog.text


def test_caltech_box_coord_uint8_does_not_wrap(tmp_path):
    """Caltech arrays are uint8: 3 - offset 5 must be -2 (then clipped), not 254."""
    path = tmp_path / "annotation_0001.mat"
    scipy.io.savemat(path, {"box_coord": np.array([[3, 60, 2, 200]], np.uint8)})
    boxes = read_caltech_mat(path)
    assert boxes.dtype == np.float64
    np.testing.assert_array_equal(boxes - 5, [[-3, -2, 195, 55]])


def test_annotation_without_boxes_names_the_file(tmp_path):
    path = tmp_path / "annotation_0001.mat"
    scipy.io.savemat(path, {"box_coord": np.zeros((0, 4), np.uint8)})
    with pytest.raises(AnnotationError, match=r"annotation_0001.mat: annotation file holds no box"):
        read_caltech_mat(path)
    (tmp_path / "annotation_0002.mat").write_text("not matlab")
    with pytest.raises(AnnotationError, match=r"annotation_0002\.mat: not a readable MATLAB"):
        read_caltech_mat(tmp_path / "annotation_0002.mat")


@pytest.mark.needs_data
def test_missing_input_path_names_the_key(write_conf, tmp_path):
    conf = load_config(write_conf(image_distractions=str(tmp_path / "nowhere")))
    with pytest.raises(ConfigError, match=r"key 'image_distractions': path does not exist"):
        extract_features(conf, progress=False)
    assert not (tmp_path / "features.hdf5").exists()


@pytest.mark.needs_data
def test_bad_annotation_stops_before_writing(write_conf, tmp_path):
    ann = tmp_path / "ann"
    shutil.copytree(CAR_ANNOTATIONS, ann)
    scipy.io.savemat(ann / "annotation_0007.mat", {"box_coord": np.zeros((0, 4), np.uint8)})
    conf = load_config(write_conf(image_annotations=str(ann)))
    with pytest.raises(AnnotationError, match=r"annotation_0007\.mat"):
        extract_features(conf, progress=False)
    assert not (tmp_path / "features.hdf5").exists()


@pytest.mark.needs_data
@pytest.mark.slow
def test_rerun_after_failure_keeps_previous_store(write_conf, tmp_path):
    good = load_config(write_conf(num_distraction_images=20, eval_num_distraction_images=0))
    extract_features(good, progress=False)
    before = (tmp_path / "features.hdf5").read_bytes()
    bad = load_config(write_conf("bad.json", image_dataset=str(tmp_path / "gone")))
    with pytest.raises(ConfigError):
        extract_features(bad, progress=False)
    assert (tmp_path / "features.hdf5").read_bytes() == before


# ---- hostile files, built cheaply -------------------------------------------------------


def png_header_only(path, width: int, height: int) -> None:
    """A PNG announcing ``width`` x ``height`` pixels in a few bytes (never decodable)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.fixture
def no_decoding(monkeypatch):
    """Make any decode fail the test: the size limit must hold before decoding."""

    def refuse(*args, **kwargs):
        raise AssertionError("an oversized image reached the decoder")

    monkeypatch.setattr(images.cv2, "imdecode", refuse)


# ---- images: size limit before decoding, regular files only -------------------------------


@pytest.mark.parametrize("name", ["huge.png", "huge.jpg", "huge.pgm"])
def test_huge_header_is_refused_before_decoding(tmp_path, no_decoding, name):
    path = tmp_path / name
    if name == "huge.pgm":
        path.write_bytes(b"P5\n20000 20000\n255\n" + b"\x00" * 64)
    else:
        png_header_only(path, 20000, 20000)  # a PNG named .jpg: the content decides
    with pytest.raises(ImageReadError) as info:
        read_gray(path)
    assert str(info.value) == (
        f"{path}: image of 20000x20000 pixels exceeds max_image_pixels=40000000"
    )


def test_size_limit_holds_below_pillows_own_limit(tmp_path, no_decoding):
    path = tmp_path / "wide.png"
    png_header_only(path, 5000, 3000)  # 15 M pixels: under Pillow's bomb warning
    with pytest.raises(ImageReadError, match=r"wide\.png: image of 5000x3000 pixels exceeds"):
        read_gray(path, max_pixels=10_000_000)


def test_header_size_reads_past_pillows_bomb_limit(tmp_path):
    path = tmp_path / "huge.png"
    png_header_only(path, 20000, 20000)
    assert images.header_size(path) == (20000, 20000)


def test_unknown_header_is_refused_not_decoded(tmp_path, no_decoding):
    path = tmp_path / "odd.png"
    path.write_bytes(b"GIF89" + b"\x00" * 10)  # no format Pillow can open
    with pytest.raises(ImageReadError, match=r"odd\.png: not a decodable image"):
        read_gray(path)


def _finishes(func, seconds: float = 10.0):
    """Run ``func`` in a thread; the result or exception, or fail if it blocks."""
    box: dict = {}

    def target():
        try:
            box["value"] = func()
        except Exception as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked (opened a FIFO?)"
    return box


@pytest.mark.needs_data
def test_fifo_named_like_an_image_is_skipped(tmp_path):
    folder = tmp_path / "scenes"
    folder.mkdir()
    shutil.copy(SCENES / "MITcoast" / "image_0001.jpg", folder / "a.jpg")
    os.mkfifo(folder / "x.jpg")
    assert _finishes(lambda: list_images(folder))["value"] == [folder / "a.jpg"]
    error = _finishes(lambda: read_gray(folder / "x.jpg"))["error"]
    assert isinstance(error, ImageReadError)
    assert str(error) == f"{folder / 'x.jpg'}: not a regular file"


# ---- config: numbers ----------------------------------------------------------------------


def _conf_text(tmp_path, key: str, literal: str) -> Path:
    """A cars config (JSON5) whose ``key`` is the literal text ``literal``."""
    raw = cars_conf_dict(tmp_path)
    raw[key] = "@@"
    path = tmp_path / "conf.json"
    path.write_text(json5.dumps(raw).replace('"@@"', literal))
    return path


def test_integral_floats_become_ints(tmp_path):
    path = _conf_text(tmp_path, "orientations", "9.0")
    raw = path.read_text().replace("[96, 32]", "[96.0, 32.0]")
    path.write_text(raw.replace("hn_window_step: 4", "hn_window_step: 4.0"))
    conf = load_config(path)
    assert conf["orientations"] == 9 and type(conf["orientations"]) is int
    assert conf["window_dim"] == [96, 32] and all(type(v) is int for v in conf["window_dim"])
    assert type(conf["hn_window_step"]) is int
    assert HogParams.from_config(conf) == HogParams.from_config(
        load_config(ROOT / "conf/cars.json")
    )
    assert type(conf.replace(seed=7.0)["seed"]) is int


def test_non_integral_float_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"key 'orientations': 9\.5 is not of type 'integer'"):
        load_config(_conf_text(tmp_path, "orientations", "9.5"))


@pytest.mark.parametrize(
    "key, literal",
    [
        ("min_probability", "NaN"),
        ("hn_min_probability", "NaN"),
        ("C", "Infinity"),
        ("C", "NaN"),
        ("percent_gt_images", "NaN"),
        ("pyramid_scale", "Infinity"),
        ("overlap_thresh", "-Infinity"),
        ("hn_min_ap_gain", "NaN"),
        ("hn_suspect_min_contrast", "Infinity"),
        ("window_dim", "[96, NaN]"),
        ("max_image_pixels", "Infinity"),
    ],
)
@pytest.mark.slow
def test_nan_and_infinity_are_refused_naming_the_key(tmp_path, key, literal):
    path = _conf_text(tmp_path, key, literal)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: key '{key}': ")
    assert "NaN and Infinity are not allowed" in message


# ---- config semantics, checked before the work -------------------------------------------


@pytest.mark.needs_data
def test_empty_distraction_folder_names_the_key(write_conf, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    conf = load_config(write_conf(image_distractions=str(tmp_path / "empty")))
    with pytest.raises(ConfigError, match=r"key 'image_distractions': no image found in"):
        extract_features(conf, progress=False)
    assert not (tmp_path / "features.hdf5").exists()


@pytest.mark.needs_data
def test_window_larger_than_every_image_names_both_sizes(write_conf, tmp_path):
    conf = load_config(
        write_conf(
            window_dim=[2000, 1000], num_distraction_images=20, eval_num_distraction_images=0
        )
    )
    with pytest.raises(ConfigError) as info:
        extract_features(conf, progress=False)
    message = str(info.value)
    assert "key 'window_dim'" in message and "2000x1000" in message
    assert re.search(r"largest is \d+x\d+", message)
    assert not (tmp_path / "features.hdf5").exists()


@pytest.mark.parametrize("share, expected", [(0.001, "training"), (0.999, "test")])
def test_empty_train_or_test_share_names_the_key(share, expected):
    items = [AnnotatedImage(f"{i}.jpg", [[0, 0, 10, 10]]) for i in range(123)]
    with pytest.raises(ConfigError, match=rf"key 'percent_gt_images'.*the {expected} share empty"):
        split_train_test(items, share, 42)


@pytest.mark.needs_data
def test_too_few_positives_to_train_names_the_key(write_conf, tmp_path):
    conf = load_config(write_conf(percent_gt_images=0.01, eval_num_distraction_images=0))
    with pytest.raises(ConfigError, match=r"key 'percent_gt_images'.*needs at least 3"):
        extract_features(conf, progress=False)
    assert not (tmp_path / "features.hdf5").exists()


# ---- Caltech .mat annotations ------------------------------------------------------------


@pytest.mark.parametrize(
    "box_coord, message",
    [
        ("12 40 5 90", "must hold numbers, not text"),
        (np.ones((1, 3)), r"must have 4 columns .* shape \(1, 3\)"),
        (np.ones((1, 8)), r"must have 4 columns .* shape \(1, 8\)"),
        (np.ones((2, 2, 4)), "must have 4 columns"),
        (np.array([[1.0, np.nan, 3, 4]]), "NaN or infinite"),
        (np.array([[1.0, 2, np.inf, 4]]), "NaN or infinite"),
        (np.array([[np.ones(4)]], dtype=object), "not a cell or struct"),
    ],
)
def test_malformed_box_coord_names_the_file(tmp_path, box_coord, message):
    path = tmp_path / "annotation_0001.mat"
    scipy.io.savemat(path, {"box_coord": box_coord})
    with pytest.raises(AnnotationError, match=message) as info:
        read_caltech_mat(path)
    assert str(info.value).startswith(f"{path}: ")


def test_mat_without_box_coord_names_the_file(tmp_path):
    path = tmp_path / "annotation_0001.mat"
    scipy.io.savemat(path, {"obj_contour": np.ones((2, 5))})
    with pytest.raises(AnnotationError, match=r"annotation_0001\.mat: no 'box_coord'"):
        read_caltech_mat(path)


# ---- model files and feature stores with non-finite values -------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["weights"].__setitem__(3, float("nan")), "weights holds NaN"),
        (lambda d: d["weights"].__setitem__(0, 1e300), "overflow float32"),
        (lambda d: d.__setitem__("bias", float("inf")), "bias holds NaN or infinite"),
        (lambda d: d["calibration"].__setitem__("b", float("-inf")), "calibration b holds"),
        (lambda d: d["calibration"].__setitem__("a", float("nan")), "calibration a holds"),
        (lambda d: d["weights"].__setitem__(1, "0.5"), "weights must be numbers"),
        (lambda d: d.__setitem__("window_dim", [96.5, 32]), "window_dim must be"),
    ],
)
def test_model_with_non_finite_values_is_refused(tmp_path, change, message):
    path = tmp_path / "model.json"
    save_model(_model(), path)
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))  # Python writes NaN / Infinity, as a damaged file may
    with pytest.raises(ModelError, match=message) as info:
        load_model(path)
    assert str(info.value).startswith(f"{path}: ")


def _store(path, negatives):
    d = COURSE.descriptor_size((96, 32))
    rng = np.random.default_rng(0)
    write_store(
        path,
        COURSE,
        (96, 32),
        {
            "positives": {"features": rng.uniform(0, 0.3, (6, d)), "source": ["p"] * 6},
            "negatives": {"features": negatives(rng, d), "source": ["n"] * 6},
        },
    )


@pytest.mark.parametrize(
    "negatives, message",
    [
        (lambda rng, d: np.full((6, d), np.nan), r"column 'features' holds \d+ NaN"),
        (lambda rng, d: np.full((6, d), np.inf), r"column 'features' holds \d+ NaN or infinite"),
        (
            lambda rng, d: np.frombuffer(rng.bytes(6 * d * 4), np.float32).reshape(6, d),
            r"(NaN or infinite|outside the HOG range)",
        ),
        (lambda rng, d: rng.uniform(-1e6, 1e6, (6, d)), "outside the HOG range"),
    ],
)
def test_store_with_garbage_features_is_refused_naming_file_and_group(
    write_conf, tmp_path, negatives, message
):
    conf = load_config(write_conf())
    _store(conf["features_path"], negatives)
    with pytest.raises(StoreError, match=message) as info:
        training_set(_open_store(conf), conf.options.training, hard_negatives=False)
    assert str(info.value).startswith(f"{conf['features_path']}: group 'negatives': ")
    with pytest.raises(StoreError, match=message):
        train_model(conf.replace(train_solver="sgd"))
    assert not Path(conf["classifier_path"]).exists()


# ---- output files ------------------------------------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_outputs_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_text_atomic(tmp_path / "a.json", "{}")
        write_store(tmp_path / "f.hdf5", COURSE, (96, 32), {})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "f.hdf5").stat().st_mode) == mode


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    target = tmp_path / "features.hdf5"
    stale = tmp_path / f".features.hdf5.{atomic._HOST}-{dead_pid}-abcd1234.h5tmp"
    live = tmp_path / f".features.hdf5.{atomic._HOST}-{os.getppid()}-efgh5678.h5tmp"
    mine = tmp_path / f".features.hdf5.{atomic._HOST}-{os.getpid()}-ijkl9012.h5tmp"
    old = tmp_path / ".features.hdf5.q1w2e3r4.h5tmp"  # older naming, no process id
    fresh = tmp_path / ".features.hdf5.t5y6u7i8.h5tmp"
    other = tmp_path / ".model.json.x-1-abcd.tmp"
    for p in (stale, live, mine, old, fresh, other):
        p.write_bytes(b"partial")
    os.utime(old, (0, 0))
    write_store(target, COURSE, (96, 32), {})
    assert not stale.exists() and not old.exists()
    assert live.exists() and mine.exists() and fresh.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".h5tmp")) == sorted(
        [live.name, mine.name, fresh.name]
    )


def test_full_disk_keeps_the_old_file_and_names_it(tmp_path, monkeypatch):
    path = tmp_path / "model.json"
    path.write_text("old")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(OSError) as info:
        write_text_atomic(path, "new")
    assert str(info.value) == f"{path}: cannot write: No space left on device"
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["model.json"]


def test_file_in_the_way_of_an_output_folder_names_both(tmp_path):
    (tmp_path / "out").write_text("a file, not a folder")
    with pytest.raises(OSError) as info:
        write_text_atomic(tmp_path / "out" / "sub" / "model.json", "{}")
    assert str(info.value) == (
        f"{tmp_path / 'out' / 'sub' / 'model.json'}: cannot write: "
        f"{tmp_path / 'out'} is a file, not a folder"
    )
    assert (tmp_path / "out").read_text() == "a file, not a folder"


def _open_store(conf):
    from pyimagesearch.features.store import FeatureStore

    return FeatureStore(conf["features_path"], conf.options.descriptor, tuple(conf["window_dim"]))


# ---- every data file read the same way: special files, deep JSON, other encodings --------


def _special(tmp_path, kind: str) -> Path:
    path = tmp_path / f"{kind}.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        path.symlink_to(tmp_path / "nowhere")
    return path


#: Readers of every kind of data file, and the error each raises.
READERS_OF_FILES = {
    "config": (load_config, ConfigError),
    "model": (load_model, ModelError),
    "feature store": (lambda p: _open_store_at(p), StoreError),
    "Caltech .mat": (read_caltech_mat, AnnotationError),
    "VOC XML": (lambda p: read_voc_xml(p, None), AnnotationError),
}


def _open_store_at(path):
    from pyimagesearch.features.store import FeatureStore

    return FeatureStore(path, COURSE, (96, 32))


SPECIAL_FILES = [
    ("fifo", ": not a regular file"),
    ("folder", ": not a regular file"),
    ("dangling", "(No such file or directory)"),
]


@pytest.mark.parametrize("kind, message", SPECIAL_FILES)
@pytest.mark.parametrize("reader", list(READERS_OF_FILES))
def test_special_files_never_block_a_reader(tmp_path, kind, message, reader):
    read, error_type = READERS_OF_FILES[reader]
    path = _special(tmp_path, kind)
    error = _finishes(lambda: read(path))["error"]
    assert isinstance(error, error_type), error
    assert str(error).startswith(f"{path}") and message in str(error), error


def test_deep_json_and_other_encodings_are_named(tmp_path):
    from pyimagesearch.io.data_files import read_json

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    for read, error in ((lambda: read_json(deep, ConfigError, "config"), ConfigError),
                        (lambda: load_config(deep), ConfigError),
                        (lambda: load_model(deep), ModelError)):  # fmt: skip
        with pytest.raises(error, match=r"nested too deeply") as info:
            read()
        assert str(info.value).startswith(f"{deep}: ")
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"name": "caf\xe9"}')
    with pytest.raises(ConfigError) as info:
        read_json(latin, ConfigError, "config")
    assert str(info.value) == (
        f"{latin}: not UTF-8 text (byte 0xe9 at offset 13); a config is expected"
    )
