"""Workflow-tier helpers: a worker over a World's fake activities on the
time-skipping server, a deadline-bound wait on workflow queries, and an
interceptor that fails a workflow task as a worker killed there would."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    Interceptor,
    StartActivityInput,
    StartLocalActivityInput,
    Worker,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from model import naming
from model.crds import OdooInstanceSpec
from model.payloads import (
    BackupRequested,
    InstanceRef,
    InstanceWorkflowInput,
    InstanceWorkflowResult,
    JobKind,
    MachineState,
    Replicas,
    SpecUpdate,
    WorkflowSettings,
)
from model.phases import JobPhase, Phase
from model.settings import OperatorSettings, WatcherSettings, WorkerSettings
from sandbox import temporal
from tests.phase_cases import make_spec
from tests.workflows.world import World, applied_children
from watcher.config import WatcherConfig
from watcher.signals import InstanceSignals
from workflows.instance import SEARCH_ATTRIBUTES, OdooInstanceWorkflow

T = TypeVar("T")
Handle = WorkflowHandle[OdooInstanceWorkflow, InstanceWorkflowResult]

FAST = WorkflowSettings(
    resync_interval=timedelta(minutes=5), job_poll_interval=timedelta(seconds=10)
)


@pytest_asyncio.fixture(scope="session", loop_scope="session", autouse=True)
async def _search_attributes_registered(time_skipping_env: WorkflowEnvironment) -> None:
    """The workflow upserts OdooPhase & co.; the test server refuses unknown ones."""
    await register_search_attributes(time_skipping_env.client)


@pytest_asyncio.fixture
async def own_clock() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own, whose clock it moves with sleep():
    on the session's, a sleep may never return once earlier tests' workflows ran."""
    env = await temporal.start_time_skipping_env()
    await register_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


async def register_search_attributes(client: Client) -> None:
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
                for key in SEARCH_ATTRIBUTES
            },
        )
    )


@asynccontextmanager
async def running_worker(
    client: Client,
    world: World,
    task_queue: str,
    *,
    cache: bool = True,
    interceptors: Sequence[Interceptor] = (),
) -> AsyncIterator[Worker]:
    """A worker over the world's fake activities. cache=False disables sticky
    workflow caching, so every workflow task replays the history from scratch
    (what a freshly started worker process does)."""
    with ThreadPoolExecutor(max_workers=8) as executor:
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[OdooInstanceWorkflow],
            activities=world.activities(),
            activity_executor=executor,
            max_cached_workflows=0 if not cache else WorkerSettings().max_cached_workflows,
            interceptors=interceptors,
        )
        # The follower of running Jobs, on its own task queue (odoo_operator.worker).
        follower = Worker(
            client, task_queue=naming.follow_task_queue(task_queue), activities=world.follower()
        )
        async with worker, follower:
            yield worker


def new_ref() -> InstanceRef:
    return InstanceRef(namespace="shop", name=f"erp-{uuid.uuid4().hex[:8]}", uid=str(uuid.uuid4()))


async def start_instance(
    client: Client,
    task_queue: str,
    spec: OdooInstanceSpec,
    *,
    phase: Phase = Phase.PROVISIONING,
    ref: InstanceRef | None = None,
    settings: WorkflowSettings = FAST,
    applied: bool = False,
) -> Handle:
    ref = ref or new_ref()
    state = MachineState(
        ref=ref,
        spec=spec,
        generation=1,
        phase=phase,
        applied_generation=1 if applied else 0,
        children=applied_children() if applied else (),
    )
    return await client.start_workflow(
        OdooInstanceWorkflow.run,
        InstanceWorkflowInput(state=state, settings=settings),
        id=naming.workflow_id(ref.namespace, ref.name),
        task_queue=task_queue,
    )


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    *,
    timeout: float = 10.0,
    what: str = "condition",
) -> T:
    """Poll `probe` until `accept` holds, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value: {value!r}")
        await asyncio.sleep(0.02)


async def wait_phase(handle: Handle, phase: Phase, timeout: float = 10.0) -> None:
    await eventually(
        lambda: handle.query(OdooInstanceWorkflow.phase),
        lambda p: p is phase,
        timeout=timeout,
        what=f"phase {phase}",
    )


async def transitions_of(handle: Handle) -> list[str]:
    """The `transitions` query as `<from>-><to>:<guard>` ids."""
    records = await handle.query(OdooInstanceWorkflow.transitions)
    return [f"{r.from_phase}->{r.to_phase}:{r.guard}" for r in records]


class CrashAfter(Interceptor):
    """Fails the workflow task once, right after the first activity for which
    `matches(activity name, arguments)` holds returned: what a worker killed
    there does to the task in flight (the retried task replays the history)."""

    def __init__(self, matches: Callable[[str, Sequence[Any]], bool]) -> None:
        self.matches = matches
        self.crashed = False
        self.at: datetime | None = None
        """The workflow time of the crash."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        interceptor = self

        class Outbound(WorkflowOutboundInterceptor):
            def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
                handle = super().start_activity(input)
                return interceptor.crash_after(input.activity, input.args, handle)

            def start_local_activity(
                self, input: StartLocalActivityInput
            ) -> workflow.ActivityHandle[Any]:
                handle = super().start_local_activity(input)
                return interceptor.crash_after(input.activity, input.args, handle)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound

    def crash_after(
        self, name: str, args: Sequence[Any], handle: workflow.ActivityHandle[Any]
    ) -> workflow.ActivityHandle[Any]:
        if self.crashed or not self.matches(name, args):
            return handle

        async def then_crash() -> Any:
            result = await handle
            if not workflow.unsafe.is_replaying() and not self.crashed:
                self.crashed, self.at = True, workflow.now()
                raise RuntimeError("worker crashed")  # fails the task, not the workflow
            return result

        return cast(workflow.ActivityHandle[Any], asyncio.ensure_future(then_crash()))


async def update_refusal(handle: Handle, update: str, request: Any) -> ApplicationError:
    """The ApplicationError an Update fails with, sent as the temporal CLI sends it (JSON)."""
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update(update, request)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


S3_CREDENTIALS = {"name": "s3-credentials"}
SPEC_BACKUP = {
    "schedule": "0 2 * * *",
    "destination": {
        "bucket": "b",
        "endpoint": "http://s3:9000",
        "s3CredentialsSecretRef": S3_CREDENTIALS,
    },
}
"""A spec.backup whose destination the requests tests default to."""


def serving_world() -> World:
    """An initialized instance with its one web replica ready."""
    return World(db_initialized=True, web=Replicas(ready=1, desired=1, exists=True))


async def running_instance(client: Client, task_queue: str, **spec: Any) -> Handle:
    """An instance of `make_spec(**spec)`, applied, once Running."""
    handle = await start_instance(client, task_queue, make_spec(**spec), applied=True)
    await wait_phase(handle, Phase.RUNNING)
    return handle


async def started_as_the_watcher_starts(
    client: Client, task_queue: str, ref: InstanceRef, spec: OdooInstanceSpec
) -> Handle:
    """The instance's workflow, started by watcher.signals' signal-with-start (with the
    summary and details it gives a workflow), once Running."""

    async def connect() -> Client:
        return client

    config = WatcherConfig(
        watcher=WatcherSettings(namespaces=(ref.namespace,)),
        operator=OperatorSettings(namespace=ref.namespace),
        task_queue=task_queue,
        webhook=None,
    )
    await InstanceSignals(connect, config).set_spec(SpecUpdate(ref=ref, generation=1, spec=spec))
    handle = client.get_workflow_handle_for(
        OdooInstanceWorkflow.run, naming.workflow_id(ref.namespace, ref.name)
    )
    await wait_phase(handle, Phase.RUNNING)
    return handle


async def backup_running(world: World) -> bool:
    """The active OdooBackupJob's batch Job was started."""
    active = world.snapshot().backup
    return active is not None and active.job_name is not None


async def backed_up(handle: Handle, world: World) -> str:
    """Back up with the `backup` Update and let its Job succeed; the OdooBackupJob's
    name once it is Completed and the instance Running again."""
    made = await handle.execute_update("backup", {}, result_type=BackupRequested)
    await eventually(lambda: backup_running(world), bool, what="the backup's Job")
    world.finish_batch_job(JobKind.BACKUP, succeeded=True)  # its follow_job wakes the workflow
    await eventually(
        lambda: asyncio.sleep(0, world.job_named(made.name).phase),
        lambda phase: phase is JobPhase.COMPLETED,
        what="the backup Completed",
    )
    await wait_phase(handle, Phase.RUNNING)
    return made.name
