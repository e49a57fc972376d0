"""Code-quality guards over labutils/ (issue 13), kept by well-known tools, not by hand.

- ruff's annotation rules: every function and method has typed arguments, and every public one
  a return type (the options, such as ``mypy-init-return``, are in pyproject.toml);
- pylint's similarity checker: no block of 6 or more lines repeated (imports, docstrings and
  comments ignored), and no module longer than 400 lines;
- no function longer than 60 lines, from ``def`` to its last line (measured with ``ast``:
  neither tool counts lines per function).

Deliberate exceptions are listed below, each with its reason, and in CONTRIBUTING.md ("Code
quality guards"). Running the tools by hand is described there too. The guards are first run
on a small package with one violation of each kind, so a guard that silently checks nothing
(a wrong option, a tool that crashed) fails here instead of passing.
"""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent            # the tools are installed next to the interpreter
PACKAGE = "labutils"

ANNOTATION_RULES = "ANN001,ANN002,ANN003,ANN201,ANN204,ANN205,ANN206"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
MIN_SIMILARITY_LINES = 6
PYLINT_OPTIONS = [
    "--disable=all", "--enable=duplicate-code,too-many-lines",
    f"--min-similarity-lines={MIN_SIMILARITY_LINES}", "--ignore-imports=yes",
    "--ignore-docstrings=yes", "--ignore-comments=yes", f"--max-module-lines={MAX_MODULE_LINES}",
    "--output-format=json2", "--score=n", "--persistent=n",
]

# Deliberate exceptions: {what: reason}. Each one is also listed in CONTRIBUTING.md.
LONG_FUNCTIONS: dict[str, str] = {}      # "labutils/path.py::Class.method": reason
LONG_MODULES: dict[str, str] = {          # "labutils/path.py": reason
    "labutils/nn/norm.py": "411 lines: the whole normalization family (batch, instance, layer, "
                           "group norm: one shared derivation, their pairs and modules) on one page",
}
DUPLICATES: dict[str, str] = {}          # "labutils.module_a + labutils.module_b": reason


def tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} is not installed in {BIN} (pip install -r requirements.txt)"
    return str(path)


def ruff_annotations(target: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tool("ruff"), "check", "--config", str(ROOT / "pyproject.toml"), "--no-cache",
         "--select", ANNOTATION_RULES, "--output-format", "concise", str(target)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)


def pylint_messages(cwd: Path, package: str) -> list[dict]:
    """pylint's duplicate-code and too-many-lines messages over ``cwd/package``."""
    proc = subprocess.run([tool("pylint"), *PYLINT_OPTIONS, package], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode & (1 | 32) == 0, f"pylint failed:\n{proc.stderr}"   # fatal, usage
    return json.loads(proc.stdout)["messages"]


def duplicates(messages: list[dict]) -> dict[str, str]:
    """{"mod_a + mod_b": pylint's report} for each repeated block (modules sorted)."""
    found = {}
    for m in messages:
        if m["symbol"] == "duplicate-code":
            mods = sorted({line[2:].split(":")[0] for line in m["message"].splitlines()
                           if line.startswith("==")})
            found[" + ".join(mods)] = m["message"]
    return found


def long_modules(messages: list[dict]) -> dict[str, str]:
    return {m["path"]: m["message"] for m in messages if m["symbol"] == "too-many-lines"}


def long_functions(cwd: Path, package: str, limit: int = MAX_FUNCTION_LINES) -> dict[str, int]:
    """{"path::qualified.name": lines} for every function or method longer than ``limit``."""
    found = {}

    def visit(node: ast.AST, rel: str, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                length = child.end_lineno - child.lineno + 1
                if not isinstance(child, ast.ClassDef) and length > limit:
                    found[f"{rel}::{name}"] = length
                visit(child, rel, name + ".")
            else:
                visit(child, rel, prefix)

    for path in sorted((cwd / package).rglob("*.py")):
        visit(ast.parse(path.read_text(encoding="utf-8")), path.relative_to(cwd).as_posix(), "")
    return found


@pytest.fixture(scope="module")
def labutils_pylint() -> list[dict]:
    return pylint_messages(ROOT, PACKAGE)


def test_every_public_function_and_method_is_typed() -> None:
    proc = ruff_annotations(ROOT / PACKAGE)
    assert proc.returncode == 0, (
        f"missing type hints (ruff check {PACKAGE} --select {ANNOTATION_RULES}):\n"
        f"{proc.stdout}{proc.stderr}")


def test_no_duplicate_code(labutils_pylint: list[dict]) -> None:
    found = duplicates(labutils_pylint)
    new = {k: v for k, v in found.items() if k not in DUPLICATES}
    assert not new, "repeated code (pylint duplicate-code); fold it into one place:\n\n" + \
        "\n\n".join(new.values())
    stale = set(DUPLICATES) - set(found)
    assert not stale, f"listed as deliberate duplicates but no longer repeated: {stale}"


def test_no_module_over_400_lines(labutils_pylint: list[dict]) -> None:
    found = long_modules(labutils_pylint)
    new = {k: v for k, v in found.items() if k not in LONG_MODULES}
    assert not new, "modules over the limit (pylint too-many-lines):\n" + \
        "\n".join(f"{k}: {v}" for k, v in new.items())
    stale = set(LONG_MODULES) - set(found)
    assert not stale, f"listed as deliberately long but now short enough: {stale}"


def test_no_function_over_60_lines() -> None:
    found = long_functions(ROOT, PACKAGE)
    new = {k: n for k, n in found.items() if k not in LONG_FUNCTIONS}
    assert not new, f"functions over {MAX_FUNCTION_LINES} lines:\n" + \
        "\n".join(f"{k}: {n} lines" for k, n in new.items())
    stale = set(LONG_FUNCTIONS) - set(found)
    assert not stale, f"listed as deliberately long but now short enough: {stale}"


def test_every_exception_is_explained_in_contributing() -> None:
    contributing = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    assert "## Code quality guards" in contributing
    for listed in (LONG_FUNCTIONS, LONG_MODULES, DUPLICATES):
        for what, reason in listed.items():
            assert reason.strip(), f"{what}: an exception needs its reason"
            assert what in contributing, f"{what} is an exception but CONTRIBUTING.md omits it"


BLOCK = "".join(f"    total = total * {k} + {k}\n" for k in range(8))


def test_the_guards_catch_one_violation_of_each_kind(tmp_path: Path) -> None:
    pkg = tmp_path / "fake"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(
        "def untyped(x, *args, **kwargs):\n    return x\n\n\n"
        "def first(total: int) -> int:\n" + BLOCK + "    return total\n")
    (pkg / "b.py").write_text("def second(total: float) -> float:\n" + BLOCK + "    return total\n")
    (pkg / "c.py").write_text("def long() -> None:\n" + "    pass\n" * 61
                              + "".join(f"X{k} = {k}\n" for k in range(MAX_MODULE_LINES)))

    ruff = ruff_annotations(pkg)
    assert ruff.returncode == 1
    for rule in ("ANN001", "ANN002", "ANN003", "ANN201"):
        assert f"{rule} " in ruff.stdout, ruff.stdout
    messages = pylint_messages(tmp_path, "fake")
    assert list(duplicates(messages)) == ["fake.a + fake.b"]
    assert list(long_modules(messages)) == ["fake/c.py"]
    assert long_functions(tmp_path, "fake") == {"fake/c.py::long": 62}
