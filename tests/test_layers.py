"""The test layers: without the data sets, ``needs_data`` tests are skipped with the
reason (or refused with PYIMAGESEARCH_REQUIRE_DATA=1) and the unit tests still run."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import ROOT


def _pytest(
    tmp_path, *args: str, require: bool = False, **extra_env: str
) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYIMAGESEARCH_DATASETS": str(tmp_path / "no-data"), **extra_env}
    env.pop("PYIMAGESEARCH_REQUIRE_DATA", None)
    if require:
        env["PYIMAGESEARCH_REQUIRE_DATA"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *args],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
    )  # fmt: skip


def test_without_data_needs_data_tests_skip_with_the_reason(tmp_path):
    done = _pytest(tmp_path, "tests/test_hog.py")
    assert done.returncode == 0, done.stdout[-2000:]
    assert "real data sets not found at" in done.stdout
    assert " passed" in done.stdout and " skipped" in done.stdout


def test_ci_refuses_to_run_without_data(tmp_path):
    done = _pytest(tmp_path, "tests/test_layout.py", require=True)
    assert done.returncode != 0
    assert "real data sets not found at" in done.stdout + done.stderr


def test_ci_refuses_to_run_the_browser_test_without_chromium(tmp_path):
    """Without chromium the browser test is skipped, naming it, or with
    PYIMAGESEARCH_REQUIRE_DATA=1 (as in CI) the run fails instead."""
    gone = {"PYIMAGESEARCH_CHROMIUM": str(tmp_path / "no-chromium")}
    args = ("tests/test_html_report.py", "-m", "needs_browser")
    skipped = _pytest(tmp_path, *args, **gone)
    assert skipped.returncode == 0, skipped.stdout[-2000:]
    assert "chromium / chromedriver not installed" in skipped.stdout
    assert " skipped" in skipped.stdout and " passed" not in skipped.stdout
    done = _pytest(tmp_path, *args, require=True, **gone)
    assert done.returncode != 0
    assert "chromium / chromedriver not installed" in done.stdout + done.stderr
