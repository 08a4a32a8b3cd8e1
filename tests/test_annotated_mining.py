"""Mining annotated images: only windows away from every object become negatives."""

import json

import numpy as np
import pytest

from pyimagesearch.descriptor.hog import HogParams
from pyimagesearch.detection import WindowDetector
from pyimagesearch.features.extract import jittered_boxes
from pyimagesearch.features.store import FeatureStore
from pyimagesearch.infrastructure.config import load_config
from pyimagesearch.io.images import read_gray
from pyimagesearch.mining.hard_negatives import annotated_group, mine_hard_negatives, mine_image
from pyimagesearch.model.linear import LinearModel
from pyimagesearch.model.training import training_set
from pyimagesearch.sources.annotations import AnnotatedImage
from pyimagesearch.sources.caltech import read_caltech_mat

from .conftest import CAR_ANNOTATIONS, CARS, cars_conf_dict, mining

COURSE = HogParams()


def _model():
    rng = np.random.default_rng(5)
    return LinearModel(
        rng.normal(scale=0.05, size=COURSE.descriptor_size((96, 32))), 0, 1, 0, COURSE, (96, 32)
    )


def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.needs_data
@pytest.mark.parametrize("iou_max", [0.1, 0.3, 0.5])
@pytest.mark.slow
def test_mined_windows_are_exactly_those_below_the_iou_threshold(iou_max):
    path = CARS / "image_0005.jpg"
    gt = read_caltech_mat(CAR_ANNOTATIONS / "annotation_0005.mat")
    # a second, made-up object so that "every box" matters
    boxes = np.vstack([gt, [[5, 5, 60, 30]]])
    item = AnnotatedImage(path, boxes)
    model = _model()
    rows = mine_image(
        item, model, mining(model, 4, 1.5, 0.0, negative_iou_max=iou_max, negative_cover_max=1.01)
    )
    everything = WindowDetector(model, 4, 1.5).candidates(read_gray(path), threshold=-np.inf)
    expected = [tuple(b) for b in everything.boxes if max(_iou(b, g) for g in boxes) < iou_max]
    assert len(rows["score"]) == len(expected) > 0
    assert {tuple(b) for b in rows["box"]} == set(expected)
    for box, best in zip(rows["box"], rows["best_iou"]):
        assert best == pytest.approx(max(_iou(box, g) for g in boxes))
        assert best < iou_max
    # windows in the ignore band (and positives) were never mined
    ignored = len(everything) - len(expected)
    assert ignored > 0


@pytest.mark.needs_data
@pytest.mark.slow
def test_annotated_round_provenance_and_training(tmp_path):
    raw = cars_conf_dict(
        tmp_path, num_distraction_images=30, eval_num_distraction_images=0, hn_min_probability=0.2
    )
    (tmp_path / "c.json").write_text(json.dumps(raw))
    conf = load_config(tmp_path / "c.json")
    from pyimagesearch.features.extract import extract_features
    from pyimagesearch.mining import mine_annotated
    from pyimagesearch.model.training import train_model

    extract_features(conf, progress=False)
    model = train_model(conf)
    summary = mine_annotated(conf, 1, model=model, progress=False)
    store = FeatureStore(conf["features_path"], COURSE, (96, 32))
    rows = store.read(annotated_group(1))
    assert "hard_negatives" in annotated_group(1)
    assert len(rows["score"]) == summary.n_kept > 0
    assert np.all(rows["best_iou"] < conf["hn_negative_iou_max"])
    assert np.all(rows["probability"] >= 0.2) and np.all(np.diff(rows["score"]) <= 0)
    assert set(rows["round"]) == {1}
    assert all("car_side" in s for s in rows["source"])
    assert summary.per_category == {"annotated": summary.n_found}
    # training uses them only when asked
    _, labels_with, counts_with = training_set(
        _store(conf), conf.options.training, True, annotated=True
    )
    _, labels_without, counts_without = training_set(
        _store(conf), conf.options.training, True, annotated=False
    )
    assert counts_with["hard_negatives"] == summary.n_kept
    assert counts_without["hard_negatives"] == 0
    assert len(labels_with) == len(labels_without) + summary.n_kept
    # and the distraction mining of the same round is kept apart
    mine_hard_negatives(conf, 1, model=model, progress=False)
    assert store.hard_negative_rounds() == [1] == store.hard_negative_rounds(annotated=True)


def test_jittered_positives_overlap_enough():
    rng = np.random.default_rng(0)
    box = np.array([35.0, 78.0, 233.0, 135.0])
    boxes = jittered_boxes(box, 20, 0.7, rng)
    assert len(boxes) == 20
    assert all(_iou(b, box) >= 0.7 for b in boxes)
    assert len({tuple(np.round(b, 3)) for b in boxes}) == 20


@pytest.mark.needs_data
def test_windows_inside_an_object_are_never_negatives():
    """A window that an object covers for >= half its area (a letter of a sign, a wheel
    of a car) is not a negative, whatever its IoU with the object."""
    path = CARS / "image_0005.jpg"
    gt = read_caltech_mat(CAR_ANNOTATIONS / "annotation_0005.mat")
    item = AnnotatedImage(path, gt)
    model = _model()
    rows = mine_image(item, model, mining(model, 4, 1.5, 0.0, negative_iou_max=0.3))
    everything = WindowDetector(model, 4, 1.5).candidates(read_gray(path), threshold=-np.inf)

    def cover(w):
        iw = max(0.0, min(w[2], gt[0][2]) - max(w[0], gt[0][0]))
        ih = max(0.0, min(w[3], gt[0][3]) - max(w[1], gt[0][1]))
        return iw * ih / ((w[2] - w[0]) * (w[3] - w[1]))

    expected = {tuple(b) for b in everything.boxes if _iou(b, gt[0]) < 0.3 and cover(b) < 0.5}
    assert {tuple(b) for b in rows["box"]} == expected
    inside = [b for b in everything.boxes if _iou(b, gt[0]) < 0.3 and cover(b) >= 0.5]
    assert inside  # such windows exist in this image, and none was mined
    assert not expected & {tuple(b) for b in inside}


@pytest.mark.needs_data
def test_margin_mining_tops_up_a_confident_model():
    """When no window reaches the probability, the best distinct windows inside the SVM
    margin (decision >= -1) are mined, at most hn_margin_per_image of them."""
    path = CARS / "image_0010.jpg"
    model = _model()
    image = read_gray(path)
    everything = WindowDetector(model, 4, 1.5).candidates(image, threshold=-np.inf)
    top = float(everything.scores.max())
    # a probability no window reaches: the rule alone mines nothing
    p = float(model.probability(top + 1.0))
    none = mine_image(path, model, mining(model, 4, 1.5, p))
    assert len(none["score"]) == 0
    margin = top - 0.5
    rows = mine_image(path, model, mining(model, 4, 1.5, p, margin=margin, margin_per_image=5))
    assert 1 <= len(rows["score"]) <= 5
    assert (rows["score"] >= margin - 1e-6).all()
    assert rows["score"][0] == pytest.approx(top, abs=1e-5)  # the best window comes first
    boxes = rows["box"]
    for i in range(len(boxes)):  # distinct places: suppressed as NMS would
        for j in range(i + 1, len(boxes)):
            assert _iou(boxes[i], boxes[j]) < 0.9


def _store(conf):
    from pyimagesearch.features.store import FeatureStore

    return FeatureStore(conf["features_path"], conf.options.descriptor, tuple(conf["window_dim"]))
