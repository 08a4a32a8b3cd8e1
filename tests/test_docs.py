"""The documentation holds (issue 22): README.md and docs/*.md, every code block tested.

Every fenced block is run, checked, or marked as not runnable with the reason:

- ``<!-- not run: REASON -->`` on the line before the block: not run (a cluster, a
  folder layout...);
- ``<!-- run by tests/FILE.py::TEST -->``: that test runs it (it must exist);
- otherwise by language: ``bash`` blocks are checked command by command (the scripts
  and sub-commands exist, every option they use is in their ``--help``; nothing heavy
  runs), ``python`` blocks run in a temporary folder, ``json`` blocks must be config
  keys with valid values. Any other block needs one of the markers.

And: docs/configuration.md is the reference rendered from the config schema, links stay
inside the repository and lead somewhere, and the README's quick start keeps the main
job's command and the test command of .ci/run.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import json5
import jsonschema
import pytest

from pyimagesearch.commands import COMMANDS
from pyimagesearch.infrastructure.config import (
    COURSE_DEFAULTS,
    COURSE_KEYS,
    DATASETS_ENV,
    EXTRA_KEYS,
    SCHEDULER_ENV,
    SCHEMA,
)
from pyimagesearch.infrastructure.config_reference import REFERENCE_PATH, WRITE_COMMAND, render

from .conftest import DATASETS, ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 250
#: The main job of the quick start, as it always read.
MAIN_JOB = (
    "python3 -m venv .venv && .venv/bin/pip install -e . && "
    ".venv/bin/python scripts/run_pipeline.py --conf conf/cars.json"
)
#: Environment variables the documentation may set (the ones the code reads).
KNOWN_ENV = {DATASETS_ENV, SCHEDULER_ENV, "PYIMAGESEARCH_REQUIRE_DATA"}

NOT_RUN = re.compile(r"^<!-- not run: (?P<reason>.*\S.*?) -->$")
RUN_BY = re.compile(r"^<!-- run by (?P<file>tests/\w+\.py)::(?P<test>\w+) -->$")
SCRIPT_COMMAND = re.compile(r'^\s*main\("(?P<name>[\w-]+)"\)', re.M)


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    marker: str  # the HTML comment on the line before the fence, or ""

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def code_blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, with the comment right before each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        fence = re.match(r"^(\s*)```(\S*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        indent, start = len(fence[1]), i
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        previous = next(
            (lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), ""
        )
        marker = previous if previous.startswith("<!--") else ""
        code = "\n".join(line[indent:] for line in lines[start + 1 : end]) + "\n"
        blocks.append(Block(path, start + 1, fence[2].lower(), code, marker))
        i = end + 1
    return blocks


ALL_BLOCKS = [block for path in DOCS for block in code_blocks(path)]


def _unmarked(lang: str) -> list[Block]:
    return [b for b in ALL_BLOCKS if b.lang == lang and not b.marker]


# ---- every block is run, checked or marked ------------------------------------------------


def test_every_block_is_run_checked_or_marked():
    assert len(ALL_BLOCKS) > 10 and DOCS[0].name == "README.md"
    problems = []
    for block in ALL_BLOCKS:
        if block.marker:
            if not (NOT_RUN.match(block.marker) or RUN_BY.match(block.marker)):
                problems.append(f"{block.id}: unknown marker {block.marker}")
        elif block.lang not in ("bash", "python", "json"):
            problems.append(
                f"{block.id}: a ```{block.lang} block no test runs: mark it "
                "<!-- not run: REASON --> or <!-- run by tests/FILE.py::TEST -->"
            )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "block", [b for b in ALL_BLOCKS if RUN_BY.match(b.marker)], ids=lambda b: b.id
)
def test_blocks_run_by_another_test_name_a_test_that_reads_the_file(block):
    marker = RUN_BY.match(block.marker)
    test_file = ROOT / marker["file"]
    text = test_file.read_text(encoding="utf-8")
    assert re.search(rf"^def {marker['test']}\(", text, re.M), f"{block.id}: no such test"
    assert block.path.name in text, f"{marker['file']} never reads {block.path.name}"


# ---- shell blocks: the commands exist, with the options they use ------------------------------


@functools.cache
def command_help(name: str) -> str:
    """``pyimagesearch NAME --help``, in this process (the scripts run the same parser)."""
    module = importlib.import_module(COMMANDS[name][0])
    prog = f"pyimagesearch {name}"
    if hasattr(module, "build_parser"):
        return module.build_parser(prog).format_help()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        module.main(["--help"], prog)
    return out.getvalue()


def script_command(script: str) -> str | None:
    """The sub-command a ``scripts/*.py`` wrapper runs (None: a script of its own)."""
    path = ROOT / script
    if path.parent != ROOT / "scripts":
        return None
    found = SCRIPT_COMMAND.search(path.read_text(encoding="utf-8"))
    return found["name"] if found else None


@functools.cache
def script_help(script: str) -> str:
    """``SCRIPT --help`` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, script, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (script, done.stderr[-2000:])
    return done.stdout


def _pytest_markers() -> set[str]:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return set(re.findall(r'^\s*"(\w+): ', text, re.M))


def _extras() -> set[str]:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = text[text.index("[project.optional-dependencies]") :]
    section = section[: section.index("\n[", 1)]
    return set(re.findall(r"^(\w+) = \[", section, re.M))


def shell_commands(code: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, ``&&`` chains split."""
    logical = re.sub(r"\\\n\s*", " ", code)
    commands = []
    for line in logical.splitlines():
        if line.strip() and not line.strip().startswith("#"):
            commands += [c.strip() for c in line.split("&&")]
    return commands


def _option_names(args: list[str]) -> list[str]:
    names = []
    for arg in args:
        arg = arg.strip("[]")
        if re.fullmatch(r"--?[A-Za-z][\w-]*(=.*)?", arg):
            names.append(arg.split("=")[0])
    return names


def _missing_options(args: list[str], help_text: str) -> list[str]:
    return [
        name
        for name in _option_names(args)
        if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", help_text)
    ]


def needs_subprocess(command: str) -> bool:
    """Whether checking ``command`` runs a script's ``--help`` in a fresh interpreter."""
    tokens = shlex.split(command, comments=True)
    while tokens and re.fullmatch(r"\w+=.*", tokens[0]):
        tokens = tokens[1:]
    if len(tokens) < 2 or tokens[0] not in (".venv/bin/python", "python"):
        return False
    return tokens[1].endswith(".py") and script_command(tokens[1]) is None


def check_command(command: str) -> list[str]:
    """What is wrong with one documented shell command (nothing heavy is run)."""
    tokens = shlex.split(command, comments=True)
    problems = []
    while tokens and re.fullmatch(r"\w+=.*", tokens[0]):  # VAR=value command ...
        name = tokens.pop(0).split("=")[0]
        if name not in KNOWN_ENV:
            problems.append(f"{name}: no such environment variable")
    if not tokens:
        return problems
    prog, args = tokens[0], tokens[1:]
    if prog == "python3" and args[:2] == ["-m", "venv"]:
        return problems
    if prog in ("python", "python3", "pyimagesearch", "pip", "pytest"):
        return [*problems, f"{prog}: run it from the project's environment, .venv/bin/{prog}"]
    if prog == ".venv/bin/python" and args[:1] == ["-m"]:
        if args[1] != "pytest":
            return [*problems, f"python -m {args[1]}: not a command this test knows"]
        if "-m" in args[2:]:
            expression = args[2:][args[2:].index("-m") + 1]
            words = set(re.findall(r"\w+", expression)) - {"and", "or", "not"}
            problems += [f"pytest marker {w!r} does not exist" for w in words - _pytest_markers()]
        return problems
    if prog == ".venv/bin/python":
        script = args[0]
        path = (ROOT / script).resolve()
        if not path.is_file() or not path.is_relative_to(ROOT):
            return [*problems, f"{script}: no such file in the repository"]
        name = script_command(script)
        help_text = command_help(name) if name else script_help(script)
        missing = _missing_options(args[1:], help_text)
        return [*problems, *(f"{script}: no option {m}" for m in missing)]
    if prog == ".venv/bin/pyimagesearch":
        if args[0] in ("-h", "--help", "--version"):
            return problems
        if args[0] not in COMMANDS:
            return [*problems, f"pyimagesearch {args[0]}: no such sub-command"]
        missing = _missing_options(args[1:], command_help(args[0]))
        return [*problems, *(f"pyimagesearch {args[0]}: no option {m}" for m in missing)]
    if prog == ".venv/bin/pip" and args[:1] == ["install"]:
        for arg in args[1:]:
            if arg.startswith("-"):
                continue
            local = re.fullmatch(r"\.(?:\[(?P<extras>[\w,]+)\])?", arg)
            if not local:
                problems.append(f"pip install {arg}: only the project itself is checked")
            elif local["extras"]:
                unknown = set(local["extras"].split(",")) - _extras()
                problems += [f"pip extra {e!r} is not in pyproject.toml" for e in unknown]
        return problems
    if prog == "cp":
        if not (ROOT / args[0]).is_file():
            problems.append(f"cp {args[0]}: no such file")
        return problems
    if prog == "export":
        for arg in args:
            if arg.split("=")[0] not in KNOWN_ENV:
                problems.append(f"export {arg}: no such environment variable")
        return problems
    return [
        *problems,
        f"{prog}: not a command this test knows; mark the block <!-- not run: ... -->",
    ]


def _shell_param(block: Block):
    slow = any(needs_subprocess(c) for c in shell_commands(block.code))
    return pytest.param(block, id=block.id, marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize("block", [_shell_param(b) for b in _unmarked("bash")])
def test_shell_block_commands_exist_with_their_options(block):
    problems = [f"{c!r}: {p}" for c in shell_commands(block.code) for p in check_command(c)]
    assert not problems, f"{block.id}:\n" + "\n".join(problems)


def test_the_command_checker_finds_what_rots():
    assert check_command(".venv/bin/python scripts/run_pipeline.py --conf c.json --rounds 3") == []
    assert check_command("python scripts/run_pipeline.py --conf c.json") != []
    assert check_command(".venv/bin/python scripts/run_pipeline.py --no-such-option") == [
        "scripts/run_pipeline.py: no option --no-such-option"
    ]
    assert check_command(".venv/bin/python scripts/nothing.py") != []
    assert check_command(".venv/bin/pyimagesearch minee --conf c.json") != []
    assert check_command('.venv/bin/pip install -e ".[nothing]"') != []
    assert check_command('.venv/bin/python -m pytest -m "not slowest"') != []
    assert check_command("PYIMAGESEARCH_DATASET=/x .venv/bin/pyimagesearch --help") != []
    assert check_command("dask scheduler") != []


def _documented_scripts() -> list[str]:
    found = set()
    for block in _unmarked("bash"):
        for command in shell_commands(block.code):
            script = re.match(r"(?:\w+=\S+ )*\.venv/bin/python (scripts/\S+\.py)", command)
            if script:
                found.add(script[1])
    return sorted(found)


@pytest.mark.slow
@pytest.mark.parametrize("script", _documented_scripts())
def test_documented_scripts_print_their_help(script):
    """The real entry point of every script the documentation runs parses ``--help``."""
    assert "usage:" in script_help(script)


# ---- python and json blocks -----------------------------------------------------------------


def _python_param(block: Block):
    marks = [pytest.mark.slow]
    if "datasets" in block.code or "conf/" in block.code:
        marks.append(pytest.mark.needs_data)
    return pytest.param(block, id=block.id, marks=marks)


@pytest.mark.parametrize("block", [_python_param(b) for b in _unmarked("python")])
def test_python_block_runs(block, tmp_path):
    (tmp_path / "conf").symlink_to(ROOT / "conf")
    code = block.code.replace("../shared/datasets", str(DATASETS))
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, DATASETS_ENV: str(DATASETS)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{block.id}:\n{done.stderr[-3000:]}"


@pytest.mark.parametrize("block", _unmarked("json"), ids=lambda b: b.id)
def test_json_block_is_valid_config(block):
    values = json5.loads(block.code)
    assert isinstance(values, dict)
    for key, value in values.items():
        assert key in SCHEMA["properties"], f"{block.id}: unknown config key {key!r}"
        jsonschema.validate(value, SCHEMA["properties"][key])


# ---- the config reference -------------------------------------------------------------------


def test_configuration_reference_is_the_rendered_schema():
    path = ROOT / REFERENCE_PATH
    assert path.read_text(encoding="utf-8") == render(), (
        f"{REFERENCE_PATH} is not the reference the schema renders: run {WRITE_COMMAND}"
    )


def test_configuration_reference_lists_every_key_with_a_description():
    text = (ROOT / REFERENCE_PATH).read_text(encoding="utf-8")
    for key in [*COURSE_KEYS, *EXTRA_KEYS]:
        assert f"| `{key}` |" in text, key
    for key, schema in [*COURSE_KEYS.items(), *((k, s) for k, (s, _) in EXTRA_KEYS.items())]:
        assert schema.get("description", "").strip(), f"{key}: no description in config.py"


def test_a_key_without_a_description_fails_the_rendering(monkeypatch):
    from pyimagesearch.infrastructure import config_reference

    monkeypatch.setitem(config_reference.EXTRA_KEYS, "new_key", ({"type": "integer"}, 1))
    with pytest.raises(ValueError, match="new_key"):
        config_reference.render()


def test_api_course_defaults_are_cars_json_values():
    """The reference says the Python API defaults the course keys to conf/cars.json's."""
    cars = json5.loads((ROOT / "conf" / "cars.json").read_text(encoding="utf-8"))
    assert set(COURSE_DEFAULTS) <= set(COURSE_KEYS)
    assert {k: cars[k] for k in COURSE_DEFAULTS} == COURSE_DEFAULTS


def test_every_default_is_valid_under_its_schema():
    """The one table of defaults (the schema's) holds values its own keys accept, and the
    API uses it rather than a copy."""
    from pyimagesearch import api
    from pyimagesearch.infrastructure.config import EXTRA_DEFAULTS

    defaults = [*COURSE_DEFAULTS.items(), *EXTRA_DEFAULTS.items()]
    for key, value in defaults:
        jsonschema.validate(value, SCHEMA["properties"][key])
    assert api.COURSE_DEFAULTS is COURSE_DEFAULTS
    assert EXTRA_DEFAULTS == {key: default for key, (_, default) in EXTRA_KEYS.items()}


# ---- README and links -----------------------------------------------------------------------


def _section(text: str, title: str) -> str:
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start : end if end != -1 else len(text)]


def test_readme_fits_in_one_sitting_and_lists_its_sections():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    contents = next(line for line in text.splitlines() if line.startswith("**Contents:**"))
    contents += text.split(contents, 1)[1].split("\n\n", 1)[0]
    for heading in re.findall(r"^## (.+)$", _without_code(text), re.M):
        assert f"(#{slug(heading)})" in contents, heading


def test_quick_start_keeps_the_main_job_and_the_ci_test_command():
    quick = _section((ROOT / "README.md").read_text(encoding="utf-8"), "## Quick start")
    lines = {line.strip() for b in code_blocks(ROOT / "README.md") for line in b.code.splitlines()}
    assert MAIN_JOB in lines and MAIN_JOB in quick
    ci = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if "pip install" in line and "-m pytest" in line
    ]
    assert len(ci) == 1
    assert ci[0].replace(" -q ", " ") in lines  # pip's -q aside, the same command


def _without_code(text: str) -> str:
    return re.sub(r"^\s*```.*?^\s*```", "", text, flags=re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_slug_is_githubs():
    assert slug("Choosing `eval_distraction_categories`") == "choosing-eval_distraction_categories"
    assert slug("Downloads (both commands)") == "downloads-both-commands"
    assert slug("The workflow, step by step") == "the-workflow-step-by-step"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_stay_in_the_repository_and_lead_somewhere(path):
    text = re.sub(r"`[^`\n]*`", "", _without_code(path.read_text(encoding="utf-8")))
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"(https?|mailto):", target):
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        if not linked.is_relative_to(ROOT.resolve()):
            problems.append(f"{target}: outside the repository")
        elif not linked.exists():
            problems.append(f"{target}: no such file")
        elif anchor:
            headings = re.findall(r"^#+ (.+)$", _without_code(linked.read_text("utf-8")), re.M)
            if anchor not in {slug(h) for h in headings}:
                problems.append(f"{target}: no heading #{anchor} in {linked.name}")
    assert not problems, "\n".join(problems)


def test_package_layout_names_exist():
    """The package tree in docs/how-it-works.md names files and folders that exist."""
    (block,) = [
        b
        for b in ALL_BLOCKS
        if b.marker == "<!-- run by tests/test_docs.py::test_package_layout_names_exist -->"
    ]
    assert block.path.name == "how-it-works.md"
    parents, checked = {}, 0  # indent -> the folder its entries live in
    for line in block.code.splitlines():
        entry = re.match(r"^( *)(\S(?:.*?\S)?)(?: {2,}|$)", line)
        if not entry or len(entry[1]) > 4:
            continue  # a description continued on the next line
        depth = len(entry[1])
        if depth == 0:
            parents = {2: ROOT / entry[2]}
            assert parents[2].is_dir(), entry[2]
            continue
        for name in entry[2].split(", "):
            if name.endswith(":"):
                name = name[:-1]
            path = parents[depth] / name.split()[0]
            assert path.exists(), str(path.relative_to(ROOT))
            if path.is_dir():
                parents[depth + 2] = path
            checked += 1
    assert checked > 20
