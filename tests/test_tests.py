"""Every test checks something: no test passes by asserting nothing, or only inside a loop
over something that may be empty.

The rule, applied to every ``test_*`` function of every ``tests/**/test_*.py`` module
(parsed with :mod:`ast`, not run, so it covers the data and slow layers too):

1. A *check* is an ``assert`` statement; a call of ``pytest.raises``, ``pytest.warns``,
   ``pytest.deprecated_call`` or ``pytest.fail``; a call of any function or method whose
   name starts with ``assert`` (``np.testing.assert_allclose``, ``mock.assert_called_once``)
   or with ``check_`` / ``_check`` / ``_assert``; or a call of a function defined at the
   top level of the same test module (or imported into it from another module of
   ``tests/``) whose own body holds a check, found transitively.
2. At least one check must run whatever the data: outside the body of every ``for``
   (or comprehension) over an iterable that may be empty, and outside ``while`` bodies.
   Loops over non-empty literals (``[...]``, ``(...)``, ``range(3)``, a name the test
   bound to a non-empty literal, or ``zip``/``enumerate``/``sorted`` of those) always
   run, so checks inside them count; checks in ``if``/``else``, ``with`` and ``try``
   bodies count. A test whose checks all sit in a loop over a glob, a fixture's list or
   a file's lines must assert that the collection is not empty first.

Fixtures are not inspected: a test must check something itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

#: Calls that are checks by their (last) name.
CHECK_CALLS = {"raises", "warns", "deprecated_call", "fail"}
CHECK_PREFIXES = ("assert", "check_", "_check", "_assert")

Function = ast.FunctionDef | ast.AsyncFunctionDef


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _is_direct_check(node: ast.AST) -> bool:
    if isinstance(node, ast.Assert):
        return True
    if isinstance(node, ast.Call):
        name = _call_name(node)
        return name in CHECK_CALLS or name.startswith(CHECK_PREFIXES)
    return False


def _literal_names(function: Function) -> set[str]:
    """Names the function binds (only) to non-empty list/tuple/set/dict literals."""
    bound: dict[str, bool] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    literal = _non_empty_literal(node.value, set())
                    bound[target.id] = bound.get(target.id, True) and literal
    return {name for name, literal in bound.items() if literal}


def _non_empty_literal(node: ast.AST, names: set[str]) -> bool:
    """Whether iterating ``node`` surely yields at least one item."""
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return bool(node.elts)
    if isinstance(node, ast.Dict):
        return bool(node.keys)
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (str, bytes)) and bool(node.value)
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name, args = node.func.id, node.args
        if name == "range":
            values = [a.value for a in args if isinstance(a, ast.Constant)]
            return len(values) == len(args) and len(range(*values)) > 0
        if name in ("enumerate", "sorted", "reversed", "list", "tuple") and args:
            return _non_empty_literal(args[0], names)
        if name == "zip" and args:
            return all(_non_empty_literal(a, names) for a in args)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr in ("items", "keys", "values"):
            return _non_empty_literal(node.func.value, names)
    return False


class _Module:
    """The top-level functions of one test module and the helpers it imports from tests/."""

    def __init__(self, path: Path, modules: dict[Path, _Module] | None = None):
        self.path = path
        self.tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        self.functions: dict[str, Function] = {
            node.name: node
            for node in self.tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        self.imported: dict[str, tuple[Path, str]] = {}
        for node in self.tree.body:
            if isinstance(node, ast.ImportFrom) and node.level and node.module:
                base = path.parent
                for _ in range(node.level - 1):
                    base = base.parent
                source = base.joinpath(*node.module.split(".")).with_suffix(".py")
                if source.is_file() and TESTS in source.parents:
                    for alias in node.names:
                        self.imported[alias.asname or alias.name] = (source, alias.name)
        self._modules = modules if modules is not None else {}
        self._checking: dict[str, bool] = {}

    def _helper(self, name: str) -> tuple[_Module, Function] | None:
        if name in self.functions:
            return self, self.functions[name]
        if name in self.imported:
            source, original = self.imported[name]
            if source not in self._modules:
                self._modules[source] = _Module(source, self._modules)
            other = self._modules[source]
            if original in other.functions:
                return other, other.functions[original]
        return None

    def helper_checks(self, name: str, seen: frozenset = frozenset()) -> bool:
        """Whether calling the top-level function ``name`` runs a check (transitively)."""
        found = self._helper(name)
        if found is None:
            return False
        module, function = found
        key = (module.path, function.name)
        if key in seen:
            return False
        return any(
            module.is_check(node, seen | {key})
            for node in ast.walk(function)
            if node is not function
        )

    def is_check(self, node: ast.AST, seen: frozenset = frozenset()) -> bool:
        if _is_direct_check(node):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return self.helper_checks(node.func.id, seen)
        return False

    def checks_outside_loops(self, function: Function) -> list[ast.AST]:
        """The checks of ``function`` that run however many items its loops see (rule 2)."""
        names = _literal_names(function)
        out: list[ast.AST] = []
        self._collect(function.body, names, out)
        return out

    def _collect(self, body: list[ast.stmt], names: set[str], out: list[ast.AST]) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue  # nested definitions run only if called
            if isinstance(stmt, (ast.For, ast.AsyncFor)):
                self._expressions([stmt.iter], names, out)
                if _non_empty_literal(stmt.iter, names):
                    self._collect(stmt.body, names, out)
                self._collect(stmt.orelse, names, out)  # runs when the loop ends
            elif isinstance(stmt, ast.While):
                self._expressions([stmt.test], names, out)
                self._collect(stmt.orelse, names, out)
            elif isinstance(stmt, ast.If):
                self._expressions([stmt.test], names, out)
                self._collect(stmt.body, names, out)
                self._collect(stmt.orelse, names, out)
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                self._expressions([item.context_expr for item in stmt.items], names, out)
                self._collect(stmt.body, names, out)
            elif isinstance(stmt, ast.Try):
                self._collect(stmt.body, names, out)
                for handler in stmt.handlers:
                    self._collect(handler.body, names, out)
                self._collect(stmt.orelse, names, out)
                self._collect(stmt.finalbody, names, out)
            else:
                self._expressions([stmt], names, out)

    def _expressions(self, nodes: list[ast.AST], names: set[str], out: list[ast.AST]) -> None:
        """Checks in simple statements or expressions; not in a comprehension's element
        over a possibly empty iterable, nor in a lambda's body."""
        for node in nodes:
            if isinstance(node, ast.Lambda):
                continue
            if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
                gens = node.generators
                self._expressions([g.iter for g in gens], names, out)
                if all(_non_empty_literal(g.iter, names) and not g.ifs for g in gens):
                    parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
                    self._expressions(parts, names, out)
                continue
            if self.is_check(node):
                out.append(node)
            if isinstance(node, ast.Assert):
                continue  # the assert is the check; what it tests needs no more
            self._expressions(list(ast.iter_child_nodes(node)), names, out)


def _test_functions(module: _Module) -> list[Function]:
    return [f for name, f in module.functions.items() if name.startswith("test")]


def _test_modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("test_*.py") if "__pycache__" not in p.parts)


def test_every_test_checks_something_whatever_the_data():
    modules: dict[Path, _Module] = {}
    paths = _test_modules()
    assert len(paths) > 20 and Path(__file__).resolve() in paths
    offenders, n_tests = [], 0
    for path in paths:
        module = modules.setdefault(path, _Module(path, modules))
        for function in _test_functions(module):
            n_tests += 1
            if not module.checks_outside_loops(function):
                where = f"{path.relative_to(TESTS.parent)}:{function.lineno}"
                offenders.append(f"{where} {function.name}")
    assert n_tests > 300
    assert not offenders, (
        "tests that check nothing, or only inside loops over what may be empty "
        "(see this module's docstring):\n  " + "\n  ".join(offenders)
    )


# ---- the rule itself, on hand-written tests --------------------------------------------------

HELPERS = """
def _refused(result):
    assert result.returncode == 2

def _indirect(result):
    _refused(result)

def _quiet(result):
    print(result)
"""


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ("assert 1 + 1 == 2", True),
        ("np.testing.assert_allclose(a, b)", True),
        ("with pytest.raises(ValueError):\n        f()", True),
        ("_refused(run())", True),
        ("_indirect(run())", True),  # a helper of a helper
        ("x = f()\n    print(x)", False),
        ("_quiet(run())", False),  # a helper that checks nothing
        ("for p in CARS.glob('*.jpg'):\n        assert p.stat().st_size", False),
        ("for p in paths:\n        _refused(p)", False),
        ("assert paths\n    for p in paths:\n        assert p", True),
        ("for x in [1, 2]:\n        assert x", True),
        ("for i in range(3):\n        assert i < 3", True),
        ("for i in range(0):\n        assert i", False),
        ("names = ['a', 'b']\n    for n in names:\n        assert n", True),
        ("while go():\n        assert step()", False),
        ("[check(x) for x in found]", False),  # a check in an element of maybe nothing
        ("assert all(p.exists() for p in paths)", True),  # the assert runs (even if vacuous)
        ("if flag:\n        assert a\n    else:\n        assert b", True),
        ("for p in paths:\n        pass\n    else:\n        assert done", True),
        ("def inner():\n        assert False", False),  # defined, never called
        ("f = lambda: np.testing.assert_equal(1, 1)", False),
    ],
)
def test_the_rule_on_examples(tmp_path, body, ok):
    path = tmp_path / "test_example.py"
    path.write_text(f"{HELPERS}\n\ndef test_example():\n    {body}\n")
    module = _Module(path)
    (function,) = _test_functions(module)
    assert bool(module.checks_outside_loops(function)) is ok


def test_helpers_imported_from_other_test_modules_count(tmp_path, monkeypatch):
    package = tmp_path / "tests"
    package.mkdir()
    (package / "helpers.py").write_text(HELPERS)
    (package / "test_a.py").write_text(
        "from .helpers import _indirect, _quiet\n\n"
        "def test_yes():\n    _indirect(1)\n\n"
        "def test_no():\n    _quiet(1)\n"
    )
    monkeypatch.setattr(f"{__name__}.TESTS", package)
    module = _Module(package / "test_a.py")
    found = {f.name: bool(module.checks_outside_loops(f)) for f in _test_functions(module)}
    assert found == {"test_yes": True, "test_no": False}
