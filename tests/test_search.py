"""The settings search: every candidate is tried on validation data, the best is kept,
recorded in the model file, and used by the later steps."""

import json

import numpy as np
import pytest

from pyimagesearch.infrastructure.config import config_from_dict
from pyimagesearch.orchestration.search import (
    _validation_split,
    candidate_settings,
    choose,
    criterion,
    search_settings,
)
from pyimagesearch.orchestration.settings import settled_config

from .conftest import cars_conf_dict

SMALL = dict(
    num_distraction_images=40,
    num_distractions_per_image=5,
    eval_num_distraction_images=0,
    search_window_scales=[1.0, 0.75],
    search_C_factors=[1.0, 10.0],
    search_pyramid_scales=[1.1487],
    search_upsample=[0],
    search_descriptors=["hog"],
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


@pytest.mark.needs_data
@pytest.mark.slow
def test_search_tries_every_setting_and_the_model_records_the_choice(tmp_path):
    from pyimagesearch.model.modelfile import load_model
    from pyimagesearch.orchestration.pipeline import run_pipeline

    conf = config_from_dict(cars_conf_dict(tmp_path, hn_rounds=1, **SMALL))
    result = search_settings(conf, progress=False)
    grid_rows = [r for r in result.rows if r["C"] in (0.01, 0.1)]
    by_window = {}
    for r in grid_rows:  # (x 1 pyramid x 1 upsample)
        by_window.setdefault(tuple(r["window_dim"]), set()).add(r["C"])
    assert set(by_window) == {(96, 32), (72, 24)}
    # every C at the config's window, the other window at the best of them; the
    # leading window at every C
    assert by_window[(96, 32)] == {0.01, 0.1}
    first = [r for r in grid_rows if r["window_dim"] == [96, 32]]
    top = max(criterion(r) for r in first)
    assert by_window[(72, 24)] >= {r["C"] for r in first if criterion(r) >= top - result.tolerance}
    lead = choose(grid_rows, result.tolerance)
    assert by_window[tuple(lead["window_dim"])] == {0.01, 0.1}
    # a C that wins on the edge of its grid is followed one step further
    edge = [r for r in result.rows if r["C"] not in (0.01, 0.1)]
    assert len(edge) == 1 and edge[0]["C"] in (0.001, 1.0)
    best = max(result.rows, key=lambda r: r["ap50"] + r["ap70"])
    chosen_row = next(r for r in result.rows if r["chosen"])
    assert chosen_row["ap50"] + chosen_row["ap70"] >= best["ap50"] + best["ap70"] - 2 * (
        result.tolerance
    )
    assert result.n_folds == 1  # 62 training images: one validation share
    # as they are, shrunk, cut by the border; and 50 object-free scenes
    assert result.n_validation_images == 3 * 19 + 50
    assert result.validation_variants == [
        "original",
        "scale_0.5",
        "border",
        "50 object-free scenes",
    ]
    shrunk = sorted(
        (tmp_path / "out" / "search" / "fold0" / "validation" / "scale_0.5").glob("*.png")
    )
    assert len(shrunk) == 19  # one pasted copy per image
    # mining rounds chosen on validation: round 0, then round 1
    assert [r["round"] for r in result.rounds] == [0, 1]
    assert result.chosen["hn_rounds"] in (0, 1)

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
    split = json.loads((report / "split.json").read_text())
    (fold,) = split["search_folds"]  # one validation share of the training images
    assert sorted(fold["fit"] + fold["validation"]) == sorted(split["annotated"]["train"])
    assert len(fold["validation"]) == 19 and len(split["distractions"]["search_validation"]) == 50
    table = json.loads((report / "search.json").read_text())
    assert table["chosen"] == chosen and len(table["rows"]) == len(result.rows)
    assert "## Settings chosen on validation data" in (report / "report.md").read_text()


def test_settled_config_without_a_model_is_the_config(tmp_path):
    conf = config_from_dict(cars_conf_dict(tmp_path, search=True))
    assert settled_config(conf) is conf  # no model file yet
    (tmp_path / "model.json").write_text("not json")
    assert settled_config(conf) is conf
    (tmp_path / "model.json").write_text(json.dumps({"metadata": {}}))
    assert settled_config(conf) is conf  # a model without a recorded choice
    assert settled_config(conf)["window_dim"] == [96, 32]
    assert np.isfinite(conf["C"])


def test_settled_config_applies_the_choice_the_model_file_records(tmp_path):
    """With the search on, the settings a saved model records as chosen replace the
    config's (mining then scans the chosen pyramid); with it off, the config stays."""
    from pyimagesearch.descriptor.hog import HogParams
    from pyimagesearch.model.linear import LinearModel
    from pyimagesearch.model.modelfile import save_model

    conf = config_from_dict(cars_conf_dict(tmp_path, search=True))
    chosen = {"window_dim": [72, 24], "C": conf["C"] * 10, "pyramid_scale": 1.25, "upsample": 1}
    assert all(conf[k] != v for k, v in chosen.items())  # every key has to change
    assert conf["hn_pyramid_scale"] != 1.25
    hog = HogParams.from_config(conf)
    model = LinearModel(
        np.zeros(hog.descriptor_size((72, 24))), 0.0, 1.0, 0.0, hog, (72, 24),
        metadata={"chosen_settings": {**chosen, "ap50": 0.9}},
    )  # fmt: skip
    save_model(model, conf["classifier_path"])
    settled = settled_config(conf)
    assert settled is not conf
    assert {k: settled[k] for k in chosen} == chosen
    assert settled["hn_pyramid_scale"] == 1.25
    assert "ap50" not in settled  # only the searched keys are taken
    # everything else is the user's config
    assert {k: v for k, v in settled.items() if k not in {*chosen, "hn_pyramid_scale"}} == {
        k: v for k, v in conf.items() if k not in {*chosen, "hn_pyramid_scale"}
    }
    off = conf.replace(search=False)
    assert settled_config(off) is off and settled_config(off)["window_dim"] == [96, 32]
