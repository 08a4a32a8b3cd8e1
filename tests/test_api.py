"""The Python API on arrays (train_detector, Detector, load_detector, evaluate_detector)
and the ``pyimagesearch`` command."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

import pyimagesearch
from pyimagesearch.api import _gray, _object_free_parts
from pyimagesearch.evaluation.metrics import (
    average_precision,
    match_detections,
    precision_recall,
)

from .conftest import CAR_ANNOTATIONS, CARS, DATASETS, ROOT, SCENES


def _cars(n: int, start: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    import cv2

    from pyimagesearch.sources.caltech import read_caltech_mat

    paths = sorted(CARS.glob("image_*.jpg"))[start : start + n]
    images = [cv2.imread(str(p)) for p in paths]
    boxes = [
        read_caltech_mat(CAR_ANNOTATIONS / f"annotation_{p.stem.split('_')[1]}.mat") for p in paths
    ]
    return images, boxes


def _scenes(n: int) -> list[np.ndarray]:
    import cv2

    return [cv2.imread(str(p)) for p in sorted((SCENES / "MITcoast").glob("*.jpg"))[:n]]


@pytest.fixture(scope="module")
def trained():
    images, boxes = _cars(40)
    detector = pyimagesearch.train_detector(images, boxes, _scenes(30), search=False, hn_rounds=1)
    return detector


# ---- unit: input checks and helpers ----------------------------------------------------


def test_bad_inputs_are_refused_with_messages():
    image = np.zeros((50, 60), np.uint8)
    with pytest.raises(ValueError, match=r"2 images but 1 box arrays"):
        pyimagesearch.train_detector([image, image], [np.array([[1, 1, 20, 20]])])
    with pytest.raises(ValueError, match=r"images\[0\]: expected a uint8 image, got float64"):
        pyimagesearch.train_detector([image.astype(float)], [np.array([[1, 1, 20, 20]])])
    with pytest.raises(ValueError, match=r"boxes\[0\]: every box needs x2 > x1"):
        pyimagesearch.train_detector([image], [np.array([[30, 1, 20, 20]])])
    with pytest.raises(ValueError, match=r"boxes\[0\]: expected an \(n, 4\) array"):
        pyimagesearch.train_detector([image], [np.array([1, 2, 3])])
    with pytest.raises(ValueError, match=r"no boxes"):
        pyimagesearch.train_detector([image], [np.zeros((0, 4))])
    with pytest.raises(ValueError, match=r"unknown key 'window_size' \(did you mean 'window_dim'"):
        pyimagesearch.train_detector(
            [np.zeros((200, 200), np.uint8)], [np.array([[10, 10, 60, 40]])], window_size=[48, 24]
        )


def test_gray_accepts_bgr_bgra_and_gray():
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 2] = 255  # pure red: OpenCV's weights give 0.299 * 255
    assert _gray(bgr, "x").shape == (4, 5) and int(_gray(bgr, "x")[0, 0]) == 76
    assert _gray(np.dstack([bgr, np.zeros((4, 5), np.uint8)]), "x")[0, 0] == 76
    assert _gray(bgr[..., :1], "x").shape == (4, 5)


def test_object_free_parts_are_the_strips_around_all_objects():
    image = np.arange(100 * 120, dtype=np.uint32).reshape(100, 120).astype(np.uint8)
    parts = _object_free_parts([image], [np.array([[30, 20, 50, 40], [60, 25, 90, 70.5]])])
    # left of x=30, right of x=90, above y=20, below y=71 (each at least 16 px thick)
    assert [p.shape for p in parts] == [(100, 30), (100, 30), (20, 120), (29, 120)]
    np.testing.assert_array_equal(parts[1], image[:, 90:])
    np.testing.assert_array_equal(parts[3], image[71:, :])


# ---- on real data ---------------------------------------------------------------------------


@pytest.mark.needs_data
@pytest.mark.slow
def test_trained_detector_finds_held_out_cars_and_round_trips(trained, tmp_path):
    images, boxes = _cars(30, start=60)
    figures = pyimagesearch.evaluate_detector(trained, images, boxes)
    assert figures["average_precision"] > 0.9
    assert 0 < figures["recall"] <= 1 and 0 < figures["precision"] <= 1

    # an independent computation of AP from the detector's own detections
    det_boxes, det_scores = [], []
    for image in images:
        found = trained.detect(image, min_probability=0.05)
        det_boxes.append(found.boxes)
        det_scores.append(found.probabilities)
    scores, flags, n = match_detections(det_boxes, det_scores, boxes)
    assert figures["average_precision"] == pytest.approx(
        average_precision(*precision_recall(flags, n)), abs=1e-12
    )
    at = scores >= trained.min_probability
    assert figures["recall"] == pytest.approx(flags[at].sum() / n)

    path = trained.save(tmp_path / "car.json")
    loaded = pyimagesearch.load_detector(path)
    assert loaded.settings() == trained.settings()
    again = loaded.detect(images[0])
    first = trained.detect(images[0])
    np.testing.assert_allclose(again.boxes, first.boxes)
    np.testing.assert_allclose(again.probabilities, first.probabilities)
    assert "pickle" not in path.read_text()[:200] and path.read_text().lstrip().startswith("{")


@pytest.mark.needs_data
@pytest.mark.slow
def test_without_negative_images_the_object_free_parts_are_used():
    images, boxes = _cars(40)
    detector = pyimagesearch.train_detector(images, boxes, search=False, hn_rounds=1)
    assert detector.model.metadata["n_negatives"] > 1000  # windows of the strips
    held_images, held_boxes = _cars(30, start=60)
    figures = pyimagesearch.evaluate_detector(detector, held_images, held_boxes)
    assert figures["average_precision"] > 0.9


@pytest.mark.needs_data
@pytest.mark.slow
def test_readme_python_example_runs_as_written(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- api-example -->\s*```python\n(.*?)```", text, re.S)
    assert block, "README has no marked Python API example"
    monkeypatch.chdir(tmp_path)
    code = block.group(1).replace("../shared/datasets", str(DATASETS))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    ap = float(re.search(r"average precision ([0-9.]+)", done.stdout).group(1))
    assert ap > 0.9, done.stdout
    assert (tmp_path / "car_detector.json").is_file()


# ---- the pyimagesearch command --------------------------------------------------------------


def test_command_lists_steps_and_suggests_on_typos():
    from pyimagesearch.commands import COMMANDS

    done = subprocess.run(
        [sys.executable, "-c", "from pyimagesearch.commands import console; console()", "--help"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0
    for name in ("dims", "extract", "train", "mine", "evaluate", "detect", "review", "pipeline"):
        assert re.search(rf"^  {name} ", done.stdout, re.M), name
    assert set(COMMANDS) >= {"fetch", "coco-backgrounds", "openimages-subset"}
    bad = subprocess.run(
        [sys.executable, "-c", "from pyimagesearch.commands import console; console()", "minee"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "error: unknown command 'minee' (did you mean 'mine'?) (see pyimagesearch --help)"
    )


@pytest.mark.slow
def test_every_sub_command_has_the_scripts_options():
    from pyimagesearch.commands import COMMANDS

    for name, (module, _) in COMMANDS.items():
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pyimagesearch.commands import console; console(sys.argv[1:])",
                name,
                "--help",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (name, done.stderr)
        assert done.stdout.startswith(f"usage: pyimagesearch {name}"), (name, done.stdout[:80])
        assert module.startswith("pyimagesearch.")


@pytest.mark.needs_data
def test_percent_gt_images_1_trains_on_all_and_evaluation_says_there_is_no_test_set(tmp_path):
    from pyimagesearch.config import config_from_dict
    from pyimagesearch.errors import ConfigError
    from pyimagesearch.evaluation.evaluate import evaluate
    from pyimagesearch.sources.annotations import read_annotations, split_train_test

    from .conftest import cars_conf_dict

    conf = config_from_dict(cars_conf_dict(tmp_path, percent_gt_images=1))
    items = read_annotations(conf)
    train, test = split_train_test(items, 1.0, 42)
    assert train == items and test == []
    with pytest.raises(ConfigError, match=r"percent_gt_images': 1 trains on every annotated"):
        evaluate(conf, model=object(), progress=False)
