"""The fetchers (pyimagesearch.datatools) stay apart: the core never imports them."""

from __future__ import annotations

import ast
import subprocess
import sys

from .conftest import ROOT

PACKAGE = ROOT / "pyimagesearch"


def _imported_modules(path) -> set[str]:
    """Absolute names of the modules a file of the package imports (relative ones resolved)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    package = parts[:-1]  # the package a relative import starts from (also for __init__)
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names |= {f"{module}.{alias.name}" for alias in node.names}
    return names


def test_resolver_sees_relative_imports():
    """The check below would miss nothing: ``from ..datatools import x`` is resolved."""
    names = _imported_modules(PACKAGE / "datatools" / "coco_backgrounds.py")
    assert "pyimagesearch.sources.coco" in names  # ``from ..sources.coco import ...``
    assert "pyimagesearch.datatools.download" in names  # ``from .download import ...``


def test_no_core_module_imports_datatools():
    core = [p for p in PACKAGE.rglob("*.py") if "datatools" not in p.relative_to(PACKAGE).parts]
    assert len(core) > 30
    offenders = [
        str(p.relative_to(ROOT))
        for p in core
        if any(n.startswith("pyimagesearch.datatools") for n in _imported_modules(p))
    ]
    assert offenders == []


def test_the_pipeline_loads_without_datatools():
    code = (
        "import sys, pyimagesearch.pipeline, pyimagesearch.cli, pyimagesearch.sources.formats;"
        "print(sorted(m for m in sys.modules if m.startswith('pyimagesearch.datatools')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
