"""The package's layout holds: layers import downwards only (no cycles), the low layers
never read the config, and the fetchers (pyimagesearch.datatools) stay apart."""

from __future__ import annotations

import ast
import subprocess
import sys

from .conftest import ROOT

PACKAGE = ROOT / "pyimagesearch"


def _imported_modules(path, runtime_only: bool = False) -> set[str]:
    """Absolute names of the modules a file of the package imports (relative ones resolved);
    with ``runtime_only``, not those imported under ``if TYPE_CHECKING:``."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    package = parts[:-1]  # the package a relative import starts from (also for __init__)
    names = set()
    tree = ast.parse(path.read_text())
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
        for n in ast.walk(node)
    }
    for node in ast.walk(tree):
        if runtime_only and id(node) in typing_only:
            continue
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
        "import sys, pyimagesearch.orchestration.pipeline, pyimagesearch.commands.cli,"
        " pyimagesearch.sources.formats;"
        "print(sorted(m for m in sys.modules if m.startswith('pyimagesearch.datatools')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


#: Subpackages that group modules of different layers: each of their modules is a unit.
GROUPS = ("infrastructure", "orchestration")


def _unit(module: str) -> str:
    """``pyimagesearch.detection.detector`` -> ``detection`` (the top-level part);
    ``pyimagesearch.infrastructure.config`` -> ``infrastructure.config``."""
    parts = module.split(".")
    if len(parts) > 2 and parts[1] in GROUPS:
        return f"{parts[1]}.{parts[2]}"
    return parts[1] if len(parts) > 1 else parts[0]


def _unit_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        here = _unit(name.replace(".__init__", ""))
        for target in _imported_modules(path, runtime_only=True):
            if target.startswith("pyimagesearch.") and _unit(target) not in (here, *GROUPS):
                graph.setdefault(here, set()).add(_unit(target))
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, or None (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) is None


def test_subpackages_import_each_other_without_cycles():
    graph = _unit_graph()
    assert {"detection", "features", "model", "mining"} <= set(graph)
    assert _cycle(graph) is None


def test_low_layers_never_read_the_config():
    """The descriptor (and its kernels), box geometry, detector and I/O take plain values."""
    graph = _unit_graph()
    for layer in (
        "descriptor",
        "infrastructure.geometry",
        "detection",
        "io",
        "infrastructure.parallel",
    ):
        assert "infrastructure.config" not in graph.get(layer, set()), layer


#: The package's layers, lowest first: a module imports only modules of lower layers (or
#: of its own), also under ``if TYPE_CHECKING:``. A new top-level module must be placed.
LAYERS = (
    "infrastructure.errors",
    "infrastructure.numbers",
    "infrastructure.geometry",
    "io",
    "descriptor",
    "infrastructure.options",
    "sources",
    "infrastructure.config",
    "infrastructure.provenance",
    "infrastructure.parallel",
    "infrastructure.checkpoint",
    "infrastructure.interrupt",
    "features",
    "model",
    "detection",
    "mining",
    "evaluation",
    "report",
    "orchestration.settings",
    "orchestration.search",
    "orchestration.split_record",
    "orchestration.pipeline",
    "orchestration.classes",
    "orchestration.stress_suite",
    "api",
    "infrastructure.config_reference",
    "commands",
    "datatools",
)


def _typed_unit_graph() -> dict[str, set[str]]:
    """As ``_unit_graph``, with the imports made only for type checking."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        here = _unit(name.replace(".__init__", ""))
        for target in _imported_modules(path):
            unit = _unit(target)
            if target.startswith("pyimagesearch.") and unit not in (here, "__version__", *GROUPS):
                graph.setdefault(here, set()).add(unit)
    return graph


def test_every_module_imports_only_lower_layers():
    graph = _typed_unit_graph()
    units = set(graph) | {u for deps in graph.values() for u in deps}
    assert units - {"pyimagesearch"} <= set(LAYERS), "place new modules in LAYERS"
    upward = [
        f"{unit} -> {dep}"
        for unit, deps in graph.items()
        if unit != "pyimagesearch"
        for dep in deps
        if LAYERS.index(dep) > LAYERS.index(unit)
    ]
    assert upward == []
    # and the low layers do not even name the config's type
    for layer in (
        "infrastructure.errors",
        "infrastructure.geometry",
        "io",
        "descriptor",
        "infrastructure.options",
        "sources",
    ):
        assert "infrastructure.config" not in graph.get(layer, set()), layer


def test_the_layer_check_sees_type_checking_imports(tmp_path):
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..infrastructure.config import Config\n"
    )
    (tmp_path / "pyimagesearch" / "io").mkdir(parents=True)
    (tmp_path / "pyimagesearch" / "io" / "probe.py").write_text(source)
    path = tmp_path / "pyimagesearch" / "io" / "probe.py"
    parts = list(path.relative_to(tmp_path).with_suffix("").parts)
    assert parts[0] == "pyimagesearch"
    import tests.test_layout as layout

    old = layout.ROOT
    layout.ROOT = tmp_path
    try:
        assert "pyimagesearch.infrastructure.config" in _imported_modules(path)
        assert "pyimagesearch.infrastructure.config" not in _imported_modules(
            path, runtime_only=True
        )
    finally:
        layout.ROOT = old


#: Modules below the orchestration that read the config by key: the config itself, the
#: one mapping of keys to typed options (``Config.options``) and the provenance record
#: (which keeps every value). A typed options constructor (a ``from_config`` method, e.g.
#: ``HogParams.from_config``) may read keys anywhere.
CONFIG_READERS = {
    "infrastructure/config.py",
    "infrastructure/options.py",
    "infrastructure/provenance.py",
}
#: Names the package gives a config (``Config`` or its dict).
CONFIG_NAMES = {"conf", "cfg"}


def _config_reads(source: str) -> list[str]:
    """Where ``source`` reads a config by key: ``conf[...]``, ``conf.get(...)`` or
    ``conf.<key>`` (``Config`` also answers keys as attributes), outside ``from_config``."""
    from pyimagesearch.infrastructure.config import SCHEMA

    keys = set(SCHEMA["properties"]) | {"get", "items", "keys", "values", "to_dict"}
    tree = ast.parse(source)
    constructors = {
        id(n)
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef) and f.name == "from_config"
        for n in ast.walk(f)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in constructors or not isinstance(node, (ast.Subscript, ast.Attribute)):
            continue
        value = node.value
        if not (isinstance(value, ast.Name) and value.id in CONFIG_NAMES):
            continue
        if isinstance(node, ast.Subscript):
            found.append((node.lineno, f"line {node.lineno}: {value.id}[...]"))
        elif node.attr in keys:
            found.append((node.lineno, f"line {node.lineno}: {value.id}.{node.attr}"))
    return [text for _, text in sorted(found)]


def test_the_config_read_check_finds_key_reads():
    source = (
        "def f(conf, options):\n"
        "    a = conf['window_dim']\n    b = conf.get('seed')\n    c = conf.window_dim\n"
        "    d = conf.options.window.step\n    e = conf.path\n    return options['x']\n"
        "class P:\n    @classmethod\n    def from_config(cls, conf):\n"
        "        return cls(conf['orientations'])\n"
    )
    assert _config_reads(source) == [
        "line 2: conf[...]",
        "line 3: conf.get",
        "line 4: conf.window_dim",
    ]


def test_below_the_orchestration_nothing_reads_the_config_by_key():
    """The steps (extraction, training, detection, mining, evaluation, the report) read
    ``conf.options``, the typed options of their stage, never the config's keys: one
    mapping of keys to fields (``infrastructure/options.py``), one source of defaults."""
    low = set(LAYERS[: LAYERS.index("orchestration.settings")])
    checked, offenders = 0, {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        unit = _unit(".".join(["pyimagesearch", *path.relative_to(PACKAGE).with_suffix("").parts]))
        if unit.replace(".__init__", "") not in low or rel in CONFIG_READERS:
            continue
        checked += 1
        reads = _config_reads(path.read_text(encoding="utf-8"))
        if reads:
            offenders[rel] = reads
    assert checked > 30
    assert offenders == {}
    for rel in CONFIG_READERS:  # the exceptions name real modules
        assert (PACKAGE / rel).is_file(), rel
