"""report.html: opened from disk in a real headless Chromium, suspects ticked and saved,
and the saved file read back through the config to leave those images out; the page of
several classes, made from the same run's report, read back against ``classes.md``."""

from __future__ import annotations

import json
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import cv2
import numpy as np
import pytest

from pyimagesearch.infrastructure.config import config_from_dict, load_config
from pyimagesearch.infrastructure.errors import ConfigError
from pyimagesearch.report.html import SAVE_NAME, window_crop, write_html_report
from pyimagesearch.sources.distractions import split_distractions
from pyimagesearch.sources.excluded_windows import FORMAT

from .conftest import CHROMEDRIVER, CHROMIUM, cars_conf_dict

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A real pipeline run (one mining round, small slices), its report folder and config."""
    from pyimagesearch.orchestration.pipeline import run_pipeline

    tmp = tmp_path_factory.mktemp("html")
    raw = cars_conf_dict(
        tmp,
        num_distraction_images=60,
        hn_num_distraction_images=20,
        eval_num_distraction_images=20,
        hn_rounds=1,
        hn_mine_annotated=False,
        report_compare_annotated_mining=False,
        box_regression_samples=0,
        # low, so the round surely lists several suspects to tick
        hn_suspect_probability=0.6,
        n_jobs=2,
    )
    out = run_pipeline(config_from_dict(raw), progress=False)
    return out, raw


@pytest.fixture
def browser(tmp_path):
    """Debian's chromium through its chromedriver, downloading into ``tmp_path/downloads``
    (for ``needs_browser`` tests: conftest skips them, or fails the run in CI, without)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.downloads = downloads
    yield driver
    driver.quit()


def _wait_for(path: Path, timeout: float = 10) -> Path:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.is_file() and path.stat().st_size:
            return path
        time.sleep(0.1)
    raise AssertionError(f"{path} was not downloaded")


@pytest.mark.needs_data
@pytest.mark.needs_browser
@pytest.mark.slow
def test_report_in_browser_tick_save_and_exclude(report, browser, tmp_path):
    out, raw = report
    page = out / "report.html"
    suspects = json.loads((out / "suspects_round_001.json").read_text())
    assert len(suspects) >= 2

    browser.get(page.as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    assert browser.title == "Detector report: car_side"
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, "
        "i.naturalWidth, i.naturalHeight]);"
    )
    srcs = {src for src, *_ in images}
    # the plots, the sheets and the window crops are all on the page, and all load
    assert {"pr_curves.png", "rounds.png", "template.png", "hard_negatives_round_001.png"} <= srcs
    broken = [src for src, complete, w, _ in images if not (complete and w > 0)]
    assert not broken, broken
    assert sum(src.startswith("windows/") for src in srcs) >= 2
    # each suspect is its own crop at its own box's aspect (boxes cut by the image
    # border are narrower than window_dim's 3:1), long side 144 px
    shown = browser.execute_script(
        "return Array.from(document.querySelectorAll('input.suspect')).map(b => [b.dataset.box, "
        "b.closest('figure').querySelector('img').naturalWidth, "
        "b.closest('figure').querySelector('img').naturalHeight]);"
    )
    assert [json.loads(box) for box, *_ in shown] == [s["box"] for s in suspects[:120]]
    aspects = set()
    for s, (_, w, h) in zip(suspects, shown):
        x1, y1, x2, y2 = (int(round(v)) for v in s["box"])
        bw, bh = x2 - x1, y2 - y1
        assert max(w, h) == 144 and (w > h) == (bw > bh), (s, w, h)
        assert abs(min(w, h) - 144 * min(bw, bh) / max(bw, bh)) <= 0.5, (s, w, h)
        aspects.add(round(bw / bh, 2))
    assert len(aspects) > 1  # not all forced to one shape
    # the result table made it through the Markdown renderer
    cells = browser.execute_script(
        "return Array.from(document.querySelectorAll('table')[0].rows).map("
        "r => r.cells[0].textContent);"
    )
    assert cells[1] == "average precision (IoU ≥ 0.5)"

    boxes = browser.find_elements("css selector", "input.suspect")
    assert len(boxes) == min(len(suspects), 120)
    save = browser.find_element("id", "save")
    assert not save.is_enabled()  # nothing ticked yet
    boxes[0].click()
    boxes[1].click()
    assert browser.find_element("id", "ticked").text == "2 ticked"
    save.click()
    saved = json.loads(_wait_for(browser.downloads / SAVE_NAME).read_text())
    expected = [{"source": s["source"], "box": s["box"], "round": 1} for s in suspects[:2]]
    assert saved == {"format": FORMAT, "version": 1, "windows": expected}

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors

    # the saved file, named in the config, leaves those images out of every distraction use
    ticked = {s["source"] for s in suspects[:2]}
    before = split_distractions(config_from_dict(raw).options.distractions)
    assert ticked <= {str(p) for p in before.pool}
    conf_path = tmp_path / "next.json"
    conf_path.write_text(
        json.dumps({**raw, "distraction_exclude_images": str(browser.downloads / SAVE_NAME)})
    )
    conf = load_config(conf_path)
    assert sorted(conf["distraction_exclude_images"]) == sorted(ticked)
    after = split_distractions(conf.options.distractions)
    used = {str(p) for p in (*after.pool, *after.evaluation)}
    assert not ticked & used
    assert len(after.pool) + len(after.evaluation) == (
        len(before.pool) + len(before.evaluation) - len(ticked)
    )
    assert not ticked & {str(p) for p in after.mining(1)}


def _two_classes(report, tmp: Path):
    """The run's output and model as both classes' of a two-class run (no training: the
    classes' page reads their reports), the raccoon's last-round APs changed so a mix-up
    of the classes shows; the configs as ``write_classes_report`` takes them."""
    out, raw = report
    top = tmp / "out"
    configs = []
    for name in ("car", "raccoon"):
        folder = top / name
        shutil.copytree(out.parent, folder)
        shutil.copy(raw["classifier_path"], folder / "model.json")
        conf = config_from_dict(
            {**raw, "object_name": name, "output_dir": str(folder),
             "classifier_path": str(folder / "model.json")}
        )  # fmt: skip
        configs.append((name, conf))
    history_path = top / "raccoon" / "report" / "history.json"
    history = json.loads(history_path.read_text())
    history[-1]["average_precision"] /= 2
    history_path.write_text(json.dumps(history))
    last = top / "raccoon" / "report" / f"evaluation_round_{history[-1]['round']:03d}.json"
    last.write_text(json.dumps({**json.loads(last.read_text()), "average_precision_70": 0.25}))
    bundle = {**raw, "output_dir": str(top), "classifier_path": str(tmp / "bundle.json")}
    return config_from_dict({**bundle, "classes": ["car", "raccoon"]}), configs


class _Page(HTMLParser):
    """A page's title, headings, table rows (cell texts) and links (href and src)."""

    def __init__(self, text: str):
        super().__init__()
        self.title, self.headings, self.rows, self.links = "", [], [], []
        self._tag, self._cells, self._in_cell = None, [], False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self._tag = tag
        if tag == "tr":
            self._cells = []
        elif tag in ("td", "th"):
            self._cells.append("")
            self._in_cell = True
        self.links += [v for k, v in attrs if k in ("href", "src") and v is not None]

    def handle_endtag(self, tag):
        if tag == "tr":
            self.rows.append(self._cells)
        self._tag = None
        self._in_cell = self._in_cell and tag not in ("td", "th")

    def handle_data(self, data):
        if self._in_cell:
            self._cells[-1] += data
        elif self._tag == "title":
            self.title += data
        elif self._tag == "h2":
            self.headings.append(data)


def _markdown_rows(text: str) -> list[list[str]]:
    """The cells of a Markdown file's table rows (not the ``|---|`` line)."""
    rows = [line.strip().strip("|").split("|") for line in text.splitlines()]
    rows = [[c.strip().replace("**", "") for c in r] for r in rows if len(r) > 1]
    return [r for r in rows if set(r[0]) != {"-"}]


@pytest.mark.needs_data
@pytest.mark.slow
def test_the_page_of_several_classes_shows_each_class_as_classes_md(report, tmp_path):
    from pyimagesearch.orchestration.classes import write_classes_report

    conf, configs = _two_classes(report, tmp_path)
    folder = write_classes_report(conf, configs)
    markdown = (folder / "classes.md").read_text()
    page = _Page((folder / "report.html").read_text())
    assert page.title == "Detector report: 2 classes"
    assert page.headings == ["car", "raccoon"]
    # the table: the same cells as classes.md's, row by row, each class's own figures
    rows = _markdown_rows(markdown)
    assert page.rows == rows and len(rows) == 4
    header, car, raccoon, mean = rows
    assert header[:4] == ["class", "AP (IoU 0.5)", "AP (IoU 0.7)", "mean IoU"]
    for row, (name, c) in zip((car, raccoon), configs):
        report_folder = Path(c["output_dir"]) / "report"
        last = json.loads((report_folder / "history.json").read_text())[-1]
        evaluation = json.loads(
            (report_folder / f"evaluation_round_{last['round']:03d}.json").read_text()
        )
        assert row[0] == name
        assert [float(x) for x in row[1:7]] == pytest.approx(
            [last["average_precision"], evaluation["average_precision_70"],
             evaluation["mean_iou"], last["precision"], last["recall"],
             last["false_positives_per_image"]], abs=5e-4,
        )  # fmt: skip
        assert row[7:] == [
            f"{last['min_probability']:g}", str(c["window_dim"]), str(last["round"])
        ]  # fmt: skip
    assert car[1] != raccoon[1] and raccoon[2] == "0.250"
    assert mean[0] == "mean" and not any(mean[3:])
    assert float(mean[1]) == pytest.approx((float(car[1]) + float(raccoon[1])) / 2, abs=1e-3)
    assert float(mean[2]) == pytest.approx((float(car[2]) + 0.25) / 2, abs=1e-3)
    # every link and picture is relative and leads to a file: each class's template
    # and its own report.html and report.md (the page's blank icon is inline, data:,)
    for link in page.links:
        parts = urlsplit(link)
        if link == "data:,":
            continue
        assert not parts.scheme and not parts.netloc and not link.startswith("/"), link
        assert (folder / unquote(parts.path)).is_file(), link
    for name in ("car", "raccoon"):
        for file in ("template.png", "report.html", "report.md"):
            assert f"../{name}/report/{file}" in page.links


def test_markdown_text_is_escaped(tmp_path):
    """Names from the config reach the page as text, never as markup."""
    text = "# Detector report: <script>alert(1)</script>\n\n| a | b |\n|---|---|\n"
    text += "| <b>x</b> | 1 |\n"
    page = write_html_report(tmp_path, text, [], "Detector report: <script>").read_text()
    assert "<script>alert" not in page and "<b>x</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<title>Detector report: &lt;script&gt;</title>" in page
    assert "<td>&lt;b&gt;x&lt;/b&gt;</td>" in page


def test_window_crop_keeps_the_box_aspect_past_the_border():
    image = np.arange(40 * 50 * 3, dtype=np.uint32).reshape(40, 50, 3).astype(np.uint8)
    # 30x10 box, 5 px past the left border: the crop is 3:1, gray where there is no image
    crop = window_crop(image, [-5, 10, 25, 20], long_side=30, fill=7)
    assert crop.shape == (10, 30, 3)
    assert np.all(crop[:, :5] == 7)
    assert np.array_equal(crop[:, 5:], image[10:20, 0:25])
    # resized to the long side at the same aspect
    big = window_crop(image, [0, 0, 48, 16], long_side=144)
    assert big.shape == (48, 144, 3)
    assert np.array_equal(
        big, cv2.resize(image[0:16, 0:48], (144, 48), interpolation=cv2.INTER_LINEAR)
    )
    assert window_crop(None, [0, 0, 20, 40], long_side=40).shape == (40, 20, 3)


def _excluded_conf(tmp_path, content) -> Path:
    file = tmp_path / "excluded.json"
    file.write_text(content if isinstance(content, str) else json.dumps(content))
    path = tmp_path / "conf.json"
    path.write_text(json.dumps(cars_conf_dict(tmp_path, distraction_exclude_images=str(file))))
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ([], "not an excluded-windows file saved by report.html (at top level: [] is not"),
        (
            {"format": FORMAT, "version": 1, "windows": [{"source": "a.jpg", "box": [1, 2, 3]}]},
            "(at .windows[0].box: [1, 2, 3] is too short)",
        ),
        (
            {"format": "other", "version": 1, "windows": []},
            f"(at .format: '{FORMAT}' was expected)",
        ),
    ],
)
def test_bad_excluded_windows_file_is_refused_by_name(tmp_path, content, message):
    path = _excluded_conf(tmp_path, content)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert text.startswith(f"{path}: key 'distraction_exclude_images': {tmp_path}/excluded.json")
    assert message in text


def test_missing_excluded_windows_file(tmp_path):
    path = tmp_path / "conf.json"
    path.write_text(json.dumps(cars_conf_dict(tmp_path, distraction_exclude_images="gone.json")))
    with pytest.raises(ConfigError, match=r"'distraction_exclude_images': gone.json: file does"):
        load_config(path)
