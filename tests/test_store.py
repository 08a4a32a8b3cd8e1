"""The HDF5 feature store round-trips, replaces groups atomically, and checks HOG parameters."""

import h5py
import numpy as np
import pytest

from pyimagesearch.descriptor.hog import HogParams
from pyimagesearch.features.store import (
    FeatureStore,
    hard_negative_group,
    replace_group,
    write_store,
)
from pyimagesearch.infrastructure.errors import StoreError

COURSE = HogParams(9, (4, 4), (2, 2), True, "L1")
WIN = (96, 32)


D = COURSE.descriptor_size(WIN)


def _files(folder):
    """Files in the folder, except the store's lock file (kept: deleting it would race)."""
    return sorted(p.name for p in folder.iterdir() if p.name != ".f.hdf5.lock")


def _rows(n, seed=0, d=D):
    rng = np.random.default_rng(seed)
    return {
        "features": rng.random((n, d), dtype=np.float32),
        "source": np.array([f"img_{i}.jpg" for i in range(n)], dtype=object),
        "box": rng.random((n, 4)) * 100,
    }


def test_round_trip(tmp_path):
    path = tmp_path / "f.hdf5"
    pos, neg = _rows(5, 1), _rows(7, 2)
    write_store(path, COURSE, WIN, {"positives": pos, "negatives": neg})
    store = FeatureStore(path, COURSE, WIN)
    back = store.read("negatives")
    np.testing.assert_array_equal(back["features"], neg["features"])
    np.testing.assert_array_equal(back["box"], neg["box"])
    assert back["source"].tolist() == neg["source"].tolist()
    assert store.groups() == ["negatives", "positives"]


def test_hard_negative_rounds_replace_not_append(tmp_path):
    path = tmp_path / "f.hdf5"
    write_store(path, COURSE, WIN, {"positives": _rows(2), "negatives": _rows(3)})
    hard = {**_rows(4, 5), "score": np.array([3.0, 2.0, 1.0, 0.5])}
    replace_group(path, hard_negative_group(1), hard, {"round": 1})
    replace_group(path, hard_negative_group(1), hard, {"round": 1})  # re-run
    store = FeatureStore(path, COURSE, WIN)
    assert store.hard_negative_rounds() == [1]
    assert store.count(hard_negative_group(1)) == 4
    assert store.attrs(hard_negative_group(1)) == {"round": 1}
    assert "hard_negatives" in hard_negative_group(1)
    with h5py.File(path) as f:  # the course's tools can find the rows by name
        assert f["hard_negatives/round_001/features"].shape[0] == 4
    assert _files(tmp_path) == ["f.hdf5"]  # no temp files left


def test_failed_write_keeps_the_previous_store(tmp_path):
    path = tmp_path / "f.hdf5"
    write_store(path, COURSE, WIN, {"positives": _rows(2), "negatives": _rows(3)})
    before = path.read_bytes()
    with pytest.raises(TypeError):
        replace_group(path, "hard_negatives/round_001", {"features": object()})
    assert path.read_bytes() == before
    assert _files(tmp_path) == ["f.hdf5"]


def test_store_of_other_hog_configuration_is_refused(tmp_path):
    path = tmp_path / "f.hdf5"
    write_store(path, COURSE, WIN, {"positives": _rows(2)})
    other = HogParams(9, (8, 8), (2, 2), True, "L1")
    with pytest.raises(StoreError, match="other HOG parameters"):
        FeatureStore(path, other, WIN)
    with pytest.raises(StoreError, match="other HOG parameters"):
        FeatureStore(path, COURSE, (64, 32))


def test_not_a_store(tmp_path):
    bad = tmp_path / "bad.hdf5"
    bad.write_text("hello")
    with pytest.raises(StoreError, match="not a readable HDF5"):
        FeatureStore(bad, COURSE, WIN)
    with pytest.raises(StoreError, match="does not exist"):
        FeatureStore(tmp_path / "none.hdf5", COURSE, WIN)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(StoreError, match="not a pyimagesearch feature store"):
        FeatureStore(tmp_path / "other.h5", COURSE, WIN)
