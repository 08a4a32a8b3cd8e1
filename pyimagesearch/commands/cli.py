"""What every command-line script shares: ``--conf``, logging, and one-line errors."""

from __future__ import annotations

import argparse
import functools
import logging
import math
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

from ..infrastructure.config import Config, load_config
from ..infrastructure.errors import ConfigError, PyImageSearchError, os_error_text
from ..infrastructure.interrupt import imports_done

#: Set by ``setup_logging(verbose=True)``: errors then show their traceback too.
_VERBOSE = False


class ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line: ``error: ...``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print one line (no usage block) and exit with status 2."""
        print(f"error: {one_line(message)} (see --help)", file=sys.stderr)
        sys.exit(2)


def _number(text: str, kind: type) -> Any:
    """``text`` as an int or a finite float, or an ``ArgumentTypeError``."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {'a whole number' if kind is int else 'a number'}, got {text!r}"
        ) from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _argument_type(name: str, kind: type, ok: Callable[[Any], bool], rule: str) -> Callable:
    """An argparse type: ``text`` read as ``kind``, refused unless ``ok`` (``rule`` says
    what is required, e.g. ``be >= 1``)."""

    def parse(text: str) -> Any:
        value = _number(text, kind)
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must {rule}, got {text}")
        return value

    parse.__name__ = parse.__qualname__ = name
    parse.__doc__ = (
        f"argparse type: a {'whole' if kind is int else 'finite'} number that must {rule}."
    )
    return parse


positive_int = _argument_type("positive_int", int, lambda v: v >= 1, "be >= 1")
nonneg_int = _argument_type("nonneg_int", int, lambda v: v >= 0, "be >= 0")
n_jobs = _argument_type(
    "n_jobs", int, lambda v: v != 0, "not be 0 (1 = in this process, -1 = all cores)"
)
probability = _argument_type("probability", float, lambda v: 0.0 <= v <= 1.0, "be between 0 and 1")
positive_float = _argument_type("positive_float", float, lambda v: v > 0, "be > 0")
nonneg_float = _argument_type("nonneg_float", float, lambda v: v >= 0, "be >= 0")


def parser(
    description: str, conf_required: bool = True, prog: str | None = None
) -> argparse.ArgumentParser:
    """An argument parser with the options every script takes."""
    p = ArgumentParser(description=description, prog=prog)
    p.add_argument("-c", "--conf", required=conf_required, help="path to the JSON config")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings only")
    return p


def add_execution_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--n-jobs", type=n_jobs, help="worker processes (-1 = all cores); overrides n_jobs"
    )
    p.add_argument(
        "--scheduler",
        help="Dask scheduler address (tcp://host:port) to run on; overrides "
        "$PYIMAGESEARCH_SCHEDULER (a config file may not name one)",
    )
    p.add_argument(
        "--scheduler-timeout",
        type=positive_float,
        metavar="SECONDS",
        help="give up when the scheduler does not answer (or has no worker) within this "
        "time; overrides scheduler_timeout (default 10)",
    )


def add_overwrite_option(p: argparse.ArgumentParser) -> None:
    """``--overwrite``: replace a store or model file that another config made."""
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the feature store / model file even when another config made it "
        "(by default that is refused: give each config its own output_dir)",
    )


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    """Log to stderr: INFO by default, DEBUG when verbose, WARNING when quiet."""
    global _VERBOSE
    _VERBOSE = _VERBOSE or verbose
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)


def configure(
    args: argparse.Namespace, settled: bool = True, several_classes: bool = False
) -> Config | None:
    """Set up logging and load the config named by ``--conf`` (with CLI overrides and,
    when ``settled``, the settings its model file records as chosen by the search).

    A config naming ``classes`` is refused unless the step handles ``several_classes``
    (the pipeline and detection do; the other steps work on one class)."""
    setup_logging(args.verbose, args.quiet)
    if not getattr(args, "conf", None):
        return None
    conf = load_config(args.conf)
    if conf["classes"] and not several_classes:
        raise ConfigError(
            f"{args.conf}: key 'classes': this step works on one class; `pyimagesearch "
            "pipeline` trains every class (each in output_dir/<class>/, with its own "
            "conf.json for this step) and `pyimagesearch detect` runs them all"
        )
    overrides = {}
    if getattr(args, "n_jobs", None) is not None:
        overrides["n_jobs"] = args.n_jobs
    if getattr(args, "scheduler", None):
        overrides["scheduler"] = args.scheduler
    if getattr(args, "scheduler_timeout", None) is not None:
        overrides["scheduler_timeout"] = args.scheduler_timeout
    conf = conf.replace(**overrides) if overrides else conf
    if settled:
        from ..orchestration.settings import settled_config

        conf = settled_config(conf)
    return conf


def one_line(text: str) -> str:
    """``text`` with its line breaks and runs of spaces collapsed into single spaces."""
    return " ".join(str(text).split())


def error_message(exc: BaseException) -> str:
    """What went wrong, in one line naming the file or key where the exception knows it."""
    if isinstance(exc, PyImageSearchError):
        text = str(exc)
    elif isinstance(exc, OSError):
        text = os_error_text(exc)
    elif isinstance(exc, KeyError):
        text = f"missing key {exc.args[0]!r}" if exc.args else "missing key"
    elif isinstance(exc, MemoryError):
        text = "out of memory"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"error: {one_line(text)}"


def _verbose() -> bool:
    """Whether the user asked for details (``-v``/``--verbose``)."""
    return _VERBOSE or any(a in ("-v", "--verbose") for a in sys.argv[1:])


def run_guarded(func: Callable[..., int | None], *args: Any) -> int:
    """Call ``func(*args)``; any error becomes one line on stderr and a non-zero status.

    Errors from the user's input (the toolkit's own) give status 2; disk, library and
    unexpected errors 1; an interrupt 130. ``--verbose`` prints the traceback as well.
    """
    imports_done()
    try:
        return func(*args) or 0
    except KeyboardInterrupt:
        print("interrupted: finished files are intact; re-run to continue", file=sys.stderr)
        return 130
    except Exception as exc:
        if _verbose():
            traceback.print_exc()
        print(error_message(exc), file=sys.stderr)
        return 2 if isinstance(exc, PyImageSearchError) else 1


def main(func: Callable[[], int | None]) -> Callable[[], None]:
    """Run a script's main: errors become one line on stderr and a non-zero exit status."""

    @functools.wraps(func)
    def wrapper() -> None:
        sys.exit(run_guarded(func))

    return wrapper
