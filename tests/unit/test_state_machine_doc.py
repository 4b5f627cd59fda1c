"""STATE_MACHINE.md is generated from the table and must not drift.

Covers: the committed file equals the rendering; every row of both tables
appears in its Mermaid diagram with its guard name as label; every guard label of the file
is a function defined by that name in workflows/machine.py (so grep finds it).
"""

from __future__ import annotations

import re
from pathlib import Path

from workflows import diagram, machine

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "STATE_MACHINE.md"
MACHINE = ROOT / "workflows" / "machine.py"


def test_committed_diagram_matches_table_when_generated() -> None:
    assert DOC.read_text() == diagram.render_markdown(), (
        "STATE_MACHINE.md is stale: run `make state-machine`"
    )


def test_every_row_is_an_edge_labelled_with_its_guard() -> None:
    mermaid = diagram.render_mermaid()
    for row in machine.TABLE:
        assert f"{row.from_} --> {row.to} : {row.guard_name}" in mermaid
    deletion = diagram.render_mermaid(deletion=True)
    for step in machine.DELETION_TABLE:
        assert f"{step.from_} --> {step.to} : {step.guard_name}" in deletion


def test_every_guard_label_is_defined_by_name_when_grepped() -> None:
    labels = set(re.findall(r"^\| \w+ \| \w+ \| `(\w+)` \|", DOC.read_text(), re.MULTILINE))
    source = MACHINE.read_text()
    assert labels >= {row.guard_name for row in (*machine.TABLE, *machine.DELETION_TABLE)}
    missing = sorted(label for label in labels if f"\ndef {label}(" not in source)
    assert missing == [], "labels of STATE_MACHINE.md with no `def <label>(` in machine.py"
