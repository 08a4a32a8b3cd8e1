"""datasets/fetch.py: --check, mirror folders, original archives, URLs on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from pyimagesearch.datatools import datasets as fetch
from pyimagesearch.datatools import fetch_cli
from pyimagesearch.datatools.download import DownloadOptions

from .conftest import DATASETS, ROOT
from .sources.test_download import MirrorServer

FETCH_PY = ROOT / "datasets" / "fetch.py"
#: No retries, no progress bar: what the URL tests download with.
QUIET = DownloadOptions(retries=0, progress=False)

CAR_DIR = DATASETS / "caltech101" / "101_ObjectCategories" / "car_side"
ANN_DIR = DATASETS / "caltech101" / "Annotations" / "car_side"
SCENE_DIR = DATASETS / "sceneclass13"
SAMPLE_IMAGES = sorted(CAR_DIR.glob("*.jpg"))[:3]
SAMPLE_NOTES = sorted(ANN_DIR.glob("*.mat"))[:3]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def tree(folder: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file below ``folder``."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def add_bytes(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def make_caltech_tars(folder: Path, extra: dict[str, bytes] | None = None) -> dict[str, str]:
    """Small ``101_ObjectCategories.tar.gz`` + ``Annotations.tar`` of real files; their md5s."""
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / "101_ObjectCategories.tar.gz", "w:gz") as tf:
        tf.add(CAR_DIR.parent, "101_ObjectCategories", recursive=False)
        for p in SAMPLE_IMAGES:
            tf.add(p, f"101_ObjectCategories/car_side/{p.name}")
        add_bytes(
            tf, "101_ObjectCategories/airplanes/image_0001.jpg", SAMPLE_IMAGES[0].read_bytes()
        )
        for name, data in (extra or {}).items():
            add_bytes(tf, name, data)
    with tarfile.open(folder / "Annotations.tar", "w") as tf:
        for p in SAMPLE_NOTES:
            tf.add(p, f"Annotations/car_side/{p.name}")
        add_bytes(tf, "Annotations/Faces_2/annotation_0001.mat", SAMPLE_NOTES[0].read_bytes())
    return {name: md5(folder / name) for name in fetch.NESTED_ARCHIVES[fetch.CALTECH]}


def expected_caltech() -> dict[str, bytes]:
    files = {f"101_ObjectCategories/car_side/{p.name}": p.read_bytes() for p in SAMPLE_IMAGES}
    files.update({f"Annotations/car_side/{p.name}": p.read_bytes() for p in SAMPLE_NOTES})
    return files


@pytest.fixture
def mirror_server():
    """Start a :class:`MirrorServer` on 127.0.0.1 for ``{url path: file}``; stopped after."""
    servers = []

    def start(files: dict[str, Path | bytes]) -> MirrorServer:
        server = MirrorServer(files).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def run_main(capsys, *argv) -> tuple[int, str, str]:
    code = fetch_cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# ---------------------------------------------------------------------------- --check


@pytest.mark.needs_data
def test_check_passes_on_the_shared_datasets():
    proc = subprocess.run(
        [sys.executable, str(FETCH_PY), "--dest", str(DATASETS), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "123 car_side images, 123 annotations" in proc.stdout
    assert "13 of 13 categories, 3,859 images" in proc.stdout
    assert "warning" not in proc.stderr and "error" not in proc.stderr


@pytest.mark.needs_data
def test_check_fails_naming_missing_folders(tmp_path, capsys):
    cars = tmp_path / "caltech101" / "101_ObjectCategories"
    cars.mkdir(parents=True)
    (cars / "car_side").symlink_to(CAR_DIR)  # no Annotations/ at all
    scenes = tmp_path / "sceneclass13"
    scenes.mkdir()
    for cat in fetch.SCENE_COUNTS:
        if cat != "MITcoast":
            (scenes / cat).symlink_to(SCENE_DIR / cat)
    code, out, err = run_main(capsys, "--dest", tmp_path, "--check")
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[-1] == (
        f"error: {tmp_path} is incomplete: missing caltech101/Annotations/car_side, "
        "sceneclass13/MITcoast"
    )
    assert "12 of 13 categories" in out
    # --only limits the check (and its verdict) to one data set
    code, _, err = run_main(capsys, "--dest", tmp_path, "--check", "--only", "sceneclass13")
    assert code == 1 and err.strip().endswith("missing sceneclass13/MITcoast")


@pytest.mark.needs_data
def test_check_warns_on_other_counts_and_fails_on_empty_folders(tmp_path, capsys):
    scenes = tmp_path / "sceneclass13"
    scenes.mkdir()
    for cat in fetch.SCENE_COUNTS:
        (scenes / cat).mkdir()
        src = sorted((SCENE_DIR / cat).glob("*.jpg"))[0]
        (scenes / cat / src.name).write_bytes(src.read_bytes())
    (scenes / "MITcoast" / "Thumbs.db").write_bytes(b"junk")  # not an image: not counted
    code, out, err = run_main(capsys, "--dest", tmp_path, "--check", "--only", "sceneclass13")
    assert code == 0
    assert "13 of 13 categories, 13 images" in out
    assert "warning: sceneclass13: 13 images, the standard set has 3,859" in err
    assert "MITcoast 1 (standard 360)" in err
    (scenes / "store").mkdir()  # an extra folder would be read as distractions: say so
    for p in (scenes / "kitchen").iterdir():
        p.unlink()
    code, _, err = run_main(capsys, "--dest", tmp_path, "--check", "--only", "sceneclass13")
    assert code == 1
    assert "extra folders store" in err
    assert err.strip().splitlines()[-1].endswith("missing sceneclass13/kitchen (empty)")
    code, _, err = run_main(capsys, "--dest", tmp_path / "nowhere", "--check")
    assert code == 1 and err.strip().endswith("missing caltech101, sceneclass13")


# ---------------------------------------------------------------------------- mirror folder


@pytest.mark.needs_data
def test_fetch_caltech_from_the_shared_mirror(tmp_path, capsys):
    dest = tmp_path / "ds"
    code, out, err = run_main(
        capsys, "--dest", dest, "--only", "caltech101", "--mirror", DATASETS, "-q"
    )
    assert code == 0, err
    got = tree(dest / "caltech101")
    want = {
        f"101_ObjectCategories/car_side/{p.name}": p.read_bytes() for p in CAR_DIR.glob("*.jpg")
    }
    want.update({f"Annotations/car_side/{p.name}": p.read_bytes() for p in ANN_DIR.glob("*.mat")})
    assert len(want) == 246 and got == want  # identical bytes; Thumbs.db left behind
    assert sorted(p.name for p in dest.iterdir()) == ["caltech101"]  # no temp folder left
    assert not any(p.is_symlink() for p in (dest / "caltech101").rglob("*"))
    assert "123 car_side images, 123 annotations" in out
    # a complete copy is not fetched again
    code, out, _ = run_main(capsys, "--dest", dest, "--only", "caltech101", "--mirror", DATASETS)
    assert code == 0 and "already complete" in out


@pytest.mark.needs_data
def test_symlink_mode_points_into_the_mirror(tmp_path):
    result = fetch.fetch_dataset(fetch.CALTECH, tmp_path, mirror=DATASETS, link="sym")
    assert result.standard
    links = list((tmp_path / "caltech101").rglob("*.jpg"))
    assert len(links) == 123
    assert all(p.is_symlink() and p.resolve().parent == CAR_DIR.resolve() for p in links)


@pytest.mark.needs_data
def test_mirror_without_the_data_set_is_a_clear_error(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_main(capsys, "--dest", tmp_path / "ds", "--mirror", empty)
    assert code == 2
    assert err.startswith("error: missing archives: caltech101 is not in mirror")
    assert "--url-caltech" in err and len(err.strip().splitlines()) == 1
    make_caltech_tars(empty)
    (empty / "Annotations.tar").unlink()
    code, _, err = run_main(capsys, "--dest", tmp_path / "ds", "--mirror", empty)
    assert code == 2
    assert "holds 101_ObjectCategories.tar.gz but not Annotations.tar" in err
    assert not (tmp_path / "ds" / "caltech101").exists()


# ---------------------------------------------------------------------------- archives


@pytest.mark.needs_data
def test_fetch_from_original_archives(tmp_path):
    md5s = make_caltech_tars(tmp_path / "mirror")
    result = fetch.fetch_dataset(
        fetch.CALTECH, tmp_path / "ds", mirror=tmp_path / "mirror", md5s=md5s
    )
    assert tree(tmp_path / "ds" / "caltech101") == expected_caltech()  # no airplanes, no Faces_2
    assert result.ok and not result.standard  # 3 + 3 files: a warning, not a failure
    assert "the standard car_side set has 123" in result.warnings[0]


@pytest.mark.needs_data
def test_default_checksums_refuse_other_archives(tmp_path, capsys):
    make_caltech_tars(tmp_path / "mirror")
    actual = md5(tmp_path / "mirror" / "101_ObjectCategories.tar.gz")
    code, _, err = run_main(
        capsys, "--dest", tmp_path / "ds", "--mirror", tmp_path / "mirror", "--only", "caltech101"
    )
    assert code == 2
    assert err.strip() == (
        "error: 101_ObjectCategories.tar.gz: md5 mismatch: expected "
        f"b224c7392d521a49829488ab0f1120d9, got {actual}"
    )


@pytest.mark.needs_data
def test_wrong_md5_names_the_file_and_leaves_nothing(tmp_path):
    md5s = make_caltech_tars(tmp_path / "mirror")
    actual = md5s["Annotations.tar"]
    md5s["Annotations.tar"] = "0" * 32
    dest = tmp_path / "ds"
    with pytest.raises(fetch.FetchError) as exc:
        fetch.fetch_dataset(fetch.CALTECH, dest, mirror=tmp_path / "mirror", md5s=md5s)
    assert str(exc.value) == f"Annotations.tar: md5 mismatch: expected {'0' * 32}, got {actual}"
    assert list(dest.iterdir()) == []  # the images already extracted were removed too


@pytest.mark.needs_data
def test_caltech_zip_holding_both_tarballs(tmp_path):
    md5s = make_caltech_tars(tmp_path / "parts")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with zipfile.ZipFile(mirror / "caltech-101.zip", "w") as zf:
        for name in md5s:
            zf.write(tmp_path / "parts" / name, f"caltech-101/{name}")
        zf.writestr("caltech-101/show_annotation.m", "% viewer")
        zf.writestr("__MACOSX/caltech-101/._Annotations.tar", b"junk")
    fetch.fetch_dataset(fetch.CALTECH, tmp_path / "ds", mirror=mirror, md5s=md5s)
    assert tree(tmp_path / "ds" / "caltech101") == expected_caltech()
    # the nested tarballs are checked too
    md5s["101_ObjectCategories.tar.gz"] = "f" * 32
    with pytest.raises(fetch.FetchError, match=r"^101_ObjectCategories.tar.gz: md5 mismatch"):
        fetch.fetch_dataset(fetch.CALTECH, tmp_path / "ds2", mirror=mirror, md5s=md5s)
    assert list((tmp_path / "ds2").iterdir()) == []


@pytest.mark.needs_data
@pytest.mark.parametrize(
    "kind, name", [("tar", "../evil"), ("tar", "a/../../evil"), ("zip", "/tmp/evil")]
)
def test_unsafe_members_are_refused(tmp_path, kind, name):
    md5s = make_caltech_tars(tmp_path / "mirror")
    archive = tmp_path / "mirror" / "Annotations.tar"
    if kind == "tar":
        with tarfile.open(archive, "a") as tf:
            add_bytes(tf, name, b"evil")
    else:
        archive.unlink()
        archive = tmp_path / "mirror" / "caltech-101.zip"
        (tmp_path / "mirror" / "101_ObjectCategories.tar.gz").unlink()
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr(zipfile.ZipInfo(name), b"evil")
    md5s[archive.name] = md5(archive)
    dest = tmp_path / "out" / "ds"
    with pytest.raises(fetch.FetchError, match="unsafe member") as exc:
        fetch.fetch_dataset(fetch.CALTECH, dest, mirror=tmp_path / "mirror", md5s=md5s)
    assert archive.name in str(exc.value) and repr(name) in str(exc.value)
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "out" / "evil").exists() and not (tmp_path / "evil").exists()


def _add_link(archive: Path, name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> None:
    link = tarfile.TarInfo(name)
    link.type, link.linkname = kind, target
    with tarfile.open(archive, "a") as tf:
        tf.addfile(link)


@pytest.mark.needs_data
def test_links_inside_archives_are_not_extracted(tmp_path):
    mirror = tmp_path / "mirror"
    md5s = make_caltech_tars(mirror)
    _add_link(mirror / "Annotations.tar", "Annotations/car_side/x.mat", "annotation_0001.mat")
    md5s["Annotations.tar"] = md5(mirror / "Annotations.tar")
    fetch.fetch_dataset(fetch.CALTECH, tmp_path / "ds", mirror=mirror, md5s=md5s)
    assert tree(tmp_path / "ds" / "caltech101") == expected_caltech()


HOSTILE_MEMBERS = [
    ("101_ObjectCategories/car_side/image_0999.jpg", "/etc/passwd", tarfile.SYMTYPE),
    ("101_ObjectCategories/car_side/image_0998.jpg", "../../../../outside", tarfile.SYMTYPE),
    ("101_ObjectCategories/car_side/image_0997.jpg", "../outside", tarfile.LNKTYPE),
    ("101_ObjectCategories/car_side/image_0996.jpg", "/etc/passwd", tarfile.LNKTYPE),
    ("101_ObjectCategories/car_side/fifo.jpg", "", tarfile.FIFOTYPE),
]


@pytest.mark.needs_data
@pytest.mark.parametrize("with_filter", [True, False], ids=["data_filter", "fallback"])
@pytest.mark.parametrize("name, target, kind", HOSTILE_MEMBERS, ids=lambda v: str(v)[-12:])
def test_links_out_and_special_members_are_refused(tmp_path, monkeypatch, with_filter, name,
                                                   target, kind):  # fmt: skip
    if not with_filter:
        monkeypatch.delattr(fetch.tarfile, "data_filter", raising=False)
    mirror = tmp_path / "mirror"
    md5s = make_caltech_tars(mirror)
    _add_link(mirror / "Annotations.tar", name, target, kind)
    md5s["Annotations.tar"] = md5(mirror / "Annotations.tar")
    sentinel = tmp_path / "outside"
    sentinel.write_text("keep")
    dest = tmp_path / "out" / "ds"
    with pytest.raises(fetch.FetchError, match="unsafe member") as exc:
        fetch.fetch_dataset(fetch.CALTECH, dest, mirror=mirror, md5s=md5s)
    assert str(exc.value).startswith(f"Annotations.tar: unsafe member {name!r}")
    assert "\n" not in str(exc.value)
    assert list(dest.iterdir()) == [] and sentinel.read_text() == "keep"


@pytest.mark.needs_data
def test_absolute_tar_member_is_refused_by_the_script(tmp_path):
    mirror = tmp_path / "mirror"
    make_caltech_tars(mirror)
    evil = tmp_path / "evil.jpg"
    with tarfile.open(mirror / "Annotations.tar", "a") as tf:
        add_bytes(tf, str(evil), b"evil")
    proc = run_script("--dest", tmp_path / "ds", "--only", "caltech101", "--mirror", mirror)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    # the default checksums refuse the changed archive first; either way: one line, nothing out
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error: ")
    assert not evil.exists()
    assert fetch.FetchError
    with pytest.raises(fetch.FetchError, match="unsafe member"):
        md5s = {n: md5(mirror / n) for n in fetch.NESTED_ARCHIVES["caltech101"]}
        fetch.fetch_dataset(fetch.CALTECH, tmp_path / "ds2", mirror=mirror, md5s=md5s)
    assert not evil.exists()


def run_script(*argv) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(FETCH_PY), *map(str, argv), "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.needs_data
def test_corrupt_archive_is_one_line(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    data = bytearray(zipfile_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64  # garbage inside a member
    (mirror / "scene_categories.zip").write_bytes(bytes(data))
    proc = run_script("--dest", tmp_path / "ds", "--only", "sceneclass13", "--mirror", mirror)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    assert [ln for ln in lines if ln.startswith("error")] == [lines[-1]]
    assert lines[-1].startswith("error: scene_categories.zip: not a readable zip or tar archive")
    assert list((tmp_path / "ds").iterdir()) == []


def zipfile_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for cat in fetch.SCENE_COUNTS:
            src = sorted((SCENE_DIR / cat).glob("*.jpg"))[0]
            zf.write(src, f"scene_categories/{cat}/{src.name}")
    return buf.getvalue()


@pytest.mark.parametrize("check", [False, True])
def test_dest_that_is_a_file_is_one_line(tmp_path, check):
    dest = tmp_path / "ds"
    dest.write_text("a file")
    proc = run_script("--dest", dest, "--mirror", DATASETS, *(["--check"] if check else []))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {dest}: --dest is not a folder"
    assert dest.read_text() == "a file"


@pytest.mark.needs_data
def test_existing_folder_keeps_other_categories(tmp_path):
    md5s = make_caltech_tars(tmp_path / "mirror")
    cal = tmp_path / "ds" / "caltech101"
    (cal / "101_ObjectCategories" / "airplanes").mkdir(parents=True)
    (cal / "101_ObjectCategories" / "airplanes" / "image_0001.jpg").write_bytes(b"plane")
    (cal / "101_ObjectCategories" / "car_side").mkdir()
    (cal / "101_ObjectCategories" / "car_side" / "image_0500.jpg").write_bytes(b"stale")
    fetch.fetch_dataset(fetch.CALTECH, tmp_path / "ds", mirror=tmp_path / "mirror", md5s=md5s)
    want = expected_caltech() | {"101_ObjectCategories/airplanes/image_0001.jpg": b"plane"}
    assert tree(cal) == want
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == ["caltech101"]


def test_scene_names_of_other_releases_map_to_the_13():
    assert fetch.scene_category("MITcoast") == "MITcoast"
    assert fetch.scene_category("Coast") == "MITcoast"
    assert fetch.scene_category("CALsuburb") == fetch.scene_category("suburb") == "CALsuburb"
    assert fetch.scene_category("LivingRoom") == fetch.scene_category("living_room") == "livingroom"
    assert fetch.scene_category("inside_city") == "MITinsidecity"
    assert fetch.scene_category("Office") == "PARoffice"
    assert fetch.scene_category("industrial") is None and fetch.scene_category("store") is None


def make_scene_zip(path: Path, names: dict[str, str]) -> dict[str, bytes]:
    """A 15-scene style zip: ``names`` maps each category to its folder name in the zip."""
    want = {}
    with zipfile.ZipFile(path, "w") as zf:
        for cat, folder in names.items():
            for src in sorted((SCENE_DIR / cat).glob("*.jpg"))[:2]:
                zf.write(src, f"{folder}/{src.name}")
                want[f"{cat}/{src.name}"] = src.read_bytes()
            zf.writestr(f"{folder}/Thumbs.db", b"junk")
            zf.writestr(f"__MACOSX/{folder}/._image_0001.jpg", b"junk")
        for extra in ("industrial", "store"):
            zf.write(sorted((SCENE_DIR / "bedroom").glob("*.jpg"))[0], f"{extra}/image_0001.jpg")
    return want


@pytest.mark.needs_data
def test_fetch_scenes_from_the_15_scene_archive(tmp_path, caplog):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    names = {cat: cat for cat in fetch.SCENE_COUNTS} | {
        "MITcoast": "Coast",
        "livingroom": "LivingRoom",
    }
    want = make_scene_zip(mirror / "scene_categories.zip", names)
    caplog.set_level("INFO", logger=fetch.__name__)
    result = fetch.fetch_dataset(fetch.SCENES, tmp_path / "ds", mirror=mirror)
    assert tree(tmp_path / "ds" / "sceneclass13") == want  # 13 x 2 images, no junk, no store
    assert result.ok and result.counts["MITcoast"] == 2
    infos = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "  left out folders not among the 13: industrial, store" in infos
    data = (mirror / "scene_categories.zip").read_bytes()
    size, sha256, md5_hex = (
        len(data),
        hashlib.sha256(data).hexdigest(),
        hashlib.md5(data).hexdigest(),
    )
    assert (  # no published md5: size and sha256 are logged
        f"  scene_categories.zip: {size:,} bytes, sha256 {sha256}, md5 {md5_hex} (no published md5)"
    ) in infos
    assert warnings == [
        f"scene_categories.zip: md5 {md5_hex} differs from the third-party-reported "
        f"{fetch.REPORTED_MD5['scene_categories.zip']}"
    ]


@pytest.mark.needs_data
def test_scene_archive_missing_a_category_fails(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    make_scene_zip(
        mirror / "scene_categories.zip", {c: c for c in fetch.SCENE_COUNTS if c != "kitchen"}
    )
    with pytest.raises(fetch.FetchError, match=r"gave no sceneclass13/kitchen"):
        fetch.fetch_dataset(fetch.SCENES, tmp_path / "ds", mirror=mirror)
    assert list((tmp_path / "ds").iterdir()) == []


# ---------------------------------------------------------------------------- URLs


@pytest.mark.needs_data
def test_fetch_from_urls_records_and_reuses_downloads(tmp_path, mirror_server):
    md5s = make_caltech_tars(tmp_path / "served")
    files = {f"/c/{n}": tmp_path / "served" / n for n in md5s}
    dest = tmp_path / "ds"
    server = mirror_server(files)
    urls = [server.url + p for p in files]
    kw = dict(urls=urls, md5s=md5s, options=QUIET)
    result = fetch.fetch_dataset(fetch.CALTECH, dest, **kw)
    assert server.total() == 2
    assert result.ok and tree(dest / "caltech101") == expected_caltech()
    downloads = dest / "_downloads"
    for name in md5s:
        assert (downloads / name).read_bytes() == (tmp_path / "served" / name).read_bytes()
    record = json.loads((downloads / "checksums.json").read_text())
    served = tmp_path / "served" / "Annotations.tar"
    assert record["Annotations.tar"] == {
        "url": urls[1],
        "bytes": served.stat().st_size,
        "sha256": hashlib.sha256(served.read_bytes()).hexdigest(),
        "md5": md5s["Annotations.tar"],
    }
    fetch.fetch_dataset(fetch.CALTECH, dest, force=True, **kw)  # archives are reused
    assert server.total() == 2
    # a download that no longer has its known md5 is fetched again (pooch's "update")
    (downloads / "Annotations.tar").write_bytes(b"damaged")
    fetch.fetch_dataset(fetch.CALTECH, dest, force=True, **kw)
    assert server.requests["/c/Annotations.tar"] == 2 and server.total() == 3
    assert tree(dest / "caltech101") == expected_caltech()
    assert sorted(p.name for p in dest.iterdir()) == ["_downloads", "caltech101"]


@pytest.mark.needs_data
def test_archive_without_published_md5_is_reused_by_its_record(tmp_path, mirror_server):
    zip_path = tmp_path / "served" / "scene_categories.zip"
    zip_path.parent.mkdir()
    want = make_scene_zip(zip_path, {cat: cat for cat in fetch.SCENE_COUNTS})
    server = mirror_server({"/s/scene_categories.zip": zip_path})
    dest, urls = tmp_path / "ds", [f"{server.url}/s/scene_categories.zip"]
    fetch.fetch_dataset(fetch.SCENES, dest, urls=urls, options=QUIET)
    fetch.fetch_dataset(fetch.SCENES, dest, urls=urls, force=True, options=QUIET)
    assert server.total() == 1  # same size and sha256 as recorded: reused
    kept = dest / "_downloads" / "scene_categories.zip"
    kept.write_bytes(kept.read_bytes()[:-10])  # no longer what was recorded: fetched again
    fetch.fetch_dataset(fetch.SCENES, dest, urls=urls, force=True, options=QUIET)
    assert server.total() == 2
    assert kept.read_bytes() == zip_path.read_bytes()
    assert tree(dest / "sceneclass13") == want


@pytest.mark.needs_data
def test_download_is_retried_by_pooch(tmp_path, mirror_server):
    md5s = make_caltech_tars(tmp_path / "served")
    files = {f"/c/{n}": tmp_path / "served" / n for n in md5s}
    server = mirror_server(files)
    server.fail_first = {"/c/Annotations.tar": 1}  # one 503, then the file
    urls = [server.url + p for p in files]
    options = DownloadOptions(retries=1, progress=False)
    result = fetch.fetch_dataset(fetch.CALTECH, tmp_path / "ds", urls=urls, md5s=md5s,
                                 options=options)  # fmt: skip
    assert result.ok and server.requests["/c/Annotations.tar"] == 2
    assert tree(tmp_path / "ds" / "caltech101") == expected_caltech()


@pytest.mark.needs_data
def test_downloaded_archive_with_wrong_md5_is_deleted(tmp_path, mirror_server):
    md5s = make_caltech_tars(tmp_path / "served")
    files = {f"/c/{n}": tmp_path / "served" / n for n in md5s}
    dest = tmp_path / "ds"
    server = mirror_server(files)
    urls = [server.url + p for p in files]
    with pytest.raises(fetch.FetchError) as exc:
        # the real published md5s: these small archives do not match
        fetch.fetch_dataset(fetch.CALTECH, dest, urls=urls, options=QUIET)
    assert str(exc.value) == (
        "101_ObjectCategories.tar.gz: md5 mismatch: expected "
        f"{fetch.KNOWN_MD5['101_ObjectCategories.tar.gz']}, "
        f"got {md5s['101_ObjectCategories.tar.gz']} (downloaded from {urls[0]}; deleted)"
    )
    assert list((dest / "_downloads").iterdir()) == []  # no archive, no temp file
    assert not (dest / "caltech101").exists()


def test_unreachable_and_missing_urls_are_one_line_errors(tmp_path, capsys, mirror_server):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/caltech-101.zip"
    argv = ["--dest", tmp_path / "ds", "--only", "caltech101", "--retries", "0", "-q"]
    code, _, err = run_main(capsys, *argv, "--url-caltech", url)
    assert code == 2 and err.startswith(f"error: cannot download {url}: ")
    assert len(err.strip().splitlines()) == 1
    server = mirror_server({})
    code, _, err = run_main(capsys, *argv, "--url-caltech", f"{server.url}/gone.zip")
    assert code == 2
    assert err.strip() == f"error: cannot download {server.url}/gone.zip: HTTP 404 not found"
    assert not (tmp_path / "ds" / "caltech101").exists()


def test_script_without_the_project_is_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # -S: no site-packages, so neither the installed project nor its dependencies
    proc = subprocess.run([sys.executable, "-S", str(FETCH_PY), "--check"], capture_output=True,
                          text=True, timeout=60, env=env, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == (
        "error: cannot import the pyimagesearch package: install the project first: "
        "pip install -e . (in the repository root)\n"
    )


@pytest.mark.needs_data
def test_truncated_archive_is_a_clear_error(tmp_path):
    mirror = tmp_path / "mirror"
    md5s = make_caltech_tars(mirror)
    archive = mirror / "101_ObjectCategories.tar.gz"
    archive.write_bytes(archive.read_bytes()[:-200])  # cut inside the gzip stream
    md5s[archive.name] = md5(archive)
    with pytest.raises(fetch.FetchError, match=r"^101_ObjectCategories.tar.gz: not a readable"):
        fetch.fetch_dataset(fetch.CALTECH, tmp_path / "ds", mirror=mirror, md5s=md5s)
    assert list((tmp_path / "ds").iterdir()) == []
