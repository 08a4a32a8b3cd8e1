"""A short run of the whole workflow on a slice of the real data, through the scripts."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pyimagesearch.descriptor.hog import HogParams
from pyimagesearch.features.store import FeatureStore, hard_negative_group
from pyimagesearch.infrastructure.config import load_config
from pyimagesearch.mining.hard_negatives import annotated_group
from pyimagesearch.model import load_model
from pyimagesearch.sources.annotations import read_annotations, split_train_test

from .conftest import ROOT

SCRIPTS = [
    "explore_dims",
    "extract_features",
    "train_model",
    "hard_negative_mine",
    "review_mined",
    "coco_backgrounds",
    "openimages_subset",
    "test_model",
    "evaluate",
    "run_pipeline",
]


def _run(*args):
    result = subprocess.run(
        [sys.executable, *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=600
    )
    return result


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.slow
def test_every_script_prints_help(script):
    result = _run(ROOT / "scripts" / f"{script}.py", "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage:")
    if script not in ("coco_backgrounds", "openimages_subset"):
        assert "--conf" in result.stdout


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """Pipeline with one mining round on a slice of the data (scripts, as a user runs them)."""
    from .conftest import cars_conf_dict

    tmp = tmp_path_factory.mktemp("run")
    raw = cars_conf_dict(
        tmp,
        num_distraction_images=150,
        hn_num_distraction_images=40,
        eval_num_distraction_images=40,
        n_jobs=2,
    )
    conf_path = tmp / "conf.json"
    conf_path.write_text(json.dumps(raw))
    result = _run(ROOT / "scripts" / "run_pipeline.py", "--conf", conf_path, "-q")
    assert result.returncode == 0, result.stderr
    return conf_path, result


@pytest.mark.needs_data
@pytest.mark.slow
def test_pipeline_report_and_history(small_run):
    conf_path, result = small_run
    conf = load_config(conf_path)
    out = Path(result.stdout.strip().splitlines()[-1])  # last line: the report folder
    assert out == Path(conf["output_dir"]) / "report"
    history = json.loads((out / "history.json").read_text())
    assert [h["round"] for h in history] == [0, 1, 2]  # hn_rounds defaults to 2
    store = FeatureStore(conf["features_path"], HogParams.from_config(conf), (96, 32))
    n_hard = store.count(hard_negative_group(1)) + store.count(annotated_group(1))
    assert store.count(annotated_group(1)) > 0  # hn_mine_annotated is the default
    assert history[1]["hard_negatives_added"] == n_hard == history[1]["hard_negatives_total"]
    mined = store.read(hard_negative_group(1))
    assert np.all(np.diff(mined["score"]) <= 0)  # sorted by confidence
    # windows below hn_min_probability are margin top-ups: decision >= hn_margin, at most
    # hn_margin_per_image per image, and only on images where the rule found too few
    low = mined["probability"] < conf["hn_min_probability"]
    assert np.all(mined["score"][low] >= conf["hn_margin"] - 1e-6)
    for source in set(mined["source"][low]):
        mine = mined["source"] == source
        assert (mine & low).sum() <= conf["hn_margin_per_image"]
        assert mine.sum() <= conf["hn_margin_per_image"]
    assert set(mined) >= {"source", "box", "scale", "score", "round", "layer_box"}
    # the split, re-read: disjoint shares of the annotated images; mined sources are
    # the rounds' distraction images, never the negatives' or the evaluation's
    split = json.loads((out / "split.json").read_text())
    train, test = set(split["annotated"]["train"]), set(split["annotated"]["test"])
    assert train and test and not train & test
    assert len(train | test) == len(read_annotations(conf.options.annotations))
    roles = split["distractions"]
    assert set(mined["source"]) <= set(roles["mining"]["1"]) | train
    assert not set(roles["mining"]["1"]) & set(roles["evaluation"])
    assert "search_folds" not in split  # the search is off in this config
    assert f"{len(train)} annotated images trained" in (out / "report.md").read_text()
    for name in (
        "report.md",
        "pr_curves.png",
        "rounds.png",
        "template.png",
        "hard_negatives_round_001.png",
        "detections_round_000.png",
    ):
        assert (out / name).stat().st_size > 0


@pytest.mark.needs_data
@pytest.mark.slow
def test_model_finds_cars_in_held_out_images(small_run):
    conf_path, _ = small_run
    conf = load_config(conf_path)
    result = _run(
        ROOT / "scripts" / "evaluate.py",
        "--conf",
        conf_path,
        "-q",
        "--json",
        conf_path.parent / "eval.json",
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads((conf_path.parent / "eval.json").read_text())
    assert figures["n_test_images"] == 61 and figures["n_objects"] == 61
    assert figures["average_precision"] >= 0.9
    assert figures["recall"] >= 0.7 and figures["precision"] >= 0.9
    # regressed boxes frame the cars: most true positives still match at IoU 0.7
    assert figures["average_precision_70"] >= 0.8 and figures["mean_iou"] >= 0.8
    assert figures["average_precision_70"] <= figures["average_precision"]
    assert "at IoU >= 0.7" in result.stdout
    model = load_model(conf["classifier_path"])
    assert model.metadata["hard_negatives"] > 0


@pytest.mark.needs_data
@pytest.mark.slow
def test_test_model_json_in_image_pixels(small_run, tmp_path):
    conf_path, _ = small_run
    from pyimagesearch.sources.annotations import read_annotations, split_train_test

    conf = load_config(conf_path)
    _, test = split_train_test(read_annotations(conf.options.annotations), 0.5, conf["seed"])
    item = test[0]
    out_json = tmp_path / "d.json"
    result = _run(
        ROOT / "scripts" / "test_model.py",
        "--conf",
        conf_path,
        "--image",
        item.path,
        "--output",
        tmp_path / "drawn",
        "--json",
        out_json,
        "--min-probability",
        "0.5",
        "-q",
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(out_json.read_text())[str(item.path)]
    assert found and all(d["probability"] >= 0.5 for d in found)
    best = max(found, key=lambda d: d["probability"])["box"]
    gt = item.boxes[0]
    inter = max(0, min(best[2], gt[2]) - max(best[0], gt[0])) * max(
        0, min(best[3], gt[3]) - max(best[1], gt[1])
    )
    union = (best[2] - best[0]) * (best[3] - best[1]) + (gt[2] - gt[0]) * (gt[3] - gt[1]) - inter
    assert inter / union >= 0.5
    assert (tmp_path / "drawn" / (item.path.stem + ".png")).is_file()


def test_script_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"window_dim": [96, 32]}')
    result = _run(ROOT / "scripts" / "train_model.py", "--conf", bad)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error:") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.needs_data
@pytest.mark.slow
def test_detections_export_to_coco_results_and_yolo(small_run, tmp_path):
    from .conftest import DATASETS

    conf_path, _ = small_run
    coco = DATASETS / "coco_tiny"
    annotations = coco / "annotations" / "instances_val2017.json"
    result = _run(
        ROOT / "scripts" / "test_model.py",
        "--conf",
        conf_path,
        "-q",
        "--image",
        coco / "images" / "val2017",
        "--min-probability",
        "0.05",
        "--json",
        tmp_path / "d.json",
        "--yolo-dir",
        tmp_path / "yolo",
        "--coco-results",
        tmp_path / "r.json",
        "--coco-annotations",
        annotations,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads((tmp_path / "d.json").read_text())
    results = json.loads((tmp_path / "r.json").read_text())
    ids = {i["file_name"]: i["id"] for i in json.loads(annotations.read_text())["images"]}
    n_images = len(list((coco / "images" / "val2017").glob("*.jpg")))
    assert n_images > 0 and len(found) == n_images  # every image has its entry
    # at p >= 0.05 the model fires somewhere: the checks below compare real boxes
    assert sum(len(v) for v in found.values()) > 0
    assert len(results) == sum(len(v) for v in found.values())
    for path, dets in found.items():
        label = (tmp_path / "yolo" / (Path(path).stem + ".txt")).read_text().splitlines()
        assert len(label) == len(dets)
        mine = [r for r in results if r["image_id"] == ids[Path(path).name]]
        for det, r in zip(
            sorted(dets, key=lambda d: d["box"]), sorted(mine, key=lambda r: r["bbox"])
        ):
            x1, y1, x2, y2 = det["box"]
            assert r["bbox"] == pytest.approx([x1, y1, x2 - x1, y2 - y1], abs=0.01)


@pytest.mark.needs_data
@pytest.mark.slow
def test_coco_backgrounds_folder_works_as_distractions(small_run, tmp_path):
    from pyimagesearch.mining import mine_hard_negatives

    from .conftest import DATASETS

    conf_path, _ = small_run
    coco = DATASETS / "coco_tiny"
    out = tmp_path / "backgrounds"
    result = _run(
        ROOT / "scripts" / "coco_backgrounds.py",
        "--annotations",
        coco / "annotations" / "instances_train2017.json",
        "--exclude",
        "person",
        "car",
        "--num",
        "100",
        "--out",
        out,
        "--images-dir",
        coco / "images",
    )
    assert result.returncode == 0, result.stderr
    conf = load_config(conf_path).replace(
        image_distractions=str(out), distraction_exclude_categories=[]
    )
    images = sorted((out / "images").glob("*.jpg"))
    assert images
    summary = mine_hard_negatives(conf, 7, images=None, progress=False)
    assert summary.n_images == min(len(images), conf["hn_num_distraction_images"])
    assert not summary.skipped


@pytest.mark.needs_data
@pytest.mark.slow
def test_upsample_finds_a_car_smaller_than_the_window(small_run, tmp_path):
    """A car shrunk to 60 % of the window's width is found only when the pyramid may
    enlarge the image (``--upsample 1``), and its box is the small car's."""
    conf_path, _ = small_run
    conf = load_config(conf_path)
    items = read_annotations(conf.options.annotations)
    _, test = split_train_test(items, conf["percent_gt_images"], conf["seed"])
    item = test[0]
    image = cv2.imread(str(item.path), cv2.IMREAD_GRAYSCALE)
    gt = item.boxes[0]
    f = 0.6 * 96 / (gt[2] - gt[0])
    small = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    canvas = np.full((200, 300), 128, np.uint8)
    canvas[20 : 20 + small.shape[0], 30 : 30 + small.shape[1]] = small
    cv2.imwrite(str(tmp_path / "small.png"), canvas)
    box = gt * f + np.array([30, 20, 30, 20])
    found = {}
    for up in ("0", "1"):
        out = tmp_path / f"d{up}.json"
        result = _run(
            ROOT / "scripts" / "test_model.py", "--conf", conf_path, "-q", "--image",
            tmp_path / "small.png", "--json", out, "--min-probability", "0.3",
            "--upsample", up, "-o", tmp_path / f"o{up}",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        dets = json.loads(out.read_text())[str(tmp_path / "small.png")]
        found[up] = [_iou(d["box"], box) for d in dets]
    assert max(found["0"], default=0) < 0.5
    assert max(found["1"]) >= 0.5
    refused = _run(ROOT / "scripts" / "test_model.py", "--conf", conf_path, "--image",
                   tmp_path / "small.png", "--upsample", "-1")  # fmt: skip
    assert refused.returncode != 0 and "--upsample" in refused.stderr


def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
