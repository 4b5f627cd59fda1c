"""Deleting instances through the real workflow, worker, control plane and PostgreSQL.

Covers, over CYCLES create/delete cycles run BATCH at a time: the workflow
applies the instance (its role appears), the role creates the database and
keeps a connection to it open (as Odoo's init and pods do), the
OdooInstance is deleted (the finalizer holds it) and delete_instance
signalled; then the workflow completes with cleaned_up=True, the instance is
gone, and neither the role nor the database exists; in the end the garbage
collector leaves no object labelled bemade.org/instance in the namespace
(owner references; it deletes them in the background, so the scan waits).
The operator posts no Warning Event. No password of any cycle appears in its
ConfigMap, in an Event, in the log records (DEBUG) or in any workflow history.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import kubernetes
import pytest
from temporalio.client import Client

from activities import api
from model import naming
from model.payloads import DeleteRequest, InstanceWorkflowResult
from odoo_operator import worker
from sandbox import postgres
from tests.activities import kube_instance as ki
from tests.fixtures import operator_settings
from tests.lifecycle.driver import (
    DEADLINE,
    Handle,
    eventually,
    history_texts,
    leaks,
    log_texts,
    start_workflow,
)
from workflows.instance import OdooInstanceWorkflow

CYCLES = 50
BATCH = 25
_T = TypeVar("_T")

# Everything an instance may own, directly or through its job resources.
OWNED = (
    api.DEPLOYMENT,
    api.SERVICE,
    api.INGRESS,  # no HTTPRoute: these instances use an Ingress (no Gateway API here)
    api.CONFIG_MAP,
    api.SECRET,
    api.PVC,
    api.SERVICE_ACCOUNT,
    api.ROLE,
    api.ROLE_BINDING,
    api.JOB,
    api.job_resource("odooinitjobs"),
)


async def test_nothing_is_left_behind_when_instances_are_created_and_deleted_50_times(
    temporal_client: Client,
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    task_queue: str,
    postgres_server: postgres.EmbeddedPostgres,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    kube = api.KubeApi(api_client)
    await asyncio.to_thread(
        ki.create_clusters_secret, kube, namespace, ki.ClusterAddress.of(postgres_server)
    )
    settings = operator_settings.for_test(namespace, task_queue)
    secrets: list[str] = [ki.ADMIN_PASSWORD, postgres_server.admin_password]
    config_maps: list[str] = []
    handles: list[Handle] = []

    # Blocking calls run on a pool of our own: the loop's default one has
    # cpu_count + 4 threads, which BATCH cycles would queue on.
    pool = ThreadPoolExecutor(max_workers=4 * BATCH, thread_name_prefix="cycle")
    # One superuser connection for every check (a login per poll costs a SCRAM exchange).
    su = await asyncio.to_thread(ki.superuser, postgres_server)

    async def call(fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    def exists(catalog: str, column: str, value: str) -> bool:
        query = f"SELECT 1 FROM {catalog} WHERE {column} = %s"  # constants only
        return su.execute(query, (value,)).fetchone() is not None

    def leftovers() -> list[str]:
        """Every object of the namespace that belongs to an instance."""
        return [
            f"{res.plural}/{item['metadata']['name']}"
            for res in OWNED
            for item in kube.list_of(res, namespace, label_selector=naming.INSTANCE_LABEL)
        ]

    async def cycle(n: int) -> None:
        name = f"shop-{n}"
        ref, spec = await call(ki.create_instance, kube, namespace, name)
        handle = await start_workflow(temporal_client, task_queue, ref, spec)
        handles.append(handle)
        role, database = naming.role_name(namespace, name), naming.database_name(ref.uid)
        await eventually(
            lambda: exists("pg_roles", "rolname", role), f"role of {name}", interval=0.1
        )
        odoo = await call(ki.create_database_as_role, postgres_server, kube, ref)
        secrets.append(await call(ki.db_password, kube, namespace, name))
        conf = await call(kube.get, api.CONFIG_MAP, namespace, f"{name}-odoo-conf")
        config_maps.append(json.dumps(conf.get("data")))

        await call(kube.delete, api.INSTANCE, namespace, name)
        held = await call(kube.get, api.INSTANCE, namespace, name)
        assert held["metadata"]["deletionTimestamp"]
        await handle.signal(OdooInstanceWorkflow.delete_instance, DeleteRequest(uid=ref.uid))
        result = await asyncio.wait_for(handle.result(), timeout=DEADLINE)
        odoo.close()  # terminated by the DROP DATABASE ... WITH (FORCE)

        assert result == InstanceWorkflowResult(ref=ref, phase=result.phase, cleaned_up=True)
        assert await call(kube.find, api.INSTANCE, namespace, name) is None
        assert not await call(exists, "pg_roles", "rolname", role)
        assert not await call(exists, "pg_database", "datname", database)

    started = time.monotonic()
    async with worker.build_worker(temporal_client, settings, api.KubeApi(api_client)):
        for first in range(0, CYCLES, BATCH):
            await asyncio.gather(*(cycle(n) for n in range(first, first + BATCH)))
    # The garbage collector deletes the children in the background: wait for it.
    with contextlib.suppress(TimeoutError):
        await eventually(lambda: not leftovers(), "every child collected", interval=0.2)
    assert await call(leftovers) == []
    elapsed = time.monotonic() - started
    su.close()
    pool.shutdown()
    print(f"{CYCLES} create/delete cycles, {BATCH} at a time: {elapsed:.1f} s")

    # The operator's own Events: the API server's Service IP repair loop may
    # post a spurious ClusterIPNotAllocated Warning while this many Services
    # are created and deleted at once; it is not about the operator.
    events = await asyncio.to_thread(kube.list_of, api.EVENT, namespace)
    ours = [e for e in events if e.get("reportingComponent") == naming.FIELD_MANAGER]
    assert ours  # PhaseChanged, at least
    assert [e["reason"] for e in ours if e["type"] == "Warning"] == []
    assert len(secrets) == CYCLES + 2
    assert (
        leaks(
            secrets,
            {
                "a ConfigMap": config_maps,
                "an Event": [json.dumps(e) for e in events],
                "the log": log_texts(caplog.records),
                "a workflow history": await history_texts(handles),
            },
        )
        == []
    )
