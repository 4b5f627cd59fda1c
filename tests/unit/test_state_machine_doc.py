"""STATE_MACHINE.md is generated from the table and must not drift.

Covers: the committed file equals the rendering; every row appears in the
Mermaid diagram with its guard name as label.
"""

from __future__ import annotations

from pathlib import Path

from workflows import diagram, machine

DOC = Path(__file__).resolve().parents[2] / "STATE_MACHINE.md"


def test_committed_diagram_matches_table_when_generated() -> None:
    assert DOC.read_text() == diagram.render_markdown(), (
        "STATE_MACHINE.md is stale: run `make state-machine`"
    )


def test_every_row_is_an_edge_labelled_with_its_guard() -> None:
    mermaid = diagram.render_mermaid()
    for row in machine.TABLE:
        assert f"{row.from_} --> {row.to} : {row.guard_name}" in mermaid
