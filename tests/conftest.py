"""Shared fixtures: the real data sets beside the project, and small configs over them."""

from __future__ import annotations

import os
from pathlib import Path

import json5
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("PYIMAGESEARCH_DATASETS", ROOT.parent / "shared" / "datasets"))
CARS = DATASETS / "caltech101" / "101_ObjectCategories" / "car_side"
CAR_ANNOTATIONS = DATASETS / "caltech101" / "Annotations" / "car_side"
SCENES = DATASETS / "sceneclass13"

if not CARS.is_dir():  # pragma: no cover - environment problem, not a test failure mode
    raise RuntimeError(
        f"real data sets not found at {DATASETS}; set PYIMAGESEARCH_DATASETS (see README)"
    )


def cars_conf_dict(tmp_path: Path, **overrides) -> dict:
    """conf/cars.json with outputs under ``tmp_path`` and the data sets located absolutely."""
    raw = json5.loads((ROOT / "conf" / "cars.json").read_text())
    raw.update(
        datasets_root=str(DATASETS),
        features_path=str(tmp_path / "features.hdf5"),
        classifier_path=str(tmp_path / "model.json"),
        output_dir=str(tmp_path / "out"),
        n_jobs=1,
        # the settings search is tested on its own (test_search.py); elsewhere it would
        # only multiply the time of every pipeline a test runs
        search=False,
    )
    raw.update(overrides)
    return raw


@pytest.fixture
def write_conf(tmp_path):
    """Write a config file (cars.json with overrides) and return its path."""

    def write(name: str = "conf.json", **overrides) -> Path:
        path = tmp_path / name
        path.write_text(json5.dumps(cars_conf_dict(tmp_path, **overrides), indent=1))
        return path

    return write
