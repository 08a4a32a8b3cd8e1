"""benchmarks/bench_anchors.py: its scorer, conversions and helpers on hand-worked inputs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmarks import bench_anchors as ba


def test_dlib_rectangles_are_inclusive_and_round_trip():
    (rect,) = ba.to_dlib_rects(np.array([[10.0, 20.0, 30.0, 40.0]]))
    assert (rect.left(), rect.top(), rect.right(), rect.bottom()) == (10, 20, 29, 39)
    assert (rect.width(), rect.height()) == (20, 20)  # dlib counts both ends
    assert ba.from_dlib_rects([rect]).tolist() == [[10.0, 20.0, 30.0, 40.0]]
    assert ba.from_dlib_rects([]).shape == (0, 4)


@pytest.mark.parametrize(
    ("width", "height", "window"),
    [
        (183, 61, (96, 32)),  # the car_side median box: ratio 3, 96 / 3 = 32
        (235, 237, (96, 96)),  # raccoon: square
        (40, 100, (40, 96)),  # tall: 96 / 2.5 = 38.4 -> 40
        (30, 20, (24, 16)),  # smaller than 96: the long side rounds down to 24
        (200, 10, (96, 16)),  # never thinner than one 16-px block
    ],
)
def test_opencv_window(width, height, window):
    assert ba.opencv_window(np.array([[0.0, 0.0, width, height]])) == window


def test_scorer_hand_worked():
    gt = [np.array([[0.0, 0.0, 10.0, 10.0]]), np.zeros((0, 4))]
    # image 1: the exact box (0.9); image 2 (no object): a false positive scoring higher
    boxes = [np.array([[0.0, 0.0, 10.0, 10.0]]), np.array([[5.0, 5.0, 9.0, 9.0]])]
    out = ba.score(boxes, [np.array([0.9]), np.array([0.95])], gt)
    # ranked: FP (P 0, R 0), TP (P 1/2, R 1): AP = 1 * 1/2
    assert out["ap50"] == pytest.approx(0.5)
    assert out["ap70"] == pytest.approx(0.5)
    assert out["mean_iou"] == pytest.approx(1.0)
    assert out["max_recall"] == pytest.approx(1.0)
    assert (out["n_objects"], out["n_detections"]) == (1, 2)


def test_scorer_ap70_needs_a_tighter_box_and_ignores_score_units():
    gt = [np.array([[0.0, 0.0, 10.0, 10.0]])]
    loose = [np.array([[0.0, 0.0, 10.0, 6.0]])]  # IoU 60 / 100
    for s in (-3.0, 0.2, 40.0):  # any unit: only the ranking matters
        out = ba.score(loose, [np.array([s])], gt)
        assert (out["ap50"], out["ap70"], out["mean_iou"]) == pytest.approx((1.0, 0.0, 0.6))


def test_opencv_adds_the_last_coefficient_and_the_check_catches_a_flipped_bias():
    rng = np.random.default_rng(0)
    hog = ba.make_hog((48, 32))
    w = (0.1 * rng.normal(size=hog.getDescriptorSize())).astype(np.float32)
    b = -0.7
    patch = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    hog.setSVMDetector(np.append(w, b).astype(np.float32))
    assert ba.check_opencv_bias(hog, patch, w, b) < 1e-4
    hog.setSVMDetector(np.append(w, -b).astype(np.float32))  # train_HOG.cpp's -rho
    with pytest.raises(RuntimeError, match="bias check failed"):
        ba.check_opencv_bias(hog, patch, w, b)


def test_parse_options_and_variants():
    assert ba.parse_option("C=0.1") == ("C", 0.1)
    assert ba.parse_option("train_solver=sgd") == ("train_solver", "sgd")  # not JSON: text
    name, opts = ba.parse_variant("exact_pyramid:search=false,window_dim=[96,32],pyramid_scale=1.2")
    assert name == "project_exact_pyramid"
    assert opts == {"search": False, "window_dim": [96, 32], "pyramid_scale": 1.2}
    assert ba.parse_variant("project_x:")[0] == "project_x"
    with pytest.raises(Exception, match="NAME:KEY=VALUE"):
        ba.parse_variant("no colon")


def test_build_methods_share_one_dlib_training():
    methods = ba.build_methods(
        ["project", "dlib", "dlib_upsample1", "opencv", "project_no_search"],
        {"C": 0.1},
        [("project_single", {"search": False, "C": 1.0})],
    )
    by = {m.name: m for m in methods}
    assert list(by) == [
        "project",
        "dlib",
        "dlib_upsample1",
        "opencv",
        "project_no_search",
        "project_single",
    ]
    assert by["dlib"].train_key() == by["dlib_upsample1"].train_key()
    assert (by["dlib"].detect_options, by["dlib_upsample1"].detect_options) == (
        {"upsample": 0},
        {"upsample": 1},
    )
    assert by["project_no_search"].train_options == {"C": 0.1, "search": False}
    assert by["project_single"].train_options == {"C": 1.0, "search": False}


def test_error_message_keeps_dlibs_first_paragraph():
    text = (
        "\nError! An impossible set of object boxes was given for training. All the boxes \n"
        "need to have a similar aspect ratio.\n\nimage 3: box 1\n"
    )
    assert ba.error_message(RuntimeError(text)) == (
        "Error! An impossible set of object boxes was given for training. All the boxes "
        "need to have a similar aspect ratio."
    )
    assert ba.error_message(KeyError()) == "KeyError"


def test_crops_round_outward():
    image = np.arange(100, dtype=np.uint8).reshape(10, 10)
    (crop,) = ba.crops([image], [np.array([[1.5, 2.0, 4.2, 5.0]])])
    assert crop.shape == (3, 4)
    assert crop[0, 0] == image[2, 1]


def test_place_and_synthetic_scenes(tmp_path):
    rng = np.random.default_rng(1)
    boxes = ba.place([(50, 20)] * 3, 100, 100, rng)
    assert boxes.shape == (3, 4) and (boxes[:, 2] <= 100).all() and (boxes[:, 3] <= 100).all()
    for i in range(3):  # no two boxes overlap
        for j in range(i):
            iw = min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0])
            ih = min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1])
            assert iw <= 0 or ih <= 0
    assert ba.place([(101, 10)], 100, 100, rng) is None

    backgrounds = []
    for i in range(3):
        path = tmp_path / f"bg{i}.png"
        cv2.imwrite(str(path), np.full((60, 80), 100, np.uint8))
        backgrounds.append(path)
    objects = [np.full((20, 40, 3), 255, np.uint8)] * 5
    images, scene_boxes = ba.synthetic_scenes(objects, [tmp_path / "junk.db", *backgrounds], 0)
    assert sorted(len(b) for b in scene_boxes) == [2, 3]  # each object once, 2-3 per scene
    for image, b in zip(images, scene_boxes):
        assert image.ndim == 3 and (image[..., 0] == image[..., 2]).all()  # grey
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        assert ((w >= 20) & (w <= 80)).all() and ((h >= 10) & (h <= 40)).all()
        assert (b[:, 2] <= image.shape[1]).all() and (b[:, 3] <= image.shape[0]).all()
        for x1, y1, x2, y2 in b.astype(int):
            assert (image[y1:y2, x1:x2] == 255).all()  # the object, pasted whole


def test_a_failing_method_leaves_the_others(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no\n\nmore")

    def oracle(model):
        return lambda image: (np.array([[0.0, 0.0, 10.0, 10.0]]), np.array([1.0]))

    monkeypatch.setitem(ba.TRAINERS, "dlib", broken)
    monkeypatch.setitem(ba.TRAINERS, "opencv", lambda *a: "model")
    monkeypatch.setitem(ba.DETECTORS, "opencv", oracle)
    image = np.zeros((20, 20, 3), np.uint8)
    split = ba.Split([image], [np.zeros((0, 4))], [image], [np.array([[0.0, 0, 10, 10]])])
    split.test_parts = ["held_out"]
    rows = ba.run_dataset(split, [], ba.build_methods(["dlib", "dlib_upsample1", "opencv"], {}))
    assert rows["dlib"] == rows["dlib_upsample1"] == {"error": "no"}
    assert rows["opencv"]["ap50"] == 1.0 and rows["opencv"]["ms_per_image"] >= 0


@pytest.mark.needs_data
def test_negatives_and_backgrounds_are_car_free_and_disjoint():
    negatives, spare = ba.car_free_photos(ba.datasets_root(), 5, ba.SEED)
    assert len(negatives) == 5 and all(n.dtype == np.uint8 and n.ndim == 3 for n in negatives)
    assert spare and all(p.parent.name in ba.CAR_FREE for p in spare)
    again, spare_again = ba.car_free_photos(ba.datasets_root(), 5, ba.SEED)
    assert all((a == b).all() for a, b in zip(negatives, again)) and spare == spare_again
    assert len(spare) + 5 <= sum(
        1 for c in ba.CAR_FREE for p in (ba.datasets_root() / "sceneclass13" / c).iterdir()
    )
