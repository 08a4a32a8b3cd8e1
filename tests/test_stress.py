"""The stress suite's variants are what they claim to be, and its figures are real."""

import json

import numpy as np
import pytest

from pyimagesearch.evaluation import variants
from pyimagesearch.evaluation.metrics import detection_figures
from pyimagesearch.infrastructure.config import config_from_dict
from pyimagesearch.infrastructure.geometry import iou_matrix
from pyimagesearch.io.images import read_gray
from pyimagesearch.orchestration.stress_suite import stress_suite
from pyimagesearch.sources.annotations import read_annotations, split_train_test

from .conftest import cars_conf_dict


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    conf = config_from_dict(cars_conf_dict(tmp_path_factory.mktemp("s")))
    _, test = split_train_test(read_annotations(conf.options.annotations), 0.5, 42)
    out = [(read_gray(i.path), i.boxes.copy()) for i in test[:12]]
    from pyimagesearch.sources.distractions import split_distractions

    return out, variants.SceneFiles(
        split_distractions(conf.options.distractions).evaluation[:5], conf["max_image_pixels"]
    )


@pytest.mark.needs_data
def test_scaled_variant_pastes_the_shrunk_image_on_a_scene(samples):
    items, scenes = samples
    rng = np.random.default_rng(0)
    out = variants.rescaled("scale_0.5", items, scenes, rng)
    assert len(out) == len(items) == 12
    for (image, boxes), (orig, orig_boxes) in zip(out, items):
        assert image.shape == orig.shape  # same canvas size
        sizes = boxes[:, 2:] - boxes[:, :2]
        np.testing.assert_allclose(sizes, (orig_boxes[:, 2:] - orig_boxes[:, :2]) * 0.5, atol=1)
        x1, y1, x2, y2 = np.round(boxes[0]).astype(int)
        assert image[y1:y2, x1:x2].std() > 5  # the object, not an empty canvas
    big = variants.rescaled("scale_2", items, scenes, rng)
    assert big[0][0].shape == (items[0][0].shape[0] * 2, items[0][0].shape[1] * 2)


@pytest.mark.needs_data
def test_border_variant_cuts_a_quarter_to_a_half_of_one_object(samples):
    items, _ = samples
    out = variants._border("border", items, variants.SceneFiles([], 1), np.random.default_rng(0))
    assert len(out) == len(items) == 12
    for (image, boxes), (orig, orig_boxes) in zip(out, items):
        widths = orig_boxes[:, 2] - orig_boxes[:, 0]
        visible = boxes[:, 2] - boxes[:, 0]
        assert image.shape[1] < orig.shape[1]
        cut = 1 - visible.min() / widths[np.argmin(visible)]
        assert 0.25 - 0.02 <= cut <= 0.5 + 0.02
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= image.shape[1]).all()
        touches = (boxes[:, 0] == 0) | (boxes[:, 2] == image.shape[1])
        assert touches.any()


@pytest.mark.needs_data
def test_side_by_side_objects_touch_or_overlap_slightly(samples):
    items, scenes = samples
    out = variants._side_by_side("side_by_side", items, scenes, np.random.default_rng(0))
    assert len(out) == sum(len(b) for _, b in items) >= 12
    for image, boxes in out:
        assert boxes.shape == (2, 4)
        a, b = boxes
        gap = b[0] - a[2]
        narrow = min(a[2] - a[0], b[2] - b[0])
        assert -0.1 * narrow - 1 <= gap <= 1  # touching or overlapping by <= 10 %
        assert iou_matrix(boxes[:1], boxes[1:])[0, 0] < 0.1
        assert (boxes >= 0).all() and (boxes[:, 2] <= image.shape[1]).all()


class _StopBeforeTraining(Exception):
    """Raised by the stand-in for ``run_pipeline``: the rotated set is written by then."""


def test_transposed_boxes_follow_the_rotated_pixels(tmp_path, monkeypatch):
    """``stress_suite._transposed`` rotates the images and their boxes together: the
    pixels in each written box are the original box's pixels turned clockwise. Synthetic
    images (a box cut by the border is clipped first); training is stubbed out."""
    import cv2

    from pyimagesearch.orchestration import stress_suite as suite
    from pyimagesearch.sources.annotations import AnnotatedImage

    rng = np.random.default_rng(0)
    originals = []
    for i, (h, w) in enumerate([(90, 150), (77, 131)]):
        image = rng.integers(0, 256, size=(h, w), dtype=np.uint8)  # no two rows alike
        path = tmp_path / "src" / f"im{i}.png"
        path.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(path), image)
        boxes = np.array([[10, 20, 106, 52], [30 + i, 5, 70, 65], [120, 40, w + 25, 70]], float)
        originals.append(AnnotatedImage(path, boxes))
    monkeypatch.setattr(suite, "read_annotations", lambda options: originals)
    seen = {}

    def stop(conf, progress=True):
        seen["conf"] = conf
        raise _StopBeforeTraining

    monkeypatch.setattr(suite, "run_pipeline", stop)
    conf = config_from_dict(cars_conf_dict(tmp_path))
    with pytest.raises(_StopBeforeTraining):
        suite._transposed(conf, tmp_path / "transposed", progress=False)
    derived = seen["conf"]
    # the dlib XML the package wrote, read back
    rotated = read_annotations(derived.options.annotations)
    assert len(rotated) == len(originals)
    n_boxes = 0
    for item, orig in zip(rotated, originals):
        image = read_gray(orig.path)
        h, w = image.shape
        turned = read_gray(item.path)
        assert turned.shape == (w, h)
        # clockwise: pixel (x, y) goes to (h - 1 - y, x)
        assert turned[0, h - 1] == image[0, 0] and turned[w - 1, 0] == image[h - 1, w - 1]
        expected = orig.boxes_inside(w, h)
        assert len(item.boxes) == len(expected) == 3
        for box, new in zip(expected, item.boxes):
            x1, y1, x2, y2 = np.round(box).astype(int)
            u1, v1, u2, v2 = np.round(new).astype(int)
            assert (u2 - u1, v2 - v1) == (y2 - y1, x2 - x1)  # width and height swap
            np.testing.assert_array_equal(turned[v1:v2, u1:u2], np.rot90(image[y1:y2, x1:x2], -1))
            n_boxes += 1
    assert n_boxes == 6
    # the model of the rotated set gets a window of the rotated (tall) aspect
    assert derived["window_dim"][1] > derived["window_dim"][0]


def test_detection_figures_hand_worked():
    gt = [np.array([[0, 0, 10, 10], [20, 0, 30, 10.0]])]
    boxes = [np.array([[0, 0, 10, 10], [20, 0, 28, 10], [50, 50, 60, 60.0]])]
    scores = [np.array([0.9, 0.8, 0.95])]
    f = detection_figures(boxes, scores, gt)
    # ranked: FP (0.95), TP iou 1 (0.9), TP iou 0.8 (0.8): precision 1/2 at recall 1/2,
    # 2/3 at recall 1; the monotone envelope is 2/3 on both halves
    assert f["ap50"] == pytest.approx(2 / 3)
    assert f["ap70"] == pytest.approx(f["ap50"])
    assert f["mean_iou"] == pytest.approx(0.9)
    assert f["n_objects"] == 2
    strict = detection_figures(boxes, scores, [gt[0] + np.array([0, 0, 0, 4.0])])
    assert strict["ap70"] < strict["ap50"]


def test_unknown_variant_is_refused(tmp_path):
    conf = config_from_dict(cars_conf_dict(tmp_path))
    with pytest.raises(ValueError, match="unknown stress variant 'tilted'"):
        stress_suite(conf, None, ("tilted",))


def test_stress_report_section_replaces_itself(tmp_path):
    from pyimagesearch.report.stress_section import write_stress_report

    (tmp_path / "report.md").write_text("# Detector report\n\nbody\n")
    results = {
        "variants": {"original": {"ap50": 1.0, "ap70": 0.9, "mean_iou": 0.8, "n_objects": 3}}
    }
    write_stress_report(results, tmp_path)
    write_stress_report(results, tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert text.count("## Stress suite") == 1 and "| `original` | 1.0000 | 0.9000 |" in text
    assert json.loads((tmp_path / "stress.json").read_text()) == results
    assert (tmp_path / "stress.png").stat().st_size > 1000
