"""How long each cell of the restore and upgrade fault matrix takes to come back.

Runs the matrix's tests (tests/activities/test_database_swap.py,
tests/scripts/test_restore_faults.py, tests/workflows/test_sagas.py,
tests/jobs/test_restore_sagas.py, tests/jobs/test_upgrade.py) with their
output shown, collects the `MATRIX <cell> <time>` lines they print (from the
failure to the instance Running again, or to the leftovers removed, as each
level can tell) and prints them as one table. The tests assert the
invariants; this only reports the times. Needs the binaries the tests need
(README, "The Kubernetes control plane").

    .venv/bin/python -m benchmarks.saga_matrix [--tier activities|scripts|workflows|jobs]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIERS = {
    "activities": ["tests/activities/test_database_swap.py"],
    "scripts": ["tests/scripts/test_restore_faults.py"],
    "workflows": ["tests/workflows/test_sagas.py"],
    "jobs": ["tests/jobs/test_restore_sagas.py", "tests/jobs/test_upgrade.py"],
}
_LINE = re.compile(r"MATRIX (\S+) (.+)$")


def run(tier: str) -> list[tuple[str, str, str]]:
    """(tier, cell, time) of every MATRIX line the tier's tests print."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *TIERS[tier]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    rows = [
        (tier, match.group(1), match.group(2))
        for line in result.stdout.splitlines()
        if (match := _LINE.search(line))
    ]
    summary = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
    print(f"{tier}: {summary}", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", choices=sorted(TIERS), action="append")
    args = parser.parse_args()
    rows = [row for tier in args.tier or list(TIERS) for row in run(tier)]
    print("| tier | cell | back after |")
    print("|---|---|---|")
    for tier, cell, took in rows:
        print(f"| {tier} | {cell} | {took} |")


if __name__ == "__main__":
    main()
