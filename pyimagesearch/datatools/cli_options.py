"""Command-line options shared by the fetch commands, turned into one :class:`DownloadOptions`."""

from __future__ import annotations

import argparse

from ..commands.cli import nonneg_float, nonneg_int, positive_float, positive_int
from ..io.images import DEFAULT_MAX_PIXELS
from .download import DownloadOptions


def add_download_options(p: argparse.ArgumentParser) -> None:
    """The HTTP options shared by the commands that download images."""
    p.add_argument("--workers", type=positive_int, default=8, help="parallel downloads (default 8)")
    p.add_argument("--retries", type=nonneg_int, default=5, help="retries per request (default 5)")
    p.add_argument(
        "--backoff", type=nonneg_float, default=0.5, help="retry backoff factor (seconds)"
    )
    p.add_argument("--timeout", type=positive_float, default=60.0, help="read timeout (seconds)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument(
        "--max-image-pixels",
        type=positive_int,
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse images of more pixels, before decoding (default {DEFAULT_MAX_PIXELS:,})",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log details")


def download_options(args: argparse.Namespace) -> DownloadOptions:
    """The :class:`DownloadOptions` of a command line built with :func:`add_download_options`."""
    return DownloadOptions(
        workers=args.workers,
        retries=args.retries,
        backoff=args.backoff,
        timeout=(min(10.0, args.timeout), args.timeout),
        progress=not args.no_progress,
        max_image_pixels=args.max_image_pixels,
    )
