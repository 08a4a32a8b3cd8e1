"""Shared fixtures: the real data sets beside the project, and small configs over them.

Test layers (markers, see pyproject.toml): ``needs_data`` tests read the real data
sets; ``needs_browser`` tests drive Debian's chromium through chromedriver (selenium);
``slow`` tests take seconds each (whole pipelines, servers, many images). The unit
layer, ``pytest -m "not slow and not needs_data"``, runs anywhere.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import json5
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("PYIMAGESEARCH_DATASETS", ROOT.parent / "shared" / "datasets"))
CARS = DATASETS / "caltech101" / "101_ObjectCategories" / "car_side"
CAR_ANNOTATIONS = DATASETS / "caltech101" / "Annotations" / "car_side"
SCENES = DATASETS / "sceneclass13"

HAVE_DATA = CARS.is_dir() and SCENES.is_dir()
#: Set (as CI does) to fail, instead of skip, the tests that need the data sets when
#: they are missing: a CI machine without data must not pass by skipping.
REQUIRE_DATA = os.environ.get("PYIMAGESEARCH_REQUIRE_DATA", "") not in ("", "0")


#: Debian's chromium and chromedriver (elsewhere: PYIMAGESEARCH_CHROMIUM/_CHROMEDRIVER).
CHROMIUM = (
    os.environ.get("PYIMAGESEARCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
)
CHROMEDRIVER = (
    os.environ.get("PYIMAGESEARCH_CHROMEDRIVER")
    or shutil.which("chromedriver")
    or "/usr/bin/chromedriver"
)


def browser_missing() -> str | None:
    """Why ``needs_browser`` tests cannot run here (``None``: they can)."""
    if importlib.util.find_spec("selenium") is None:
        return 'selenium not installed (pip install -e ".[dev]")'
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        return (
            f"chromium / chromedriver not installed ({', '.join(missing)} not found; "
            "apt-get install -y chromium chromium-driver; .ci/run installs them)"
        )
    return None


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: only the tests that will run
def pytest_collection_modifyitems(config, items):
    """Skip (or, with PYIMAGESEARCH_REQUIRE_DATA, fail) ``needs_data`` tests without data,
    and ``needs_browser`` tests without chromium, chromedriver and selenium: a CI machine
    must not pass by skipping either."""
    browser_items = [item for item in items if "needs_browser" in item.keywords]
    no_browser = browser_missing() if browser_items else None
    if no_browser:
        if REQUIRE_DATA:
            raise pytest.UsageError(f"PYIMAGESEARCH_REQUIRE_DATA is set but {no_browser}")
        for item in browser_items:
            item.add_marker(pytest.mark.skip(reason=no_browser))
    if HAVE_DATA:
        return
    reason = f"real data sets not found at {DATASETS}; set PYIMAGESEARCH_DATASETS (see README)"
    if REQUIRE_DATA:
        raise pytest.UsageError(reason)
    for item in items:
        if "needs_data" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


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
    if "image_distractions" in overrides:  # another folder: cars.json's car categories
        raw["distraction_exclude_categories"] = []  # (SceneClass13's) are not in it
    raw.update(overrides)
    return raw


def annotation_options(fmt: str, images, annotations, class_name: str | None = None):
    """The readers' typed options for files a test wrote (no config needed)."""
    from pyimagesearch.infrastructure.options import AnnotationOptions
    from pyimagesearch.io.remote import RemoteOptions

    return AnnotationOptions(
        format=fmt,
        annotations=str(annotations),
        images=str(images),
        class_name=class_name,
        remote=RemoteOptions(),
    )


def train_small(tmp: Path, **overrides) -> tuple[Path, dict]:
    """A small store and a weak model (it fires often) from a slice of the real data,
    extracted and trained into ``tmp`` (config ``tmp/conf.json``); returns ``tmp`` and
    the config as a dict."""
    import json

    from pyimagesearch.features.extract import extract_features
    from pyimagesearch.infrastructure.config import load_config
    from pyimagesearch.model.training import train_model

    small = {
        "num_distraction_images": 40,
        "num_distractions_per_image": 5,
        "eval_num_distraction_images": 0,
        "hn_min_probability": 0.3,
    }
    raw = cars_conf_dict(tmp, **{**small, **overrides})
    (tmp / "conf.json").write_text(json.dumps(raw))
    conf = load_config(tmp / "conf.json")
    extract_features(conf, progress=False)
    train_model(conf)
    return tmp, raw


@pytest.fixture
def write_conf(tmp_path):
    """Write a config file (cars.json with overrides) and return its path."""

    def write(name: str = "conf.json", **overrides) -> Path:
        path = tmp_path / name
        path.write_text(json5.dumps(cars_conf_dict(tmp_path, **overrides), indent=1))
        return path

    return write


def mining(model, step: int, scale: float, min_probability: float, **options):
    """``MiningOptions`` for ``mine_image``: the model's window scanned with ``step`` and
    ``scale`` (NMS overlap 0.3, no padding or upsampling), keeping windows at
    ``>= min_probability``; without caps or margin unless ``options`` set them."""
    from pyimagesearch.infrastructure.options import MiningOptions, WindowOptions

    window = WindowOptions(
        tuple(model.window_dim),
        step,
        scale,
        min_probability,
        overlap_thresh=0.3,
        padding=0.0,
        upsample=0,
        approximate=False,
    )
    plain = dict(
        max_per_image=None,
        apply_nms=False,
        negative_iou_max=0.3,
        negative_cover_max=0.5,
        margin=None,
        margin_per_image=0,
        top_k=None,
        max_pixels=40_000_000,
    )
    return MiningOptions(window, **{**plain, **options})


@pytest.fixture(scope="session")
def trained_cars():
    """A car detector trained once per session through the Python API (40 car photos,
    30 coast scenes, one mining round, no search); tests only read it."""
    import pyimagesearch

    from .test_api import _cars, _scenes

    images, boxes = _cars(40)
    return pyimagesearch.train_detector(images, boxes, _scenes(30), search=False, hn_rounds=1)
