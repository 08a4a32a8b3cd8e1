"""Imported first by every script: Ctrl-C while the libraries load exits 130 in one line.

Loading OpenCV, scikit-learn and h5py takes about a second; a ``KeyboardInterrupt``
raised inside an import would print a traceback. Until :func:`imports_done` (called by
:func:`pyimagesearch.commands.cli.run_guarded`), Ctrl-C prints ``interrupted`` and exits with
status 130 at once: nothing has been written yet.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType

EXIT_INTERRUPTED = 130


def _interrupted(signum: int, frame: FrameType | None) -> None:
    """Say ``interrupted`` and leave at once (no cleanup is needed before any work)."""
    sys.stderr.write("interrupted\n")
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def guard_imports() -> None:
    """Exit 130 with one line on Ctrl-C (unless SIGINT is ignored, e.g. under nohup)."""
    if _in_main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted)


def imports_done() -> None:
    """Ctrl-C raises ``KeyboardInterrupt`` again, for the script's own clean-up."""
    if _in_main_thread() and signal.getsignal(signal.SIGINT) is _interrupted:
        signal.signal(signal.SIGINT, signal.default_int_handler)


guard_imports()
