"""What every command-line script shares: ``--conf``, logging, and one-line errors."""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Callable

from .config import Config, load_config
from .errors import PyImageSearchError


def parser(description: str, conf_required: bool = True) -> argparse.ArgumentParser:
    """An argument parser with the options every script takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("-c", "--conf", required=conf_required, help="path to the JSON config")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings only")
    return p


def add_execution_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n-jobs", type=int, help="worker processes (-1 = all cores); overrides n_jobs")
    p.add_argument(
        "--scheduler",
        help="Dask scheduler address (tcp://host:port) to run on; overrides "
        "$PYIMAGESEARCH_SCHEDULER (a config file may not name one)",
    )


def add_download_options(p: argparse.ArgumentParser) -> None:
    """The HTTP options shared by the commands that download images."""
    p.add_argument("--workers", type=int, default=8, help="parallel downloads (default 8)")
    p.add_argument("--retries", type=int, default=5, help="retries per request (default 5)")
    p.add_argument("--backoff", type=float, default=0.5, help="retry backoff factor (seconds)")
    p.add_argument("--timeout", type=float, default=60.0, help="read timeout (seconds)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="log details")


def download_kwargs(args: argparse.Namespace) -> dict:
    """The keyword arguments of the download functions, from ``add_download_options``."""
    return {
        "workers": args.workers,
        "retries": args.retries,
        "backoff": args.backoff,
        "timeout": (min(10.0, args.timeout), args.timeout),
        "progress": not args.no_progress,
    }


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    """Log to stderr: INFO by default, DEBUG when verbose, WARNING when quiet."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)


def configure(args: argparse.Namespace) -> Config | None:
    """Set up logging and load the config named by ``--conf`` (with CLI overrides)."""
    setup_logging(args.verbose, args.quiet)
    if not getattr(args, "conf", None):
        return None
    conf = load_config(args.conf)
    overrides = {}
    if getattr(args, "n_jobs", None) is not None:
        overrides["n_jobs"] = args.n_jobs
    if getattr(args, "scheduler", None):
        overrides["scheduler"] = args.scheduler
    return conf.replace(**overrides) if overrides else conf


def main(func: Callable[[], int | None]) -> Callable[[], None]:
    """Run a script's main: user errors become one line on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper() -> None:
        try:
            code = func()
        except PyImageSearchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("interrupted: finished files are intact; re-run to continue", file=sys.stderr)
            sys.exit(130)
        sys.exit(code or 0)

    return wrapper
