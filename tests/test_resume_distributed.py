"""Mining is deterministic, survives kill -9 (resumes to the same rows), and runs on Dask."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from pyimagesearch.descriptor.hog import HogParams
from pyimagesearch.features.extract import extract_features
from pyimagesearch.features.store import FeatureStore, hard_negative_group
from pyimagesearch.infrastructure.checkpoint import checkpoint_folder
from pyimagesearch.infrastructure.config import SCHEDULER_ENV, load_config
from pyimagesearch.mining import mine_hard_negatives
from pyimagesearch.model.training import train_model

from .conftest import ROOT, cars_conf_dict, train_small


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A store and a (weak, so it fires often) model from a slice of the real data."""
    return train_small(
        tmp_path_factory.mktemp("trained"),
        num_distraction_images=60,
        # the course's windows (no padding, no cut copies): these tests check resuming,
        # determinism and solvers, and a weak 300-negative model needs mined negatives
        # to tell padded windows apart
        padding=0.0,
        positive_truncation=0,
    )


def _copy_run(trained, tmp_path, **overrides):
    """A config whose store and model are fresh copies of the trained ones."""
    src, raw = trained
    shutil.copy(src / "features.hdf5", tmp_path / "features.hdf5")
    shutil.copy(src / "model.json", tmp_path / "model.json")
    raw = {
        **raw,
        "features_path": str(tmp_path / "features.hdf5"),
        "classifier_path": str(tmp_path / "model.json"),
        "output_dir": str(tmp_path / "out"),
        **overrides,
    }
    path = tmp_path / "conf.json"
    path.write_text(json.dumps(raw))
    return path


def _rows(conf_path, round_index=1):
    conf = load_config(conf_path)
    store = FeatureStore(conf["features_path"], HogParams.from_config(conf), (96, 32))
    return store.read(hard_negative_group(round_index))


def _assert_same_rows(a, b, atol=0.0):
    assert a["source"].tolist() == b["source"].tolist()
    np.testing.assert_allclose(a["score"], b["score"], atol=atol)
    np.testing.assert_allclose(a["features"], b["features"], atol=atol)
    np.testing.assert_array_equal(a["box"], b["box"])


@pytest.mark.needs_data
@pytest.mark.slow
def test_mining_is_deterministic_and_rerun_replaces(trained, tmp_path):
    conf_path = _copy_run(trained, tmp_path, hn_num_distraction_images=30)
    conf = load_config(conf_path)
    first = mine_hard_negatives(conf, 1, progress=False)
    rows_1 = _rows(conf_path)
    again = mine_hard_negatives(conf, 1, progress=False)
    rows_2 = _rows(conf_path)
    assert first.n_kept == again.n_kept == len(rows_1["score"]) > 0
    _assert_same_rows(rows_1, rows_2)
    assert not checkpoint_folder(conf["features_path"], "mining_round_001").exists()


@pytest.mark.needs_data
@pytest.mark.slow
def test_kill_9_then_rerun_equals_uninterrupted_run(trained, tmp_path):
    common = {"hn_num_distraction_images": 160, "checkpoint_every": 4, "n_jobs": 1}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    reference = _copy_run(trained, tmp_path / "a", **common)
    mine_hard_negatives(load_config(reference), 1, progress=False)

    killed = _copy_run(trained, tmp_path / "b", **common)
    folder = checkpoint_folder(load_config(killed)["features_path"], "mining_round_001")
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "hard_negative_mine.py"),
        "--conf",
        str(killed),
        "-q",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not list(folder.glob("batch_*.npz")) and time.time() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "mining finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(folder.glob("batch_*.npz")))
    assert 0 < done < 40
    # the store still opens and holds no partial round
    conf = load_config(killed)
    store = FeatureStore(conf["features_path"], HogParams.from_config(conf), (96, 32))
    assert store.hard_negative_rounds() == []

    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    _assert_same_rows(_rows(killed), _rows(reference))
    assert not folder.exists()


@pytest.mark.needs_data
@pytest.mark.slow
def test_dask_local_cluster_mines_the_same_rows(trained, tmp_path, monkeypatch):
    distributed = pytest.importorskip("dask.distributed")
    (tmp_path / "local").mkdir()
    (tmp_path / "dask").mkdir()
    local = _copy_run(trained, tmp_path / "local", hn_num_distraction_images=24, n_jobs=1)
    mine_hard_negatives(load_config(local), 1, progress=False)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        remote = _copy_run(trained, tmp_path / "dask", hn_num_distraction_images=24)
        # the scheduler never comes from the config file: here from the environment
        monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)
        conf = load_config(remote)
        assert conf["scheduler"] == cluster.scheduler_address
        summary = mine_hard_negatives(conf, 1, progress=False)
    assert summary.n_kept > 0
    _assert_same_rows(_rows(remote), _rows(local), atol=1e-6)


@pytest.mark.needs_data
@pytest.mark.slow
def test_extraction_killed_then_rerun_equals_uninterrupted(tmp_path):
    common = {
        "num_distraction_images": 300,
        "checkpoint_every": 4,
        "n_jobs": 1,
        "eval_num_distraction_images": 0,
    }
    paths = {}
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        raw = cars_conf_dict(tmp_path / name, **common)
        paths[name] = tmp_path / name / "conf.json"
        paths[name].write_text(json.dumps(raw))
    extract_features(load_config(paths["a"]), progress=False)

    conf = load_config(paths["b"])
    folder = checkpoint_folder(conf["features_path"], "extract_negatives")
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "extract_features.py"),
        "--conf",
        str(paths["b"]),
        "-q",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not list(folder.glob("batch_*.npz")) and time.time() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "extraction finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not os.path.exists(conf["features_path"])  # nothing half-written
    assert 0 < len(list(folder.glob("batch_*.npz"))) < 75

    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    hog = HogParams.from_config(conf)
    a = FeatureStore(load_config(paths["a"])["features_path"], hog, (96, 32))
    b = FeatureStore(conf["features_path"], hog, (96, 32))
    for group in ("positives", "negatives"):
        ra, rb = a.read(group), b.read(group)
        assert ra["source"].tolist() == rb["source"].tolist()
        np.testing.assert_array_equal(ra["features"], rb["features"])
        np.testing.assert_array_equal(ra["box"], rb["box"])
    assert not folder.exists()


@pytest.mark.needs_data
@pytest.mark.slow
def test_out_of_core_sgd_training_finds_cars(trained, tmp_path):
    from pyimagesearch.evaluation.held_out import evaluate

    conf = load_config(
        _copy_run(trained, tmp_path, train_solver="sgd", eval_num_distraction_images=10)
    )
    model = train_model(conf)
    assert model.metadata["solver"] == "sgd"
    assert model.metadata["positives"] == 124 and model.metadata["negatives"] == 300
    reference = train_model(conf.replace(train_solver="liblinear"), path=str(tmp_path / "l.json"))
    cosine = (
        model.weights
        @ reference.weights
        / (np.linalg.norm(model.weights) * np.linalg.norm(reference.weights))
    )
    assert cosine > 0.5
    ap_sgd = evaluate(conf, model, progress=False).average_precision
    ap_ref = evaluate(conf, reference, progress=False).average_precision
    # 10 SGD epochs approximate liblinear's optimum: measured 0.86 vs 0.97 (both with
    # the box regressor, which lifted the exact solver's AP from about 0.88)
    assert ap_sgd >= 0.8 and ap_sgd >= ap_ref - 0.15, (ap_sgd, ap_ref)
