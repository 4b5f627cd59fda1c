"""An instance's history reads as a story in the temporal CLI (and so in the UI).

On the Temporal dev server over the World's fakes, the instance started as
the watcher starts it (signal-with-start, watcher.signals), backed up with
the `backup` Update; then the temporal CLI of this virtual environment,
pointed at the server with TEMPORAL_ADDRESS as the README says, is read:
- `workflow describe` shows the static summary and details the watcher set;
- `workflow show --detailed` shows each event's summary: the apply with its
  generation, every phase transition with its guard and why (named in the
  status write's summary, in the event list itself), the backup's Job
  followed until it ended;
- `workflow metadata` shows the current details: the phase, the last backup
  with its age, the last operation and its outcome;
- the README's fleet questions (`workflow list --query`) find it by its last
  backup's time, its last operation's outcome, its image and phase, and leave
  it out when the question does not hold.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client

from model import naming
from model.payloads import InstanceRef, JobKind
from sandbox.temporal import TemporalDevServer
from tests.phase_cases import make_spec
from tests.workflows.conftest import (
    SPEC_BACKUP,
    backed_up,
    eventually,
    running_worker,
    started_as_the_watcher_starts,
)
from tests.workflows.world import World

TEMPORAL = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "temporal"


async def _temporal(server: TemporalDevServer, *args: str) -> str:
    """The temporal CLI's output (asynchronously: the worker keeps answering meanwhile)."""
    process = await asyncio.create_subprocess_exec(
        str(TEMPORAL),
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TEMPORAL_ADDRESS": server.address},
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_cli_reads_summaries_transitions_and_details_when_an_instance_backed_up(
    temporal_client: Client, temporal_dev_server: TemporalDevServer, task_queue: str
) -> None:
    world = World.serving()
    ref = InstanceRef(namespace="shop", name=f"erp-{uuid.uuid4().hex[:6]}", uid=str(uuid.uuid4()))
    workflow_id = naming.workflow_id(ref.namespace, ref.name)
    async with running_worker(temporal_client, world, task_queue):
        spec = make_spec(backup=SPEC_BACKUP)
        handle = await started_as_the_watcher_starts(temporal_client, task_queue, ref, spec)
        backup = await backed_up(handle, world)
        described = await _temporal(temporal_dev_server, "workflow", "describe", "-w", workflow_id)
        shown = await _temporal(
            temporal_dev_server, "workflow", "show", "--detailed", "-w", workflow_id
        )
        details = await _temporal(temporal_dev_server, "workflow", "metadata", "-w", workflow_id)
        later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        earlier = (datetime.now(UTC) - timedelta(hours=36)).strftime("%Y-%m-%dT%H:%M:%SZ")
        found = {
            query: await _listed(temporal_dev_server, query, workflow_id)
            for query in (
                f"OdooLastBackup < '{later}' OR OdooLastBackup IS NULL",
                f"OdooLastBackup < '{earlier}' OR OdooLastBackup IS NULL",
                "OdooLastOperation = 'backup' AND OdooLastOutcome = 'Succeeded'",
                "OdooImage = 'odoo:18.0' AND OdooPhase = 'Running' AND OdooHeld = false",
                "OdooImage = 'odoo:17.0' AND OdooPhase = 'Error'",
            )
        }
        await handle.terminate()

    assert f'StaticSummary  "OdooInstance shop/{ref.name}"' in described
    assert f"OdooInstance **{ref.name}** in namespace **shop**" in described
    summaries = [
        line.removeprefix("userMetadata.summary: ")
        for line in shown.splitlines()
        if line.startswith("userMetadata.summary: ")
    ]
    assert "apply the child objects for generation 1" in summaries
    assert "Provisioning → Starting (db_initialized): the database is initialized" in summaries
    assert "Starting → Running (all_ready): 1 of 1 web replicas ready" in summaries
    assert (
        f"Running → BackingUp (backup_present): backup requested by OdooBackupJob {backup}"
        in summaries
    )
    job = naming.batch_job_name(backup, JobKind.BACKUP.value)
    assert f"follow Job {job} of OdooBackupJob {backup} until it ends" in summaries
    assert (
        f"BackingUp → Running (backup_succeeded_all_ready): OdooBackupJob {backup} "
        "succeeded; 1 of 1 web replicas ready"
    ) in summaries
    assert "**Running** since" in details
    assert "**Last backup**: " in details
    assert f"**Last operation**: backup {backup} Succeeded" in details
    assert list(found.values()) == [True, False, True, True, False], found


async def _listed(server: TemporalDevServer, query: str, workflow_id: str) -> bool:
    """Whether `temporal workflow list --query` lists the workflow, once visibility
    caught up with its last upsert (the running instance is always listed by id)."""
    scoped = f"WorkflowId = '{workflow_id}' AND ExecutionStatus = 'Running'"

    async def listed(where: str) -> bool:
        out = await _temporal(server, "workflow", "list", "--query", where, "-o", "json")
        return workflow_id in out

    await eventually(
        lambda: listed(f"{scoped} AND OdooLastOutcome = 'Succeeded'"),
        bool,
        what="visibility of the last upsert",
    )
    return await listed(f"{scoped} AND ({query})")
