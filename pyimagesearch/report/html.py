"""The run report as one HTML page to open from disk, look at and act on.

``report.html`` is ``report.md`` rendered by markdown-it (raw HTML off, so every text
from the run, paths and names included, arrives escaped) followed by a review of each
mining round: every mined window as its own PNG crop at its own aspect, and the
*suspects* (likely real objects) with a tick box each. "Save ticked" downloads an
excluded-windows file (``sources/excluded_windows.py``) that ``distraction_exclude_images``
accepts, so the next run leaves those images out. No server is needed: images are
referenced by paths relative to the page, CSS and JavaScript are inline.

A run of several classes renders its ``classes.md`` the same way
(:func:`write_markdown_page`), as the ``report.html`` beside it.
"""

from __future__ import annotations

import json
import logging
import re
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from markdown_it import MarkdownIt

from ..infrastructure.errors import ImageReadError
from ..io.atomic import write_text_atomic
from ..io.images import DEFAULT_MAX_PIXELS, read_image
from ..io.remote import RemoteOptions
from ..sources.excluded_windows import FORMAT, VERSION
from .gallery import write_png

if TYPE_CHECKING:
    from .review import Review

log = logging.getLogger(__name__)

#: Suspects shown per round (all of them are in ``suspects_round_NNN.csv``).
MAX_SUSPECTS = 120
#: Long side of a window crop on the page, in pixels.
CROP_LONG_SIDE = 144
#: Where the crops go, inside the report folder.
CROPS_DIR = "windows"
#: The file "Save ticked" downloads.
SAVE_NAME = "excluded_windows.json"
#: The characters ``markdown_escape`` escapes: those that start inline markup or end a
#: table cell (CommonMark accepts a backslash before any ASCII punctuation).
_MARKUP = re.compile(r"([\\`*_\[\]<>|&!#~])")


def write_html_report(
    out: str | Path,
    markdown_text: str,
    reviews: list[Review],
    title: str,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    remote: RemoteOptions | None = None,
) -> Path:
    """Write ``out/report.html`` (and the window crops it shows) from the report's data.

    ``markdown_text`` is the text of ``report.md``; ``reviews`` are the mining rounds'
    reviews the Markdown report was written from, so nothing is computed twice.
    """
    out = Path(out)
    crops = _CropWriter(out, max_pixels, remote)
    review_html = "".join(_round_html(review, crops) for review in reviews)
    page = page_html(
        title,
        markdown_html(markdown_text) + "\n" + _review_intro(reviews) + review_html,
        _SCRIPT.replace("__FORMAT__", json.dumps(FORMAT))
        .replace("__VERSION__", json.dumps(VERSION))
        .replace("__SAVE_NAME__", json.dumps(SAVE_NAME)),
    )
    return write_text_atomic(out / "report.html", page)


def write_markdown_page(path: str | Path, markdown_text: str, title: str) -> Path:
    """Write ``markdown_text`` rendered as a page of the report's style to ``path``."""
    return write_text_atomic(path, page_html(title, markdown_html(markdown_text)))


def markdown_html(markdown_text: str) -> str:
    """Markdown as HTML, raw HTML off: every text of the run arrives escaped."""
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown_text)


def markdown_escape(text: str) -> str:
    """``text`` from data as literal Markdown inline text: one line, its markup escaped."""
    return _MARKUP.sub(r"\\\1", " ".join(str(text).split()))


def page_html(title: str, body: str, script: str = "") -> str:
    """A whole page of the report's style around ``body`` (HTML), ``title`` escaped."""
    return _PAGE.format(title=escape(title), css=_CSS, body=body, script=script)


def _review_intro(reviews: list[Review]) -> str:
    if not reviews:
        return ""
    return (
        '<h2 id="review">Review the mined windows</h2>\n<p>Each window the detector '
        "scored on an object-free image, cut out at its own aspect. Tick the suspects that "
        f"are real objects, press <em>Save ticked</em> and name the saved "
        f"<code>{escape(SAVE_NAME)}</code> in the config: "
        f"<code>{escape(json.dumps({'distraction_exclude_images': SAVE_NAME}))[1:-1]}"
        "</code>. The next run leaves their images out.</p>\n"
        '<p class="bar"><button id="save" type="button" disabled>Save ticked</button> '
        '<span id="ticked">0 ticked</span></p>\n'
    )


def _round_html(review: Review, crops: _CropWriter) -> str:
    r = review.round
    top = [
        _figure(w, crops.write(w, f"round_{r:03d}_top_{i:03d}.png"))
        for i, w in enumerate(review.windows)
    ]
    shown = review.suspects[:MAX_SUSPECTS]
    suspects = [
        _figure(w, crops.write(w, f"round_{r:03d}_suspect_{i:03d}.png"), tick=r)
        for i, w in enumerate(shown)
    ]
    more = (
        f" (the {len(shown)} most confident shown; all in "
        f"<code>{escape(review.suspects_csv.name)}</code>)"
        if len(review.suspects) > len(shown)
        else ""
    )
    return (
        f'<h3 id="round-{r}">Round {r}</h3>\n'
        f"<h4>The {len(top)} most confident of {review.n_mined} mined windows</h4>\n"
        f'<div class="gallery">{"".join(top)}</div>\n'
        f"<h4>{len(review.suspects)} suspects{more}</h4>\n"
        + (
            f'<div class="gallery suspects">{"".join(suspects)}</div>\n'
            if suspects
            else "<p>None.</p>\n"
        )
    )


def _figure(window: dict, crop: tuple[str, int, int], tick: int | None = None) -> str:
    """One window: its crop at its own aspect, a caption, and a tick box for suspects."""
    src, width, height = crop
    source = Path(window["source"])
    name = f"{source.parent.name}/{source.name}"
    caption = f"{name} · p={window['probability']:.3f} · ×{window['scale']:.2f}"
    image = (
        f'<img src="{escape(src)}" width="{width}" height="{height}" '
        f'alt="{escape(name)}" title="{escape(str(source))} {escape(str(window["box"]))}">'
    )
    if tick is None:
        return f"<figure>{image}<figcaption>{escape(caption)}</figcaption></figure>"
    box = (
        f'<input type="checkbox" class="suspect" data-source="{escape(str(source))}" '
        f'data-box="{escape(json.dumps(window["box"]))}" data-round="{tick}">'
    )
    return (
        f"<figure><label>{image}<span>{box} this is a real object</span></label>"
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


class _CropWriter:
    """Writes window crops into ``out/windows``, reading each source image once in a row."""

    def __init__(self, out: Path, max_pixels: int, remote: RemoteOptions | None = None):
        self.folder = out / CROPS_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        for stale in self.folder.glob("round_*.png"):  # crops of an earlier report
            stale.unlink()
        self.max_pixels, self.remote = max_pixels, remote
        self._cache: dict[str, np.ndarray | None] = {}

    def _image(self, source: str) -> np.ndarray | None:
        if source not in self._cache:
            try:
                self._cache = {source: read_image(source, self.max_pixels, self.remote)}
            except ImageReadError as exc:
                log.warning("%s; its windows are drawn blank in report.html", exc)
                self._cache = {source: None}
        return self._cache[source]

    def write(self, window: dict, name: str) -> tuple[str, int, int]:
        """Write the crop of ``window``; its relative path, width and height."""
        crop = window_crop(self._image(window["source"]), window["box"])
        write_png(self.folder / name, crop)
        return f"{CROPS_DIR}/{name}", crop.shape[1], crop.shape[0]


def window_crop(
    image: np.ndarray | None, box, long_side: int = CROP_LONG_SIDE, fill: int = 128
) -> np.ndarray:
    """A BGR crop of ``box`` (x1, y1, x2, y2) resized to ``long_side``, at the box's aspect.

    The part of the box past the image border (windows may extend past it) is ``fill``
    gray, so the crop keeps the window's shape; an unreadable image gives a gray crop.
    """
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    w, h = max(1, x2 - x1), max(1, y2 - y1)
    canvas = np.full((h, w, 3), fill, np.uint8)
    if image is not None:
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        ih, iw = image.shape[:2]
        ax1, ay1, ax2, ay2 = max(0, x1), max(0, y1), min(iw, x2), min(ih, y2)
        if ax2 > ax1 and ay2 > ay1:
            canvas[ay1 - y1 : ay2 - y1, ax1 - x1 : ax2 - x1] = image[ay1:ay2, ax1:ax2]
    scale = long_side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(canvas, size, interpolation=interpolation)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<style>{css}</style>
</head>
<body>
<main>
{body}
</main>
<script>{script}</script>
</body>
</html>
"""

_CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #222; }
main { max-width: 1100px; margin: 0 auto; padding: 1em 1.5em 4em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; height: auto; }
code { background: #f3f3f3; padding: 0 0.2em; }
.gallery { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-end; }
.gallery figure { margin: 0; padding: 4px; border: 1px solid #ddd; font-size: 12px;
  width: min-content; min-width: 144px; overflow-wrap: anywhere; }
.gallery figure img { display: block; max-width: none; }
.gallery label { cursor: pointer; display: block; }
.gallery figure:has(input:checked) { border-color: #c00; background: #fee; }
.bar { position: sticky; top: 0; background: #fff; padding: 0.4em 0; }
"""

_SCRIPT = """
(function () {
  "use strict";
  var save = document.getElementById("save");
  if (!save) { return; }
  var counter = document.getElementById("ticked");
  function ticked() {
    return Array.prototype.slice.call(document.querySelectorAll("input.suspect:checked"));
  }
  document.addEventListener("change", function () {
    var n = ticked().length;
    counter.textContent = n + " ticked";
    save.disabled = n === 0;
  });
  save.addEventListener("click", function () {
    var windows = ticked().map(function (box) {
      return {
        source: box.dataset.source,
        box: JSON.parse(box.dataset.box),
        round: Number(box.dataset.round)
      };
    });
    var data = {format: __FORMAT__, version: __VERSION__, windows: windows};
    var blob = new Blob([JSON.stringify(data, null, 1) + "\\n"], {type: "application/json"});
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = __SAVE_NAME__;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
  });
})();
"""
