"""The size limits the design keeps (docs/design.md, "Keeping it easy to change"): no module of
the library over 700 lines and no function over 80, so each concept stays readable in one go.
Cyclomatic complexity is held by ``ruff check --select C901`` (exceptions carry a comment)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "ngcspec").rglob("*.py"), *(ROOT / "cli").rglob("*.py")])
MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 80


def _functions(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_and_functions_within_limits(path):
    text = path.read_text()
    assert text.count("\n") <= MAX_MODULE_LINES, f"{path.name}: split it by concern"
    long = [f"{n.name} (line {n.lineno}): {n.end_lineno - n.lineno + 1} lines"
            for n in _functions(ast.parse(text)) if n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, long


def test_the_limit_check_sees_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    tree = ast.parse(f"def f():\n{body}\n")
    (fn,) = _functions(tree)
    assert fn.end_lineno - fn.lineno + 1 == MAX_FUNCTION_LINES + 1
