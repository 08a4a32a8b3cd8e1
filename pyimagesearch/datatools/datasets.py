"""Fetch CALTECH-101 car_side and the 13 scene categories into the layout the config expects.

The library behind ``datasets/fetch.py`` (its command line is :mod:`.fetch_cli`).
Sources, in order: a mirror folder (either already in the final layout, or holding the
original archives), then URLs, downloaded with ``pooch`` into ``DEST/_downloads``
(known md5s checked by pooch, retries, a temp file renamed into place). Archives are
checked against their published md5 where one is known; every member of an archive is
checked first (no absolute paths or ``..``, no links out, no devices or FIFOs: the whole
archive is refused otherwise), then only ``car_side`` and the 13 scene folders are
extracted with ``pooch.Untar`` / ``pooch.Unzip``. Every data set is built in a temp
folder beside its destination and renamed into place, so an interrupted or failed run
never leaves a half-filled folder. Messages go to the ``logging`` logger of this module.
See datasets/README.md.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import pooch
import requests

from ..infrastructure.errors import PyImageSearchError
from ..io.atomic import write_text_atomic
from .download import DownloadOptions, file_digests

log = logging.getLogger(__name__)

CALTECH = "caltech101"
SCENES = "sceneclass13"
DATASETS = (CALTECH, SCENES)
ENV = "PYIMAGESEARCH_DATASETS"

#: Where the car_side images and annotations sit below ``DEST/caltech101``.
CAR_IMAGES = PurePosixPath("101_ObjectCategories/car_side")
CAR_ANNOTATIONS = PurePosixPath("Annotations/car_side")
CAR_COUNT = 123

#: The 13 scene categories and their image counts in the standard set (3,859 in total).
SCENE_COUNTS = {
    "CALsuburb": 241,
    "MITcoast": 360,
    "MITforest": 328,
    "MIThighway": 260,
    "MITinsidecity": 308,
    "MITmountain": 374,
    "MITopencountry": 410,
    "MITstreet": 292,
    "MITtallbuilding": 356,
    "PARoffice": 215,
    "bedroom": 216,
    "kitchen": 210,
    "livingroom": 289,
}
SCENE_TOTAL = sum(SCENE_COUNTS.values())
IMAGE_SUFFIXES = (".jpg", ".jpeg")

#: Published md5 of the original archives (CaltechDATA record mzrjq-6wc02). A file with
#: one of these names is refused when its md5 differs.
KNOWN_MD5 = {
    "101_ObjectCategories.tar.gz": "b224c7392d521a49829488ab0f1120d9",
    "Annotations.tar": "6f83eeb1f24d99cab4eb377263132c91",
}
#: md5 values reported by third-party loaders, unverified: a mismatch only warns.
REPORTED_MD5 = {"scene_categories.zip": "58828019197b2ad0a7efb472e7a85c2a"}

#: Default URLs (unverified from here: these machines have no internet).
DEFAULT_URLS = {
    CALTECH: ("https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip?download=1",),
    SCENES: ("http://www-cvr.ai.uiuc.edu/ponce_grp/data/scene_categories/scene_categories.zip",),
}
#: Archives inside an archive (the caltech-101 zip holds the two tarballs).
NESTED_ARCHIVES = {CALTECH: ("101_ObjectCategories.tar.gz", "Annotations.tar"), SCENES: ()}
DOWNLOADS = "_downloads"
RECORD = "checksums.json"


class FetchError(PyImageSearchError):
    """A data set cannot be fetched: bad checksum, missing archive, unreachable URL, ..."""


# ---------------------------------------------------------------------------- names


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _scene_aliases() -> dict[str, str]:
    aliases = {}
    for cat in SCENE_COUNTS:
        aliases[_norm(cat)] = cat
        aliases[_norm(re.sub(r"^(MIT|CAL|PAR)", "", cat))] = cat  # Coast, Suburb, Office...
    return aliases


#: Folder names of other releases (``Coast``, ``Suburb``, ``LivingRoom``, ``inside_city``,
#: ...) mapped to the 13 names, compared lower-case without punctuation.
SCENE_ALIASES = _scene_aliases()


def scene_category(folder_name: str) -> str | None:
    """The scene category a folder of an archive or mirror holds, or None (e.g. ``store``)."""
    return SCENE_ALIASES.get(_norm(folder_name))


def safe_member_path(name: str, archive: Path) -> PurePosixPath:
    """A member name as a relative path; refuse absolute paths and ``..``."""
    clean = name.replace("\\", "/")
    path = PurePosixPath(clean)
    if clean.startswith("/") or re.match(r"^[A-Za-z]:", clean) or ".." in path.parts:
        raise FetchError(
            f"{archive.name}: unsafe member {name!r} (absolute path or '..'); refusing to extract"
        )
    return path


def check_tar_member(member: tarfile.TarInfo, archive: Path, dest: Path) -> None:
    """Refuse a member that lands or points outside ``dest``, or is a device or FIFO.

    Python's extraction filter ``data`` (3.12, 3.11.4) decides; older Pythons get the
    same rules checked here.
    """
    safe_member_path(member.name, archive)
    data_filter = getattr(tarfile, "data_filter", None)
    try:
        if data_filter is not None:
            data_filter(member, str(dest))
        else:
            _check_link_and_type(member)
    except tarfile.TarError as exc:  # FilterError and its kinds
        raise FetchError(
            f"{archive.name}: unsafe member {member.name!r} ({exc}); refusing to extract"
        ) from None


def _check_link_and_type(member: tarfile.TarInfo) -> None:
    """The ``data`` filter's link and type rules, for Pythons without it."""
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise tarfile.TarError("a device or FIFO")
    if not (member.issym() or member.islnk()):
        return
    link = member.linkname.replace("\\", "/")
    if link.startswith("/") or re.match(r"^[A-Za-z]:", link):
        raise tarfile.TarError(f"link to the absolute path {link!r}")
    base = PurePosixPath(member.name).parent if member.issym() else PurePosixPath()
    depth = 0
    for part in (base / link).parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            raise tarfile.TarError(f"link {link!r} points outside the destination")


def _junk(path: PurePosixPath) -> bool:
    return "__MACOSX" in path.parts or path.name.startswith("._")


def caltech_target(member: PurePosixPath) -> PurePosixPath | None:
    """Where an archive member goes below ``caltech101/``, or None to leave it out."""
    if _junk(member) or len(member.parts) < 3 or member.parent.name != "car_side":
        return None
    top, suffix = member.parent.parent.name, member.suffix.lower()
    if top == "101_ObjectCategories" and suffix in IMAGE_SUFFIXES:
        return CAR_IMAGES / member.name
    if top == "Annotations" and suffix == ".mat":
        return CAR_ANNOTATIONS / member.name
    return None


def scene_target(member: PurePosixPath) -> PurePosixPath | None:
    """Where an archive member goes below ``sceneclass13/``, or None to leave it out."""
    if _junk(member) or len(member.parts) < 2 or member.suffix.lower() not in IMAGE_SUFFIXES:
        return None
    cat = scene_category(member.parent.name)
    return PurePosixPath(cat, member.name) if cat else None


TARGETS: dict[str, Callable[[PurePosixPath], PurePosixPath | None]] = {
    CALTECH: caltech_target,
    SCENES: scene_target,
}
#: The folders a fetch installs (replacing only these in an existing data set folder).
LEAVES = {CALTECH: (CAR_IMAGES, CAR_ANNOTATIONS), SCENES: tuple(map(PurePosixPath, SCENE_COUNTS))}


# ---------------------------------------------------------------------------- check


@dataclass
class CheckResult:
    """What ``check_*`` found: ``missing`` folders fail, ``warnings`` do not."""

    dataset: str
    summary: str = ""
    missing: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def standard(self) -> bool:
        """Complete and with the standard counts."""
        return self.ok and not self.warnings


def _list(folder: Path, suffixes: Iterable[str]) -> list[Path]:
    if not folder.is_dir():
        return []
    suffixes = tuple(suffixes)
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")
    )


def _folder_problem(folder: Path, files: list[Path], label: str) -> str | None:
    if not folder.is_dir():
        return label
    return None if files else f"{label} (empty)"


def check_caltech(folder: Path, label: str = CALTECH) -> CheckResult:
    """Check ``folder`` (a ``caltech101`` folder): 123 car_side images + 123 .mat files."""
    res = CheckResult(CALTECH)
    if not folder.is_dir():
        res.missing.append(label)
        res.summary = f"{label}: missing"
        return res
    images = _list(folder / CAR_IMAGES, IMAGE_SUFFIXES)
    notes = _list(folder / CAR_ANNOTATIONS, (".mat",))
    for sub, files in ((CAR_IMAGES, images), (CAR_ANNOTATIONS, notes)):
        problem = _folder_problem(folder / sub, files, f"{label}/{sub}")
        if problem:
            res.missing.append(problem)
    res.counts = {"images": len(images), "annotations": len(notes)}
    res.summary = (
        f"{label}: {len(images)} car_side images, {len(notes)} annotations "
        f"(standard: {CAR_COUNT} + {CAR_COUNT})"
    )
    if res.missing:
        return res
    if len(images) != CAR_COUNT or len(notes) != CAR_COUNT:
        res.warnings.append(
            f"{label}: {len(images)} images and {len(notes)} annotations; the standard "
            f"car_side set has {CAR_COUNT} of each"
        )
    image_ids = {p.stem.removeprefix("image_") for p in images}
    note_ids = {p.stem.removeprefix("annotation_") for p in notes}
    unpaired = (
        ("images without annotation", image_ids - note_ids),
        ("annotations without image", note_ids - image_ids),
    )
    for what, ids in unpaired:
        if ids:
            shown = ", ".join(sorted(ids)[:5]) + (" ..." if len(ids) > 5 else "")
            res.warnings.append(f"{label}: {len(ids)} {what} (numbers {shown})")
    return res


def check_scenes(folder: Path, label: str = SCENES) -> CheckResult:
    """Check ``folder`` (a ``sceneclass13`` folder): the 13 categories, 3,859 images."""
    res = CheckResult(SCENES)
    if not folder.is_dir():
        res.missing.append(label)
        res.summary = f"{label}: missing"
        return res
    differ = []
    for cat, expected in SCENE_COUNTS.items():
        files = _list(folder / cat, IMAGE_SUFFIXES)
        problem = _folder_problem(folder / cat, files, f"{label}/{cat}")
        if problem:
            res.missing.append(problem)
        elif len(files) != expected:
            differ.append(f"{cat} {len(files)} (standard {expected})")
        res.counts[cat] = len(files)
    total = sum(res.counts.values())
    found = sum(1 for n in res.counts.values() if n)
    res.summary = (
        f"{label}: {found} of {len(SCENE_COUNTS)} categories, {total:,} images "
        f"(standard: {SCENE_TOTAL:,})"
    )
    extra = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in SCENE_COUNTS)
    if extra:
        res.warnings.append(
            f"{label}: extra folders {', '.join(extra)} are read as distraction images too"
        )
    if not res.missing and total != SCENE_TOTAL:
        res.warnings.append(
            f"{label}: {total:,} images, the standard set has {SCENE_TOTAL:,}: {'; '.join(differ)}"
        )
    return res


CHECKS: dict[str, Callable[..., CheckResult]] = {CALTECH: check_caltech, SCENES: check_scenes}


def check_dataset(dataset: str, dest: Path) -> CheckResult:
    """Check ``dest/<dataset>``."""
    return CHECKS[dataset](Path(dest) / dataset, dataset)


# ---------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class Source:
    """Where a data set comes from: ``folder`` (final layout), ``archives`` or ``urls``."""

    kind: str
    paths: tuple[Path, ...] = ()
    urls: tuple[str, ...] = ()

    def __str__(self) -> str:
        items = self.urls if self.kind == "urls" else tuple(map(str, self.paths))
        return f"{self.kind} {', '.join(items)}"


def _archives_in(folders: Iterable[Path], match: Callable[[str], bool]) -> list[Path]:
    return [
        p
        for d in folders
        if d.is_dir()
        for p in sorted(d.iterdir())
        if p.is_file() and match(p.name)
    ]


def _is_archive(name: str) -> bool:
    return name.lower().endswith((".zip", ".tar", ".tar.gz", ".tgz"))


LOOKED_FOR = {
    CALTECH: (
        f"caltech101/{CAR_IMAGES}, 101_ObjectCategories.tar.gz + Annotations.tar, "
        "or a caltech-101 zip"
    ),
    SCENES: "sceneclass13/<13 categories> or scene_categories.zip",
}


def find_in_mirror(dataset: str, mirror: Path) -> Source | None:
    """The data set in a mirror folder: final layout first, then the original archives."""
    mirror = Path(mirror)
    search = [mirror, mirror / dataset, mirror / DOWNLOADS]
    if dataset == CALTECH:
        for base in (mirror / CALTECH, mirror / "caltech-101", mirror):
            if (base / CAR_IMAGES).is_dir():
                return Source("folder", (base,))
        search.append(mirror / "caltech-101")
        names = NESTED_ARCHIVES[CALTECH]
        tars = {n: _archives_in(search, lambda s, n=n: s == n) for n in names}
        if all(tars.values()):
            return Source("archives", tuple(found[0] for found in tars.values()))
        zips = _archives_in(search, lambda s: re.fullmatch(r"caltech.?101.*\.zip", s.lower()))
        if zips:
            return Source("archives", (zips[0],))
        have = [n for n, found in tars.items() if found]
        if have:
            lack = [n for n in names if n not in have]
            raise FetchError(
                f"missing archive: {mirror} holds {have[0]} but not {lack[0]} "
                "(or a caltech-101 zip with both)"
            )
        return None
    # a named folder counts with any category in it (a partial copy fails its check
    # later, naming what is missing); the mirror itself needs most of the 13
    for base, least in ((mirror / SCENES, 1), (mirror / "scene_categories", 1), (mirror, 7)):
        if not base.is_dir():
            continue
        cats = {scene_category(p.name) for p in base.iterdir() if p.is_dir()} - {None}
        if len(cats) >= least:
            return Source("folder", (base,))
    found = _archives_in(search, lambda s: "scene" in s.lower() and _is_archive(s))
    found.sort(key=lambda p: p.name != "scene_categories.zip")
    return Source("archives", (found[0],)) if found else None


def resolve_source(
    dataset: str,
    mirror: Path | None = None,
    urls: Sequence[str] | None = None,
) -> Source:
    """The mirror when it holds the data set; else the URLs (``urls`` or the defaults).

    With a mirror that lacks the data set, URLs are used only when given explicitly.
    """
    if mirror is not None:
        if not Path(mirror).is_dir():
            raise FetchError(f"mirror folder not found: {mirror}")
        found = find_in_mirror(dataset, Path(mirror))
        if found:
            return found
        if not urls:
            flag = "--url-caltech" if dataset == CALTECH else "--url-scenes"
            raise FetchError(
                f"missing archives: {dataset} is not in mirror {mirror} (looked for "
                f"{LOOKED_FOR[dataset]}); pass {flag} URL to download it instead"
            )
    return Source("urls", urls=tuple(urls or DEFAULT_URLS[dataset]))


# ---------------------------------------------------------------------------- checksums


def verify_archive(path: Path, md5s: Mapping[str, str] = KNOWN_MD5) -> tuple[int, str, str]:
    """Size, sha256 and md5 of an archive; refuse it when its name has a known md5 that differs."""
    size, sha256, md5 = file_digests(path)
    expected = md5s.get(path.name)
    if expected and md5 != expected.lower():
        raise FetchError(f"{path.name}: md5 mismatch: expected {expected.lower()}, got {md5}")
    reported = REPORTED_MD5.get(path.name)
    if expected:
        log.info(f"  {path.name}: md5 {md5} ok ({size:,} bytes)")
    else:
        log.info(f"  {path.name}: {size:,} bytes, sha256 {sha256}, md5 {md5} (no published md5)")
        if reported and md5 != reported:
            log.warning(f"{path.name}: md5 {md5} differs from the third-party-reported {reported}")
    return size, sha256, md5


# ---------------------------------------------------------------------------- extraction


@contextlib.contextmanager
def _data_filter_default() -> Iterator[None]:
    """Python's ``data`` extraction filter as tarfile's default while pooch extracts.

    pooch passes ``filter="data"`` itself from Python 3.12; on 3.11.4+ the documented
    ``TarFile.extraction_filter`` default gives the same (no links out, no devices, no
    archive owners or high mode bits). The members were checked before in any case.
    """
    data_filter = getattr(tarfile, "data_filter", None)
    if data_filter is None or tarfile.TarFile.extraction_filter is not None:
        yield
        return
    tarfile.TarFile.extraction_filter = staticmethod(data_filter)
    try:
        yield
    finally:
        tarfile.TarFile.extraction_filter = None


@contextlib.contextmanager
def _quiet_pooch() -> Iterator[None]:
    """Keep pooch's own INFO lines (it prints them to stderr) out of the output."""
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _member_files(
    path: Path, dest: Path
) -> tuple[list[str], type[pooch.Untar] | type[pooch.Unzip]]:
    """The regular files of an archive, every member checked first; and pooch's extractor.

    A member that is absolute, has ``..``, links outside or is a device refuses the whole
    archive. Directories and links inside are never extracted (nor returned).
    """
    names = []
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for item in zf.infolist():
                safe_member_path(item.filename, path)
                if not (item.is_dir() or stat.S_ISLNK(item.external_attr >> 16)):
                    names.append(item.filename)
        return names, pooch.Unzip
    with tarfile.open(path, "r:*") as tf:
        for member in tf:
            check_tar_member(member, path, dest)
            if member.isfile():
                names.append(member.name)
    return names, pooch.Untar


def _prefix(name: str) -> str:
    """The folder of a member, as pooch's ``members`` (a prefix): one entry per folder."""
    folder = name.rpartition("/")[0]
    return folder or name


class _Extraction:
    """Extract the wanted members of archives into ``data``; nested archives go to ``work``."""

    def __init__(self, dataset: str, data: Path, work: Path, md5s: Mapping[str, str]):
        self.dataset, self.data, self.work, self.md5s = dataset, data, work, md5s
        self.target = TARGETS[dataset]
        self.nested = NESTED_ARCHIVES[dataset]
        self.written = 0
        self.ignored: set[str] = set()
        self.folders: dict[str, str] = {}  # installed folder -> archive folder it came from
        self.planned: set[PurePosixPath] = set()

    def archive(self, path: Path, depth: int = 0) -> None:
        """Check every member of ``path``, then extract the wanted ones with pooch."""
        try:
            names, extractor = _member_files(path, self.data)
            nested, wanted = [], {}
            for name in names:
                member = safe_member_path(name, path)
                if depth == 0 and member.name in self.nested and not _junk(member):
                    nested.append(name)
                    continue
                rel = self.plan(path, member)
                if rel is not None:
                    wanted[name] = rel
            members = sorted(set(nested) | {_prefix(n) for n in wanted})
            if not members:
                return
            out = Path(tempfile.mkdtemp(dir=self.work, prefix="x"))
            with _data_filter_default(), _quiet_pooch():
                extractor(members=members, extract_dir=str(out))(str(path), "download", None)
            for name in nested:
                inner = self._extracted(out, name, path)
                verify_archive(inner, self.md5s)
                self.archive(inner, depth + 1)
                inner.unlink()
            for name, rel in wanted.items():
                dest = self.data / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self._extracted(out, name, path), dest)
                self.written += 1
            shutil.rmtree(out, ignore_errors=True)
        except (
            tarfile.TarError,
            zipfile.BadZipFile,
            EOFError,
            zlib.error,
            gzip.BadGzipFile,
        ) as exc:
            raise FetchError(f"{path.name}: not a readable zip or tar archive ({exc})") from exc

    def plan(self, archive: Path, path: PurePosixPath) -> PurePosixPath | None:
        """Where a member goes below ``data`` (None: left out); refuse two that collide."""
        rel = self.target(path)
        if rel is None:
            scene_image = self.dataset == SCENES and path.suffix.lower() in IMAGE_SUFFIXES
            if scene_image and not _junk(path):
                self.ignored.add(path.parent.name)
            return None
        source_folder = path.parent.as_posix()
        seen = self.folders.setdefault(rel.parent.as_posix(), source_folder)
        if seen != source_folder:
            raise FetchError(
                f"{archive.name}: both {seen!r} and {source_folder!r} map to {rel.parent}"
            )
        if rel in self.planned:
            raise FetchError(f"{archive.name}: two members extract to {rel}")
        self.planned.add(rel)
        return rel

    @staticmethod
    def _extracted(out: Path, name: str, archive: Path) -> Path:
        """The extracted file of member ``name``: a regular file, or the archive is refused."""
        path = out / name
        try:
            regular = stat.S_ISREG(path.lstat().st_mode)
        except FileNotFoundError:
            regular = False
        if not regular:
            raise FetchError(f"{archive.name}: member {name!r} did not extract as a file")
        return path


def extract_archives(
    dataset: str,
    archives: Sequence[Path],
    data: Path,
    work: Path,
    md5s: Mapping[str, str] = KNOWN_MD5,
) -> int:
    """Verify and extract the wanted files of ``archives`` below ``data``; return the count."""
    job = _Extraction(dataset, data, work, md5s)
    for path in archives:
        if not Path(path).is_file():
            raise FetchError(f"missing archive: {path}")
        verify_archive(Path(path), md5s)
        job.archive(Path(path))
    if job.ignored:
        log.info(f"  left out folders not among the 13: {', '.join(sorted(job.ignored))}")
    return job.written


def stage_from_folder(dataset: str, base: Path, data: Path, link: str | None = None) -> int:
    """Copy (or hard-link / symlink) the wanted files of a final-layout folder below ``data``."""
    pairs: list[tuple[Path, PurePosixPath]] = []
    if dataset == CALTECH:
        for sub, suffixes in ((CAR_IMAGES, IMAGE_SUFFIXES), (CAR_ANNOTATIONS, (".mat",))):
            pairs += [(p, sub / p.name) for p in _list(base / sub, suffixes)]
    else:
        seen: dict[str, str] = {}
        for folder in sorted(p for p in base.iterdir() if p.is_dir()):
            cat = scene_category(folder.name)
            if cat is None:
                continue
            if seen.setdefault(cat, folder.name) != folder.name:
                raise FetchError(f"{base}: both {seen[cat]!r} and {folder.name!r} map to {cat}")
            pairs += [(p, PurePosixPath(cat, p.name)) for p in _list(folder, IMAGE_SUFFIXES)]
    fell_back = False
    for src, rel in pairs:
        dest = data / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if link == "sym":
            os.symlink(src.resolve(), dest)
            continue
        if link == "hard" and not fell_back:
            try:
                os.link(src, dest)
                continue
            except OSError as exc:
                log.warning(f"cannot hard-link from {base} ({exc.strerror}); copying instead")
                fell_back = True
        shutil.copyfile(src, dest)
    return len(pairs)


# ---------------------------------------------------------------------------- downloads


def archive_name(url: str, dataset: str, index: int = 0) -> str:
    """The file name a URL is saved under in ``_downloads``."""
    name = unquote(PurePosixPath(urlsplit(url).path).name)
    return name if name and name not in (".", "..") else f"{dataset}-{index}"


def _read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        record = {}
    return record if isinstance(record, dict) else {}


def _known_hash(name: str, url: str, path: Path, md5s: Mapping[str, str], record: dict):
    """pooch's ``known_hash`` of one archive: the published md5, else the recorded sha256.

    A file already in ``_downloads`` is reused when it has the published md5 (pooch
    checks), or matches the size and sha256 recorded for the same URL; a file that
    does not match its record is deleted and fetched again (and not checked after).
    """
    if md5s.get(name):
        return f"md5:{md5s[name].lower()}"
    old = record.get(name, {}) if isinstance(record.get(name), dict) else {}
    if not path.is_file() or old.get("url") != url or not old.get("sha256"):
        return None
    size, sha256, _ = file_digests(path)
    if size == old.get("bytes") and sha256 == str(old["sha256"]).lower():
        return f"sha256:{sha256}"
    log.info(f"  {name}: differs from the recorded download; fetching again")
    path.unlink()
    return None


def _download_error(name: str, url: str, exc: Exception) -> FetchError:
    """One line for a failed pooch download: a checksum mismatch, an HTTP or network error."""
    if isinstance(exc, ValueError):  # pooch: the known hash does not match (file deleted)
        found = re.search(r"expected (?:\w+:)?([0-9a-fA-F]+) but got ([0-9a-fA-F]+)", str(exc))
        if found:
            expected, got = found.group(1).lower(), found.group(2).lower()
            return FetchError(
                f"{name}: md5 mismatch: expected {expected}, got {got} "
                f"(downloaded from {url}; deleted)"
            )
    response = getattr(exc, "response", None)
    if isinstance(exc, requests.HTTPError) and response is not None:
        reason = f"HTTP {response.status_code} {response.reason or ''}".strip()
    else:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
    return FetchError(f"cannot download {url}: {reason}")


def download_archives(
    dataset: str,
    urls: Sequence[str],
    downloads: Path,
    md5s: Mapping[str, str] = KNOWN_MD5,
    options: DownloadOptions | None = None,
) -> list[Path]:
    """Download (or reuse) each URL into ``downloads`` with pooch; record and check sums.

    pooch checks the published md5 (``known_hash``), retries ``options.retries`` times
    (waiting 1, 2, ... 10 s) and renames a complete, checked file into place; sizes and
    checksums of every archive are recorded in ``downloads/checksums.json``.
    """
    options = options or DownloadOptions()
    downloads.mkdir(parents=True, exist_ok=True)
    record_path = downloads / RECORD
    record = _read_record(record_path)
    names = [archive_name(url, dataset, i) for i, url in enumerate(urls)]
    if len(set(names)) != len(names):
        raise FetchError(f"{dataset}: two URLs would be saved under the same file name")
    registry = {n: _known_hash(n, u, downloads / n, md5s, record) for n, u in zip(names, urls)}
    fetcher = pooch.create(
        path=downloads,
        base_url="",
        registry=registry,
        urls=dict(zip(names, urls)),
        retry_if_failed=options.retries,
    )
    downloader = pooch.HTTPDownloader(
        progressbar=options.progress,
        timeout=options.timeout,
        headers={"User-Agent": "pyimagesearch-fetch"},
    )
    paths = []
    for name, url in zip(names, urls):
        log.info(f"  {url} -> {downloads / name}")
        actions: list[str] = []

        def note_action(fname: str, action: str, _pooch: object, into=actions) -> str:
            into.append(action)  # "fetch" = reused, "download"/"update" = downloaded
            return fname

        try:
            with _quiet_pooch():
                path = Path(fetcher.fetch(name, processor=note_action, downloader=downloader))
        except (ValueError, requests.RequestException) as exc:
            if record.pop(name, None) is not None:
                write_text_atomic(record_path, json.dumps(record, indent=1, sort_keys=True))
            raise _download_error(name, url, exc) from exc
        size, sha256, md5 = verify_archive(path, md5s)
        state = "reused" if actions == ["fetch"] else "downloaded"
        log.info(f"  {state} {path.name}")
        record[name] = {"url": url, "bytes": size, "sha256": sha256, "md5": md5}
        paths.append(path)
    write_text_atomic(record_path, json.dumps(record, indent=1, sort_keys=True))
    return paths


# ---------------------------------------------------------------------------- fetch


def install(data: Path, target: Path, leaves: Iterable[PurePosixPath], trash: Path) -> None:
    """Move the built tree into place: one rename, or leaf folder by leaf folder.

    When ``target`` exists (e.g. a full CALTECH-101 with other categories), only the
    leaf folders this tool owns are replaced; everything else in it is left alone.
    """
    if not target.exists():
        os.rename(data, target)
        return
    trash.mkdir(parents=True, exist_ok=True)
    for i, leaf in enumerate(leaves):
        new, old = data / leaf, target / leaf
        old.parent.mkdir(parents=True, exist_ok=True)
        if old.exists() or old.is_symlink():
            os.rename(old, trash / f"{i}")
        os.rename(new, old)


def fetch_dataset(
    dataset: str,
    dest: Path,
    mirror: Path | None = None,
    urls: Sequence[str] | None = None,
    link: str | None = None,
    md5s: Mapping[str, str] = KNOWN_MD5,
    force: bool = False,
    options: DownloadOptions | None = None,
) -> CheckResult:
    """Put ``dataset`` under ``dest`` in the expected layout; return the check of the result.

    ``md5s`` maps archive file names to their expected md5 (tests pass their own);
    ``options`` (retries, timeout, progress bar) drive the download of URLs.
    A data set already complete with the standard counts is left as it is unless ``force``.
    """
    if dataset not in DATASETS:
        raise FetchError(f"unknown data set {dataset!r} (choose from {', '.join(DATASETS)})")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / dataset
    if not force and target.exists():
        current = check_dataset(dataset, dest)
        if current.standard:
            log.info(f"{dataset}: already complete in {target}; skipped (--force to fetch again)")
            return current
    source = resolve_source(dataset, mirror, urls)
    if source.kind == "folder" and source.paths[0].resolve() == target.resolve():
        raise FetchError(f"{dataset}: the mirror folder is the destination itself ({target})")
    if link and source.kind != "folder":
        log.warning(f"{dataset}: --link applies to a mirror in the final layout; extracting copies")
    log.info(f"{dataset}: from {source}")
    archives = source.paths
    if source.kind == "urls":
        downloads = dest / DOWNLOADS
        archives = tuple(download_archives(dataset, source.urls, downloads, md5s, options))
    staging = Path(tempfile.mkdtemp(dir=dest, prefix=f".{dataset}.tmp-"))
    try:
        data, work = staging / "data", staging / "work"
        data.mkdir()
        work.mkdir()
        if source.kind == "folder":
            count = stage_from_folder(dataset, source.paths[0], data, link)
        else:
            count = extract_archives(dataset, archives, data, work, md5s)
        built = CHECKS[dataset](data, dataset)
        if not built.ok:
            raise FetchError(
                f"{dataset}: {source} gave no {', '.join(built.missing)} ({count} files found)"
            )
        install(data, target, LEAVES[dataset], staging / "replaced")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info(f"{dataset}: {count} files in {target}")
    return check_dataset(dataset, dest)
