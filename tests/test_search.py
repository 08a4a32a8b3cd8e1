"""The settings search: every candidate is tried on validation data, the best is kept,
recorded in the model file, and used by the later steps."""

import json

import numpy as np
import pytest

from pyimagesearch.config import config_from_dict
from pyimagesearch.search import _validation_split, candidate_settings, search_settings
from pyimagesearch.settings import settled_config

from .conftest import cars_conf_dict

pytestmark = pytest.mark.needs_data

SMALL = dict(
    num_distraction_images=40,
    num_distractions_per_image=5,
    eval_num_distraction_images=0,
    search_window_scales=[1.0, 0.75],
    search_C_factors=[1.0, 10.0],
    search_pyramid_scales=[1.5],
    search_upsample=[0],
    search_validation_variants=["original", "scale_0.5", "border"],
    search=True,
)


def test_candidates_keep_the_aspect_and_the_cell_grid(tmp_path):
    conf = config_from_dict(cars_conf_dict(tmp_path, search_window_scales=[1.0, 0.75, 1.33]))
    grid = candidate_settings(conf)
    assert grid["window_dim"] == [(96, 32), (72, 24), (128, 44)]
    assert all(w % 4 == 0 and h % 4 == 0 for w, h in grid["window_dim"])
    assert grid["C"][0] == conf["C"] and grid["pyramid_scale"][0] == conf["pyramid_scale"]
    assert grid["upsample"] == [0, 1]


def test_validation_split_is_disjoint_and_seeded():
    items = list(range(40))
    fit, val = _validation_split(items, 0.3, 42)
    assert len(val) == 12 and sorted(fit + val) == items
    assert _validation_split(items, 0.3, 42) == (fit, val)


@pytest.mark.slow
def test_search_tries_every_setting_and_the_model_records_the_choice(tmp_path):
    from pyimagesearch.model.modelfile import load_model
    from pyimagesearch.pipeline import run_pipeline

    conf = config_from_dict(cars_conf_dict(tmp_path, **SMALL))
    result = search_settings(conf, progress=False)
    assert len(result.rows) == 2 * 2  # windows x C (x 1 pyramid x 1 upsample)
    assert {tuple(r["window_dim"]) for r in result.rows} == {(96, 32), (72, 24)}
    best = max(result.rows, key=lambda r: (round(r["ap50"], 3), round(r["ap70"], 3)))
    chosen_row = next(r for r in result.rows if r["chosen"])
    assert chosen_row["ap50"] == pytest.approx(best["ap50"], abs=1e-3)
    assert result.n_validation_images + result.n_fit_images == 62
    assert result.validation_variants == ["original", "scale_0.5", "border"]
    shrunk = sorted((tmp_path / "out" / "search" / "validation" / "scale_0.5").glob("*.png"))
    assert len(shrunk) == result.n_validation_images  # one pasted copy per image

    # the pipeline trains with the choice, records it, and later steps use it
    conf = config_from_dict(cars_conf_dict(tmp_path, hn_rounds=0, **SMALL))
    report = run_pipeline(conf, progress=False)
    model = load_model(conf["classifier_path"])
    chosen = model.metadata["chosen_settings"]
    assert list(model.window_dim) == chosen["window_dim"]
    settled = settled_config(conf)
    assert settled["window_dim"] == chosen["window_dim"] and settled["C"] == chosen["C"]
    assert settled["hn_pyramid_scale"] == chosen["pyramid_scale"]
    assert settled_config(conf.replace(search=False))["window_dim"] == [96, 32]
    table = json.loads((report / "search.json").read_text())
    assert table["chosen"] == chosen and len(table["rows"]) == 4
    assert "## Settings chosen on validation data" in (report / "report.md").read_text()


def test_settled_config_without_a_model_is_the_config(tmp_path):
    conf = config_from_dict(cars_conf_dict(tmp_path))
    assert settled_config(conf) is conf
    (tmp_path / "model.json").write_text("not json")
    assert settled_config(conf)["window_dim"] == [96, 32]
    assert np.isfinite(conf["C"])
