"""Real-world image folders: junk files and broken images are skipped with a message."""

import logging
import shutil

import cv2
import numpy as np
import pytest

from pyimagesearch.features.extract import extract_features
from pyimagesearch.infrastructure.config import load_config
from pyimagesearch.infrastructure.errors import ImageReadError
from pyimagesearch.io.images import list_images, read_gray

from .conftest import CARS, SCENES


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
