"""Mining rounds: bookkeeping, the stop rule, review of mined windows, the template picture."""

import itertools
import json

import cv2
import numpy as np
import pytest

from pyimagesearch.descriptor.hog import HogParams
from pyimagesearch.features.store import FeatureStore, hard_negative_group
from pyimagesearch.infrastructure.config import load_config
from pyimagesearch.model import load_model
from pyimagesearch.orchestration.pipeline import run_pipeline
from pyimagesearch.report.review import review_round
from pyimagesearch.report.template import cell_weights, template_picture
from pyimagesearch.sources.distractions import split_distractions

from .conftest import cars_conf_dict

pytestmark = pytest.mark.needs_data

CAR_CATEGORIES = ["CALsuburb", "MIThighway", "MITinsidecity", "MITstreet", "MITtallbuilding"]


def _conf(tmp_path, **overrides):
    raw = cars_conf_dict(
        tmp_path,
        num_distraction_images=100,
        hn_num_distraction_images=40,
        eval_num_distraction_images=30,
        hn_min_probability=0.3,
        n_jobs=2,
        **overrides,
    )
    path = tmp_path / "conf.json"
    path.write_text(json.dumps(raw))
    return load_config(path)


@pytest.fixture(scope="module")
def two_rounds(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rounds")
    conf = _conf(tmp, hn_rounds=2)
    out = run_pipeline(conf, progress=False)
    return conf, out


@pytest.mark.slow
def test_history_bookkeeping(two_rounds):
    conf, out = two_rounds
    history = json.loads((out / "history.json").read_text())
    assert [h["round"] for h in history] == [0, 1, 2]
    assert history[0]["hard_negatives_added"] == history[0]["hard_negatives_total"] == 0
    for prev, cur in itertools.pairwise(history):
        assert cur["hard_negatives_total"] == min(
            prev["hard_negatives_total"] + cur["hard_negatives_added"], conf["hn_max_total"]
        )
        assert cur["images_mined"] == 40
        assert sum(cur["per_category"].values()) == cur["hard_negatives_found"]
    for h in history:
        assert 0 <= h["average_precision"] <= 1 and h["false_positives_per_image"] >= 0
    final = load_model(conf["classifier_path"])
    assert final.metadata["hard_negatives"] == history[-1]["hard_negatives_total"]
    assert final.metadata["hard_negative_rounds"] == [1, 2]
    report = (out / "report.md").read_text()
    assert "| 2 | 40 |" in report and "rounds.png" in report


def test_rounds_mine_fresh_disjoint_images(tmp_path):
    conf = _conf(tmp_path, hn_rounds=2)  # the split needs no run, only the config
    split = split_distractions(conf.options.distractions)
    r1, r2 = set(split.mining(1)), set(split.mining(2))
    assert len(r1) == len(r2) == 40 and not r1 & r2
    assert not (r1 | r2) & set(split.negatives) and not (r1 | r2) & set(split.evaluation)


@pytest.mark.slow
def test_stop_rule_fires_when_validation_stops_improving(tmp_path):
    """Rounds are chosen on validation, never on the test set: no round can gain 0.5,
    so the search mines one round, keeps round 0, and the pipeline mines none."""
    conf = _conf(
        tmp_path,
        hn_rounds=3,
        hn_min_ap_gain=0.5,
        search=True,
        search_window_scales=[1.0],
        search_C_factors=[1.0],
        search_upsample=[0],
        search_descriptors=["hog"],
    )
    out = run_pipeline(conf, progress=False)
    search = json.loads((out / "search.json").read_text())
    assert [r["round"] for r in search["rounds"]] == [0, 1]
    assert search["chosen"]["hn_rounds"] == 0
    history = json.loads((out / "history.json").read_text())
    assert [h["round"] for h in history] == [0]
    assert "Mining rounds: **0**" in (out / "report.md").read_text()


@pytest.mark.slow
def test_review_sheet_and_suspects(two_rounds, tmp_path):
    conf, _ = two_rounds
    conf = conf.replace(hn_suspect_probability=0.3, hn_suspect_min_contrast=0.0)
    review = review_round(conf, 1, tmp_path, top=12)
    sheet = cv2.imread(str(review.sheet))
    n = min(12, review.n_mined)
    rows = -(-n // 6)
    assert sheet.shape == (rows * (94 + 4) + 4, 6 * (192 + 4) + 4, 3)
    suspects = json.loads(review.suspects_json.read_text())
    mined = FeatureStore(conf["features_path"], HogParams.from_config(conf), (96, 32)).read(
        hard_negative_group(1), ("probability",)
    )["probability"]
    # every window mined at p >= 0.3 is a suspect; margin top-ups (below it) are not
    assert len(suspects) == review.n_suspects == int((mined >= 0.3).sum()) > 0
    assert sum(review.per_category.values()) == review.n_mined
    # windows whose gray levels barely vary are not counted as unlabelled objects
    strict = review_round(conf.replace(hn_suspect_min_contrast=1000.0), 1, tmp_path / "s")
    assert strict.n_suspects == 0 and strict.n_flat == review.n_suspects
    assert json.loads(strict.suspects_json.read_text()) == []
    contrasts = [s["contrast"] for s in suspects]
    assert all(c >= 0 for c in contrasts)


def test_excluding_car_categories_removes_their_windows(tmp_path):
    conf = _conf(tmp_path, distraction_exclude_categories=CAR_CATEGORIES)
    split = split_distractions(conf.options.distractions)
    used = split.pool + split.evaluation
    assert used and not {split.category(p) for p in used} & set(CAR_CATEGORIES)


@pytest.mark.slow
def test_template_picture_size(two_rounds, tmp_path):
    conf, _ = two_rounds
    model = load_model(conf["classifier_path"])
    cells = cell_weights(model)
    assert cells.shape == (8, 24, 9)
    # a cell's weight sums the weights of the blocks that cover it
    grid = model.weights.reshape(7, 23, 2, 2, 9)
    np.testing.assert_allclose(cells[0, 0], grid[0, 0, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(
        cells[1, 1],
        grid[0, 0, 1, 1] + grid[0, 1, 1, 0] + grid[1, 0, 0, 1] + grid[1, 1, 0, 0],
        rtol=1e-5,
    )
    picture = cv2.imread(str(template_picture(model, tmp_path / "t.png", cell_px=20)))
    assert picture.shape == (22 + 8 * 20, 2 * 24 * 20 + 8, 3)
    assert picture.max() > 0
