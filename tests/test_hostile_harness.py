"""The hostile-input harness: odd and broken files of every kind the toolkit reads, run
through the ``pyimagesearch`` sub-commands.

A small synthetic project (images with VOC boxes, scenes, a config, and the store and
model that ``extract``, ``train`` and ``mine`` made of it) is copied for every case;
the case replaces one input by an odd file (see ``hostile_files.py``) and runs the
sub-commands that read it, in this process (``run_command``, as the scripts do). Every
run must end with a short message and no traceback: either an exit status of 0 with
the odd file named in what it reported (skipped), or one ``error:`` line naming it. No
run may write outside the project's output folder, nor change an existing output when
it fails.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyimagesearch.commands import run_command

from . import hostile_files as hf

#: Longest acceptable error line: a message, not a dump.
MAX_LINE = 600


@dataclass(frozen=True)
class Case:
    """One odd input: ``make(project)`` writes it (returning the paths one of which the
    message must name, and extra arguments), then each of ``commands`` runs on it."""

    kind: str
    name: str
    make: Callable[[hf.Project], tuple[list[Path], list[str]]]
    commands: tuple[str, ...]
    valid: bool = False  # odd but fine: every command must succeed


def _argv(command: str, project: hf.Project, extra: list[str]) -> list[str]:
    """The sub-command and command line of ``command`` on ``project`` (plus ``extra``)."""
    data, out = project.root / "data", project.out
    base = ["--conf", str(project.conf), "-q"]
    images = ["-i", str(data / "images"), "-o", str(out / "det")]
    argv = {
        "dims": ["dims", *base],
        "extract": ["extract", *base, "--overwrite"],
        "train": ["train", *base, "--overwrite", "--hard-negatives", "1"],
        "mine": ["mine", *base, "--round", "2"],
        "evaluate": ["evaluate", *base, "--json", str(out / "eval.json")],
        "detect": ["detect", *base, *images],
        "review": ["review", *base, "--round", "1", "--output", str(out / "review")],
        "detect a list": ["detect", *base, "-i", str(data / "list.txt"), "-o", str(out / "det")],
        "detect to COCO": ["detect", *base, *images, "--coco-annotations",
                           str(data / "coco.json"), "--coco-results", str(out / "results.json")],
        "evaluate Open Images": [
            "evaluate", *base, "--protocol", "openimages", "--subset", str(data / "oi_subset"),
            "--hierarchy", str(data / "hierarchy.json"),
            "--class-descriptions", str(data / "class-descriptions.csv"),
            "--json", str(out / "oi.json"),
        ],
        "coco-backgrounds": [
            "coco-backgrounds", "--annotations", str(data / "coco.json"), "--exclude", "person",
            "--out", str(out / "coco"), "--images-dir", str(data / "images"), "--no-progress",
        ],
        "openimages-subset": [
            "openimages-subset", "Car", "--bbox-csv", str(data / "oi_bbox.csv"),
            "--images-csv", str(data / "oi_images.csv"),
            "--class-descriptions", str(data / "class-descriptions.csv"),
            "--hierarchy", str(data / "hierarchy.json"), "--out", str(out / "oi"),
            "--no-progress", "--retries", "0", "--timeout", "1",
        ],
    }[command]  # fmt: skip
    return [*argv, *extra]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> hf.Project:
    """The mini project with its store (round 1 mined) and model."""
    project = hf.mini_project(tmp_path_factory.mktemp("trained"))
    for command, extra in (("extract", []), ("train", []), ("mine", ["--round", "1"])):
        status = run_command(command, ["--conf", str(project.conf), "-q", *extra])
        assert status == 0, command
    assert project.store.is_file() and project.model.is_file()
    shutil.copy(project.model, project.out / "model.json.good")  # what odd models start from
    shutil.copy(project.store, project.out / "features.hdf5.good")
    return project


@pytest.fixture
def project(trained, tmp_path) -> hf.Project:
    """A fresh copy of the trained project."""
    root = tmp_path / "project"
    shutil.copytree(trained.root, root, symlinks=True)
    raw = {
        k: (v.replace(str(trained.root), str(root)) if isinstance(v, str) else v)
        for k, v in trained.raw.items()
    }
    copy = hf.Project(root, root / "conf.json", raw)
    copy.write_conf()
    return copy


def _outputs(project: hf.Project) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in project.out.rglob("*") if p.is_file()}


def _run(case: Case, command: str, project: hf.Project, capfd, caplog, monkeypatch):
    """Run one command on the broken project and check the harness's rules."""
    named, extra = case.make(project)
    project.snapshot()
    before = _outputs(project)
    monkeypatch.chdir(project.root)  # a relative path written by mistake lands here
    caplog.clear()
    capfd.readouterr()
    with caplog.at_level(logging.INFO):
        name, *argv = _argv(command, project, extra)
        status = run_command(name, argv)
    out, err = capfd.readouterr()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    everything = "\n".join((out, err, logged))
    where = f"{case.kind}/{case.name} through {command}: status {status}\n{err}{logged[-2000:]}"
    assert "Traceback" not in everything, where
    assert not [r for r in caplog.records if r.exc_info], where
    assert "unexpected error" not in everything, where
    assert project.written_outside() == [], where
    if case.valid:
        assert status == 0, where
        return
    names = [Path(p).name for p in named]
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    if status == 0 or (status == 1 and not errors):  # a report (1: nothing could be used)
        assert any(n in everything for n in names), where  # reported (skipped), not ignored
        return
    assert len(errors) == 1 and len(err.strip().splitlines()) == 1, where
    assert len(errors[0]) <= MAX_LINE, where
    assert any(n in errors[0] for n in names), where
    changed = {p for p, data in before.items() if not p.exists() or p.read_bytes() != data}
    assert not changed, where  # a failed run leaves every earlier output as it was


# ---- the cases ------------------------------------------------------------------------


def _remove(path: Path) -> None:
    """Remove whatever sits at ``path`` (a file, link, FIFO or folder) and its loop partner."""
    for p in (path, path.with_name(path.name + ".loop")):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif os.path.lexists(p):
            p.unlink()


STEPS_ON_IMAGES = ("dims", "extract", "evaluate", "detect")
MODEL_STEPS = ("detect", "mine", "evaluate")
COCO_TOOLS = ("coco-backgrounds", "detect to COCO")  # detect reads only the images' ids
STORE_STEPS = ("train", "review", "mine")


def _image_case(name: str, write: Callable[[Path], None], valid: bool = False) -> Case:
    """Annotated images replaced by an odd file (their annotations kept): one of the
    training share (``extract`` reads it) and one of the test share (``evaluate``).
    ``dims`` reads only image headers: it runs on files whose header is odd too; a
    folder named like an image is a sub-folder to ``detect`` (walked, not an image)."""

    def make(project: hf.Project):
        paths = [project.root / "data" / "images" / f"car_0{i}.png" for i in (3, 5)]
        for path in paths:
            _remove(path)
            write(path)
        return paths, []

    steps = STEPS_ON_IMAGES if name in hf.ANY_FILE or valid else STEPS_ON_IMAGES[1:]
    return Case(
        "image", name, make, tuple(s for s in steps if (s, name) != ("detect", "a folder")), valid
    )


def _scene_case(name: str, write: Callable[[Path], None]) -> Case:
    """An odd file among the distraction images."""

    def make(project: hf.Project):
        path = project.root / "data" / "scenes" / "street" / "odd.jpg"
        _remove(path)
        write(path)
        return [path], []

    # a folder among the scenes is a sub-folder (walked); an image smaller than the
    # window has no window to mine (extract, which needs one, reports it)
    return Case("scene", name, make, ("extract",) if name == "1x1 pixel" else ("extract", "mine"))


def _config_case(name: str, text: bytes | Callable[[Path], None]) -> Case:
    def make(project: hf.Project):
        path = project.conf
        _remove(path)
        (path.write_bytes(text) if isinstance(text, bytes) else text(path))
        return [path], []

    return Case("config", name, make, ("dims", "extract", "train", "mine", "detect", "review"))


def _file_case(kind: str, target: str, name: str, write, commands) -> Case:
    """The project file ``target`` (relative to the project root) replaced by odd data."""

    def make(project: hf.Project):
        path = project.root / target
        _remove(path)
        write(path)
        image = path.parent.parent / "images" / path.with_suffix(".png").name
        return [path, image], []  # an annotation's problem may be named by its image

    return Case(kind, name, make, commands)


CASES: list[Case] = []
for _name, _write in hf.ODD_IMAGES.items():
    CASES.append(_image_case(_name, _write, valid=_name in hf.VALID_ODD_IMAGES))
for _name, _write in hf.ODD_IMAGES.items():
    if _name not in hf.VALID_ODD_IMAGES and _name != "a folder":  # a folder: a sub-folder
        CASES.append(_scene_case(_name, _write))
for _name, _text in hf.ODD_CONFIGS.items():
    CASES.append(_config_case(_name, _text))
for _name, _write in hf.ODD_MODELS.items():
    CASES.append(
        _file_case("model", "out/model.json", _name, _write, ("detect", "mine", "evaluate"))
    )
for _name, _write in hf.ODD_STORES.items():
    CASES.append(
        _file_case("store", "out/features.hdf5", _name, _write, ("train", "review", "mine"))
    )
for _name, _write in hf.ODD_VOC.items():
    CASES.append(
        _file_case("voc", "data/annotations/car_03.xml", _name, _write, ("dims", "extract"))
    )


def _format_case(fmt: str, name: str, write) -> Case:
    """The project's annotations in ``fmt``, one of their files odd."""
    target = hf.FORMATS[fmt][2]

    def make(project: hf.Project):
        hf.use_format(project, fmt)
        path = project.root / "data" / target
        _remove(path)
        write(path)
        project.snapshot()
        return [path], []

    valid = fmt == "yolo-txt" and name in hf.VALID_ODD_YOLO
    return Case(fmt, name, make, ("dims", "extract"), valid=valid)


def _data_case(kind: str, target: str, name: str, write, commands, conf: dict | None = None):
    """A data file of the project (``data/<target>``) odd; ``conf`` keys point at it. A
    URL list's message may name the entry instead (the one leaving the project)."""

    def make(project: hf.Project):
        path = project.root / "data" / target
        _remove(path)
        write(path)
        if conf:
            project.write_conf(**{k: str(project.root / v) for k, v in conf.items()})
        return [path, Path("hostname.png")], []

    return Case(kind, name, make, commands)


for _fmt, _odd in (("coco-json", hf.ODD_COCO), ("yolo-txt", hf.ODD_YOLO),
                   ("dlib-xml", hf.ODD_DLIB), ("caltech-mat", hf.ODD_MAT)):  # fmt: skip
    for _name, _write in _odd.items():
        CASES.append(_format_case(_fmt, _name, _write))
for _name, _write in hf.ODD_URL_LISTS.items():
    CASES.append(_data_case("url list", "list.txt", _name, _write, ("detect a list",)))
    CASES.append(
        _data_case("distraction list", "scenes.csv", _name, _write, ("extract",),
                   {"image_distractions": "data/scenes.csv"})
    )  # fmt: skip
for _name, _write in hf.ODD_CSV.items():
    CASES.append(_data_case("url csv", "scenes.csv", _name, _write, ("extract",),
                            {"image_distractions": "data/scenes.csv"}))  # fmt: skip
    for _target in ("oi_subset/boxes.csv", "oi_subset/classes.csv", "oi_subset/image-labels.csv",
                    "class-descriptions.csv"):  # fmt: skip
        CASES.append(_data_case(f"subset {_target}", _target, _name, _write,
                                ("evaluate Open Images",)))  # fmt: skip
    for _target in ("oi_bbox.csv", "oi_images.csv", "class-descriptions.csv"):
        CASES.append(_data_case(f"fetch {_target}", _target, _name, _write,
                                ("openimages-subset",)))  # fmt: skip
for _name, _write in hf.ODD_JSON.items():
    CASES.append(_data_case("hierarchy", "hierarchy.json", _name, _write,
                            ("evaluate Open Images", "openimages-subset")))  # fmt: skip
    CASES.append(_data_case("excluded windows", "excluded.json", _name, _write, ("extract",),
                            {"distraction_exclude_images": "data/excluded.json"}))  # fmt: skip
for _name, _write in hf.ODD_COCO.items():
    if _name.startswith(("bbox", "negative width", "annotations of text")):
        continue  # neither command reads boxes
    _steps = ("coco-backgrounds",) if _name == "annotation without image" else COCO_TOOLS
    CASES.append(_data_case("coco for tools", "coco.json", _name, _write, _steps))


def _outputs_case(name: str, overrides: dict[str, str], commands, extra=()) -> Case:
    """Outputs named where inputs are (paths relative to the project): nothing may be lost."""

    def make(project: hf.Project):
        project.write_conf(**{k: str(project.root / v) for k, v in overrides.items()})
        args = [str(project.root / e) if "." in e and not e.startswith("-") else e for e in extra]
        return [project.conf, *map(Path, args[1::2])], args

    return Case("outputs", name, make, commands)


STEPS_WRITING = ("extract", "train", "mine", "evaluate", "detect", "review")
CASES += [
    _outputs_case("store over an image", {"features_path": "data/images/car_00.png"},
                  STEPS_WRITING),
    _outputs_case("store over an annotation", {"features_path": "data/annotations/car_00.xml"},
                  STEPS_WRITING),
    _outputs_case("model over the config", {"classifier_path": "conf.json"}, STEPS_WRITING),
    _outputs_case("model among the scenes", {"classifier_path": "data/scenes/street/m.json"},
                  STEPS_WRITING),
    _outputs_case("output_dir = the images", {"output_dir": "data/images"}, STEPS_WRITING),
    _outputs_case("evaluate --json over the config", {}, ("evaluate",), ["--json", "conf.json"]),
    _outputs_case("evaluate --plot over an annotation", {}, ("evaluate",),
                  ["--plot", "data/annotations/car_00.xml"]),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.kind}-{c.name}")
def test_hostile_file_is_handled_by_every_command(case, project, capfd, caplog, monkeypatch):
    assert case.commands, case
    for command in case.commands:
        _run(case, command, project, capfd, caplog, monkeypatch)


# ---- the same through a fresh interpreter: what a user sees on the terminal ---------------

#: One case per new class the harness found, run as ``pyimagesearch <command>`` in a
#: subprocess: stderr is then exactly what a user sees (log lines included).
TERMINAL = [
    ("config", "a FIFO", "dims"),
    ("config", "deeply nested", "dims"),
    ("model", "metadata a string", "detect"),
    ("store", "features too narrow", "train"),
    ("voc", "a FIFO", "extract"),
    ("coco for tools", "deeply nested", "coco-backgrounds"),
    ("yolo-txt", "a class not named", "extract"),
    ("subset oi_subset/classes.csv", "header only", "evaluate Open Images"),
]


@pytest.mark.slow
@pytest.mark.parametrize("kind, name, command", TERMINAL, ids=lambda v: str(v))
def test_the_terminal_shows_one_line(kind, name, command, project):
    (case,) = [c for c in CASES if (c.kind, c.name) == (kind, name)]
    assert command in case.commands
    named, extra = case.make(project)
    project.snapshot()
    sub, *argv = _argv(command, project, extra)
    result = hf.run_command(sub, *argv, cwd=project.root, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert any(Path(p).name in lines[0] for p in named), lines[0]
    assert project.written_outside() == []
