"""Fetch CALTECH-101 car_side and the 13 scene categories into the layout the config expects.

Examples:
    python datasets/fetch.py --dest /data/ds --mirror ../shared/datasets      # copy a mirror
    python datasets/fetch.py --dest /data/ds --mirror ~/archives             # original archives
    python datasets/fetch.py --dest /data/ds                                 # download (URLs)
    python datasets/fetch.py --dest /data/ds --check                         # validate a copy

The command line of :mod:`.datasets` (``datasets/fetch.py`` only calls :func:`main`): the
library logs what it does; this module prints it (info on stdout, ``warning: ...`` on
stderr) and turns errors into one line ``error: ...``.

Exit status: 0 = done (warnings possible), 1 = ``--check`` found folders missing,
2 = bad input (one line ``error: ...``: bad checksum, missing archive, unreachable URL).
See datasets/README.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..commands.cli import error_message, nonneg_float, nonneg_int
from ..infrastructure.errors import PyImageSearchError
from ..infrastructure.interrupt import imports_done
from . import datasets as ds
from .download import DownloadOptions


class _ConsoleHandler(logging.Handler):
    """Print the library's messages as the command always did: info on stdout, warnings
    on stderr as ``warning: ...`` (streams looked up per message, so captures work)."""

    def emit(self, record: logging.LogRecord) -> None:
        msg = self.format(record)
        if record.levelno >= logging.WARNING:
            print(f"warning: {msg}", file=sys.stderr, flush=True)
        else:
            print(msg, flush=True)


def run_check(dest: Path, datasets: Sequence[str] = ds.DATASETS) -> int:
    """Print a summary of ``dest``; 0 when nothing is missing, else 1 (and one error line)."""
    results = [ds.check_dataset(name, dest) for name in datasets]
    for res in results:
        print(res.summary, flush=True)
        for msg in res.warnings:
            print(f"warning: {msg}", file=sys.stderr, flush=True)
    missing = [m for res in results for m in res.missing]
    if missing:
        print(f"error: {dest} is incomplete: missing {', '.join(missing)}", file=sys.stderr)
        return 1
    print(f"ok: {dest} holds {', '.join(datasets)}", flush=True)
    return 0


def parse_args(argv: Sequence[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    """The command line."""
    ap = argparse.ArgumentParser(
        prog=prog or "fetch.py",
        description=__doc__.split("\n\n")[0],
        epilog="Layout, checksums and manual download: datasets/README.md",
    )
    env = os.environ.get(ds.ENV)
    ap.add_argument(
        "--dest",
        default=env,
        required=not env,
        metavar="DIR",
        help=f"data sets folder (default ${ds.ENV}); point datasets_root at it",
    )
    ap.add_argument("--only", choices=ds.DATASETS, help="fetch or check only this data set")
    ap.add_argument(
        "--mirror",
        metavar="FOLDER",
        help="local folder in the final layout (e.g. ../shared/datasets) or holding the "
        "original archives; preferred over URLs",
    )
    ap.add_argument(
        "--link",
        choices=("hard", "sym"),
        help="hard-link or symlink the files of a final-layout mirror instead of copying",
    )
    ap.add_argument(
        "--url-caltech",
        action="append",
        metavar="URL",
        help="CALTECH-101 archive URL, repeatable: the caltech-101 zip, or "
        "101_ObjectCategories.tar.gz and Annotations.tar (default: CaltechDATA zip)",
    )
    ap.add_argument(
        "--url-scenes",
        action="append",
        metavar="URL",
        help="scene_categories.zip URL (default: the UIUC Ponce-group address)",
    )
    ap.add_argument(
        "--check", action="store_true", help="only validate DIR (counts, folders); no fetch"
    )
    ap.add_argument(
        "--force", action="store_true", help="fetch even when DIR already holds a data set"
    )
    ap.add_argument(
        "--retries", type=nonneg_int, default=5, help="download retries per archive (default 5)"
    )
    ap.add_argument(
        "--backoff",
        type=nonneg_float,
        default=0.5,
        help="accepted for compatibility; pooch waits 1, 2, ... 10 s between retries",
    )
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return ap.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    """Check or fetch as the command line says; the exit status."""
    dest = Path(args.dest).expanduser()
    if dest.exists() and not dest.is_dir():
        raise ds.FetchError(f"{dest}: --dest is not a folder")
    datasets = [args.only] if args.only else list(ds.DATASETS)
    if args.check:
        return run_check(dest, datasets)
    urls = {ds.CALTECH: args.url_caltech, ds.SCENES: args.url_scenes}
    options = DownloadOptions(
        workers=1, retries=args.retries, backoff=args.backoff, progress=not args.quiet
    )
    for name in datasets:
        ds.fetch_dataset(
            name,
            dest,
            mirror=Path(args.mirror).expanduser() if args.mirror else None,
            urls=urls[name],
            link=args.link,
            force=args.force,
            options=options,
        )
    code = run_check(dest, datasets)
    if code == 0:
        print(f'use it: export {ds.ENV}={dest.resolve()}  (or "datasets_root" in the config)')
    return code


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """0 = done, 1 = ``--check`` found folders missing, 2 = error (one line)."""
    imports_done()
    args = parse_args(argv, prog)
    logger = logging.getLogger(ds.__name__)
    handler = _ConsoleHandler()
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        return run(args)
    except (PyImageSearchError, OSError) as exc:
        print(error_message(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was half-installed; re-run to resume", file=sys.stderr)
        return 130
    except Exception as exc:  # a library's own error: one line too
        print(error_message(exc), file=sys.stderr)
        return 1
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
