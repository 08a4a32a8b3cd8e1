"""Scripts facing hostile input: one line ``error: ...`` naming the file or key, never a traceback.

Each case runs a script as a user does (a subprocess) and reads its exit status and stderr.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from pyimagesearch.commands import cli
from pyimagesearch.descriptor.hog import HogParams
from pyimagesearch.features.store import write_store
from pyimagesearch.infrastructure.errors import ConfigError
from pyimagesearch.model.linear import LinearModel
from pyimagesearch.model.modelfile import save_model

from .conftest import CAR_ANNOTATIONS, ROOT, SCENES, cars_conf_dict
from .test_hostile_inputs import png_header_only

COURSE = HogParams()
SMALL = {"num_distraction_images": 20, "eval_num_distraction_images": 0}


def run_script(script: str, *args, timeout: float = 300, env: dict | None = None):
    """Run ``scripts/<script>.py`` with this checkout first on the import path."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    cmd = [sys.executable, str(ROOT / "scripts" / f"{script}.py"), *map(str, args)]
    return subprocess.run(
        cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout, env=environ
    )


def error_line(result) -> str:
    """The one ``error:`` line of a failed run (asserting there is nothing else)."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def write_conf(tmp_path: Path, name: str = "conf.json", **overrides) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(cars_conf_dict(tmp_path, **overrides), indent=1))
    return path


# ---- command-line values -----------------------------------------------------------------


@pytest.mark.needs_data
@pytest.mark.parametrize(
    "script, args, needle",
    [
        ("hard_negative_mine", ["--round", "-3"], "argument --round: must be >= 1, got -3"),
        ("hard_negative_mine", ["--round", "0"], "argument --round: must be >= 1"),
        ("review_mined", ["--round", "x"], "argument --round: expected a whole number"),
        ("review_mined", ["--top", "0"], "argument --top: must be >= 1"),
        ("train_model", ["--max-hard-negatives", "-5"], "argument --max-hard-negatives"),
        ("run_pipeline", ["--max-hard-negatives", "-5"], "argument --max-hard-negatives"),
        ("run_pipeline", ["--rounds", "-1"], "argument --rounds: must be >= 0"),
        ("test_model", ["-i", "x", "--min-probability", "5"], "between 0 and 1, got 5"),
        ("test_model", ["-i", "x", "--min-probability", "nan"], "expected a finite number"),
        ("test_model", ["-i", "x", "--min-probability=-inf"], "expected a finite number"),
        ("test_model", ["-i", "x", "--yolo-class", "-1"], "argument --yolo-class"),
        ("extract_features", ["--n-jobs", "0"], "argument --n-jobs: must not be 0"),
        ("evaluate", ["--n-jobs", "1.5"], "argument --n-jobs: expected a whole number"),
    ],
)
@pytest.mark.slow
def test_bad_command_line_values_are_refused_up_front(tmp_path, script, args, needle):
    conf = write_conf(tmp_path)
    line = error_line(run_script(script, "--conf", conf, *args))
    assert needle in line
    assert not (tmp_path / "features.hdf5").exists()


@pytest.mark.needs_data
@pytest.mark.parametrize(
    "script, args, needle",
    [
        ("coco_backgrounds", ["--annotations", "a", "--out", "o", "--num", "-2"], "--num"),
        ("coco_backgrounds", ["--annotations", "a", "--out", "o", "--timeout", "nan"], "--timeout"),
        ("openimages_subset", ["Car", "--bbox-csv", "a", "--images-csv", "b", "--out", "o",
                               "--workers", "0"], "argument --workers: must be >= 1"),
        ("openimages_subset", ["Car", "--bbox-csv", "a", "--images-csv", "b", "--out", "o",
                               "--retries", "-1"], "argument --retries: must be >= 0"),
    ],
)  # fmt: skip
@pytest.mark.slow
def test_fetchers_refuse_bad_values(tmp_path, script, args, needle):
    line = error_line(run_script(script, *args))
    assert needle in line
    assert not (ROOT / "o").exists()


# ---- config values -----------------------------------------------------------------------


def test_nan_in_config_is_one_line_naming_key_and_file(tmp_path):
    conf = write_conf(tmp_path)
    conf.write_text(conf.read_text().replace('"min_probability": 0.7', '"min_probability": NaN'))
    assert "NaN" in conf.read_text()
    line = error_line(run_script("explore_dims", "--conf", conf))
    assert line == (
        f"error: {conf}: key 'min_probability': NaN and Infinity are not allowed (got NaN)"
    )


def test_verbose_adds_the_traceback(tmp_path):
    conf = write_conf(tmp_path)
    conf.write_text(conf.read_text().replace('"C": 0.01', '"C": Infinity'))
    result = run_script("explore_dims", "--conf", conf, "--verbose")
    assert result.returncode != 0 and "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {conf}: key 'C'")


@pytest.mark.needs_data
@pytest.mark.slow
def test_window_larger_than_every_image(tmp_path):
    conf = write_conf(tmp_path, window_dim=[2000, 1000], **SMALL)
    line = error_line(run_script("extract_features", "--conf", conf, "-q"))
    assert f"{conf}: key 'window_dim'" in line and "2000x1000" in line and "largest is" in line
    assert not (tmp_path / "features.hdf5").exists()


@pytest.mark.needs_data
def test_empty_distraction_folder(tmp_path):
    (tmp_path / "none").mkdir()
    conf = write_conf(
        tmp_path, image_distractions=str(tmp_path / "none"), distraction_exclude_categories=[]
    )
    line = error_line(run_script("extract_features", "--conf", conf, "-q"))
    assert line == f"error: {conf}: key 'image_distractions': no image found in {tmp_path / 'none'}"


@pytest.mark.needs_data
@pytest.mark.slow
def test_tiny_percent_gt_images(tmp_path):
    conf = write_conf(tmp_path, percent_gt_images=0.01, **SMALL)
    line = error_line(run_script("extract_features", "--conf", conf, "-q"))
    assert f"{conf}: key 'percent_gt_images'" in line


@pytest.mark.needs_data
@pytest.mark.parametrize(
    "box_coord, needle",
    [("7 50 3 90", "must hold numbers"), (np.ones((1, 3)), "must have 4 columns")],
)
@pytest.mark.slow
def test_bad_caltech_mat_names_the_file(tmp_path, box_coord, needle):
    ann = tmp_path / "ann"
    shutil.copytree(CAR_ANNOTATIONS, ann)
    scipy.io.savemat(ann / "annotation_0042.mat", {"box_coord": box_coord})
    conf = write_conf(tmp_path, image_annotations=str(ann), **SMALL)
    for script in ("explore_dims", "extract_features"):
        line = error_line(run_script(script, "--conf", conf, "-q"))
        assert line.startswith(f"error: {ann / 'annotation_0042.mat'}: 'box_coord' ")
        assert needle in line
    assert not (tmp_path / "features.hdf5").exists()


# ---- disks -------------------------------------------------------------------------------


@pytest.mark.needs_data
def test_file_where_the_output_folder_should_be(tmp_path):
    (tmp_path / "blocker").write_text("a file")
    store = tmp_path / "blocker" / "features.hdf5"
    conf = write_conf(tmp_path, features_path=str(store), **SMALL)
    line = error_line(run_script("extract_features", "--conf", conf, "-q"))
    assert line == (
        f"error: {conf}: key 'features_path': {store}: cannot write: "
        f"{tmp_path / 'blocker'} is a file, not a folder"
    )
    assert (tmp_path / "blocker").read_text() == "a file"


_FULL_DISK = """
import errno, os, runpy, sys
def full(fd):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
os.fsync = full
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.needs_data
@pytest.mark.slow
def test_full_disk_is_one_line_and_keeps_the_store(tmp_path):
    conf = write_conf(tmp_path, **SMALL)
    store = tmp_path / "features.hdf5"
    store.write_bytes(b"previous store")
    script = ROOT / "scripts" / "extract_features.py"
    result = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(script), "--conf", str(conf), "-q"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    line = error_line(result)
    assert line.startswith("error: ") and line.endswith(": cannot write: No space left on device")
    assert str(tmp_path) in line
    assert store.read_bytes() == b"previous store"
    assert not list(tmp_path.glob(".features.hdf5.*tmp"))


# ---- model files and stores --------------------------------------------------------------


def _model_file(path: Path) -> Path:
    rng = np.random.default_rng(0)
    d = COURSE.descriptor_size((96, 32))
    save_model(LinearModel(rng.normal(size=d) * 0.01, 0.0, 1.0, 0.0, COURSE, (96, 32)), path)
    return path


@pytest.mark.needs_data
@pytest.mark.parametrize("key, value", [("weights", "nan"), ("bias", "inf")])
@pytest.mark.slow
def test_non_finite_model_is_refused(tmp_path, key, value):
    path = _model_file(tmp_path / "model.json")
    doc = json.loads(path.read_text())
    if key == "weights":
        doc["weights"][7] = float(value)
    else:
        doc[key] = float(value)
    path.write_text(json.dumps(doc))
    conf = write_conf(tmp_path)
    image = SCENES / "MITcoast" / "image_0001.jpg"
    line = error_line(
        run_script("test_model", "--conf", conf, "-i", image, "-o", tmp_path / "d", "-q")
    )
    assert line.startswith(f"error: {path}: ") and f"{key} holds NaN or infinite" in line
    assert not (tmp_path / "d").exists()


@pytest.mark.needs_data
@pytest.mark.slow
def test_garbage_store_is_refused_by_training(tmp_path):
    d = COURSE.descriptor_size((96, 32))
    rng = np.random.default_rng(1)
    garbage = np.frombuffer(rng.bytes(8 * d * 4), np.float32).reshape(8, d)
    write_store(
        tmp_path / "features.hdf5",
        COURSE,
        (96, 32),
        {
            "positives": {"features": rng.uniform(0, 0.2, (8, d))},
            "negatives": {"features": garbage},
        },
    )
    conf = write_conf(tmp_path)
    line = error_line(run_script("train_model", "--conf", conf, "-q"))
    assert line.startswith(f"error: {tmp_path / 'features.hdf5'}: group 'negatives': ")
    assert not (tmp_path / "model.json").exists()


# ---- image folders -----------------------------------------------------------------------


@pytest.mark.needs_data
@pytest.mark.slow
def test_huge_png_and_fifo_are_skipped_naming_them(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(SCENES / "MITcoast" / "image_0001.jpg", folder / "a.jpg")
    png_header_only(folder / "huge.png", 20000, 20000)
    os.mkfifo(folder / "x.jpg")
    model = _model_file(tmp_path / "model.json")
    conf = write_conf(tmp_path)
    result = run_script(
        "test_model", "--conf", conf, "-i", folder, "-o", tmp_path / "d", "--model", model, "-q",
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert f"skipped: {folder / 'huge.png'}: image of 20000x20000 pixels exceeds" in result.stdout
    assert f"{folder / 'x.jpg'}: not a regular file" in result.stderr
    assert "in 1 images" in result.stdout

    alone = run_script(
        "test_model", "--conf", conf, "-i", folder / "huge.png", "--model", model,
        "-o", tmp_path / "d", "-q",
    )  # fmt: skip
    assert alone.returncode == 1 and "exceeds max_image_pixels" in alone.stdout


@pytest.mark.needs_data
@pytest.mark.slow
def test_fifo_among_distraction_images_never_blocks(tmp_path):
    folder = tmp_path / "scenes" / "MITcoast"
    folder.mkdir(parents=True)
    for src in sorted((SCENES / "MITcoast").glob("*.jpg"))[:8]:
        shutil.copy(src, folder / src.name)
    os.mkfifo(folder / "image_9999.jpg")
    conf = write_conf(
        tmp_path,
        image_distractions=str(tmp_path / "scenes"),
        eval_distraction_categories=None,
        **SMALL,
    )
    result = run_script("extract_features", "--conf", conf, "-q", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "image_9999.jpg: not a regular file" in result.stderr
    assert "8 images" in result.stdout


# ---- Ctrl-C ------------------------------------------------------------------------------


@pytest.mark.needs_data
@pytest.mark.slow
def test_ctrl_c_during_parallel_extraction_is_one_line(tmp_path):
    conf = write_conf(
        tmp_path, n_jobs=2, num_distraction_images=3000, eval_num_distraction_images=0
    )
    folder = tmp_path / ".features.hdf5.checkpoints" / "extract_negatives"
    cmd = [sys.executable, str(ROOT / "scripts" / "extract_features.py"), "--conf", conf, "-q"]
    proc = subprocess.Popen(
        [str(c) for c in cmd],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    deadline = time.time() + 120
    while not list(folder.glob("batch_*.npz")) and time.time() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "extraction finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the parent and every worker
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines() == [
        "interrupted: finished files are intact; re-run to continue"
    ]
    assert not (tmp_path / "features.hdf5").exists()


# ---- the wrapper itself ------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc, expected, status",
    [
        (KeyError("features"), "error: missing key 'features'", 1),
        (
            OSError(errno.ENOSPC, "No space left on device", "/out/model.json"),
            "error: /out/model.json: No space left on device",
            1,
        ),
        (
            OSError(errno.EROFS, "Read-only file system", "/ro/a", None, "/ro/b"),
            "error: /ro/a -> /ro/b: Read-only file system",
            1,
        ),
        (ValueError("bad\n  value\nhere"), "error: ValueError: bad value here", 1),
        (TypeError("x"), "error: TypeError: x", 1),
        (ConfigError("c.json: key 'C': bad"), "error: c.json: key 'C': bad", 2),
    ],
)
def test_every_error_is_one_line(capsys, monkeypatch, exc, expected, status):
    monkeypatch.setattr(sys, "argv", ["script.py"])

    def fail():
        raise exc

    assert cli.run_guarded(fail) == status
    err = capsys.readouterr().err
    assert err == expected + "\n"


def test_library_errors_are_one_line(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["script.py"])

    def sklearn_fails():
        from sklearn.svm import LinearSVC

        LinearSVC().fit(np.array([[np.nan, 1.0], [0.0, 1.0]]), [0, 1])

    def h5py_fails(path=Path(__file__)):
        import h5py

        h5py.File(path, "r")

    for func in (sklearn_fails, h5py_fails):
        assert cli.run_guarded(func) == 1
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert cli.run_guarded(lambda: None) == 0
