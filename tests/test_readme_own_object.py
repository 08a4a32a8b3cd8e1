"""The README's "Train a detector for your own object", followed as written (issue 14).

The section's commands and config keys are read from README.md and run in a fresh
folder on the car photos exported to YOLO labels, as a newcomer with their own labels
would have them; only the counts are made small (and the settings search is off) so
the run stays short.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import json5
import numpy as np
import pytest

from pyimagesearch.infrastructure.config import config_from_dict, load_config
from pyimagesearch.sources.annotations import read_annotations
from pyimagesearch.sources.export import write_yolo_txt

from .conftest import DATASETS, ROOT, cars_conf_dict

TITLE = "## Train a detector for your own object"
#: Smaller counts than a real run: these, and nothing else, differ from the README.
FAST = {
    "search": False,
    "num_distraction_images": 20,
    "num_distractions_per_image": 5,
    "hn_rounds": 1,
    "hn_num_distraction_images": 6,
    "eval_num_distraction_images": 6,
    "box_regression_samples": 2,
    "report_compare_annotated_mining": False,
    "n_jobs": 1,
}


def readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(TITLE)
    end = text.index("\n## ", start + len(TITLE))
    return text[start:end]


def blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def _export_cars_as_yolo(folder, n_images: int, n_new: int):
    """The first car photos with YOLO labels and classes.txt; the next ones as new photos."""
    cars = read_annotations(config_from_dict(cars_conf_dict(folder)).options.annotations)
    items, new = cars[:n_images], cars[n_images : n_images + n_new]
    images, labels = folder / "data/my_object/images", folder / "data/my_object/labels"
    images.mkdir(parents=True)
    detections, sizes = {}, {}
    for item in items:
        shutil.copy(item.path, images / item.path.name)
        detections[item.path.name] = [{"box": list(b), "probability": 1.0} for b in item.boxes]
        height, width = cv2.imread(str(item.path)).shape[:2]
        sizes[item.path.name] = (width, height)
    write_yolo_txt(detections, labels, sizes, class_id=0, with_score=False)
    (labels / "classes.txt").write_text("my_object\n")
    (folder / "new_photos").mkdir()
    for item in new:
        shutil.copy(item.path, folder / "new_photos" / item.path.name)
    return items, new


@pytest.mark.needs_data
@pytest.mark.slow
def test_readme_own_object_section_works_as_written(tmp_path, monkeypatch):
    section = readme_section()
    commands = [
        line.strip()
        for block in blocks(section, "bash")
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    (edits,) = blocks(section, "json")
    edits = json.loads(edits)
    assert [c.split()[:2] for c in commands] == [
        ["cp", "conf/cars.json"],
        [".venv/bin/python", "scripts/explore_dims.py"],
        [".venv/bin/python", "scripts/run_pipeline.py"],
        [".venv/bin/python", "scripts/test_model.py"],
    ]
    project = tmp_path / "project"
    (project / "conf").mkdir(parents=True)
    shutil.copy(ROOT / "conf" / "cars.json", project / "conf" / "cars.json")
    (project / "scripts").symlink_to(ROOT / "scripts")
    items, new = _export_cars_as_yolo(project, n_images=36, n_new=3)
    env = {
        "PYIMAGESEARCH_DATASETS": str(DATASETS),
        "PYTHONPATH": str(ROOT),
        "PATH": "/usr/bin:/bin",
    }
    conf_path = project / "conf" / "my_object.json"
    outputs = {}
    for command in commands:
        argv = shlex.split(command)
        if argv[0] == ".venv/bin/python":  # the project's environment: this interpreter
            argv[0] = sys.executable
        done = subprocess.run(
            argv, cwd=project, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, (command, done.stderr)
        outputs[argv[1]] = done.stdout
        if argv[0] == "cp":  # step 3: the newcomer edits the copy
            raw = json5.loads(conf_path.read_text())
            conf_path.write_text(json.dumps({**raw, **edits, **FAST}, indent=1))
        if argv[1] == "scripts/explore_dims.py":  # step 4: the suggested window
            suggested = re.search(r"suggested window_dim.*: \[(\d+), (\d+)\]", done.stdout)
            raw = json.loads(conf_path.read_text())
            raw["window_dim"] = [int(suggested[1]), int(suggested[2])]
            conf_path.write_text(json.dumps(raw, indent=1))
            assert f"{len(items)} boxes" in done.stdout  # one car per caltech photo

    # the YOLO labels hold the same boxes as the .mat files (to the labels' 6 decimals)
    monkeypatch.chdir(project)  # the config's paths are relative to it, as in the README
    ours = read_annotations(load_config(conf_path).options.annotations)
    assert [i.path.name for i in ours] == [i.path.name for i in items]
    for mine, car in zip(ours, items):
        np.testing.assert_allclose(mine.boxes, car.boxes, atol=0.01)

    out = project / "output" / "my_object"
    report = (out / "report" / "report.md").read_text()
    assert outputs["scripts/run_pipeline.py"].splitlines()[-1] == "output/my_object/report"
    assert report.startswith("# Detector report: my object")
    assert "## Provenance" in report and str(conf_path.resolve()) in report
    assert (out / "features.hdf5").is_file() and (out / "model.json").is_file()
    found = json.loads((out / "found.json").read_text())
    assert sorted(Path(p).name for p in found) == sorted(i.path.name for i in new)
    drawings = sorted(p.name for p in (out / "found").glob("*.png"))
    assert drawings == sorted(f"{i.path.stem}.png" for i in new)
    # the car detector's outputs were never touched
    assert not (project / "output" / "cars").exists()
