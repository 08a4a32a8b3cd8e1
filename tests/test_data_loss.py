"""Stored results are never lost: concurrent store writers, re-extraction, test_model outputs."""

from __future__ import annotations

import json
import logging
import multiprocessing
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from pyimagesearch.descriptor.hog import HogParams
from pyimagesearch.detection.files import drawing_paths
from pyimagesearch.features import store as store_module
from pyimagesearch.features.extract import extract_features
from pyimagesearch.features.store import (
    FeatureStore,
    hard_negative_group,
    lock_path,
    replace_group,
    store_lock,
    write_store,
)
from pyimagesearch.infrastructure.config import load_config
from pyimagesearch.infrastructure.errors import PyImageSearchError, StoreError
from pyimagesearch.mining import mine_hard_negatives
from pyimagesearch.mining.hard_negatives import annotated_group
from pyimagesearch.model import save_model
from pyimagesearch.model.linear import LinearModel

from .conftest import CARS, ROOT, cars_conf_dict, train_small

HOG = HogParams(9, (4, 4), (2, 2), True, "L1")
WIN = (96, 32)
D = HOG.descriptor_size(WIN)


def _rows(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"features": rng.random((n, D), dtype=np.float32), "score": rng.random(n)}


def _store(path: Path) -> FeatureStore:
    return FeatureStore(path, HOG, WIN)


# ---- concurrent writers -------------------------------------------------------------------


def test_two_threads_adding_rounds_at_once_keep_both(tmp_path, monkeypatch, caplog):
    """Each writer copies the store slowly; without the lock the second rename loses a round."""
    path = tmp_path / "features.hdf5"
    write_store(path, HOG, WIN, {"positives": _rows(3, 0), "negatives": _rows(4, 1)})
    copy = shutil.copyfile

    def slow_copy(src, dst):
        result = copy(src, dst)
        time.sleep(0.4)  # both writers would hold a copy of the old store here
        return result

    monkeypatch.setattr(store_module.shutil, "copyfile", slow_copy)
    rounds = {1: _rows(5, 2), 2: _rows(6, 3)}
    threads = [
        threading.Thread(target=replace_group, args=(path, hard_negative_group(r), rows))
        for r, rows in rounds.items()
    ]
    with caplog.at_level(logging.WARNING):
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert _store(path).hard_negative_rounds() == [1, 2]
    for r, rows in rounds.items():
        np.testing.assert_array_equal(
            _store(path).read(hard_negative_group(r))["score"], rows["score"]
        )
    assert any(
        "another process is writing this store; waiting" in r.getMessage() for r in caplog.records
    )
    assert not list(tmp_path.glob("*.h5tmp"))


def test_a_writer_that_cannot_get_the_lock_stops_with_a_message(tmp_path, monkeypatch):
    path = tmp_path / "features.hdf5"
    write_store(path, HOG, WIN, {"positives": _rows(3, 0)})
    before = path.read_bytes()
    monkeypatch.setattr(store_module, "LOCK_TIMEOUT", 0.3)
    with store_lock(path):  # another writer holds it (a second FileLock conflicts even here)
        result: list[Exception] = []

        def write():
            try:
                replace_group(path, hard_negative_group(1), _rows(2, 5))
            except Exception as exc:  # the test inspects it
                result.append(exc)

        t = threading.Thread(target=write)
        t.start()
        t.join(timeout=30)
    assert isinstance(result[0], StoreError)
    message = str(result[0])
    assert message.startswith(f"{path}: another process has been writing this store")
    assert str(lock_path(path)) in message and "nothing was written" in message
    assert path.read_bytes() == before


def _mine_at_the_barrier(conf_path: str, round_index: int, barrier) -> None:
    """Mine a round in a child process; both children meet right after copying the store."""
    copy = shutil.copyfile

    def copy_then_meet(src, dst):
        result = copy(src, dst)
        try:
            barrier.wait(timeout=3)  # without a lock both copies are of the old store
        except threading.BrokenBarrierError:
            pass
        return result

    store_module.shutil.copyfile = copy_then_meet
    mine_hard_negatives(load_config(conf_path), round_index, progress=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small store and a weak model (it fires often) from a slice of the real data."""
    return train_small(
        tmp_path_factory.mktemp("trained"), hn_num_distraction_images=12, hn_mine_annotated=False
    )


def _copy_run(trained, folder: Path, **overrides) -> Path:
    src, raw = trained
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "features.hdf5", folder / "features.hdf5")
    shutil.copy(src / "model.json", folder / "model.json")
    raw = {**raw, "features_path": str(folder / "features.hdf5"),
           "classifier_path": str(folder / "model.json"), "output_dir": str(folder / "out"),
           **overrides}  # fmt: skip
    path = folder / "conf.json"
    path.write_text(json.dumps(raw))
    return path


@pytest.mark.needs_data
@pytest.mark.slow
def test_two_mining_processes_on_one_store_both_store_their_round(trained, tmp_path):
    conf_path = _copy_run(trained, tmp_path)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [
        ctx.Process(target=_mine_at_the_barrier, args=(str(conf_path), r, barrier)) for r in (1, 2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0]
    conf = load_config(conf_path)
    store = FeatureStore(conf["features_path"], HogParams.from_config(conf), WIN)
    assert store.hard_negative_rounds() == [1, 2]
    assert all(store.count(hard_negative_group(r)) > 0 for r in (1, 2))


@pytest.mark.needs_data
@pytest.mark.slow
def test_two_hard_negative_mine_scripts_at_once(trained, tmp_path):
    conf_path = _copy_run(trained, tmp_path)
    script = ROOT / "scripts/hard_negative_mine.py"
    procs = [
        subprocess.Popen([sys.executable, str(script), "-c", str(conf_path), "-q", "--round", r],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for r in ("1", "2")
    ]  # fmt: skip
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    conf = load_config(conf_path)
    store = FeatureStore(conf["features_path"], HogParams.from_config(conf), WIN)
    assert store.hard_negative_rounds() == [1, 2]


# ---- re-extraction keeps mined rounds -------------------------------------------------------


@pytest.mark.needs_data
@pytest.mark.slow  # trains a small store and model first
def test_re_extraction_keeps_mined_rounds(trained, tmp_path):
    conf_path = _copy_run(trained, tmp_path, hn_mine_annotated=True)
    conf = load_config(conf_path)
    mine_hard_negatives(conf, 1, progress=False)
    mine_hard_negatives(conf, 2, progress=False)
    replace_group(conf["features_path"], annotated_group(1), _rows(3, 9), {"round": 1})
    hog = HogParams.from_config(conf)
    before = FeatureStore(conf["features_path"], hog, WIN)
    groups = [hard_negative_group(1), hard_negative_group(2), annotated_group(1)]
    saved = {g: before.read(g) for g in groups}
    saved_attrs = {g: before.attrs(g) for g in groups}

    summary = extract_features(conf.replace(num_distraction_images=30), progress=False)

    after = FeatureStore(conf["features_path"], hog, WIN)
    assert after.hard_negative_rounds() == [1, 2]
    assert after.hard_negative_rounds(annotated=True) == [1]
    for g in groups:
        rows = after.read(g)
        assert rows.keys() == saved[g].keys()
        for key, value in saved[g].items():
            np.testing.assert_array_equal(rows[key], value)
        assert after.attrs(g) == saved_attrs[g]
    assert after.count("negatives") == summary.n_negatives == 30 * 5  # the new extraction


@pytest.mark.needs_data
@pytest.mark.slow  # trains a small store and model first
def test_re_extraction_with_other_hog_refuses_then_drops_when_asked(trained, tmp_path):
    conf_path = _copy_run(trained, tmp_path)
    conf = load_config(conf_path)
    replace_group(conf["features_path"], hard_negative_group(1), _rows(3, 4))
    before = Path(conf["features_path"]).read_bytes()
    raw = json.loads(conf_path.read_text())
    raw["orientations"] = 12
    other = tmp_path / "other.json"
    other.write_text(json.dumps(raw))
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/extract_features.py"), "-c", str(other), "-q"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "hard_negatives/round_001" in result.stderr and "--drop-mined" in result.stderr
    assert Path(conf["features_path"]).read_bytes() == before

    extract_features(load_config(other), progress=False, drop_mined=True)
    store = FeatureStore(conf["features_path"], HogParams.from_config(load_config(other)), WIN)
    assert store.hard_negative_rounds() == [] and store.count("positives") > 0


# ---- test_model never overwrites an input -----------------------------------------------------


def test_drawing_paths_mirror_sub_folders_and_avoid_inputs(tmp_path):
    files = ["car.png", "car.jpg", "sub/car.jpg", "sub2/car.jpg", "x.png.png"]
    paths = [tmp_path / f for f in files]
    out = drawing_paths(paths, tmp_path, tmp_path)
    assert [str(p.relative_to(tmp_path)) for p in out] == [
        "car.png.png", "car.jpg.png", "sub/car.png", "sub2/car.png", "x.png.png.png",
    ]  # fmt: skip
    assert drawing_paths(paths[2:4], tmp_path, tmp_path / "o") == [
        tmp_path / "o/sub/car.png",
        tmp_path / "o/sub2/car.png",
    ]
    with pytest.raises(PyImageSearchError, match=r"car\.png: no drawing name"):
        drawing_paths([tmp_path / "car.png", tmp_path / "car.png.png"], tmp_path, tmp_path)


@pytest.mark.needs_data
def test_test_model_into_its_input_folder_overwrites_nothing(tmp_path):
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    (images / "sub2").mkdir()
    car = cv2.imread(str(CARS / "image_0001.jpg"))
    cv2.imwrite(str(images / "car.png"), car)
    for name in ("car.jpg", "sub/car.jpg", "sub2/car.jpg"):
        shutil.copyfile(CARS / "image_0002.jpg", images / name)
    shutil.copyfile(CARS / "image_0003.jpg", images / "sub2/car.jpg")
    inputs = {p: p.read_bytes() for p in images.rglob("*") if p.is_file()}
    raw = cars_conf_dict(tmp_path)
    conf_path = tmp_path / "conf.json"
    conf_path.write_text(json.dumps(raw))
    conf = load_config(conf_path)
    hog = HogParams.from_config(conf)
    weights = np.zeros(hog.descriptor_size(WIN))
    save_model(LinearModel(weights, 1.0, 1.0, 0.0, hog, WIN), conf["classifier_path"])

    def run():
        return subprocess.run(
            [sys.executable, str(ROOT / "scripts/test_model.py"), "-c", str(conf_path), "-q",
             "-i", str(images), "-o", str(images), "--n-jobs", "1"],
            capture_output=True, text=True, cwd=ROOT, timeout=300,
        )  # fmt: skip

    result = run()
    assert result.returncode == 0, result.stderr
    for path, data in inputs.items():
        assert path.read_bytes() == data, path
    drawings = {p for p in images.rglob("*") if p.is_file()} - set(inputs)
    assert {str(p.relative_to(images)) for p in drawings} == {
        "car.png.png", "car.jpg.png", "sub/car.png", "sub2/car.png",
    }  # fmt: skip
    for path in drawings:
        assert cv2.imread(str(path)) is not None
    sub, sub2 = (cv2.imread(str(images / d / "car.png")) for d in ("sub", "sub2"))
    assert not np.array_equal(sub, sub2)  # each drawing is of its own input

    # a second run would have to write over car.png.png (now an input): refused, nothing written
    state = {p: p.read_bytes() for p in images.rglob("*") if p.is_file()}
    result = run()
    assert result.returncode == 2
    assert "choose another --output folder" in result.stderr and "Traceback" not in result.stderr
    assert {p: p.read_bytes() for p in images.rglob("*") if p.is_file()} == state
