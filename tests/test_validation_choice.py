"""What the settings search validates on, and how it chooses.

The choice must value localisation, never take a cheaper setting that is less accurate
beyond noise, validate small data sets over folds, and, for crops, on scenes with the
held-out objects pasted at random sizes (issue: a crops-trained detector chose a coarse
pyramid by validating on the crops themselves).
"""

from __future__ import annotations

import numpy as np
import pytest

from pyimagesearch.evaluation.variants import SceneFiles, derive_variant
from pyimagesearch.orchestration.search import (
    Row,
    _best_round,
    choose,
    criterion,
    noise_tolerance,
    paired_noise,
    validation_folds,
)
from pyimagesearch.sources.annotated_image import AnnotatedImage
from pyimagesearch.sources.dims import looks_like_crops

GRID = {"window_dim": [(96, 32), (72, 24)], "C": [0.01, 0.001, 0.1]}


def _row(ap50, ap70, up=0, scale=1.1487, window=(96, 32), c=0.01):
    order = [0, GRID["window_dim"].index(window), GRID["C"].index(c)]
    return {
        "order": order,
        "window_dim": list(window),
        "C": c,
        "pyramid_scale": scale,
        "upsample": up,
        "ap50": ap50,
        "ap70": ap70,
        "mean_iou": 0.8,
    }


def test_localisation_counts_in_the_criterion():
    loose = _row(0.96, 0.60)
    tight = _row(0.95, 0.90, window=(72, 24))
    assert criterion(tight) > criterion(loose)
    assert choose([loose, tight], 0.01) is tight


def test_a_cheaper_setting_wins_only_within_noise():
    upsampled = _row(0.95, 0.90, up=1)
    cheap_close = _row(0.95, 0.895, up=0)
    cheap_worse = _row(0.90, 0.80, up=0)
    assert choose([upsampled, cheap_close], 0.01) is cheap_close
    assert choose([upsampled, cheap_worse], 0.01) is upsampled


def test_noise_is_about_one_object():
    assert noise_tolerance(50) == pytest.approx(0.02)
    assert noise_tolerance(100) == pytest.approx(0.01)
    assert noise_tolerance(10_000) == pytest.approx(0.005)


def test_few_images_are_validated_over_folds_that_cover_them_once():
    items = list(range(32))
    folds = validation_folds(items, 0.3, 42)
    assert len(folds) == 3
    held = sorted(i for _, val in folds for i in val)
    assert held == items  # every image validates exactly once
    for fit, val in folds:
        assert not set(fit) & set(val)
        assert len(fit) + len(val) == len(items)
    many = validation_folds(list(range(100)), 0.3, 42)
    assert len(many) == 1 and len(many[0][1]) == 30


def test_rounds_are_kept_while_validation_holds():
    history = [
        {"round": 0, "ap50": 0.90, "ap70": 0.80},
        {"round": 1, "ap50": 0.95, "ap70": 0.86},
        {"round": 2, "ap50": 0.948, "ap70": 0.858},  # within noise: kept (fewer FPs)
    ]
    assert _best_round(history, 0.01) == 2
    history[2].update(ap50=0.92, ap70=0.80)  # worse beyond noise: round 1
    assert _best_round(history, 0.01) == 1
    assert _best_round(history[:1], 0.01) == 0
    # with hn_min_ap_gain, a round must gain that much over the one before
    history[2].update(ap50=0.96, ap70=0.87)
    assert _best_round(history, 0.01, min_gain=0.02) == 1
    assert _best_round(history, 0.01, min_gain=0.5) == 0


def _fold(hits: list[bool]) -> tuple[list, list, list]:
    """One fold's validation: one object per image, found exactly where ``hits`` says,
    else one confident detection on the background."""
    gt = np.array([[0, 0, 10, 10.0]])
    miss = np.array([[50, 50, 60, 60.0]])
    boxes = [gt.copy() if hit else miss.copy() for hit in hits]
    scores = [np.array([0.5 + 0.4 * hit + 0.001 * i]) for i, hit in enumerate(hits)]
    return boxes, scores, [gt.copy() for _ in hits]


def test_a_rounds_noise_is_the_bootstrap_spread_of_its_difference():
    rng = np.random.default_rng(1)
    base = list(rng.random(60) < 0.7)
    # the same detections: no difference on any resample
    assert paired_noise([_fold(base)], [_fold(base)]) == 0.0
    # one image changed of 60 moves the criterion on the resamples that draw it only;
    # ten changed (split over two folds) spread it far more
    one = [not base[0], *base[1:]]
    ten = [not h if i < 10 else h for i, h in enumerate(base)]
    small = paired_noise([_fold(base)], [_fold(one)])
    large = paired_noise([_fold(base[:30]), _fold(base[30:])], [_fold(ten[:30]), _fold(ten[30:])])
    assert 0 < small < large / 2
    # independently: the standard deviation of the same resamples recomputed by hand
    from pyimagesearch.evaluation.metrics import detection_figures

    pick_rng = np.random.default_rng(0)
    a, b = _fold(base), _fold(ten)
    diffs = []
    for _ in range(100):
        pick = pick_rng.integers(0, 60, 60)
        fa = detection_figures(*([col[i] for i in pick] for col in a))
        fb = detection_figures(*([col[i] for i in pick] for col in b))
        diffs.append(criterion(fb) - criterion(fa))
    assert paired_noise([a], [b]) == pytest.approx(np.std(diffs))


def test_a_window_that_wins_by_the_luck_of_the_images_ties_with_the_configs():
    rng = np.random.default_rng(3)
    base = list(rng.random(30) < 0.6)
    missed = [i for i, h in enumerate(base) if not h]
    found = [i for i, h in enumerate(base) if h]
    # another window finds 3 objects the config's misses and misses 2 it finds: one more
    luckier = [(i in missed[:3]) or (h and i not in found[:2]) for i, h in enumerate(base)]

    def row(hits, window):
        r = Row(_row(0.0, 0.0, window=window))
        r.parts = [_fold(hits)]
        figures = criterion_figures(r.parts)
        r.update(ap50=figures["ap50"], ap70=figures["ap70"])
        return r

    config, other = row(base, (96, 32)), row(luckier, (72, 24))
    gap = criterion(other) - criterion(config)
    assert 0.01 < gap < paired_noise(config.parts, other.parts)
    # beyond the fixed one-object tolerance, within the measured noise: the config's window
    assert choose([dict(config), dict(other)], 0.01)["window_dim"] == [72, 24]
    assert choose([config, other], 0.01) is config
    # far beyond the measured noise (every object found): the better window wins
    clear = row([True] * 30, (72, 24))
    assert choose([config, clear], 0.01) is clear


def criterion_figures(parts):
    from pyimagesearch.evaluation.metrics import detection_figures

    return detection_figures(*([x for p in parts for x in p[i]] for i in range(3)))


def test_a_round_within_its_measured_noise_is_kept():
    history = [
        {"round": 0, "ap50": 0.12, "ap70": 0.03},
        {"round": 1, "ap50": 0.11, "ap70": 0.02, "noise": 0.03},  # 0.01 lower: noise
    ]
    assert _best_round(history, 0.005) == 1
    history[1]["noise"] = 0.005  # a round measured steady: the same drop counts
    assert _best_round(history, 0.005) == 0
    del history[1]["noise"]  # no measurement: the tolerance decides
    assert _best_round(history, 0.005) == 0 and _best_round(history, 0.02) == 1


def _png(path, shape):
    import cv2

    cv2.imwrite(str(path), np.full(shape, 100, np.uint8))
    return path


def test_crops_are_told_from_photos(tmp_path):
    crops = [
        AnnotatedImage(_png(tmp_path / f"c{i}.png", (40, 100)), np.array([[0, 0, 100, 40.0]]))
        for i in range(5)
    ]
    photos = [
        AnnotatedImage(_png(tmp_path / f"p{i}.png", (200, 300)), np.array([[50, 60, 150, 100.0]]))
        for i in range(5)
    ]
    # close-ups: the object covers about half of each photo, with scene around it
    close_ups = [
        AnnotatedImage(_png(tmp_path / f"u{i}.png", (200, 300)), np.array([[40, 20, 260, 180.0]]))
        for i in range(5)
    ]
    # crops cut with a margin of 4 % a side: the object still fills the frame
    margins = [
        AnnotatedImage(_png(tmp_path / f"m{i}.png", (100, 200)), np.array([[8, 4, 192, 96.0]]))
        for i in range(5)
    ]
    assert looks_like_crops(crops) and looks_like_crops(margins)
    assert not looks_like_crops(photos)
    assert not looks_like_crops(close_ups)  # 220 x 160 of 300 x 200: 0.59


def test_pasted_scenes_hold_every_object_at_its_box(tmp_path):
    import cv2

    rng = np.random.default_rng(0)
    scenes = [_png(tmp_path / f"s{i}.png", (300, 400)) for i in range(3)]
    objects = []
    for _i in range(7):  # a bright object with a dark frame: its box is findable
        crop = np.full((40, 90), 250, np.uint8)
        crop[:2], crop[-2:], crop[:, :2], crop[:, -2:] = 0, 0, 0, 0
        objects.append((crop, np.array([[0, 0, 90, 40.0]])))
    out = derive_variant("pasted", objects, SceneFiles(scenes, 10**7), rng)
    boxes = np.concatenate([b for _, b in out])
    assert len(boxes) == 7  # each object pasted once
    sizes = boxes[:, 2] - boxes[:, 0]
    assert sizes.min() >= 0.5 * 90 - 1 and sizes.max() <= 2 * 90 + 1
    assert len(set(np.round(sizes))) > 2  # random sizes, not one
    for image, b in out:
        assert image.shape[0] >= 300
        for x1, y1, x2, y2 in b:
            assert 0 <= x1 < x2 <= image.shape[1] and 0 <= y1 < y2 <= image.shape[0]
            inner = image[int(y1) + 3 : int(y2) - 3, int(x1) + 3 : int(x2) - 3]
            assert inner.size and inner.mean() > 240  # the object is where its box says
        assert len(b) <= 3
    assert cv2.countNonZero(out[0][0]) > 0


def test_box_errors_are_measured_on_matches_only():
    from pyimagesearch.evaluation.metrics import box_errors

    gts = [np.array([[0, 0, 100, 50.0], [200, 0, 300, 50.0]])]
    dets = [np.array([[0, 0, 120, 50.0], [200, 0, 300, 60.0], [500, 500, 600, 550.0]])]
    scores = [np.array([0.9, 0.8, 0.95])]
    e = box_errors(dets, scores, gts, 0.5)
    assert e["n_matched"] == 2  # the third box found nothing
    assert e["width_error"]["median"] == pytest.approx(0.1)  # +20 % and 0 %
    assert e["height_error"]["p90"] == pytest.approx(0.18)  # 0 % and +20 %, interpolated
    none = box_errors(dets, scores, gts, 0.99)
    assert none["n_matched"] == 0 and none["iou"]["median"] is None


def test_the_report_says_how_small_an_object_the_detector_finds():
    from pyimagesearch.report.markdown import _smallest_object_line

    line = _smallest_object_line([96, 32], 1)
    assert "about 48x16 pixels" in line and "enlarged 2x" in line
    assert "`upsample` 2 to find objects down to 24x8" in line
    assert "about 96x32 pixels" in _smallest_object_line([96, 32], 0)
