"""Recorded histories still replay against the current workflow code.

Covers: every history in tests/workflows/histories/ replays without a
non-determinism error: the recorded command sequence is pinned, so a change
that would break running workflows fails here first (README, "Changing the
workflow": before the first release the history is re-recorded with the
change; after it, the change goes through `workflow.patched()`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.instance import OdooInstanceWorkflow

# Read at collection time: test bodies stay free of blocking file I/O.
HISTORIES = {
    path.stem: path.read_text()
    for path in sorted((Path(__file__).parent / "histories").glob("*.json"))
}


def test_histories_were_recorded() -> None:
    assert HISTORIES, "no recorded history: run python -m tests.workflows.record_histories"


@pytest.mark.parametrize("name", HISTORIES)
async def test_history_replays_when_workflow_code_changes(name: str) -> None:
    replayer = Replayer(workflows=[OdooInstanceWorkflow], data_converter=pydantic_data_converter)
    history = WorkflowHistory.from_json(f"odoo/replay/{name}", HISTORIES[name])
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{name}: {result.replay_failure}"
