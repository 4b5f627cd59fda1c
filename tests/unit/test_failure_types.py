"""ApplicationError type names live in model/failures.py only.

Covers: no `type="..."` string literal in a call, no string literal among a
retry policy's `non_retryable_error_types` or the arguments of
`_api_retry(...)`, and no comparison of `error_type(...)` with a string
literal, anywhere in the shipped packages outside model/failures.py (a
renamed type then cannot leave a stale copy behind that no test notices).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("model", "specs", "activities", "workflows", "watcher", "odoo_operator")
HOME = ROOT / "model" / "failures.py"


def _sources() -> list[Path]:
    return sorted(
        path for package in SHIPPED for path in (ROOT / package).rglob("*.py") if path != HOME
    )


def _strings(node: ast.AST) -> Iterator[ast.Constant]:
    for inner in ast.walk(node):
        if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
            yield inner


def _called(node: ast.AST, name: str) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id == name) or (
        isinstance(func, ast.Attribute) and func.attr == name
    )


def literal_type_names(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, literal) of every error type name spelled out as a string."""
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "type":
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                yield node.value.lineno, node.value.value
        elif isinstance(node, ast.keyword) and node.arg == "non_retryable_error_types":
            yield from ((s.lineno, s.value) for s in _strings(node.value))
        elif _called(node, "_api_retry"):
            assert isinstance(node, ast.Call)
            for arg in node.args:
                yield from ((s.lineno, s.value) for s in _strings(arg))
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_called(side, "error_type") for side in sides):
                for side in sides:
                    if isinstance(side, ast.Constant) and isinstance(side.value, str):
                        yield side.lineno, side.value


def test_the_scan_finds_a_literal_when_one_is_written() -> None:
    found = literal_type_names(
        ast.parse(
            'raise ApplicationError("no", type="Oops")\n'
            'policy = _api_retry("Refused")\n'
            'if calls.error_type(err) != "Other": pass\n'
            'RetryPolicy(non_retryable_error_types=["Nope"])\n'
        )
    )
    assert sorted(value for _, value in found) == ["Nope", "Oops", "Other", "Refused"]


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_error_type_name_is_spelled_out_when_outside_model_failures(path: Path) -> None:
    found = list(literal_type_names(ast.parse(path.read_text(), filename=str(path))))
    assert found == [], f"use a model.failures constant instead of {found}"
