"""Hostile inputs: each gets a clear message naming the file or key, and nothing half-written."""

import shutil

import cv2
import numpy as np
import pytest
import scipy.io

from pyimagesearch.config import load_config
from pyimagesearch.descriptor.hog import HogParams
from pyimagesearch.detection import Detector
from pyimagesearch.errors import AnnotationError, ConfigError, ImageReadError
from pyimagesearch.features.extract import extract_features
from pyimagesearch.io.images import read_gray
from pyimagesearch.mining.hard_negatives import mine_image
from pyimagesearch.model.linear import LinearModel
from pyimagesearch.sources.annotations import AnnotatedImage, clip_boxes
from pyimagesearch.sources.caltech import read_caltech_mat

from .conftest import CAR_ANNOTATIONS, CARS, SCENES

COURSE = HogParams()


def _model():
    rng = np.random.default_rng(0)
    return LinearModel(rng.normal(size=COURSE.descriptor_size((96, 32))), 0, 1, 0, COURSE, (96, 32))


def test_truncated_png_is_refused(tmp_path):
    cv2.imwrite(str(tmp_path / "full.png"), read_gray(sorted(CARS.glob("*.jpg"))[0]))
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=r"cut.png: truncated PNG"):
        read_gray(tmp_path / "cut.png")


def test_corrupt_jpeg_body_is_refused(tmp_path):
    data = bytearray((SCENES / "MITcoast" / "image_0001.jpg").read_bytes())
    data[20:] = b"\x00" * (len(data) - 22) + b"\xff\xd9"  # header kept, body destroyed
    (tmp_path / "garbage.jpg").write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match=r"garbage\.jpg"):
        read_gray(tmp_path / "garbage.jpg")


def test_image_smaller_than_the_window_is_mined_without_error(tmp_path):
    small = read_gray(SCENES / "MITcoast" / "image_0001.jpg")[:20, :50]
    cv2.imwrite(str(tmp_path / "small.png"), small)
    rows = mine_image(tmp_path / "small.png", _model(), 4, 1.5, 0.0, 0.3)
    assert rows["windows_scored"] == 0 and len(rows["score"]) == 0
    assert len(Detector(_model()).detect(small)) == 0


def test_mining_a_missing_file_reports_it():
    message = mine_image("/no/such/image.jpg", _model(), 4, 1.5, 0.5, 0.3)
    assert isinstance(message, str) and "/no/such/image.jpg" in message


def test_boxes_outside_the_image_or_empty_are_dropped(caplog):
    item = AnnotatedImage(
        "x.jpg", [[10, 10, 50, 40], [-20, 5, 30, 30], [300, 0, 400, 10], [5, 5, 5, 20]]
    )
    boxes = clip_boxes(item, width=200, height=100)
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


def test_missing_input_path_names_the_key(write_conf, tmp_path):
    conf = load_config(write_conf(image_distractions=str(tmp_path / "nowhere")))
    with pytest.raises(ConfigError, match=r"key 'image_distractions': path does not exist"):
        extract_features(conf, progress=False)
    assert not (tmp_path / "features.hdf5").exists()


def test_bad_annotation_stops_before_writing(write_conf, tmp_path):
    ann = tmp_path / "ann"
    shutil.copytree(CAR_ANNOTATIONS, ann)
    scipy.io.savemat(ann / "annotation_0007.mat", {"box_coord": np.zeros((0, 4), np.uint8)})
    conf = load_config(write_conf(image_annotations=str(ann)))
    with pytest.raises(AnnotationError, match=r"annotation_0007\.mat"):
        extract_features(conf, progress=False)
    assert not (tmp_path / "features.hdf5").exists()


def test_rerun_after_failure_keeps_previous_store(write_conf, tmp_path):
    good = load_config(write_conf(num_distraction_images=20, eval_num_distraction_images=0))
    extract_features(good, progress=False)
    before = (tmp_path / "features.hdf5").read_bytes()
    bad = load_config(write_conf("bad.json", image_dataset=str(tmp_path / "gone")))
    with pytest.raises(ConfigError):
        extract_features(bad, progress=False)
    assert (tmp_path / "features.hdf5").read_bytes() == before
