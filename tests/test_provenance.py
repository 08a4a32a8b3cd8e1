"""Results record what made them, and a config never overwrites another config's results.

Issue 15 (reproducible results) and issue 14 item 5 (refuse foreign overwrites).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from pyimagesearch.descriptor.hog import HogParams
from pyimagesearch.features.extract import extract_features
from pyimagesearch.features.store import FeatureStore
from pyimagesearch.infrastructure import provenance
from pyimagesearch.infrastructure.config import load_config
from pyimagesearch.infrastructure.errors import OutputError
from pyimagesearch.infrastructure.provenance import (
    check_owner,
    folder_fingerprint,
    git_commit,
    recorded,
)
from pyimagesearch.mining import mine_hard_negatives
from pyimagesearch.model.modelfile import load_model
from pyimagesearch.model.training import train_model
from pyimagesearch.orchestration.pipeline import run_pipeline
from pyimagesearch.report.markdown import provenance_section

from .conftest import CARS, ROOT, SCENES, cars_conf_dict

SMALL = dict(
    num_distraction_images=20,
    num_distractions_per_image=5,
    hn_num_distraction_images=4,
    eval_num_distraction_images=0,
    box_regression_samples=0,
    hn_mine_annotated=False,
)


def _write(path: Path, raw: dict) -> Path:
    path.write_text(json.dumps(raw))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A store and a model written by ``a.json`` (outputs in the same folder)."""
    tmp = tmp_path_factory.mktemp("prov")
    raw = cars_conf_dict(tmp, **SMALL)
    conf_path = _write(tmp / "a.json", raw)
    conf = load_config(conf_path)
    extract_features(conf, progress=False)
    train_model(conf)
    return tmp, raw, conf_path


def _independent_sha256(conf_path: Path) -> str:
    where = ("scheduler", "scheduler_timeout")  # where the cluster is: not a result
    values = {k: v for k, v in load_config(conf_path).to_dict().items() if k not in where}
    text = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _names_and_sizes_sha256(folder: Path) -> str:
    lines = sorted(
        (p.relative_to(folder).as_posix(), p.stat().st_size)
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    return hashlib.sha256("".join(f"{n}\t{s}\n" for n, s in lines).encode()).hexdigest()


# ---- what is recorded ------------------------------------------------------------------


@pytest.mark.needs_data
@pytest.mark.slow
def test_store_and_model_record_config_data_versions_and_commit(run):
    tmp, _, conf_path = run
    conf = load_config(conf_path)
    store = FeatureStore(conf["features_path"], HogParams.from_config(conf), (96, 32))
    from_store = store.provenance()
    from_model = load_model(conf["classifier_path"]).metadata["provenance"]
    for record, written in ((from_store, "features.hdf5"), (from_model, "model.json")):
        assert record["config"]["path"] == str(conf_path.resolve())
        assert record["config"]["sha256"] == _independent_sha256(conf_path)
        assert record["config"]["values"]["C"] == 0.01
        assert record["written_to"] == str((tmp / written).resolve())
        cars = record["data"]["image_dataset"]
        assert cars["files"] == len(os.listdir(CARS)) == 123
        assert cars["bytes"] == sum(p.stat().st_size for p in CARS.iterdir())
        assert cars["sha256"] == _names_and_sizes_sha256(CARS)
        scenes = record["data"]["image_distractions"]
        assert scenes["sha256"] == _names_and_sizes_sha256(SCENES)
        env = record["environment"]
        assert env["python"] == platform.python_version()
        assert env["packages"]["numpy"] == np.__version__
        assert env["packages"]["h5py"] == h5py.__version__
        assert all(env["packages"][k] for k in ("opencv", "scikit-learn", "scikit-image"))
    assert from_store["data"] == from_model["data"]
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True)
    if head.returncode == 0:
        assert from_model["git"]["commit"] == head.stdout.decode().strip()
        assert isinstance(from_model["git"]["dirty"], bool)


def test_data_fingerprint_is_of_names_and_sizes_only(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "sub").mkdir(parents=True)
    (a / "sub" / "x.jpg").write_bytes(b"12345")
    (a / "y.jpg").write_bytes(b"1")
    shutil.copytree(a, b)
    (b / ".DS_Store").write_bytes(b"junk")  # hidden files do not count
    os.utime(b / "y.jpg", (0, 0))  # nor do times
    fa, fb = folder_fingerprint(a), folder_fingerprint(b)
    assert fa["sha256"] == fb["sha256"] == _names_and_sizes_sha256(a)
    assert (fa["files"], fa["bytes"]) == (2, 6)
    (b / "y.jpg").write_bytes(b"22")
    assert folder_fingerprint(b)["sha256"] != fa["sha256"]
    assert folder_fingerprint(tmp_path / "none") == {
        "path": str(tmp_path / "none"),
        "missing": True,
    }


def test_git_commit_outside_a_checkout_is_none(tmp_path):
    assert git_commit(tmp_path) is None


@pytest.mark.needs_data
@pytest.mark.slow
def test_report_has_a_provenance_section(run):
    _, _, conf_path = run
    conf = load_config(conf_path)
    record = load_model(conf["classifier_path"]).metadata["provenance"]
    text = "\n".join(provenance_section(record, conf["classifier_path"]))
    assert text.startswith("## Provenance")
    assert str(conf_path.resolve()) in text and record["config"]["sha256"][:16] in text
    assert "`image_dataset`" in text and "123 files" in text
    assert f"numpy {np.__version__}" in text
    older = "\n".join(provenance_section(None, "m.json"))
    assert "records no provenance" in older


# ---- refusing another config's outputs --------------------------------------------------


def _other_config(run, name: str = "b.json", **changes) -> Path:
    tmp, raw, _ = run
    return _write(tmp / name, {**raw, **changes})


def _script(name: str, conf: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / name), "-c", str(conf), "-q", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip


@pytest.mark.needs_data
@pytest.mark.slow
def test_a_second_config_on_the_same_outputs_is_refused_naming_both(run):
    tmp, _, conf_path = run
    other = _other_config(run, C=0.1)  # forgot to change the outputs
    store, model = tmp / "features.hdf5", tmp / "model.json"
    before = {p: p.read_bytes() for p in (store, model)}
    for script, target, what in (
        ("extract_features.py", store, "feature store"),
        ("train_model.py", model, "model"),
        ("hard_negative_mine.py", store, "feature store"),
        ("run_pipeline.py", store, "feature store"),
    ):
        result = _script(script, other)
        assert result.returncode == 2, (script, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert lines[0] == (
            f"error: {target}: this {what} was made by the config {conf_path.resolve()}, not by "
            f"{other.resolve()} (other values); nothing was written: give {other.resolve()} its "
            f"own output_dir, or pass --overwrite (or delete {target}) to replace it"
        )
    assert {p: p.read_bytes() for p in (store, model)} == before
    with pytest.raises(OutputError, match="made by the config"):
        run_pipeline(load_config(other), progress=False)
    assert {p: p.read_bytes() for p in (store, model)} == before


@pytest.mark.needs_data
@pytest.mark.slow
def test_overwrite_replaces_another_configs_files(run, tmp_path):
    src, raw, _ = run
    store, model = tmp_path / "features.hdf5", tmp_path / "model.json"
    shutil.copy(src / "features.hdf5", store)
    shutil.copy(src / "model.json", model)
    outputs = {"features_path": str(store), "classifier_path": str(model)}
    conf_a = load_config(_write(tmp_path / "a.json", {**raw, **outputs}))
    train_model(conf_a)  # a copy is no one's (see below): config a trains its own model
    with h5py.File(store, "r+") as f:  # and owns the store as if it had extracted it
        f.attrs["provenance"] = json.dumps(provenance.collect(conf_a, store))
    mine_hard_negatives(conf_a, 1, progress=False)
    b = _write(tmp_path / "b.json", {**raw, **outputs, "C": 0.1, "percent_gt_images": 0.2})
    with pytest.raises(OutputError, match="made by the config"):
        train_model(load_config(b))
    result = _script("train_model.py", b, "--overwrite")
    assert result.returncode == 0, result.stderr
    record = load_model(model).metadata["provenance"]
    assert record["config"]["path"] == str(b.resolve()) and record["config"]["values"]["C"] == 0.1
    # the store is still a's: b may not mine into it; extracting with overwrite makes it
    # b's and drops a's mined round
    with pytest.raises(OutputError, match="this feature store was made by the config"):
        mine_hard_negatives(load_config(b), 1, progress=False)
    extract_features(load_config(b), progress=False, overwrite=True)
    assert recorded(store)["config"]["path"] == str(b.resolve())
    hog = HogParams.from_config(conf_a)
    assert FeatureStore(store, hog, (96, 32)).hard_negative_rounds() == []


@pytest.mark.needs_data
@pytest.mark.slow
def test_the_same_config_edited_a_renamed_copy_and_a_moved_store_are_accepted(run, tmp_path):
    tmp, raw, conf_path = run
    conf = load_config(conf_path)
    model = tmp / "model.json"
    # the same file, edited (normal iteration): accepted, and the new values are recorded
    original = conf_path.read_text()
    try:
        _write(conf_path, {**raw, "C": 0.02})
        assert check_owner(model, load_config(conf_path), "model") is False
        train_model(load_config(conf_path))
        assert recorded(model)["config"]["values"]["C"] == 0.02
    finally:
        conf_path.write_text(original)
        train_model(conf)
    # a renamed copy with the same values writes the same results: accepted
    renamed = _write(tmp / "renamed.json", json.loads(original))
    assert check_owner(model, load_config(renamed), "model") is False
    # a store copied elsewhere is no longer where its config writes: a copy, accepted
    shutil.copy(tmp / "features.hdf5", tmp_path / "features.hdf5")
    copy_conf = _write(
        tmp_path / "c.json", {**raw, "features_path": str(tmp_path / "features.hdf5")}
    )
    assert check_owner(tmp_path / "features.hdf5", load_config(copy_conf), "store") is False
    # a config built in Python (no file) cannot be told from iteration: accepted
    from pyimagesearch.infrastructure.config import config_from_dict

    assert check_owner(model, config_from_dict({**raw, "C": 5.0}), "model") is False


@pytest.mark.needs_data
@pytest.mark.slow
def test_files_without_provenance_are_accepted_with_a_warning(run, tmp_path, caplog):
    _, raw, _ = run
    store, model = tmp_path / "features.hdf5", tmp_path / "model.json"
    shutil.copy(run[0] / "features.hdf5", store)
    doc = json.loads((run[0] / "model.json").read_text())
    del doc["metadata"]["provenance"]
    model.write_text(json.dumps(doc))
    with h5py.File(store, "r+") as f:
        del f.attrs["provenance"]
    conf = load_config(_write(tmp_path / "old.json", {**raw, "C": 0.5,
                       "features_path": str(store), "classifier_path": str(model)}))  # fmt: skip
    assert recorded(store) is None and recorded(model) is None
    assert load_model(model).metadata.get("provenance") is None  # older files still load
    hog = HogParams.from_config(conf)
    assert FeatureStore(store, hog, (96, 32)).provenance() is None
    with caplog.at_level(logging.WARNING):
        train_model(conf)
    assert f"{model} records no config (written by an older version)" in caplog.text
    assert recorded(model)["config"]["sha256"] == _independent_sha256(Path(conf.path))
