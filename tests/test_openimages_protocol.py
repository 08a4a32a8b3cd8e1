"""The Open Images protocol: a hand-worked case per rule, a brute force, the script end to end."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from pyimagesearch.descriptor.hog import HogParams
from pyimagesearch.detection.files import detect_file
from pyimagesearch.evaluation.oid_evaluation import evaluate_openimages
from pyimagesearch.evaluation.oid_metric import (
    Hierarchy,
    ImageDetections,
    ImageTruth,
    OpenImagesProtocolError,
    evaluate_protocol,
    expand_detections,
    expand_ground_truth,
    expand_image_labels,
    match_image_class,
    parse_hierarchy,
    read_hierarchy_file,
)
from pyimagesearch.infrastructure.config import config_from_dict
from pyimagesearch.model import save_model
from pyimagesearch.model.linear import LinearModel

from .conftest import CARS, DATASETS, ROOT, cars_conf_dict
from .sources.test_download import MirrorServer

HIERARCHY_FILE = DATASETS / "openimages/bbox_labels_600_hierarchy.json"
DESCRIPTIONS = DATASETS / "openimages/class-descriptions-boxable.csv"
CAR, LIMO, LAND, VEHICLE = "/m/0k4j", "/m/01lcw4", "/m/01prls", "/m/07yv9"

# A small tree: R is the root (skipped); C sits under B and under F (two parents);
# P is a Part of A (not a kind of A).
TREE = {
    "LabelName": "/m/0bl9f",
    "Subcategory": [
        {
            "LabelName": "A",
            "Subcategory": [
                {
                    "LabelName": "B",
                    "Subcategory": [
                        {"LabelName": "C", "Subcategory": [{"LabelName": "E"}]},
                        {"LabelName": "D"},
                    ],
                }
            ],
            "Part": [{"LabelName": "P"}],
        },
        {"LabelName": "F", "Subcategory": [{"LabelName": "C"}]},
        {"LabelName": "P"},
    ],
}
PARENTS = {"A": set(), "B": {"A"}, "C": {"B", "F"}, "D": {"B"}, "E": {"C"}, "F": set(), "P": set()}


@pytest.fixture(scope="module")
def tree() -> Hierarchy:
    return parse_hierarchy(TREE)


# ---- an independent brute force: TF's loops, written out ---------------------------------


def _ups(label):
    out, stack = {label}, [label]
    while stack:
        for parent in PARENTS.get(stack.pop(), ()):
            if parent not in out:
                out.add(parent)
                stack.append(parent)
    return out


def _area(b):
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _inter(a, b):
    return _area([max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])])


def brute_force(truths, dets, classes, ups=_ups, all_labels=tuple(PARENTS)):
    """AP per class: every rule as a plain loop over boxes, no numpy."""
    entries = {c: [] for c in classes}
    n_gt = dict.fromkeys(classes, 0)
    for truth, det in zip(truths, dets):
        gt = [
            (list(b), c, bool(g))
            for b, lab, g in zip(truth.boxes, truth.labels, truth.group_of)
            for c in sorted(ups(lab))
        ]
        pos = set().union(*(ups(x) for x in truth.positive))
        neg = {c for c in all_labels for x in truth.negative if x in ups(c)} - pos
        allowed = {c for _, c, _ in gt} | pos | neg
        for c in allowed & set(classes):
            singles = [b for b, cc, g in gt if cc == c and not g]
            groups = [b for b, cc, g in gt if cc == c and g]
            n_gt[c] += len(singles) + len(groups)
            ds = [
                (float(s), list(b))
                for b, s, lab in zip(det.boxes, det.scores, det.labels)
                if c in ups(lab) and b[0] < b[2] and b[1] < b[3]
            ]
            ds.sort(key=lambda t: -t[0])
            taken, tp, inside = [False] * len(singles), [False] * len(ds), [False] * len(ds)
            for i, (_, b) in enumerate(ds):
                if singles:
                    ious = [_inter(b, g) / (_area(b) + _area(g) - _inter(b, g)) for g in singles]
                    j = ious.index(max(ious))
                    if ious[j] >= 0.5 and not taken[j]:
                        taken[j] = tp[i] = True
            best = [0.0] * len(groups)
            for i, (s, b) in enumerate(ds):
                if groups and not tp[i]:
                    ioas = [_inter(b, g) / _area(b) for g in groups]
                    j = ioas.index(max(ioas))
                    if ioas[j] >= 0.5:
                        inside[i] = True
                        best[j] = max(best[j], s)
            entries[c] += [(s, tp[i]) for i, (s, _) in enumerate(ds) if not inside[i]]
            entries[c] += [(s, True) for s in best if s > 0]
    aps = {}
    for c in classes:
        if n_gt[c] == 0:
            aps[c] = float("nan")
            continue
        rows = sorted(entries[c], key=lambda t: -t[0])
        prec, rec, tp_count = [], [], 0
        for k, (_, hit) in enumerate(rows, start=1):
            tp_count += hit
            prec.append(tp_count / k)
            rec.append(tp_count / n_gt[c])
        mrec, mpre = [0.0, *rec, 1.0], [0.0, *prec, 0.0]
        for i in range(len(mpre) - 2, -1, -1):
            mpre[i] = max(mpre[i], mpre[i + 1])
        aps[c] = sum(
            (mrec[i + 1] - mrec[i]) * mpre[i + 1]
            for i in range(len(mrec) - 1)
            if mrec[i + 1] != mrec[i]
        )
    return aps


def _truth(boxes=(), labels=(), group_of=(), positive=(), negative=()):
    return ImageTruth(
        np.asarray(boxes, float).reshape(-1, 4),
        list(labels),
        np.asarray(group_of, bool),
        frozenset(positive),
        frozenset(negative),
    )


def _dets(boxes=(), scores=(), labels=None):
    labels = ["C"] * len(scores) if labels is None else labels
    return ImageDetections(
        np.asarray(boxes, float).reshape(-1, 4), np.asarray(scores, float), list(labels)
    )


# ---- hierarchy ---------------------------------------------------------------------------


@pytest.mark.needs_data
def test_hierarchy_ancestors_descendants_skip_root_and_parts(tree):
    assert tree.up("E") == {"E", "C", "B", "A", "F"}  # both parents of C
    assert tree.up("C") == {"C", "B", "A", "F"}
    assert tree.down("A") == {"A", "B", "C", "D", "E"}
    assert tree.down("F") == {"F", "C", "E"}
    assert tree.up("P") == {"P"}  # a Part of A is not a kind of A
    assert "/m/0bl9f" not in tree.up("A") and tree.up("unknown") == {"unknown"}
    real = read_hierarchy_file(HIERARCHY_FILE)
    assert real.up(LIMO) == {LIMO, CAR, LAND, VEHICLE}
    assert CAR in real.down(VEHICLE) and LIMO in real.down(VEHICLE)
    with pytest.raises(OpenImagesProtocolError, match="not a label hierarchy"):
        parse_hierarchy({"Subcategory": []})


def test_ground_truth_expands_up_the_hierarchy(tree):
    boxes, labels, group = expand_ground_truth(
        [[0, 0, 4, 4], [5, 5, 9, 9]], ["E", "D"], [False, True], tree
    )
    assert list(labels) == ["A", "B", "C", "E", "F", "A", "B", "D"]
    np.testing.assert_array_equal(boxes[:5], [[0, 0, 4, 4]] * 5)
    np.testing.assert_array_equal(boxes[5:], [[5, 5, 9, 9]] * 3)
    np.testing.assert_array_equal(group, [False] * 5 + [True] * 3)


def test_image_labels_positive_go_up_negative_go_down(tree):
    pos, neg = expand_image_labels({"C"}, {"B"}, tree)
    assert pos == {"C", "B", "A", "F"}
    assert neg == {"D", "E"}  # B, C are verified present through C


def test_detections_expand_up_and_keep_only_evaluatable_classes(tree):
    boxes, scores, labels = expand_detections(
        [[0, 0, 2, 2], [1, 1, 3, 3]], [0.9, 0.4], ["E", "D"], tree, {"C", "B", "D"}
    )
    assert list(labels) == ["B", "C", "B", "D"]  # E and A, F are not evaluatable here
    np.testing.assert_array_equal(scores, [0.9, 0.9, 0.4, 0.4])
    np.testing.assert_array_equal(boxes[2], [1, 1, 3, 3])


# ---- matching, one class in one image ---------------------------------------------------------


def test_three_detections_in_one_group_of_box_are_one_true_positive():
    group_box = [[0, 0, 100, 100]]
    dets = [[0, 0, 10, 10], [50, 50, 70, 70], [80, 0, 100, 30]]  # all inside: IoA 1
    scores, tp, status = match_image_class(dets, [0.3, 0.8, 0.5], group_box, [True])
    np.testing.assert_array_equal(scores, [0.8])  # one entry, with the highest score
    np.testing.assert_array_equal(tp, [True])
    np.testing.assert_array_equal(status, [-1, -1, -1])  # the detections themselves: ignored
    # IoA is over the detection's area: a box half outside is still "inside" at 0.5
    scores, tp, status = match_image_class([[90, 0, 110, 10]], [0.6], group_box, [True])
    assert status.tolist() == [-1] and tp.tolist() == [True]
    scores, tp, status = match_image_class([[91, 0, 111, 10]], [0.6], group_box, [True])
    assert status.tolist() == [0] and tp.tolist() == [False]  # 9/20 < 0.5: a false positive


def test_single_boxes_first_then_group_of_and_duplicates():
    gt = [[0, 0, 10, 10], [20, 20, 60, 60]]
    group = [False, True]
    dets = [[0, 0, 10, 10], [1, 1, 10, 10], [25, 25, 35, 35], [0, 0, 4, 4], [200, 0, 210, 5]]
    scores, tp, status = match_image_class(dets, [0.9, 0.8, 0.7, 0.6, 0.5], gt, group)
    # 0.9 matches the box; 0.8 is a duplicate (FP); 0.7 inside the group-of box (ignored,
    # one TP at 0.7); 0.6: IoU 0.16 with the box, outside the group (FP); 0.5 background.
    assert status.tolist() == [1, 0, -1, 0, 0]
    assert scores.tolist() == [0.9, 0.8, 0.6, 0.5, 0.7]
    assert tp.tolist() == [True, False, False, False, True]
    # an invalid box is dropped, never a false positive
    _, _, status = match_image_class([[5, 5, 5, 9]], [0.9], gt, group)
    assert status.tolist() == [-2]


# ---- the whole protocol -----------------------------------------------------------------------


def test_unverified_image_ignored_verified_negative_false_positives(tree):
    gt_image = _truth([[0, 0, 10, 10]], ["C"], [False])
    hit = _dets([[0, 0, 10, 10]], [0.5])
    stray = _dets([[50, 50, 60, 60]], [0.9])
    # an image with no box and no image-level label: its detection is dropped
    res = evaluate_protocol([gt_image, _truth()], [hit, stray], tree, ["C"])
    assert res.classes["C"].average_precision == 1.0
    assert res.classes["C"].n_not_evaluatable == 1 and res.classes["C"].n_evaluated == 1
    # verified absent (a negative label of C, or of its ancestor B, reaching C downwards)
    for negative in ({"C"}, {"B"}):
        res = evaluate_protocol([gt_image, _truth(negative=negative)], [hit, stray], tree, ["C"])
        assert res.classes["C"].average_precision == 0.5  # FP at 0.9 first, then the TP
        assert res.classes["C"].n_evaluated == 2
    # a negative label of a descendant (E) says nothing about C
    res = evaluate_protocol([gt_image, _truth(negative={"E"})], [hit, stray], tree, ["C"])
    assert res.classes["C"].average_precision == 1.0
    # verified present without a box: detections there are false positives too
    res = evaluate_protocol([gt_image, _truth(positive={"C"})], [hit, stray], tree, ["C"])
    assert res.classes["C"].average_precision == 0.5


def test_average_precision_worked_by_hand(tree):
    # image 1: C box g1, C group-of box g2. Detections: 0.9 on g1 (TP), 0.8 duplicate of g1
    # (FP), 0.7 and 0.6 inside g2 (one TP at 0.7, 0.6 ignored).
    # image 2: C verified absent; 0.85 (FP). image 3: nothing verified; 0.95 (dropped).
    truths = [
        _truth([[0, 0, 10, 10], [20, 20, 60, 60]], ["C", "C"], [False, True]),
        _truth(negative={"C"}),
        _truth(),
    ]
    dets = [
        _dets(
            [[0, 0, 10, 10], [0, 0, 9, 10], [22, 22, 30, 30], [40, 40, 50, 50]],
            [0.9, 0.8, 0.7, 0.6],
        ),
        _dets([[0, 0, 5, 5]], [0.85]),
        _dets([[0, 0, 5, 5]], [0.95]),
    ]
    res = evaluate_protocol(truths, dets, tree, ["C", "B", "A", "F", "D"])
    # C: 0.9 TP, 0.85 FP, 0.8 FP, 0.7 TP of 2 objects: P = 1, 1/2, 1/3, 1/2 at R = .5,.5,.5,1
    # AP = 0.5 * 1 + 0.5 * 0.5 = 0.75
    assert res.classes["C"].average_precision == pytest.approx(0.75)
    c = res.classes["C"]
    assert (c.n_objects, c.n_group_of, c.n_evaluated, c.n_true_positives, c.n_ignored) == (
        2,
        1,
        4,
        2,
        1,
    )
    assert c.n_not_evaluatable == 1  # the 0.95 on image 3: dropped for C, B, A and F
    # B (and A, F): image 2 verifies only C and below, so the 0.85 is not evaluated there:
    # 0.9 TP, 0.8 FP, 0.7 TP: AP = 0.5 * 1 + 0.5 * 2/3
    for label in ("B", "A", "F"):
        assert res.classes[label].average_precision == pytest.approx(0.5 + 1 / 3)
        assert res.classes[label].n_not_evaluatable == 2  # from images 2 and 3
    assert np.isnan(res.classes["D"].average_precision)  # no ground truth: out of mAP
    assert res.mean_average_precision == pytest.approx((0.75 + 3 * (0.5 + 1 / 3)) / 4)
    brute = brute_force(truths, dets, ["C", "B", "A", "F"])
    for label, ap in brute.items():
        assert res.classes[label].average_precision == pytest.approx(ap, abs=1e-12)


def test_random_cases_equal_the_brute_force(tree):
    rng = np.random.default_rng(7)
    labels = ["A", "B", "C", "D", "E", "F"]
    for _ in range(40):
        truths, dets = [], []
        for _ in range(rng.integers(1, 6)):
            n = rng.integers(0, 5)
            xy = rng.integers(0, 30, (n, 2))
            gt = np.c_[xy, xy + rng.integers(3, 20, (n, 2))].astype(float)
            truths.append(
                _truth(
                    gt,
                    rng.choice(labels, n).tolist(),
                    rng.random(n) < 0.3,
                    set(rng.choice(labels, rng.integers(0, 2)).tolist()),
                    set(rng.choice(labels, rng.integers(0, 2)).tolist()),
                )
            )
            m = rng.integers(0, 9)
            near = gt[rng.integers(0, n, m)] if n else np.zeros((m, 4))
            corner = rng.integers(0, 40, (m, 2))
            anywhere = np.c_[corner, corner + rng.integers(0, 15, (m, 2))]
            jittered = near + rng.integers(-3, 4, (m, 4))
            boxes = np.where(rng.random((m, 1)) < 0.6, jittered, anywhere)
            dets.append(_dets(boxes, rng.random(m), rng.choice(labels, m).tolist()))
        res = evaluate_protocol(truths, dets, tree, labels)
        brute = brute_force(truths, dets, labels)
        for label in labels:
            got, want = res.classes[label].average_precision, brute[label]
            assert (np.isnan(got) and np.isnan(want)) or got == pytest.approx(want, abs=1e-12)


# ---- end to end: subset builder, detector, evaluate.py -----------------------------------------


def _random_model(conf) -> LinearModel:
    hog = HogParams.from_config(conf)
    window = tuple(conf["window_dim"])
    weights = np.random.default_rng(0).normal(scale=0.05, size=hog.descriptor_size(window))
    return LinearModel(weights, 0.0, 1.0, 0.0, hog, window)


@pytest.mark.needs_data
def test_evaluate_script_on_an_openimages_subset(tmp_path):
    raw = cars_conf_dict(tmp_path)
    (tmp_path / "conf.json").write_text(json.dumps(raw))
    conf = config_from_dict(raw)
    model = _random_model(conf)
    save_model(model, raw["classifier_path"])
    photos = {
        "car0000000000001": "image_0001.jpg",
        "limousine0000002": "image_0002.jpg",
        "negative00000003": "image_0003.jpg",
        "dog0000000000004": "image_0004.jpg",
    }
    floor = min(conf["eval_min_probability"], conf["min_probability"])
    found = {}
    for image_id, name in photos.items():
        window = replace(conf.options.window, min_probability=floor)
        res = detect_file(CARS / name, model, window, conf["max_image_pixels"])
        h, w = res["shape"]
        found[image_id] = res["boxes"] / [w, h, w, h]
        assert len(found[image_id]) >= 4
    # ground truth made from the detections: a Car box on one, a group-of Car box around two
    # others, a Limousine box (a kind of Car) on another image's second detection
    car = found["car0000000000001"]
    group = [car[2:4, 0].min(), car[2:4, 1].min(), car[2:4, 2].max(), car[2:4, 3].max()]
    gt = {
        "car0000000000001": [(CAR, car[0], 0), (CAR, group, 1)],
        "limousine0000002": [(LIMO, found["limousine0000002"][1], 0)],
        "dog0000000000004": [("/m/0bt9lr", [0.1, 0.1, 0.9, 0.9], 0)],  # a Dog: not selected
    }
    with open(tmp_path / "bbox.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "ImageID",
                "Source",
                "LabelName",
                "Confidence",
                "XMin",
                "XMax",
                "YMin",
                "YMax",
                "IsOccluded",
                "IsTruncated",
                "IsGroupOf",
                "IsDepiction",
                "IsInside",
            ]
        )
        for image_id, rows in gt.items():
            for label, (x1, y1, x2, y2), g in rows:
                writer.writerow(
                    [
                        image_id,
                        "xclick",
                        label,
                        1,
                        repr(float(x1)),
                        repr(float(x2)),
                        repr(float(y1)),
                        repr(float(y2)),
                        0,
                        0,
                        g,
                        0,
                        0,
                    ]
                )
    (tmp_path / "labels.csv").write_text(
        "ImageID,Source,LabelName,Confidence\n"
        f"car0000000000001,verification,{CAR},1\n"
        "car0000000000001,verification,/m/0bt9lr,0\n"
        f"negative00000003,verification,{CAR},0\n"
        "dog0000000000004,verification,/m/0bt9lr,1\n"
    )
    server = MirrorServer({f"/oi/{i}.jpg": CARS / n for i, n in photos.items()})
    with open(tmp_path / "images.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ImageID", "OriginalURL"])
        for image_id in photos:
            writer.writerow([image_id, f"{server.url}/oi/{image_id}.jpg"])
    out = tmp_path / "subset"
    with server:
        res = subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts/openimages_subset.py"),
                "Car",
                "--descendants",
                "--bbox-csv",
                str(tmp_path / "bbox.csv"),
                "--images-csv",
                str(tmp_path / "images.csv"),
                "--image-labels-csv",
                str(tmp_path / "labels.csv"),
                "--out",
                str(out),
                "--class-descriptions",
                str(DESCRIPTIONS),
                "--hierarchy",
                str(HIERARCHY_FILE),
                "--retries",
                "0",
                "--no-progress",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
    assert res.returncode == 0, res.stderr
    kept = sorted(p.stem for p in (out / "images").iterdir())
    assert kept == ["car0000000000001", "limousine0000002", "negative00000003"]
    with open(out / "boxes.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["ImageID"], r["LabelName"], r["IsGroupOf"]) for r in rows] == [
        ("car0000000000001", CAR, "0"),
        ("car0000000000001", CAR, "1"),
        ("limousine0000002", LIMO, "0"),
    ]
    assert (out / "classes.csv").read_text().strip() == f"{CAR},Car"
    assert (out / "image-labels.csv").read_text().splitlines() == [
        "ImageID,Source,LabelName,Confidence",
        f"car0000000000001,verification,{CAR},1",  # not the Dog row: no use for a Car
        f"negative00000003,verification,{CAR},0",
    ]

    report = tmp_path / "oi.json"
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/evaluate.py"),
            "--conf",
            str(tmp_path / "conf.json"),
            "--protocol",
            "openimages",
            "--subset",
            str(out),
            "--hierarchy",
            str(HIERARCHY_FILE),
            "--class-descriptions",
            str(DESCRIPTIONS),
            "--json",
            str(report),
            "-q",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    figures = json.loads(report.read_text())
    assert figures["protocol"] == "openimages" and figures["detector_class"] == CAR
    assert set(figures["classes"]) == {CAR, LAND, VEHICLE}
    assert "mAP (Open Images protocol" in res.stdout and "Land vehicle" in res.stdout
    listed = {i["image_id"]: i for i in figures["images"]}
    for image_id in kept:  # the script saw what the test's detector saw
        np.testing.assert_allclose(listed[image_id]["boxes"], found[image_id], rtol=1e-12)
    # recompute from the fixture's ground truth and the listed detections
    tree = read_hierarchy_file(HIERARCHY_FILE)
    truths, dets = [], []
    for image_id in kept:
        rows = gt.get(image_id, [])
        truths.append(
            ImageTruth(
                np.array([[b[0], b[1], b[2], b[3]] for _, b, _ in rows], float).reshape(-1, 4),
                [label for label, _, _ in rows],
                np.array([g for _, _, g in rows], bool),
                frozenset({CAR} if image_id.startswith("car") else ()),
                frozenset({CAR} if image_id.startswith("negative") else ()),
            )
        )
        n = len(listed[image_id]["scores"])
        dets.append(
            ImageDetections(
                np.array(listed[image_id]["boxes"]), np.array(listed[image_id]["scores"]), [CAR] * n
            )
        )
    expected = evaluate_protocol(truths, dets, tree, [CAR, LAND, VEHICLE])
    brute = brute_force(truths, dets, [CAR, LAND, VEHICLE], ups=tree.up, all_labels=[CAR, LIMO])
    for label, c in expected.classes.items():
        got = figures["classes"][label]
        assert got["average_precision"] == pytest.approx(c.average_precision, abs=1e-12)
        assert got["average_precision"] == pytest.approx(brute[label], abs=1e-12)
        assert (got["n_objects"], got["n_true_positives"], got["n_ignored"]) == (
            c.n_objects,
            c.n_true_positives,
            c.n_ignored,
        )
    assert figures["mean_average_precision"] == pytest.approx(expected.mean_average_precision)
    car_figures = figures["classes"][CAR]
    # Car: its box, the group-of box, the limousine; the detections it was made of are found
    assert (car_figures["n_objects"], car_figures["n_group_of"]) == (3, 1)
    assert car_figures["n_true_positives"] == 3 and car_figures["n_ignored"] >= 1
    assert 0 < car_figures["average_precision"] < 1  # the negative image's detections are FPs
    # the verified-absent Car says nothing about Land vehicle: dropped there, not FPs
    assert figures["classes"][LAND]["n_not_evaluatable"] == len(
        listed["negative00000003"]["scores"]
    )
    assert figures["classes"][LAND]["average_precision"] > car_figures["average_precision"]


@pytest.mark.needs_data
def test_openimages_protocol_needs_a_subset(tmp_path):
    raw = cars_conf_dict(tmp_path)
    (tmp_path / "conf.json").write_text(json.dumps(raw))
    model = _random_model(config_from_dict(raw))
    save_model(model, raw["classifier_path"])
    args = [
        sys.executable,
        str(ROOT / "scripts/evaluate.py"),
        "--conf",
        str(tmp_path / "conf.json"),
    ]
    res = subprocess.run(
        [*args, "--protocol", "openimages"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert res.returncode == 2
    assert res.stderr.strip() == "error: --protocol openimages needs --subset DIR"
    with pytest.raises(OpenImagesProtocolError, match="not an Open Images subset"):
        evaluate_openimages(config_from_dict(raw), model, tmp_path, HIERARCHY_FILE)
    (tmp_path / "images").mkdir()
    (tmp_path / "boxes.csv").write_text("ImageID,LabelName\n")
    with pytest.raises(OpenImagesProtocolError, match=r"classes\.csv: cannot read class names"):
        evaluate_openimages(config_from_dict(raw), model, tmp_path, HIERARCHY_FILE)
