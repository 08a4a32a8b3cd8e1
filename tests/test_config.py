"""Config validation stops bad configs up front, naming the key and the file."""

import json

import pytest

from pyimagesearch.config import DATASETS_ENV, load_config
from pyimagesearch.errors import ConfigError

from .conftest import ROOT, cars_conf_dict


def test_default_config_loads_with_comments():
    conf = load_config(ROOT / "conf" / "cars.json")
    assert conf["window_dim"] == [96, 32] and conf.window_step == 4
    assert conf["image_dataset"].endswith("caltech101/101_ObjectCategories/car_side")
    assert conf["seed"] == 42 and conf["block_norm"] == "L1"


def _write(tmp_path, raw):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(raw))
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        ({"widow_step": 4}, r"unknown key 'widow_step' \(did you mean 'window_step'\?\)"),
        ({"window_dim": "96x32"}, r"key 'window_dim'"),
        ({"C": -1}, r"key 'C'"),
        ({"use_flip": "yes"}, r"key 'use_flip'"),
        ({"pyramid_scale": 1.0}, r"key 'pyramid_scale'"),
        ({"pyramid_scale": 0.5}, r"key 'pyramid_scale'"),
        ({"window_dim": [90, 32]}, r"key 'window_dim'.*not a multiple"),
        ({"percent_gt_images": 1.5}, r"key 'percent_gt_images'"),
        ({"annotation_format": "pascal"}, r"key 'annotation_format'"),
    ],
)
def test_bad_values_name_key_and_file(tmp_path, change, message):
    path = _write(tmp_path, {**cars_conf_dict(tmp_path), **change})
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_missing_key(tmp_path):
    raw = cars_conf_dict(tmp_path)
    del raw["hn_min_probability"]
    with pytest.raises(ConfigError, match="missing key 'hn_min_probability'"):
        load_config(_write(tmp_path, raw))


def test_malformed_json_and_missing_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"window_dim": [96, 32],, }')
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.json")


def test_datasets_root_from_environment(tmp_path, monkeypatch):
    raw = cars_conf_dict(tmp_path)
    raw["image_dataset"] = "{datasets_root}/x"
    monkeypatch.setenv(DATASETS_ENV, "/data/elsewhere")
    assert load_config(_write(tmp_path, raw))["image_dataset"] == "/data/elsewhere/x"


def test_replace_revalidates(tmp_path):
    conf = load_config(_write(tmp_path, cars_conf_dict(tmp_path)))
    assert conf.replace(n_jobs=2)["n_jobs"] == 2
    with pytest.raises(ConfigError, match="key 'n_jobs'"):
        conf.replace(n_jobs=0)
