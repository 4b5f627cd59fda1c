"""The fault matrix of restores and upgrades is complete and names tests that exist.

tests/saga_matrix.py holds the matrix as data. Covers: each operation lists
the steps the issue names, each once and in its order, and each step has a
cell for each fault (so every (step, fault) pair appears once); a cell is a
non-empty list of tests, each once, or a reason it cannot happen; and every
node id (a test with its parameter) is collected by pytest from its file (a
renamed test or parameter fails here, not in the benchmark).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import saga_matrix
from tests.saga_matrix import Covered, NotApplicable

ROOT = Path(__file__).resolve().parents[2]
ISSUE_STEPS = {"restore": saga_matrix.RESTORE_STEPS, "upgrade": saga_matrix.UPGRADE_STEPS}


def _cells() -> list[tuple[str, str, str, Covered | NotApplicable]]:
    return [
        (operation, step.name, fault, cell)
        for operation, steps in saga_matrix.OPERATIONS.items()
        for step in steps
        for fault, cell in step.cells()
    ]


@pytest.mark.parametrize("operation", sorted(saga_matrix.OPERATIONS))
def test_every_step_of_the_issue_is_there_once_with_every_fault(operation: str) -> None:
    steps = saga_matrix.OPERATIONS[operation]
    assert tuple(step.name for step in steps) == ISSUE_STEPS[operation]
    for step in steps:
        assert tuple(fault for fault, _ in step.cells()) == saga_matrix.FAULTS


def test_every_cell_is_tests_or_a_reason() -> None:
    for operation, step, fault, cell in _cells():
        where = f"{operation} {step} {fault}"
        if isinstance(cell, NotApplicable):
            assert cell.reason.strip(), where
        else:
            assert cell.tests, where
            assert len(set(cell.tests)) == len(cell.tests), where


def test_every_test_named_exists() -> None:
    named = {test for *_, cell in _cells() if isinstance(cell, Covered) for test in cell.tests}
    files = sorted({test.split("::")[0] for test in named})
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr
    found = {line for line in collected.stdout.splitlines() if "::" in line}
    assert sorted(named - found) == []
