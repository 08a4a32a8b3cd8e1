"""Real-world image folders: junk files and broken images are skipped with a message."""

import logging
import shutil

import cv2
import numpy as np
import pytest

from pyimagesearch.datatools.download import (
    DownloadOptions,
    DownloadTask,
    download_files,
    image_verifier,
)
from pyimagesearch.datatools.openimages import make_placeholder_verifier
from pyimagesearch.features.extract import extract_features
from pyimagesearch.infrastructure.config import load_config
from pyimagesearch.infrastructure.errors import ImageReadError
from pyimagesearch.io import images
from pyimagesearch.io.images import list_images, read_gray
from pyimagesearch.io.remote import RemoteOptions

from .conftest import CARS, SCENES
from .hostile_files import CUTS, IMAGE_FORMATS, TRAILER, decoded_gray, encoded, rle8_bmp
from .sources.test_download import MirrorServer


@pytest.fixture
def junk_folder(tmp_path):
    """Real scene photos plus a Thumbs.db, a truncated JPEG and a text file named .jpg."""
    folder = tmp_path / "scenes" / "MITcoast"
    folder.mkdir(parents=True)
    for src in sorted((SCENES / "MITcoast").glob("*.jpg"))[:12]:
        shutil.copy(src, folder / src.name)
    shutil.copy(SCENES / "MITcoast" / "Thumbs.db", folder / "Thumbs.db")
    real = (SCENES / "MITcoast" / "image_0001.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(real[: len(real) // 2])
    (folder / "notes.jpg").write_text("this is not an image")
    (folder / "empty.jpg").write_bytes(b"")
    return folder.parent


@pytest.mark.needs_data
def test_list_images_skips_non_images(junk_folder):
    names = [p.name for p in list_images(junk_folder)]
    assert "Thumbs.db" not in names and "truncated.jpg" in names and len(names) == 15


@pytest.mark.parametrize(
    "name, message",
    [
        ("truncated.jpg", "truncated JPEG"),
        ("notes.jpg", "not a decodable image"),
        ("empty.jpg", "empty file"),
    ],
)
@pytest.mark.needs_data
def test_broken_images_raise_naming_the_file(junk_folder, name, message):
    path = junk_folder / "MITcoast" / name
    with pytest.raises(ImageReadError, match=message) as info:
        read_gray(path)
    assert str(path) in str(info.value)


@pytest.mark.needs_data
@pytest.mark.slow
def test_extraction_skips_broken_distractions_with_warning(junk_folder, write_conf, caplog):
    conf = load_config(
        write_conf(
            image_distractions=str(junk_folder),
            num_distraction_images=100,
            num_distractions_per_image=3,
            eval_distraction_categories=None,
            eval_num_distraction_images=0,
        )
    )
    with caplog.at_level(logging.WARNING):
        summary = extract_features(conf, progress=False)
    assert summary.n_negatives == 12 * 3
    assert len(summary.skipped) == 3
    assert any("truncated JPEG" in r.message for r in caplog.records)
    assert all("Thumbs.db" not in s for s in summary.skipped)


@pytest.mark.needs_data
def test_grayscale_rgba_and_16_bit(tmp_path):
    image = cv2.imread(str(sorted(CARS.glob("*.jpg"))[0]))
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    cv2.imwrite(str(tmp_path / "rgba.png"), cv2.cvtColor(image, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(tmp_path / "deep.png"), gray.astype(np.uint16) * 257)
    for name in ("g.png", "rgba.png", "deep.png"):
        out = read_gray(tmp_path / name)
        assert out.dtype == np.uint8 and out.shape == gray.shape
        assert np.abs(out.astype(int) - gray).max() <= 1


def test_huge_image_is_refused_before_decoding(tmp_path):
    path = tmp_path / "huge.png"
    cv2.imwrite(str(path), np.zeros((3000, 4000), np.uint8))
    with pytest.raises(ImageReadError, match="exceeds max_image_pixels"):
        read_gray(path, max_pixels=1_000_000)


# ---- one reading policy: trailing bytes allowed, data cut short refused ------------------


@pytest.mark.parametrize("ext", IMAGE_FORMATS)
def test_trailing_bytes_after_the_picture_are_allowed(tmp_path, caplog, ext):
    data = encoded(ext)
    path = tmp_path / f"phone{ext}"
    path.write_bytes(data + TRAILER)
    with caplog.at_level(logging.DEBUG, logger="pyimagesearch.io.image_end"):
        gray = read_gray(path)
    np.testing.assert_array_equal(gray, decoded_gray(data))  # the picture, nothing else
    assert f"{path}: {len(TRAILER)} byte(s) after the end of the" in caplog.text


@pytest.mark.parametrize("ext", IMAGE_FORMATS)
@pytest.mark.parametrize("cut", list(CUTS))
def test_file_cut_short_is_refused_naming_it(tmp_path, ext, cut):
    path = tmp_path / f"cut{ext}"
    path.write_bytes(CUTS[cut](encoded(ext)))
    with pytest.raises(ImageReadError) as info:
        read_gray(path)
    assert str(info.value).startswith(f"{path}: truncated ")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("ext", IMAGE_FORMATS)
def test_complete_file_logs_no_trailing_bytes(tmp_path, caplog, ext):
    path = tmp_path / f"plain{ext}"
    path.write_bytes(encoded(ext))
    with caplog.at_level(logging.DEBUG, logger="pyimagesearch.io.image_end"):
        assert read_gray(path).shape == (120, 160)
    assert "after the end" not in caplog.text


def test_picture_smaller_than_its_header_states_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "short.png"
    path.write_bytes(encoded(".png"))
    monkeypatch.setattr(images, "_decode", lambda raw: np.zeros((60, 160), np.uint8))
    with pytest.raises(ImageReadError) as info:
        read_gray(path)
    assert str(info.value) == (
        f"{path}: incomplete image (decoded 160x60 pixels, the header states 160x120)"
    )


def test_decoder_errors_stay_off_stderr(tmp_path, capfd):
    """A run-length encoded BMP cut short reaches OpenCV, which fails with a log line of
    its own; the one message is the error naming the file."""
    path = tmp_path / "rle.bmp"
    path.write_bytes(rle8_bmp())
    assert read_gray(path).shape == (48, 64)
    path.write_bytes(rle8_bmp()[:700])
    with pytest.raises(ImageReadError) as info:
        read_gray(path)
    assert str(info.value) == f"{path}: not a decodable image"
    assert capfd.readouterr().err == ""


# ---- the same policy on every path an image takes ----------------------------------------


@pytest.fixture(scope="module")
def served():
    """Every format complete with trailing bytes (``/extra.*``) and cut (``/cut.*``), over
    HTTP on 127.0.0.1 and in an fsspec in-memory store (the object-storage path)."""
    fsspec = pytest.importorskip("fsspec")
    files = {}
    for ext in IMAGE_FORMATS:
        files[f"/img/extra{ext}"] = encoded(ext) + TRAILER
        files[f"/img/cut{ext}"] = CUTS["half"](encoded(ext))
    memory = fsspec.filesystem("memory")
    for name, data in files.items():
        memory.pipe_file(f"/hostile{name}", data)
    with MirrorServer(files) as server:
        yield {"http": server.url, "memory": "memory://hostile"}
    memory.rm("/hostile", recursive=True)


def _read_by(path_kind: str, served: dict, name: str, tmp_path) -> np.ndarray:
    """Read ``/img/<name>`` as ``path_kind`` does: a URL, an object store, a fetcher."""
    if path_kind in ("http", "memory"):
        return read_gray(f"{served[path_kind]}/img/{name}", remote=RemoteOptions(retries=0))
    url = f"{served['http']}/img/{name}"
    dest = tmp_path / path_kind / name
    verify = make_placeholder_verifier() if path_kind == "open images" else image_verifier()
    options = DownloadOptions(retries=0, backoff=0.0, progress=False)
    summary = download_files([DownloadTask(name, url, dest)], options, verify=verify)
    if summary.failed:
        raise ImageReadError(f"{url}: {summary.failed[0].reason}")
    return read_gray(dest)


PATHS = ("http", "memory", "download", "open images")


@pytest.mark.parametrize("ext", IMAGE_FORMATS)
@pytest.mark.parametrize("path_kind", PATHS)
def test_every_path_uses_a_picture_with_trailing_bytes(served, tmp_path, path_kind, ext):
    gray = _read_by(path_kind, served, f"extra{ext}", tmp_path)
    np.testing.assert_array_equal(gray, decoded_gray(encoded(ext)))


@pytest.mark.parametrize("ext", IMAGE_FORMATS)
@pytest.mark.parametrize("path_kind", PATHS)
def test_every_path_refuses_a_cut_file_naming_it(served, tmp_path, path_kind, ext):
    with pytest.raises(ImageReadError) as info:
        _read_by(path_kind, served, f"cut{ext}", tmp_path)
    message = str(info.value)
    assert f"/img/cut{ext}: " in message and "truncated" in message and "\n" not in message
    assert not (tmp_path / path_kind / f"cut{ext}").exists()


def test_png_failing_its_checksum_is_named_not_left_to_libpng(tmp_path, capfd):
    data = bytearray(encoded(".png"))
    data[data.index(b"IDAT") + 20] ^= 0xFF  # one bit of the picture data flipped
    path = tmp_path / "flipped.png"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageReadError) as info:
        read_gray(path)
    assert str(info.value) == f"{path}: damaged PNG (chunk IDAT at byte 33 fails its CRC)"
    assert capfd.readouterr().err == ""  # libpng's own "libpng error: ..." line never printed
