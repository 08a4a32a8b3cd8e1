"""Several classes at once (issue 24): one detector per class, one shared pyramid, NMS
per class, labels on every detection, one bundle file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pyimagesearch.api import MultiClassDetector, _by_class, load_detector
from pyimagesearch.descriptor.params import HogParams
from pyimagesearch.detection.detector import WindowDetector
from pyimagesearch.detection.mixture import MixtureDetector
from pyimagesearch.detection.multiclass import MultiClassDetector as BaseMultiClassDetector
from pyimagesearch.infrastructure.errors import ModelError
from pyimagesearch.model.bundle import ClassBundle
from pyimagesearch.model.linear import LinearModel
from pyimagesearch.model.modelfile import check_compatible, load_model, save_model


def _model(window, seed, hog=None):
    hog = hog or HogParams()
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 0.05, hog.descriptor_size(window))
    return LinearModel(weights, 0.0, 1.0, 0.0, hog, window, metadata={"seed": seed})


def _image(seed=5, shape=(150, 200)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _same(a, b):
    order_a, order_b = np.lexsort(a.boxes.T), np.lexsort(b.boxes.T)
    np.testing.assert_allclose(a.boxes[order_a], b.boxes[order_b], atol=1e-6)
    np.testing.assert_allclose(a.probabilities[order_a], b.probabilities[order_b], rtol=1e-5)


@pytest.mark.parametrize(
    ("approximate", "upsample", "descriptor"),
    [(False, 0, "hog"), (True, 0, "hog"), (True, 1, "hog"), (False, 0, "fhog")],
)
def test_one_shared_pyramid_finds_exactly_what_each_class_finds_alone(
    approximate, upsample, descriptor
):
    hog = HogParams(pixels_per_cell=(8, 8)) if descriptor == "fhog" else HogParams()
    if descriptor == "fhog":
        hog = HogParams(descriptor="fhog", pixels_per_cell=(8, 8), cells_per_block=(1, 1))
    step = hog.pixels_per_cell[1]
    windows = [(96, 32), (48, 48), (32, 64)]  # three paddings, three smallest layers
    alone = [
        WindowDetector(_model(w, k, hog), step, 1.2, 0.2, 0.3, 0.5, upsample, approximate)
        for k, w in enumerate(windows)
    ]
    both = BaseMultiClassDetector(alone, ["car", "raccoon", "person"])
    assert both.shares_pyramid()
    image = _image()
    found = both.detect(image)
    assert len(found) > 0 and set(found.labels) <= {"car", "raccoon", "person"}
    assert (np.diff(found.probabilities) <= 0).all()  # highest first
    for name, detector in zip(both.classes, alone):
        mine = found.labels == name
        own = detector.detect(image)
        _same(type(found)(found.boxes[mine], found.probabilities[mine], found.scores[mine]), own)


def test_nms_runs_per_class_so_overlapping_objects_of_two_classes_both_stay():
    model = _model((48, 48), 3)
    a = WindowDetector(model, 4, 1.2, 0.2, 0.3)
    b = WindowDetector(
        LinearModel(model.weights, 0.0, 1.0, 0.0, model.hog, (48, 48)), 4, 1.2, 0.2, 0.3
    )
    found = BaseMultiClassDetector([a, b], ["cat", "dog"]).detect(_image())
    one = a.detect(_image())
    assert len(found) == 2 * len(one)  # the same windows, kept once per class
    assert sorted(found.labels[:2]) == ["cat", "dog"]


def test_a_bundle_file_round_trips_and_the_api_detector_labels_its_json(tmp_path):
    car, raccoon = _model((96, 32), 1), _model((48, 48), 2)
    detector = MultiClassDetector(
        [
            WindowDetector(car, 4, 1.2, 0.2, 0.3),
            MixtureDetector([WindowDetector(raccoon, 4, 1.2, 0.2, 0.3)]),
        ],
        ["car", "raccoon"],
        category_ids=[3, 7],
    )
    path = detector.save(tmp_path / "bundle.json")
    doc = json.loads(path.read_text())
    assert doc["format"] == "pyimagesearch-multiclass-detector"
    assert doc["classes"] == ["car", "raccoon"] and doc["category_ids"] == [3, 7]
    bundle = load_model(path)
    assert isinstance(bundle, ClassBundle) and bundle.classes == ["car", "raccoon"]
    check_compatible(bundle, HogParams(), (1, 1), path)  # each class keeps its own window
    with pytest.raises(ModelError, match="descriptor"):
        check_compatible(bundle, HogParams(descriptor="fhog", pixels_per_cell=(8, 8)), (1, 1))
    loaded = load_detector(path)
    assert isinstance(loaded, MultiClassDetector) and loaded.category_ids == [3, 7]
    image = _image()
    _same(loaded.detect(image), detector.detect(image))
    listed = loaded.detect(np.dstack([image] * 3)).to_list()  # BGR accepted
    assert listed and {d["label"] for d in listed} <= {"car", "raccoon"}
    assert set(listed[0]) == {"box", "probability", "label"}
    assert "raccoon" in loaded.settings() and loaded.for_class("car").model.window_dim == (96, 32)
    with pytest.raises(Exception, match=r"no class 'racoon' .*did you mean 'raccoon'"):
        loaded.for_class("racoon")


def test_malformed_bundles_and_labels_are_refused_with_messages(tmp_path):
    path = tmp_path / "b.json"
    save_model(ClassBundle(["a"], [_model((32, 32), 1)]), path)
    doc = json.loads(path.read_text())
    doc["classes"] = ["a", "b"]
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="1 models"):
        load_model(path)
    boxes = [np.array([[0, 0, 10, 10.0], [5, 5, 20, 20]])]
    classes, per_class = _by_class(boxes, [["car", "raccoon"]], None)
    assert classes == ["car", "raccoon"] and [len(b[0]) for b in per_class] == [1, 1]
    with pytest.raises(ValueError, match="2 names for 1 boxes"):
        _by_class([boxes[0][:1]], [["car", "raccoon"]], None)
    with pytest.raises(ValueError, match=r"'racoon' is not one of .*did you mean 'raccoon'"):
        _by_class(boxes, [["car", "racoon"]], ["car", "raccoon"])


# ---- a config naming several classes ------------------------------------------------------


def _voc_folder(tmp_path):
    """Three photos: a car and a raccoon overlapping, a car alone, a raccoon alone."""
    import cv2

    images, notes = tmp_path / "images", tmp_path / "voc"
    images.mkdir(parents=True)
    notes.mkdir(parents=True)
    objects = {
        "a": [("car", [10, 20, 110, 60]), ("raccoon", [80, 30, 140, 90])],
        "b": [("car", [5, 5, 105, 45])],
        "c": [("raccoon", [20, 20, 80, 80])],
    }
    for stem, objs in objects.items():
        cv2.imwrite(str(images / f"{stem}.png"), _image(ord(stem), (120, 160)))
        body = "".join(
            f"<object><name>{n}</name><bndbox><xmin>{x1 + 1}</xmin><ymin>{y1 + 1}</ymin>"
            f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
            for n, (x1, y1, x2, y2) in objs
        )
        (notes / f"{stem}.xml").write_text(
            f"<annotation><filename>{stem}.png</filename>{body}</annotation>"
        )
    return images, notes


def _classes_conf(tmp_path, classes):
    from pyimagesearch.infrastructure.config import config_from_dict

    from .conftest import cars_conf_dict

    images, notes = _voc_folder(tmp_path)
    raw = cars_conf_dict(
        tmp_path, image_dataset=str(images), image_annotations=str(notes),
        annotation_format="voc-xml", classes=classes,
    )  # fmt: skip
    return config_from_dict(raw, tmp_path / "conf.json")


def test_each_class_trains_on_every_image_with_overlapping_other_classes_ignored(tmp_path):
    from pyimagesearch.infrastructure.config import load_config
    from pyimagesearch.orchestration.classes import class_configs
    from pyimagesearch.sources.annotations import read_annotations

    conf = _classes_conf(tmp_path, ["car", "raccoon"])
    configs = class_configs(conf)
    assert [name for name, _ in configs] == ["car", "raccoon"]
    car, raccoon = (read_annotations(c.options.annotations) for _, c in configs)
    assert (
        [i.path.name for i in car] == [i.path.name for i in raccoon] == ["a.png", "b.png", "c.png"]
    )
    # image a: the car is a car's object and a raccoon's ignore region, and the other way
    np.testing.assert_allclose(car[0].boxes, [[10, 20, 110, 60]])
    np.testing.assert_allclose(car[0].ignore, [[80, 30, 140, 90]])
    np.testing.assert_allclose(raccoon[0].boxes, [[80, 30, 140, 90]])
    np.testing.assert_allclose(raccoon[0].ignore, [[10, 20, 110, 60]])
    # a raccoon alone is background for the car class (mined), and a car alone for raccoon
    assert len(car[2].boxes) == 0 and len(car[2].ignore) == 0
    assert len(raccoon[1].boxes) == 0 and len(raccoon[1].ignore) == 0
    for name, c in configs:
        assert c["output_dir"].endswith(name) and c["classifier_path"].endswith(
            f"{name}/model.json"
        )
        assert c["classes"] is None and c["object_name"] == name
        # the class's own config file, for its one-class steps
        saved = load_config(Path(c["output_dir"]) / "conf.json")
        assert saved["classifier_path"] == c["classifier_path"] and saved["classes"] is None


def test_an_unknown_class_name_is_refused_with_a_suggestion(tmp_path):
    from pyimagesearch.infrastructure.errors import AnnotationError
    from pyimagesearch.orchestration.classes import class_configs, classes_table

    with pytest.raises(
        AnnotationError, match=r"no object of class 'racoon'.*did you mean 'raccoon'"
    ):
        class_configs(_classes_conf(tmp_path, ["car", "racoon"]))
    table = classes_table(
        {"car": {"average_precision": 0.9, "round": 2}, "raccoon": {"average_precision": 0.5}},
        _classes_conf(tmp_path / "t", ["car", "raccoon"]),
    )
    assert "| car | 0.900 |" in table and "| **mean** | 0.700 |" in table


def test_the_classes_page_keeps_names_from_the_annotations_as_text(tmp_path):
    """A class name with markup or a table bar stays one cell of text, in classes.md and in
    report.html, and its folder's links are percent-encoded."""
    from pyimagesearch.orchestration.classes import classes_table, folder_name
    from pyimagesearch.report.html import markdown_html

    conf = _classes_conf(tmp_path, ["car", "raccoon"])
    name = "<b>rac</b> | coon"
    report = Path(conf["output_dir"]) / folder_name(name) / "report"
    figures = {name: {"average_precision": 0.5, "round": 1, "report_dir": str(report)}}
    page = markdown_html(classes_table(figures, conf))
    assert "<b>" not in page
    assert "<td>&lt;b&gt;rac&lt;/b&gt; | coon</td>" in page
    assert "<h2>&lt;b&gt;rac&lt;/b&gt; | coon</h2>" in page
    assert page.count("<td>") == 2 * 10  # the class's row and the mean's, ten cells each
    assert 'src="../_b_rac__b_%20_%20coon/report/template.png"' in page


def test_the_detect_command_names_each_class_in_json_yolo_and_coco(tmp_path):
    import cv2

    from pyimagesearch.commands import run_command

    from .conftest import cars_conf_dict

    bundle = tmp_path / "bundle.json"
    save_model(
        ClassBundle(["car", "raccoon"], [_model((96, 32), 1), _model((48, 48), 2)], [3, 18]), bundle
    )
    photos = tmp_path / "photos"
    photos.mkdir()
    for k, stem in enumerate(("a", "b")):
        cv2.imwrite(str(photos / f"{stem}.png"), _image(k, (120, 160)))
    coco = tmp_path / "instances.json"
    coco.write_text(
        json.dumps({"images": [{"file_name": "a.png", "id": 5}, {"file_name": "b.png", "id": 6}]})
    )
    conf = tmp_path / "conf.json"
    conf.write_text(json.dumps(cars_conf_dict(tmp_path, classifier_path=str(bundle))))
    status = run_command(
        "detect",
        ["--conf", str(conf), "-i", str(photos), "-o", str(tmp_path / "drawn"), "-q",
         "--json", str(tmp_path / "found.json"), "--yolo-dir", str(tmp_path / "yolo"),
         "--coco-results", str(tmp_path / "coco.json"), "--coco-annotations", str(coco),
         "--min-probability", "0.2", "--n-jobs", "1"],
    )  # fmt: skip
    assert status == 0
    found = json.loads((tmp_path / "found.json").read_text())
    labels = [d["label"] for dets in found.values() for d in dets]
    assert set(labels) == {"car", "raccoon"}
    assert (tmp_path / "yolo" / "classes.txt").read_text() == "car\nraccoon\n"
    for image, dets in found.items():
        lines = (tmp_path / "yolo" / f"{Path(image).stem}.txt").read_text().splitlines()
        assert sorted(int(ln.split()[0]) for ln in lines) == sorted(
            ["car", "raccoon"].index(d["label"]) for d in dets
        )
    results = json.loads((tmp_path / "coco.json").read_text())
    assert sorted(r["category_id"] for r in results) == sorted(
        {"car": 3, "raccoon": 18}[x] for x in labels
    )


def test_one_class_steps_refuse_a_config_of_several_classes(tmp_path, capsys):
    from pyimagesearch.commands import run_command

    from .conftest import cars_conf_dict

    conf = tmp_path / "conf.json"
    conf.write_text(json.dumps(cars_conf_dict(tmp_path, classes=["car", "raccoon"])))
    assert run_command("train", ["--conf", str(conf)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {conf}: key 'classes': this step works on one class; `pyimagesearch "
        "pipeline` trains every class (each in output_dir/<class>/, with its own "
        "conf.json for this step) and `pyimagesearch detect` runs them all"
    )


# ---- training two classes from arrays ------------------------------------------------------


def _upside_down(images, boxes):
    """The photos turned upside down (a second class: same edges, another template)."""
    flipped = [im[::-1].copy() for im in images]
    turned = [
        np.c_[b[:, 0], im.shape[0] - b[:, 3], b[:, 2], im.shape[0] - b[:, 1]]
        for im, b in zip(images, boxes)
    ]
    return flipped, turned


@pytest.mark.needs_data
@pytest.mark.slow
def test_train_detector_with_labels_learns_each_class_and_scores_each(tmp_path):
    import pyimagesearch

    from .test_api import _cars, _scenes

    images, boxes = _cars(30)
    down, down_boxes = _upside_down(*_cars(30, start=30))
    detector = pyimagesearch.train_detector(
        images + down, boxes + down_boxes, _scenes(10),
        labels=[["car"] * len(b) for b in boxes] + [["upside down"] * len(b) for b in down_boxes],
        search=False, hn_rounds=1, hn_mine_annotated=False, window_dim=[96, 32], n_jobs=1,
    )  # fmt: skip
    assert detector.classes == ["car", "upside down"] and detector.shares_pyramid()
    test, test_boxes = _cars(15, start=80)
    test_down, test_down_boxes = _upside_down(*_cars(15, start=95))
    names = [["car"] * len(b) for b in test_boxes]
    names += [["upside down"] * len(b) for b in test_down_boxes]
    figures = pyimagesearch.evaluate_detector(
        detector, test + test_down, test_boxes + test_down_boxes, labels=names
    )
    assert figures["classes"]["car"]["average_precision"] > 0.9
    assert figures["classes"]["upside down"]["average_precision"] > 0.7
    best = detector.detect(test_down[0]).labels[0]
    assert best == "upside down"
    again = pyimagesearch.load_detector(detector.save(tmp_path / "two.json"))
    assert again.classes == detector.classes
    np.testing.assert_allclose(again.detect(test[0]).boxes, detector.detect(test[0]).boxes)
