"""The Temporal worker: the client (pydantic converter) and every registration.

Owns wiring: one `activities.api.KubeApi` shared by the activity classes,
one `activities.databases.Databases` (PostgreSQL roles and databases, always
present: the clusters Secret says where each cluster is),
the workflow class and the bound activity methods, on a thread pool (the
activities are synchronous and block on the API and PostgreSQL), and the
follower of running Jobs: the async follow_job activity on a task queue of
its own (naming.follow_task_queue), whose slots a Job that runs for hours
takes from no other activity. `build_worker` builds both as one
`OperatorWorker` (odoo_operator.runner runs it, the tests too).
`register_search_attributes` adds the workflow's search attributes to the
Temporal namespace when they are missing (at every worker start-up, so a
fresh Temporal server needs no manual step).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from activities import (
    api,
    backup_resources,
    children,
    cleanup,
    converge,
    databases,
    edge_actions,
    job_follow,
    operation_resources,
    references,
    replacements,
    snapshot,
    status,
)
from model import naming
from model.settings import Settings, TemporalSettings
from workflows.instance import SEARCH_ATTRIBUTES, OdooInstanceWorkflow
from workflows.job_references import JobReferencesWorkflow
from workflows.scheduled_backup import ScheduledBackupWorkflow

__all__ = [
    "FOLLOWS",
    "OperatorWorker",
    "SearchAttributeConflict",
    "activities",
    "build_worker",
    "connect",
    "register_search_attributes",
]

_log = logging.getLogger(__name__)

FOLLOWS = 1000
"""Running Jobs the follower follows at once: an async activity each, no thread
(they wait on timers); more wait their turn in Temporal's task queue."""
_FOLLOW = "follow_job"


class SearchAttributeConflict(RuntimeError):
    """A search attribute of ours exists in the namespace with another type.

    Temporal cannot change the type of a search attribute: an operator must
    remove it (`temporal operator search-attribute remove`) first."""


async def register_search_attributes(client: Client) -> tuple[str, ...]:
    """Add the instance workflow's search attributes (workflows.instance.SEARCH_ATTRIBUTES:
    OdooPhase, OdooInstanceName, OdooLastBackup, OdooHeld...) that the client's namespace lacks;
    return the names added (empty when all were there).

    Idempotent, and safe when several workers start at once (ALREADY_EXISTS is
    success). Where the server refuses to add them (Temporal Cloud answers
    PERMISSION_DENIED: its namespaces are configured with `tcld` or the web
    UI) it logs what to add and returns; the workflows then fail their
    upserts until someone does. Raises SearchAttributeConflict when one exists
    with another type.
    """
    wanted = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
        for key in SEARCH_ATTRIBUTES
    }
    listing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    existing = dict(listing.custom_attributes)
    wrong = sorted(
        name for name, kind in wanted.items() if name in existing and existing[name] != kind
    )
    if wrong:
        raise SearchAttributeConflict(
            f"search attributes {', '.join(wrong)} of Temporal namespace {client.namespace} "
            "are not of the type the workflow writes (Keyword; OdooHeld: Bool); remove them "
            "(temporal operator search-attribute remove) "
            "and start the worker again"
        )
    missing = {name: kind for name, kind in wanted.items() if name not in existing}
    if not missing:
        return ()
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    except RPCError as err:
        if err.status == RPCStatusCode.ALREADY_EXISTS:  # another worker added them first
            return ()
        if err.status in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
            _log.warning(
                "cannot add the search attributes %s to Temporal namespace %s (%s); "
                "add them yourself (Temporal Cloud: tcld namespace "
                "search-attributes add, or the namespace's page in the web UI)",
                ", ".join(sorted(missing)), client.namespace, err.message,
            )  # fmt: skip
            return ()
        raise
    _log.info(
        "added search attributes %s to Temporal namespace %s",
        ", ".join(sorted(missing)), client.namespace,
    )  # fmt: skip
    return tuple(sorted(missing))


def activities(
    kube: api.KubeApi,
    settings: Settings,
    postgres: databases.Databases | None = None,
) -> list[Callable[..., Any]]:
    """Every activity implementation, as bound methods sharing one KubeApi and
    one Databases (a default one connecting over TCP when not given)."""
    operator, jobs = settings.operator, settings.jobs
    postgres = postgres or databases.Databases()
    backup = backup_resources.BackupActivities(kube, operator)
    operations = operation_resources.OperationActivities(kube)
    sagas = replacements.ReplacementActivities(kube, operator, jobs, postgres)
    return [
        snapshot.SnapshotActivities(kube, operator, postgres).gather_snapshot,
        children.ChildrenActivities(kube, operator, settings.defaults, postgres).apply_children,
        converge.ConvergeActivities(kube, operator, jobs).converge_phase,
        edge_actions.EdgeActivities(kube, operator, jobs, backup, postgres).run_edge_actions,
        status.StatusActivities(kube, operator).record_status,
        cleanup.CleanupActivities(kube, operator, postgres).cleanup_instance,
        backup.create_backup_job,
        backup.check_backup_request,
        backup.sync_backup_schedule,
        backup.post_event,
        operations.create_restore_job,
        operations.create_upgrade_job,
        references.ReferenceActivities(kube, operator).check_job_references,
        job_follow.FollowActivities(kube).follow_job,
        sagas.prepare_operation,
        sagas.describe_job,
        sagas.swap_database,
        sagas.swap_database_back,
        sagas.copy_database,
        sagas.drop_databases,
        sagas.run_filestore_step,
        sagas.record_operation,
        sagas.set_instance_image,
    ]


class OperatorWorker:
    """The worker of the workflows and activities, and the follower of running Jobs:
    started, run and stopped together (`async with`, or `run()`)."""

    def __init__(self, main: Worker, follower: Worker) -> None:
        self.main = main
        self.follower = follower

    async def run(self) -> None:
        """Run both until one stops (an error, or a shutdown), then stop the other."""
        async with asyncio.TaskGroup() as group:
            for worker in (self.main, self.follower):
                group.create_task(worker.run())

    async def __aenter__(self) -> OperatorWorker:
        await self.main.__aenter__()
        await self.follower.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await self.follower.__aexit__(exc_type, exc, traceback)
        finally:
            await self.main.__aexit__(exc_type, exc, traceback)


def build_worker(
    client: Client,
    settings: Settings,
    kube: api.KubeApi,
    *,
    postgres: databases.Databases | None = None,
    extra_activities: Sequence[Callable[..., Any]] = (),
) -> OperatorWorker:
    """The worker for the instance workflow and every activity, and the follower (not started).

    `postgres` defaults to `databases.Databases()` (psycopg over TCP to the
    clusters of the clusters Secret); tests pass their own only to observe or
    break connections.
    """
    every = [*activities(kube, settings, postgres), *extra_activities]
    follows = [fn for fn in every if _name(fn) == _FOLLOW]
    task_queue = settings.temporal.task_queue
    main = Worker(
        client,
        task_queue=task_queue,
        workflows=[OdooInstanceWorkflow, ScheduledBackupWorkflow, JobReferencesWorkflow],
        activities=[fn for fn in every if _name(fn) != _FOLLOW],
        activity_executor=ThreadPoolExecutor(
            max_workers=settings.worker.max_concurrent_activities,
            thread_name_prefix="odoo-activity",
        ),
        max_concurrent_activities=settings.worker.max_concurrent_activities,
        max_cached_workflows=settings.worker.max_cached_workflows,
    )
    follower = Worker(
        client,
        task_queue=naming.follow_task_queue(task_queue),
        activities=follows,
        max_concurrent_activities=FOLLOWS,
    )
    return OperatorWorker(main, follower)


def _name(fn: Callable[..., Any]) -> str:
    # The implementations are named as their wire names (activities.signatures).
    return str(getattr(fn, "__name__", ""))


async def connect(settings: TemporalSettings) -> Client:
    """The Temporal client, speaking pydantic, with TLS or an API key when configured."""
    tls: TLSConfig | bool = False
    if settings.tls_cert or settings.tls_ca or settings.api_key:
        tls = TLSConfig(
            server_root_ca_cert=_read(settings.tls_ca),
            client_cert=_read(settings.tls_cert),
            client_private_key=_read(settings.tls_key),
        )
    api_key = settings.api_key
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        data_converter=pydantic_data_converter,
        tls=tls,
        api_key=api_key.get_secret_value() if api_key is not None else None,
    )


def _read(path: Any) -> bytes | None:
    return None if path is None else bytes(path.read_bytes())
