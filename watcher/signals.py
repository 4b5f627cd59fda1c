"""The watcher's side of Temporal: signal-with-start, pokes, and error mapping.

Owns every call the watcher makes to Temporal and how its failures become
Kopf's retry classes: an unreachable server (or any transient RPC error) is a
`kopf.TemporaryError` with a doubling delay, so Kopf retries and nothing is
lost. It decides nothing about instances: it forwards typed payloads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import kopf
from temporalio import client as temporal_client
from temporalio import common as temporal_common
from temporalio import service as temporal_service

from model import naming
from model.payloads import (
    CheckJobReferencesInput,
    DeleteRequest,
    InstanceWorkflowInput,
    MachineState,
    Poke,
    SpecUpdate,
)
from watcher.config import WatcherConfig

__all__ = [
    "CHECK_REFERENCES_SIGNAL",
    "DELETE_SIGNAL",
    "JOB_REFERENCES_WORKFLOW_TYPE",
    "POKE_SIGNAL",
    "SET_SPEC_SIGNAL",
    "WORKFLOW_TYPE",
    "ClientFactory",
    "InstanceSignals",
    "TemporalUnavailable",
]

# Wire names of workflows.instance.OdooInstanceWorkflow (public contracts, never
# renamed; tests/watcher pins them to the class). Named rather than imported: the
# workflow module pulls in the activity signatures, which the watcher must not load.
WORKFLOW_TYPE = "OdooInstance"
SET_SPEC_SIGNAL = "set_spec"
POKE_SIGNAL = "poke"
DELETE_SIGNAL = "delete_instance"
# Of workflows.job_references.JobReferencesWorkflow, pinned the same way.
JOB_REFERENCES_WORKFLOW_TYPE = "OdooJobReferences"
CHECK_REFERENCES_SIGNAL = "check"

ClientFactory = Callable[[], Awaitable[temporal_client.Client]]
"""Connects to Temporal; called again after a failed connection."""

_log = logging.getLogger(__name__)
# Statuses that mean "try again later" rather than "this call is wrong".
_TRANSIENT = frozenset(
    {
        temporal_service.RPCStatusCode.UNAVAILABLE,
        temporal_service.RPCStatusCode.DEADLINE_EXCEEDED,
        temporal_service.RPCStatusCode.RESOURCE_EXHAUSTED,
        temporal_service.RPCStatusCode.ABORTED,
        temporal_service.RPCStatusCode.INTERNAL,
        temporal_service.RPCStatusCode.UNKNOWN,
        temporal_service.RPCStatusCode.CANCELLED,
    }
)


class TemporalUnavailable(Exception):
    """Temporal could not be reached (or answered with a transient error)."""


class InstanceSignals:
    """Signal-with-start, poke and delete for instance workflows.

    The client is connected lazily and reconnected after a failed connection,
    so the watcher starts (and serves its webhook) while Temporal is down.
    """

    def __init__(self, connect: ClientFactory, config: WatcherConfig) -> None:
        self._connect = connect
        self._config = config
        self._client: temporal_client.Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> temporal_client.Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    try:
                        self._client = await self._connect()
                    except (RuntimeError, OSError, temporal_service.RPCError) as err:
                        raise TemporalUnavailable(f"cannot connect to Temporal: {err}") from err
        return self._client

    async def reachable(self) -> bool:
        """True when Temporal answers a health check (readiness)."""
        try:
            client = await self.client()
            return bool(await client.service_client.check_health())
        except (TemporalUnavailable, temporal_service.RPCError, RuntimeError, OSError):
            return False

    async def set_spec(self, update: SpecUpdate) -> None:
        """Signal-with-start `set_spec`: the workflow is started if it does not run."""
        await self._signal_with_start(update, SET_SPEC_SIGNAL, update)

    async def delete(self, update: SpecUpdate) -> None:
        """Signal-with-start `delete_instance`: a workflow that no longer runs is
        started from the spec and goes straight to cleanup."""
        await self._signal_with_start(update, DELETE_SIGNAL, DeleteRequest(uid=update.ref.uid))

    async def poke(self, namespace: str, name: str, poke: Poke) -> bool:
        """Signal `poke`; False when no workflow runs for the instance (nothing to wake)."""
        client = await self.client()
        handle = client.get_workflow_handle(naming.workflow_id(namespace, name))
        try:
            await handle.signal(POKE_SIGNAL, poke)
        except temporal_service.RPCError as err:
            if err.status == temporal_service.RPCStatusCode.NOT_FOUND:
                return False
            raise _mapped(err) from err
        return True

    async def check_job_references(self, namespace: str, instance: str, reason: str) -> None:
        """Signal-with-start `check` of the OdooJobReferences workflow for the job
        resources of `namespace` that name `instance`: it marks Failed those whose
        reference does not resolve (a run already going checks once more)."""
        client = await self.client()
        try:
            await client.start_workflow(
                JOB_REFERENCES_WORKFLOW_TYPE,
                CheckJobReferencesInput(namespace=namespace, instance=instance),
                id=naming.job_references_workflow_id(namespace, instance),
                task_queue=self._config.task_queue,
                start_signal=CHECK_REFERENCES_SIGNAL,
                start_signal_args=[Poke(reason=reason)],
                id_conflict_policy=temporal_common.WorkflowIDConflictPolicy.USE_EXISTING,
            )
        except temporal_service.RPCError as err:
            raise _mapped(err) from err

    async def poke_all(self, reason: str) -> int:
        """Poke every running instance workflow of our task queue; return how many."""
        client = await self.client()
        query = (
            f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' "
            f"AND TaskQueue = '{self._config.task_queue}'"
        )
        count = 0
        try:
            async for execution in client.list_workflows(query):
                namespace, name = naming.parse_workflow_id(execution.id)
                count += await self.poke(namespace, name, Poke(reason=reason))
        except temporal_service.RPCError as err:
            raise _mapped(err) from err
        return count

    async def _signal_with_start(
        self, update: SpecUpdate, signal: str, argument: SpecUpdate | DeleteRequest
    ) -> None:
        client = await self.client()
        ref = update.ref
        try:
            await client.start_workflow(
                WORKFLOW_TYPE,
                InstanceWorkflowInput(
                    state=MachineState(
                        ref=ref,
                        spec=update.spec,
                        generation=update.generation,
                        spec_problem=update.problem,
                    )
                ),
                id=naming.workflow_id(ref.namespace, ref.name),
                task_queue=self._config.task_queue,
                start_signal=signal,
                start_signal_args=[argument],
                memo={"uid": ref.uid},
                id_conflict_policy=temporal_common.WorkflowIDConflictPolicy.USE_EXISTING,
            )
        except temporal_service.RPCError as err:
            raise _mapped(err) from err


def _mapped(err: temporal_service.RPCError) -> Exception:
    if err.status in _TRANSIENT:
        return TemporalUnavailable(f"Temporal call failed ({err.status.name}): {err.message}")
    return kopf.PermanentError(f"Temporal refused the call ({err.status.name}): {err.message}")
