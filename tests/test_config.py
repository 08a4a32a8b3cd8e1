"""Config validation stops bad configs up front, naming the key and the file."""

import json
import socket
import subprocess
import sys
from argparse import Namespace

import pytest

from pyimagesearch.commands.cli import configure
from pyimagesearch.infrastructure.config import (
    DATASETS_ENV,
    SCHEDULER_ENV,
    config_from_dict,
    load_config,
)
from pyimagesearch.infrastructure.errors import ConfigError

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


def test_config_naming_a_scheduler_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    path = _write(tmp_path, cars_conf_dict(tmp_path, scheduler="tcp://127.0.0.1:8786"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}: key 'scheduler': a config may not name a Dask scheduler")
    assert "--scheduler" in message and SCHEDULER_ENV in message and "\n" not in message
    with pytest.raises(ConfigError, match="key 'scheduler'"):
        config_from_dict(cars_conf_dict(tmp_path, scheduler="tcp://127.0.0.1:8786"))


def test_scheduler_null_is_accepted_and_cars_json_names_none(tmp_path, monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    assert (
        load_config(_write(tmp_path, cars_conf_dict(tmp_path, scheduler=None)))["scheduler"] is None
    )
    assert load_config(ROOT / "conf" / "cars.json")["scheduler"] is None
    assert '"scheduler"' not in (ROOT / "conf" / "cars.json").read_text()


def test_scheduler_from_environment_then_command_line(tmp_path, monkeypatch):
    path = _write(tmp_path, cars_conf_dict(tmp_path))
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://127.0.0.1:1111")
    conf = load_config(path)
    assert conf["scheduler"] == "tcp://127.0.0.1:1111"
    assert conf.replace(n_jobs=2)["scheduler"] == "tcp://127.0.0.1:1111"
    args = Namespace(conf=str(path), verbose=False, quiet=True, n_jobs=None,
                     scheduler="tcp://127.0.0.1:2222")  # fmt: skip
    assert configure(args)["scheduler"] == "tcp://127.0.0.1:2222"
    monkeypatch.delenv(SCHEDULER_ENV)
    assert configure(Namespace(**{**vars(args), "scheduler": None}))["scheduler"] is None


def test_script_with_a_scheduler_in_its_config_never_connects(tmp_path, monkeypatch):
    """The refusal comes before any connection: a listener on 127.0.0.1 sees nobody."""
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.5)
        address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
        path = _write(tmp_path, cars_conf_dict(tmp_path, scheduler=address))
        result = subprocess.run(
            [sys.executable, str(ROOT / "scripts/extract_features.py"), "-c", str(path), "-q"],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
        )  # fmt: skip
        with pytest.raises(TimeoutError):
            listener.accept()
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "key 'scheduler'" in result.stderr and "--scheduler" in result.stderr
    assert not (tmp_path / "features.hdf5").exists()
