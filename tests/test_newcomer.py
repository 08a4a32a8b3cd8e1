"""A newcomer's own object: names, misspellings and mined windows they can see (issue 14)."""

import json
import subprocess
import sys
from dataclasses import replace

import cv2
import numpy as np
import pytest

from pyimagesearch.infrastructure.config import (
    config_from_dict,
    input_keys,
    load_config,
    require_paths,
)
from pyimagesearch.infrastructure.errors import AnnotationError, ConfigError
from pyimagesearch.report.gallery import cell_size, window_sheet
from pyimagesearch.report.markdown import _mined_section, _no_false_positives_note, fppi_change
from pyimagesearch.sources.distractions import split_distractions
from pyimagesearch.sources.formats import read_voc

from .conftest import CARS, ROOT, annotation_options, cars_conf_dict


def _load(tmp_path, **overrides):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cars_conf_dict(tmp_path, **overrides)))
    return load_config(path)


# ---- item 3: the object's name, window aspect, ratios of zero -------------------------


def test_object_name_defaults_to_the_data_folder_and_can_be_given(tmp_path):
    assert _load(tmp_path)["object_name"] == "car_side"
    assert _load(tmp_path, object_name="stop sign")["object_name"] == "stop sign"
    readme = (ROOT / "README.md").read_text()
    assert "`object_name`" in readme


def test_fppi_ratio_of_zero_is_worded():
    assert fppi_change(0.0, 0.0) == "False positives per image: 0 before and after mining."
    assert "nan" not in fppi_change(0.0, 0.5) and "0.5000" in fppi_change(0.0, 0.5)
    assert "0.50×" in fppi_change(1.0, 0.5)


@pytest.mark.parametrize("dim, size", [((96, 32), (192, 64)), ((64, 64), (192, 192))])
def test_cells_keep_the_window_aspect(dim, size):
    assert cell_size(dim) == size


@pytest.mark.needs_data
def test_square_windows_stay_square_on_the_sheet(tmp_path):
    image = next(CARS.glob("*.jpg"))
    rows = {
        "source": np.array([str(image)], dtype=object),
        "box": np.array([[10.0, 10.0, 74.0, 74.0]]),
        "scale": np.array([1.0]),
        "probability": np.array([0.9]),
    }
    sheet = cv2.imread(str(window_sheet(rows, tmp_path / "s.png", columns=1, window_dim=(64, 64))))
    # one cell: 4 px pad, a 192x192 window, a 30 px label, 4 px pad
    assert sheet.shape[:2] == (4 + 192 + 30 + 4, 4 + 192 + 4)


# ---- item 7: no false positive anywhere -----------------------------------------------


def test_report_explains_fppi_zero_in_every_round():
    note = " ".join(_no_false_positives_note([{"false_positives_per_image": 0.0}] * 2, "sign"))
    assert "nothing that looks like a sign" in note and "eval_distraction_categories" in note
    assert _no_false_positives_note([{"false_positives_per_image": 0.1}], "sign") == []
    assert "eval_distraction_categories" in (ROOT / "docs" / "data-sources.md").read_text()


# ---- item 4: misspellings -------------------------------------------------------------


@pytest.mark.parametrize(
    "key, expected",
    [("window_size", "window_dim"), ("widow_step", "window_step"), ("clasifier_path", None)],
)
def test_unknown_key_suggestions(tmp_path, key, expected):
    raw = cars_conf_dict(tmp_path, **{key: 1})
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw)
    expected = expected or "classifier_path"
    assert f"unknown key '{key}' (did you mean '{expected}'?)" in str(err.value)


@pytest.mark.needs_data
def test_unknown_excluded_category_stops_with_a_suggestion(tmp_path):
    conf = _load(tmp_path, distraction_exclude_categories=["MITStreet"])
    with pytest.raises(ConfigError) as err:
        split_distractions(conf.options.distractions)
    message = str(err.value)
    assert "distraction_exclude_categories" in message and "'MITStreet'" in message
    assert "did you mean 'MITstreet'?" in message and "\n" not in message


def test_misspelled_voc_class_suggests_the_right_one(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "ann").mkdir()
    cv2.imwrite(str(tmp_path / "img" / "a.jpg"), np.zeros((40, 40, 3), np.uint8))
    (tmp_path / "ann" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><object><name>stop_sign</name><bndbox>"
        "<xmin>2</xmin><ymin>2</ymin><xmax>30</xmax><ymax>30</ymax></bndbox></object>"
        "</annotation>"
    )
    options = annotation_options("voc-xml", tmp_path / "img", tmp_path / "ann", "stop_sgn")
    with pytest.raises(AnnotationError, match=r"did you mean 'stop_sign'\?"):
        read_voc(options)
    assert len(read_voc(replace(options, class_name="stop_sign"))[0].boxes) == 1


# ---- item 6: relative paths -----------------------------------------------------------


def test_missing_path_error_says_relative_to_working_directory(tmp_path):
    conf = _load(tmp_path, image_dataset="no/such/folder")
    with pytest.raises(ConfigError, match="relative to the working directory"):
        require_paths(conf, "image_dataset")


@pytest.mark.needs_data
def test_crops_need_no_annotation_path(tmp_path):
    conf = _load(tmp_path, annotation_format="crops", image_annotations="unused")
    require_paths(conf, *input_keys(conf))  # no error: crops read no annotations
    assert "the path need not exist" in (ROOT / "docs" / "data-sources.md").read_text()
    assert "[y1, y2, x1, x2]" in (ROOT / "docs" / "data-sources.md").read_text()


# ---- item 8: numba's cache from a read-only install -----------------------------------


@pytest.mark.slow
def test_kernels_import_from_a_read_only_location(tmp_path):
    code = "import numpy as np; from pyimagesearch.descriptor.hog import HogParams; print('ok')"
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "ro"), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin"}
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr


# ---- item 2: windows mined on the annotated images ------------------------------------


@pytest.mark.needs_data
@pytest.mark.slow
def test_annotated_windows_get_their_own_sheet(tmp_path):
    from pyimagesearch.features.extract import extract_features
    from pyimagesearch.mining import mine_annotated, mine_hard_negatives
    from pyimagesearch.model.training import train_model
    from pyimagesearch.report.review import review_round

    conf = _load(
        tmp_path, num_distraction_images=30, eval_num_distraction_images=0, hn_min_probability=0.2
    )
    extract_features(conf, progress=False)
    model = train_model(conf)
    summary = mine_annotated(conf, 1, model=model, progress=False)
    mine_hard_negatives(conf, 1, model=model, progress=False)
    review = review_round(conf, 1, tmp_path / "out")
    assert review.n_annotated == summary.n_kept > 0
    assert review.annotated_sheet.name == "hard_negatives_annotated_round_001.png"
    assert cv2.imread(str(review.annotated_sheet)) is not None
    mining = {"n_found": 0, "n_images": 40, "n_kept": 0, "seconds": 1.0}
    text = "\n".join(_mined_section(1, mining, review, conf.options))
    assert "(hard_negatives_annotated_round_001.png)" in text
    only = review_round(conf, 1, tmp_path / "a", annotated=True)
    assert only.n_mined == summary.n_kept
    assert (tmp_path / "a" / "hard_negatives_annotated_round_001.png").is_file()
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "review_mined.py"), "--help"],
        capture_output=True,
        text=True,
    )
    assert "--annotated" in done.stdout


# ---- item 5: output paths derived from output_dir -------------------------------------


def test_store_and_model_paths_default_to_output_dir(tmp_path):
    raw = cars_conf_dict(tmp_path)
    del raw["features_path"], raw["classifier_path"]
    conf = config_from_dict(raw)
    assert conf["features_path"] == str(tmp_path / "out" / "features.hdf5")
    assert conf["classifier_path"] == str(tmp_path / "out" / "model.json")
    assert load_config(ROOT / "conf" / "cars.json")["features_path"] == "output/cars/features.hdf5"
