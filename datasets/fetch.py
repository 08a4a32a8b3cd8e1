#!/usr/bin/env python
"""Fetch CALTECH-101 car_side and the 13 scene categories into the layout the config expects.

A thin script: the work is done by ``pyimagesearch.datatools.datasets`` (downloads with
pooch, checked archives, atomic installs) and its command line
``pyimagesearch.datatools.fetch_cli``. Run ``python datasets/fetch.py --help``; see
datasets/README.md. The project must be installed (``pip install -e .``).
"""

from __future__ import annotations

import sys

INSTALL = "install the project first: pip install -e . (in the repository root)"

try:
    import pyimagesearch.infrastructure.interrupt  # noqa: F401  (first: Ctrl-C while loading -> 130)
    from pyimagesearch.datatools.fetch_cli import main
except ModuleNotFoundError as exc:
    root = (exc.name or "").split(".")[0]
    what = "the pyimagesearch package" if root == "pyimagesearch" else f"module {exc.name!r}"
    print(f"error: cannot import {what}: {INSTALL}", file=sys.stderr)
    sys.exit(2)

if __name__ == "__main__":
    sys.exit(main())
