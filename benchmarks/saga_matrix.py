"""How long each cell of the restore and upgrade fault matrix takes to come back.

Runs the tests that tests/saga_matrix.py names for the cells (all of them, or
those of one tier), reads the `MATRIX <cell> <time>` line each prints (from
the failure to the instance Running again, or to what its tier can tell: the
undo done, the swap completed) from pytest's JUnit report, and prints each
operation's matrix as a markdown table: a row per step, a column per fault,
in each cell the times of its tests (the headline test first, each tagged
with its tier), `n/a` where the fault cannot happen (the reasons follow the
table). The tests assert the invariants; this only reports the times. Needs
the binaries the tests need (README, "The Kubernetes control plane").

    .venv/bin/python -m benchmarks.saga_matrix [--tier activities|scripts|workflows|jobs] [--tests]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from tests import saga_matrix
from tests.saga_matrix import Covered, NotApplicable

ROOT = Path(__file__).resolve().parents[1]
TIERS = {"activities": "pg", "scripts": "scripts", "workflows": "wf", "jobs": "e2e"}
"""The tiers (tests/<tier>/) and the tag of their times in the table."""
_LINE = re.compile(r"MATRIX (\S+) (.+)$")


@dataclass
class Result:
    """One test's outcome and the times it printed."""

    outcome: str = "not run"
    times: list[str] = field(default_factory=list)


def tier_of(test: str) -> str:
    return test.split("/")[1]


def run(tests: list[str]) -> dict[str, Result]:
    """Run `tests` (node ids); each one's Result."""
    with tempfile.TemporaryDirectory() as work:
        report = Path(work) / "report.xml"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-o",
                "junit_logging=system-out",
                f"--junitxml={report}",
                *tests,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
        print(f"pytest: {summary}", file=sys.stderr)
        if not report.exists():
            print(done.stdout[-4000:], done.stderr[-4000:], file=sys.stderr)
            return {}
        results: dict[str, Result] = {}
        for case in ElementTree.parse(report).iter("testcase"):
            node = f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"
            failed = case.find("failure") is not None or case.find("error") is not None
            skipped = case.find("skipped") is not None
            outcome = "FAILED" if failed else "skipped" if skipped else "passed"
            out = case.findtext("system-out") or ""
            times = [
                m.group(2).replace(" of workflow time", "")
                for line in out.splitlines()
                if (m := _LINE.search(line))
            ]
            results[node] = Result(outcome, times)
        return results


def describe(test: str, results: dict[str, Result]) -> str:
    """`<tier tag>: <time>` of one test of a cell (or its outcome, without a time)."""
    result = results.get(test, Result())
    shown = "; ".join(result.times) if result.outcome == "passed" and result.times else None
    return f"{TIERS[tier_of(test)]}: {shown or result.outcome}"


def table(operation: str, results: dict[str, Result], tiers: set[str]) -> list[str]:
    """The markdown lines of `operation`'s matrix and its n/a reasons."""
    steps = saga_matrix.OPERATIONS[operation]
    lines = [
        f"### {operation}",
        "",
        "| step | " + " | ".join(saga_matrix.FAULTS) + " |",
        "|---" * (len(saga_matrix.FAULTS) + 1) + "|",
    ]
    reasons = []
    for step in steps:
        row = []
        for fault, cell in step.cells():
            if isinstance(cell, NotApplicable):
                row.append("n/a")
                reasons.append(f"- {step.name} / {fault}: {cell.reason}")
            else:
                shown = [describe(t, results) for t in cell.tests if tier_of(t) in tiers]
                row.append("<br>".join(shown) or "(other tiers)")
        lines.append(f"| {step.name} | " + " | ".join(row) + " |")
    return [*lines, "", "n/a:", *reasons, ""]


def listing(operation: str) -> list[str]:
    """Every cell's tests (headline first) and note."""
    lines = [f"### {operation}: the tests of each cell", ""]
    for step in saga_matrix.OPERATIONS[operation]:
        for fault, cell in step.cells():
            if isinstance(cell, Covered):
                note = f" ({cell.note})" if cell.note else ""
                lines.append(f"- {step.name} / {fault}{note}:")
                lines.extend(f"  - `{test}`" for test in cell.tests)
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", choices=sorted(TIERS), action="append")
    parser.add_argument("--tests", action="store_true", help="also list each cell's tests")
    args = parser.parse_args()
    tiers = set(args.tier or TIERS)
    named = {
        test
        for steps in saga_matrix.OPERATIONS.values()
        for step in steps
        for _, cell in step.cells()
        if isinstance(cell, Covered)
        for test in cell.tests
    }
    results = run(sorted(t for t in named if tier_of(t) in tiers))
    for operation in saga_matrix.OPERATIONS:
        print("\n".join(table(operation, results, tiers)))
        if args.tests:
            print("\n".join(listing(operation)))


if __name__ == "__main__":
    main()
