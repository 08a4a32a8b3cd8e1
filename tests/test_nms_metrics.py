"""NMS and detection metrics on hand-worked examples."""

import numpy as np
import pytest

from pyimagesearch.detection.nms import non_max_suppression
from pyimagesearch.evaluation.metrics import (
    average_precision,
    false_positive_types,
    match_detections,
    precision_recall,
)
from pyimagesearch.infrastructure.geometry import iou


def test_nms_hand_worked():
    boxes = np.array(
        [
            [0, 0, 10, 10],  # A, score 0.9
            [1, 1, 11, 11],  # B: overlaps A on 9x9 = 81% of its area -> suppressed
            [8, 0, 18, 10],  # C: overlaps A on 2x10 = 20% -> kept (<= 0.3)
            [50, 50, 60, 60],  # D: alone -> kept
            [7, 0, 17, 10],  # E: overlaps A 30% exactly (kept), overlaps C 90% -> suppressed
        ],
        float,
    )
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.6])
    keep = non_max_suppression(boxes, scores, 0.3)
    assert keep.tolist() == [0, 2, 3]


def test_nms_overlap_is_relative_to_the_suppressed_box():
    big, small = [0, 0, 100, 100], [10, 10, 20, 20]  # small lies fully inside big
    assert non_max_suppression(np.array([big, small]), np.array([1.0, 0.5]), 0.3).tolist() == [0]
    # big box scored lower: its overlap with the small kept box is 1% of its area: kept
    assert non_max_suppression(np.array([big, small]), np.array([0.5, 1.0]), 0.3).tolist() == [
        1,
        0,
    ]
    assert non_max_suppression(np.zeros((0, 4)), np.zeros(0), 0.3).tolist() == []


def test_iou_hand_worked():
    assert iou(np.array([0, 0, 10, 10]), np.array([[5, 0, 15, 10]]))[0] == pytest.approx(50 / 150)
    assert iou(np.array([0, 0, 10, 10]), np.array([[20, 20, 30, 30]]))[0] == 0


def test_average_precision_hand_worked():
    # 3 objects; detections by score: TP, FP, TP, FP
    # -> P = 1, 1/2, 2/3, 1/2 at R = 1/3, 1/3, 2/3, 2/3
    flags = np.array([True, False, True, False])
    precision, recall = precision_recall(flags, 3)
    np.testing.assert_allclose(precision, [1, 0.5, 2 / 3, 0.5])
    np.testing.assert_allclose(recall, [1 / 3, 1 / 3, 2 / 3, 2 / 3])
    # all-point AP: 1/3 * 1 + 1/3 * 2/3 + 1/3 * 0 (third object never found)
    assert average_precision(precision, recall) == pytest.approx(1 / 3 + 2 / 9)


def test_matching_one_detection_per_object():
    gt = [np.array([[0, 0, 10, 10]]), np.zeros((0, 4))]
    dets = [np.array([[0, 0, 10, 10], [1, 0, 10, 10], [40, 40, 50, 50]]), np.array([[0, 0, 5, 5]])]
    scores = [np.array([0.9, 0.95, 0.5]), np.array([0.99])]
    s, flags, n = match_detections(dets, scores, gt)
    assert n == 1
    np.testing.assert_allclose(s, [0.99, 0.95, 0.9, 0.5])
    # the 0.95 detection (IoU 0.9) takes the object; the 0.9 one is a duplicate
    assert flags.tolist() == [False, True, False, False]


def test_false_positive_types_hand_worked():
    gt = [np.array([[0, 0, 100, 40]]), np.zeros((0, 4))]
    dets = [
        np.array(
            [
                [0, 0, 100, 40],  # 0.9: true positive
                [2, 0, 102, 40],  # 0.8: IoU 0.96 with an object already found: duplicate
                [60, 0, 160, 40],  # 0.7: IoU 40*40/(2*4000-1600) = 0.25: localisation
                [300, 300, 400, 340],  # 0.6: no overlap: background
            ],
            float,
        ),
        np.array([[0, 0, 10, 10]], float),  # object-free image: background
    ]
    scores = [np.array([0.9, 0.8, 0.7, 0.6]), np.array([0.5])]
    assert false_positive_types(dets, scores, gt) == {
        "localisation": 1,
        "duplicate": 1,
        "background": 2,
    }


def test_suppression_keeps_neighbours_and_removes_duplicates():
    """Two objects side by side (touching, or overlapping by 10 % of their width) both
    survive; a second box on the same object (shifted, or inside it) does not."""
    from pyimagesearch.detection.nms import non_max_suppression

    a = [0, 0, 100, 40]
    touching = [100, 0, 200, 40]
    overlapping = [90, 2, 190, 42]
    shifted_dup = [8, 2, 104, 42]
    inner_dup = [10, 5, 60, 35]
    boxes = np.array([a, touching, overlapping, shifted_dup, inner_dup], float)
    keep = non_max_suppression(boxes[:2], np.array([0.9, 0.8]), 0.3)
    assert sorted(keep.tolist()) == [0, 1]
    keep = non_max_suppression(boxes[[0, 2]], np.array([0.9, 0.8]), 0.3)
    assert sorted(keep.tolist()) == [0, 1]
    keep = non_max_suppression(boxes[[0, 3, 4]], np.array([0.9, 0.8, 0.7]), 0.3)
    assert keep.tolist() == [0]
