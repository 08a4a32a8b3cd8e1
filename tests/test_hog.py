"""The descriptor equals scikit-image's HOG, for layers and for windows with context."""

import cv2
import numpy as np
import pytest
from skimage.feature import hog

from benchmarks.reference import skimage_window_descriptor
from pyimagesearch.descriptor.hog import HogParams, context_crop, hog_blocks, window_descriptor
from pyimagesearch.io.images import list_images, read_gray

from .conftest import CARS, SCENES

COURSE = HogParams(9, (4, 4), (2, 2), True, "L1")


def _skimage(image, p: HogParams):
    return hog(
        image,
        orientations=p.orientations,
        pixels_per_cell=p.pixels_per_cell,
        cells_per_block=p.cells_per_block,
        block_norm=p.block_norm,
        transform_sqrt=p.transform_sqrt,
        feature_vector=False,
    )


@pytest.fixture(scope="module")
def scenes():
    return [read_gray(p) for p in list_images(SCENES)[::400]]


@pytest.mark.parametrize(
    "params",
    [
        COURSE,
        HogParams(9, (8, 8), (3, 3), False, "L2-Hys"),
        HogParams(7, (6, 5), (3, 2), True, "L1-sqrt"),
        HogParams(12, (4, 4), (2, 2), False, "L2"),
    ],
    ids=str,
)
@pytest.mark.needs_data
def test_layer_blocks_equal_skimage(scenes, params):
    assert len(scenes) >= 2, f"no scene images in {SCENES}"
    for image in scenes:
        (ours,) = hog_blocks(image, params)
        ref = _skimage(image, params)
        assert ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, atol=2e-6, rtol=1e-5)


@pytest.mark.needs_data
def test_phase_shifted_grid_is_hog_of_shifted_image(scenes):
    image = scenes[0]
    grids = hog_blocks(image, COURSE, ((0, 0), (2, 3)))
    # a shifted cell grid = HOG of the image cropped at the phase, except that the
    # crop's first row/column would lose their gradients: compare interior blocks
    ref = _skimage(image[2:, 3:], COURSE)
    np.testing.assert_allclose(grids[1][1:-1, 1:-1], ref[1:-1, 1:-1], atol=2e-6)


def _check_windows_equal_skimage(image: np.ndarray, rng: np.random.Generator) -> None:
    """Corner, off-grid and random windows of ``image``: skimage's HOG of the crop + one cell."""
    win = (96, 32)
    h, w = image.shape
    for x, y in [(0, 0), (w - 96, h - 32), (2, 3)] + [
        (int(rng.integers(4, w - 100)), int(rng.integers(4, h - 36))) for _ in range(3)
    ]:
        ours = window_descriptor(image, x, y, win, COURSE)
        ref = skimage_window_descriptor(image, x, y, win, COURSE)
        assert ours.shape == (COURSE.descriptor_size(win),)
        assert np.abs(ref).sum() > 0  # a window with gradients, not an empty one
        np.testing.assert_allclose(ours, ref, atol=2e-6)


@pytest.mark.needs_data
def test_window_descriptor_equals_skimage_on_padded_crop():
    """Real car crops: the window's blocks of skimage's HOG of the crop + one cell."""
    rng = np.random.default_rng(0)
    paths = sorted(CARS.glob("*.jpg"))[:6]
    assert len(paths) == 6, f"no car images in {CARS}"
    for path in paths:
        _check_windows_equal_skimage(read_gray(path), rng)


def test_window_descriptor_equals_skimage_on_synthetic_images():
    """The same without the data sets: smoothed noise with edges, of odd sizes."""
    rng = np.random.default_rng(1)
    for h, w in [(90, 150), (41, 107), (64, 128)]:
        noise = rng.normal(128, 60, size=(h, w)).clip(0, 255).astype(np.uint8)
        image = cv2.GaussianBlur(noise, (5, 5), 1.5)
        image[h // 3 :, w // 2 :] //= 2  # a step edge across the windows
        _check_windows_equal_skimage(image, rng)


@pytest.mark.needs_data
def test_interior_window_is_slice_of_skimage_on_margin_crop():
    """Hand-checked geometry: a window one cell inside the crop is the crop's inner blocks."""
    image = read_gray(sorted(CARS.glob("*.jpg"))[0])
    x, y = 40, 60
    crop = image[y - 4 : y + 32 + 4, x - 4 : x + 96 + 4]
    ref = _skimage(crop, COURSE)[1:-1, 1:-1].ravel()
    np.testing.assert_allclose(window_descriptor(image, x, y, (96, 32), COURSE), ref, atol=2e-6)


def test_context_crop_margins():
    image = np.arange(100 * 200, dtype=np.uint32).reshape(100, 200).astype(np.uint8)
    crop, offset, _ = context_crop(image, 0, 0, (96, 32), COURSE)
    assert offset == (0, 0) and crop.shape == (36, 100)
    crop, offset, _ = context_crop(image, 10, 10, (96, 32), COURSE)
    assert offset == (1, 1) and crop.shape == (40, 104)
    np.testing.assert_array_equal(crop, image[6:46, 6:110])
    crop, offset, _ = context_crop(image, 2, 1, (96, 32), COURSE)  # partial margin: padded
    assert offset == (1, 1) and crop.shape == (40, 104)
    np.testing.assert_array_equal(crop[3:, 2:], image[0:37, 0:102])
    with pytest.raises(ValueError, match="outside"):
        context_crop(image, 150, 0, (96, 32), COURSE)


def test_rejects_non_uint8():
    with pytest.raises(ValueError, match="uint8"):
        hog_blocks(np.zeros((40, 40), np.float32), COURSE)
