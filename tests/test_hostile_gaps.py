"""Hostile inputs found in review: blocked download targets, max_image_pixels everywhere."""

from __future__ import annotations

import ast
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from pyimagesearch.datatools.coco_backgrounds import fetch_coco_backgrounds
from pyimagesearch.datatools.download import (
    DownloadOptions,
    DownloadTask,
    download_files,
    image_verifier,
    part_path,
)
from pyimagesearch.datatools.openimages import make_placeholder_verifier, write_crops
from pyimagesearch.descriptor.hog import HogParams
from pyimagesearch.detection.files import check_outputs, label_paths
from pyimagesearch.evaluation.variants import SceneFiles, _scene
from pyimagesearch.infrastructure.config import load_config
from pyimagesearch.infrastructure.errors import ImageReadError, PyImageSearchError
from pyimagesearch.model import save_model
from pyimagesearch.model.linear import LinearModel
from pyimagesearch.report.gallery import detection_gallery, window_sheet
from pyimagesearch.report.review import window_contrast

from .conftest import CARS, cars_conf_dict
from .sources.test_coco_backgrounds import (
    ANNOTATIONS,
    COCO,
    EXCLUDE,
    expected_backgrounds,
    images_by_id,
    run_cli,
)
from .sources.test_download import SAMPLE_IMAGES
from .test_data_loss import WIN

SMALL = 100  # pixels: every sample image is larger


def _fetch(tasks, verify=None, **options):
    options = {"retries": 0, "backoff": 0.0, "progress": False, **options}
    return download_files(tasks, DownloadOptions(**options), verify=verify)


def _no_tracebacks(caplog) -> None:
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert "unexpected error" not in caplog.text


# ---------------------------------------------------------------- blocked download targets


@pytest.mark.needs_data
@pytest.mark.parametrize("blocked", ["dest", "part"])
def test_folder_where_a_download_goes_fails_that_file_only(tmp_path, caplog, blocked):
    out = tmp_path / "out"
    tasks = [DownloadTask(p.stem, p, out / p.name) for p in SAMPLE_IMAGES[:3]]
    where = tasks[0].dest if blocked == "dest" else part_path(tasks[0].dest)
    (where / "keep").mkdir(parents=True)
    sentinel = where / "keep" / "sentinel.txt"
    sentinel.write_text("mine")
    with caplog.at_level(logging.INFO):
        summary = _fetch(tasks)
    assert [r.status for r in summary.results] == ["failed", "downloaded", "downloaded"]
    reason = summary.failed[0].reason
    assert reason.startswith(f"{where}: a folder sits where") and "\n" not in reason
    assert sentinel.read_text() == "mine"
    _no_tracebacks(caplog)


@pytest.mark.needs_data
def test_fifo_or_file_as_parent_never_blocks_or_raises(tmp_path, caplog):
    out = tmp_path / "out"
    fifo_task = DownloadTask("a", SAMPLE_IMAGES[0], out / "a.jpg")
    parent_task = DownloadTask("b", SAMPLE_IMAGES[1], out / "sub" / "b.jpg")
    out.mkdir()
    os.mkfifo(fifo_task.dest)
    (out / "sub").write_text("a file where a folder goes")
    with caplog.at_level(logging.INFO):
        summary = _fetch([fifo_task, parent_task], timeout=(2.0, 2.0))
    a, b = summary.results
    assert a.status == b.status == "failed"
    assert a.reason == f"{fifo_task.dest}: a special file (not a regular file) sits where " + (
        "the downloaded file goes; move it away and re-run"
    )
    assert str(out / "sub") in b.reason and "\n" not in b.reason
    assert (out / "sub").read_text() == "a file where a folder goes"
    _no_tracebacks(caplog)


@pytest.mark.needs_data
@pytest.mark.slow
def test_coco_backgrounds_cli_reports_a_blocked_file_and_goes_on(tmp_path):
    ids = expected_backgrounds()[:3]
    out = tmp_path / "out"
    blocked = out / "images" / images_by_id()[ids[0]]["file_name"]
    blocked.mkdir(parents=True)
    res = run_cli("--annotations", str(ANNOTATIONS), "--exclude", "person", "car",
                  "--exclude-supercategory", "vehicle", "--num", "3", "--out", str(out),
                  "--images-dir", str(COCO / "images"), "--no-progress")  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert "unexpected error" not in res.stderr + res.stdout
    assert f"{blocked}: a folder sits where the downloaded file goes" in res.stdout
    assert "downloaded: 2" in res.stdout and blocked.is_dir()


# ---------------------------------------------------------------- max_image_pixels everywhere


@pytest.mark.needs_data
def test_fetch_verifiers_refuse_images_over_the_limit(tmp_path):
    out = tmp_path / "out"
    tasks = [DownloadTask("a", SAMPLE_IMAGES[0], out / "a.jpg")]
    summary = _fetch(tasks, verify=image_verifier(SMALL))
    assert f"exceeds max_image_pixels={SMALL}" in summary.failed[0].reason
    assert not (out / "a.jpg").exists()
    with pytest.raises(ImageReadError, match=f"max_image_pixels={SMALL}"):
        make_placeholder_verifier(max_pixels=SMALL)(SAMPLE_IMAGES[0])
    assert image_verifier()(SAMPLE_IMAGES[0])[0] > 0  # the default limit lets them through


@pytest.mark.needs_data
@pytest.mark.slow
def test_coco_backgrounds_max_image_pixels_option(tmp_path):
    report = fetch_coco_backgrounds(
        ANNOTATIONS,
        tmp_path,
        **EXCLUDE,
        num=2,
        images_dir=COCO / "images",
        options=DownloadOptions(progress=False, max_image_pixels=SMALL),
    )
    assert len(report.summary.failed) == 2
    assert all("exceeds max_image_pixels" in r.reason for r in report.summary.failed)
    res = run_cli("--annotations", str(ANNOTATIONS), "--exclude", "person", "--num", "1",
                  "--out", str(tmp_path / "cli"), "--images-dir", str(COCO / "images"),
                  "--max-image-pixels", str(SMALL), "--no-progress")  # fmt: skip
    assert res.returncode == 1 and f"exceeds max_image_pixels={SMALL}" in res.stdout
    res = run_cli("--annotations", str(ANNOTATIONS), "--exclude", "person",
                  "--out", str(tmp_path / "x"), "--max-image-pixels", "0")  # fmt: skip
    assert res.returncode == 2 and "--max-image-pixels" in res.stderr


@pytest.mark.needs_data
def test_openimages_crops_read_within_the_limit(tmp_path, caplog):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "abc.jpg").write_bytes(SAMPLE_IMAGES[0].read_bytes())
    with caplog.at_level(logging.WARNING):
        crops, _ = write_crops(tmp_path, {"abc": []}, 16, {}, max_pixels=SMALL)
    assert crops == 0 and f"exceeds max_image_pixels={SMALL}" in caplog.text


def _rows(src: Path) -> dict[str, np.ndarray]:
    return {
        "source": np.array([str(src)], dtype=object),
        "box": np.array([[0.0, 0.0, 8.0, 8.0]]),
        "scale": np.array([1.0]),
        "score": np.array([2.0]),
        "probability": np.array([0.99]),
    }


@pytest.mark.needs_data
def test_review_and_sheets_keep_the_limit(tmp_path, caplog):
    rows = _rows(SAMPLE_IMAGES[0])
    assert np.isnan(window_contrast(rows, np.array([0]), max_pixels=SMALL)[0])
    assert np.isfinite(window_contrast(rows, np.array([0]))[0])
    with caplog.at_level(logging.WARNING):
        sheet = window_sheet(rows, tmp_path / "sheet.png", max_pixels=SMALL)
    assert f"exceeds max_image_pixels={SMALL}" in caplog.text and "left blank" in caplog.text
    assert cv2.imread(str(sheet)) is not None
    entry = {"path": str(SAMPLE_IMAGES[0]), "probabilities": [], "boxes": []}
    with pytest.raises(ImageReadError, match=f"max_image_pixels={SMALL}"):
        detection_gallery([entry], tmp_path / "gallery.png", 0.5, max_pixels=SMALL)


@pytest.mark.needs_data
def test_stress_scenes_keep_the_limit():
    rng = np.random.default_rng(0)
    with pytest.raises(ImageReadError, match=f"max_image_pixels={SMALL}"):
        _scene(SceneFiles([SAMPLE_IMAGES[0]], SMALL), rng, 64, 32)
    assert _scene(SceneFiles([SAMPLE_IMAGES[0]], 10**8), rng, 64, 32).shape == (32, 64)


def test_every_image_read_passes_a_limit():
    """Every read_gray/read_image call of the package and scripts passes a pixel limit."""
    root = Path(__file__).resolve().parents[1]
    bare = []
    for path in [*root.glob("pyimagesearch/**/*.py"), *root.glob("scripts/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            name = getattr(getattr(node, "func", None), "id", None)
            if name in ("read_gray", "read_image") and len(node.args) + len(node.keywords) < 2:
                bare.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not bare


# ---------------------------------------------------------------- Ctrl-C while importing

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = sorted(ROOT.glob("scripts/*.py")) + [ROOT / "datasets" / "fetch.py"]


def _wait_for_numpy(proc: subprocess.Popen, seconds: float = 30.0) -> bool:
    """Wait until ``proc`` has loaded numpy (it is importing its libraries); False if it ended."""
    maps = Path(f"/proc/{proc.pid}/maps")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if "numpy" in maps.read_text():
                return True
        except OSError:
            pass
        time.sleep(0.002)
    return False


@pytest.mark.needs_data
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
@pytest.mark.parametrize("script", ENTRY_POINTS, ids=lambda p: p.name)
@pytest.mark.slow
def test_ctrl_c_while_importing_is_one_line(script):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(script), "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # Ctrl-C as in a terminal, even when the tests run with SIGINT ignored (nohup)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert _wait_for_numpy(proc), "the script ended before loading numpy"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted"), err


# ---------------------------------------------------------------- test_model.py outputs


def test_label_paths_mirror_sub_folders_and_refuse_clashes(tmp_path):
    paths = [tmp_path / "sub/car.jpg", tmp_path / "sub2/car.jpg"]
    assert label_paths(paths, tmp_path, tmp_path / "y") == [
        tmp_path / "y/sub/car.txt",
        tmp_path / "y/sub2/car.txt",
    ]
    with pytest.raises(PyImageSearchError, match=r"would both write the label file"):
        label_paths([tmp_path / "car.jpg", tmp_path / "car.png"], tmp_path, tmp_path)
    with pytest.raises(PyImageSearchError, match=r"the --json file would overwrite the input"):
        check_outputs([("--json file", tmp_path / "x/../car.jpg")], [tmp_path / "car.jpg"])
    with pytest.raises(PyImageSearchError, match=r"both the drawing and the --json file"):
        check_outputs([("drawing", tmp_path / "a.png"), ("--json file", tmp_path / "a.png")], [])


@pytest.fixture
def detection_run(tmp_path):
    """Images in sub-folders (same stems), a config and a zero model; returns a runner."""
    images = tmp_path / "images"
    for sub, src in (("sub", "image_0001.jpg"), ("sub2", "image_0002.jpg")):
        (images / sub).mkdir(parents=True)
        shutil.copyfile(CARS / src, images / sub / "car.jpg")
    raw = cars_conf_dict(tmp_path)
    conf_path = tmp_path / "conf.json"
    conf_path.write_text(json.dumps(raw))
    conf = load_config(conf_path)
    hog = HogParams.from_config(conf)
    save_model(
        LinearModel(np.zeros(hog.descriptor_size(WIN)), 1.0, 1.0, 0.0, hog, WIN),
        conf["classifier_path"],
    )

    def run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "scripts/test_model.py"), "-c", str(conf_path), "-q",
             "-i", str(images), "-o", str(tmp_path / "drawn"), "--n-jobs", "1", *extra],
            capture_output=True, text=True, cwd=ROOT, timeout=300,
        )  # fmt: skip

    return images, conf_path, run


def _snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _refused(result: subprocess.CompletedProcess, text: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and text in result.stderr, result.stderr


@pytest.mark.needs_data
@pytest.mark.slow
def test_test_model_json_and_coco_results_never_overwrite_inputs(detection_run, tmp_path):
    images, conf_path, run = detection_run
    before = _snapshot(tmp_path)
    car = images / "sub" / "car.jpg"
    _refused(run("--json", str(car)), f"{car}: the --json file would overwrite the input")
    _refused(run("--json", str(conf_path)), "would overwrite the input")
    ann = tmp_path / "ann.json"
    ann.write_text("{}")
    before[ann] = b"{}"
    _refused(
        run("--coco-results", str(ann), "--coco-annotations", str(ann)),
        f"{ann}: the --coco-results file would overwrite the input",
    )
    twice = str(tmp_path / "r.json")
    _refused(
        run("--json", twice, "--coco-results", twice, "--coco-annotations", str(ann)),
        "both the --json file and the --coco-results",
    )
    assert _snapshot(tmp_path) == before  # nothing written: no drawing, no model, no input


@pytest.mark.needs_data
@pytest.mark.slow
def test_test_model_yolo_labels_mirror_sub_folders_and_keep_existing_ones(detection_run, tmp_path):
    _, _, run = detection_run
    labels = tmp_path / "labels"
    result = run("--yolo-dir", str(labels))
    assert result.returncode == 0, result.stderr
    assert sorted(p.relative_to(labels).as_posix() for p in labels.rglob("*.txt")) == [
        "sub/car.txt",
        "sub2/car.txt",
    ]
    # a second run would replace them: refused unless --overwrite
    (labels / "sub2" / "car.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    state = _snapshot(tmp_path)
    _refused(
        run("--yolo-dir", str(labels)), "label file already exists (2 of 2 do); pass --overwrite"
    )
    assert _snapshot(tmp_path) == state
    assert run("--yolo-dir", str(labels), "--overwrite").returncode == 0
    assert (labels / "sub2" / "car.txt").read_text() != "0 0.5 0.5 0.2 0.2\n"


@pytest.mark.needs_data
@pytest.mark.slow
def test_test_model_yolo_dir_equal_to_a_labelled_image_folder_is_refused(detection_run, tmp_path):
    images, _, run = detection_run
    user_label = images / "sub" / "car.txt"
    user_label.write_text("3 0.1 0.1 0.1 0.1\n")  # the user's own label: must survive
    state = _snapshot(tmp_path)
    _refused(run("--yolo-dir", str(images)), f"{user_label}: label file already exists")
    assert _snapshot(tmp_path) == state
