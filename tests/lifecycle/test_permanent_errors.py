"""API answers retrying cannot fix, end to end: the real workflow, worker, control plane
and PostgreSQL; the test plays the watcher.

Covers:
- spec.filestore.storageSize raised on a bound claim whose StorageClass does
  not allow expansion: the real API server answers 403 to the PVC patch; the
  instance goes to Error with status.message naming the PVC and carrying the
  API's message, a Warning ApplyRefused Event says the same, the site keeps
  running meanwhile; a stop (replicas 0) still scales web and cron to 0; the
  deletion completes (database and role dropped, the instance gone);
- the instance's namespace deleted right after its first apply (the role and
  database exist): the namespace controller deletes the children, the next
  apply's creates are refused (403 "being terminated") and shown in
  status.message; the delete signal is still acted on: under reclaimPolicy
  Delete the database and role are dropped, under Retain both are kept; the
  finalizer goes and so does the namespace.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes
import pytest
from psycopg import sql
from temporalio.client import Client

from activities import api
from model import naming
from model.payloads import DeleteRequest
from odoo_operator import worker
from sandbox import postgres
from tests.activities import kube_instance as ki
from tests.fixtures import operator_settings
from tests.lifecycle.driver import Watcher, eventually, start_workflow
from workflows.instance import OdooInstanceWorkflow

RESIZE_REFUSED = "only dynamically provisioned pvc can be resized"
"""The PersistentVolumeClaimResize admission plugin's 403 when the class forbids expansion."""


@pytest.fixture
def fixed_storage_class(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> Iterator[tuple[str, Callable[[str], None]]]:
    """A StorageClass without allowVolumeExpansion (the default) and a binder of
    claims to new volumes of it (no provisioner runs); all removed afterwards."""
    storage = kubernetes.client.StorageV1Api(api_client)
    name = f"fixed-{namespace}"
    storage.create_storage_class({"metadata": {"name": name}, "provisioner": "example.com/sandbox"})
    volumes: list[str] = []

    def bind(claim: str) -> None:
        volumes.append(ki.bind_claim(api_client, namespace, claim))

    try:
        yield name, bind
    finally:
        for volume in volumes:
            ki.delete_volume(api_client, volume)
        storage.delete_storage_class(name)


def _status(kube: api.KubeApi, namespace: str, name: str = "shop") -> dict[str, Any]:
    body = kube.find(api.INSTANCE, namespace, name) or {}
    return dict(body.get("status") or {})


def _replicas(kube: api.KubeApi, namespace: str, name: str) -> int:
    return int(kube.get(api.DEPLOYMENT, namespace, name)["spec"]["replicas"])


async def test_error_shown_stop_applied_and_deletion_done_when_the_volume_cannot_grow(
    temporal_client: Client,
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    task_queue: str,
    postgres_server: postgres.EmbeddedPostgres,
    fixed_storage_class: tuple[str, Callable[[str], None]],
) -> None:
    storage_class, bind = fixed_storage_class
    kube = api.KubeApi(api_client)
    address = ki.ClusterAddress.of(postgres_server)
    await asyncio.to_thread(ki.create_clusters_secret, kube, namespace, address)
    ref, spec = await asyncio.to_thread(
        ki.create_instance,
        kube,
        namespace,
        "shop",
        filestore={"storageClass": storage_class, "storageSize": "1Gi"},
    )
    role = naming.role_name(namespace, "shop")
    database = naming.database_name(ref.uid)
    pvc = naming.pvc_name("shop")
    settings = operator_settings.for_test(namespace, task_queue)

    async with worker.build_worker(temporal_client, settings, api.KubeApi(api_client)):
        handle = await start_workflow(temporal_client, task_queue, ref, spec)
        watcher = Watcher(kube, ref, handle)
        await eventually(lambda: _status(kube, namespace).get("phase") == "Uninitialized", "Uninit")
        await eventually(lambda: ki.role_exists(postgres_server, role), "the role")
        # What Odoo's init does; then play the PersistentVolume controller.
        (await asyncio.to_thread(ki.create_database_as_role, postgres_server, kube, ref)).close()
        await asyncio.to_thread(bind, pvc)
        await watcher.send_spec()  # the operator defaults made generation 2
        await watcher.poke()  # the auto OdooInitJob appeared
        await eventually(lambda: _status(kube, namespace).get("dbInitialized"), "initialized")
        await watcher.poke()  # its batch Job finished
        await eventually(lambda: _replicas(kube, namespace, "shop") == 1, "web scaled to 1")

        # Grow the volume: the API server refuses it for good.
        await watcher.patch_spec({"filestore": {"storageSize": "2Gi"}})

        def in_error() -> str | None:
            status = _status(kube, namespace)
            return status.get("message") if status.get("phase") == "Error" else None

        message = await eventually(in_error, "Error with a message")
        assert f"persistentvolumeclaims {pvc} in namespace {namespace}" in message
        assert RESIZE_REFUSED in message
        events = await asyncio.to_thread(kube.list_of, api.EVENT, namespace)
        refused = [e for e in events if e["reason"] == "ApplyRefused"]
        assert refused, "no ApplyRefused Event"
        assert {e["type"] for e in refused} == {"Warning"}
        assert all(pvc in e["message"] and RESIZE_REFUSED in e["message"] for e in refused)
        claim = await asyncio.to_thread(kube.get, api.PVC, namespace, pvc)
        assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
        assert _replicas(kube, namespace, "shop") == 1  # the site keeps running

        # A stop is still served.
        await watcher.patch_spec({"replicas": 0})
        await eventually(
            lambda: (
                _replicas(kube, namespace, "shop") == 0
                and _replicas(kube, namespace, "shop-cron") == 0
            ),
            "web and cron scaled to 0",
        )
        assert _status(kube, namespace)["phase"] == "Error"  # the volume still cannot grow

        # And so is the deletion.
        await asyncio.to_thread(kube.delete, api.INSTANCE, namespace, "shop")
        await handle.signal(OdooInstanceWorkflow.delete_instance, DeleteRequest(uid=ref.uid))
        result = await asyncio.wait_for(handle.result(), timeout=60)

    assert result.cleaned_up
    assert await asyncio.to_thread(kube.find, api.INSTANCE, namespace, "shop") is None
    assert not await asyncio.to_thread(ki.database_exists, postgres_server, database)
    assert not await asyncio.to_thread(ki.role_exists, postgres_server, role)


@pytest.fixture
def doomed_namespace(api_client: kubernetes.client.ApiClient) -> Iterator[str]:
    """A namespace the test deletes; afterwards our finalizer is released if a
    failed test left it, so that the namespace can go."""
    name = f"doomed-{uuid.uuid4().hex[:10]}"
    core = kubernetes.client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": name}})
    try:
        yield name
    finally:
        kube = api.KubeApi(api_client)
        for item in kube.list_of(api.INSTANCE, name):
            kube.merge_patch(
                api.INSTANCE, name, item["metadata"]["name"], {"metadata": {"finalizers": None}}
            )
        try:
            core.delete_namespace(name)
        except kubernetes.client.ApiException as err:
            if err.status != 404:
                raise


def _namespace_gone(api_client: kubernetes.client.ApiClient, name: str) -> bool:
    try:
        kubernetes.client.CoreV1Api(api_client).read_namespace(name)
    except kubernetes.client.ApiException as err:
        if err.status == 404:
            return True
        raise
    return False


@pytest.mark.parametrize("reclaim", ["Delete", "Retain"])
async def test_delete_acted_on_and_namespace_gone_when_it_is_deleted_under_the_instance(
    temporal_client: Client,
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    doomed_namespace: str,
    task_queue: str,
    postgres_server: postgres.EmbeddedPostgres,
    reclaim: str,
) -> None:
    # The operator's namespace (clusters Secret) stays; the instance's goes.
    doomed = doomed_namespace
    kube = api.KubeApi(api_client)
    address = ki.ClusterAddress.of(postgres_server)
    await asyncio.to_thread(ki.create_clusters_secret, kube, namespace, address)
    ref, spec = await asyncio.to_thread(
        ki.create_instance, kube, doomed, "shop", database={"reclaimPolicy": reclaim}
    )
    role = naming.role_name(doomed, "shop")
    database = naming.database_name(ref.uid)
    settings = operator_settings.for_test(namespace, task_queue)

    async with worker.build_worker(temporal_client, settings, api.KubeApi(api_client)):
        handle = await start_workflow(temporal_client, task_queue, ref, spec)
        watcher = Watcher(kube, ref, handle)
        await eventually(lambda: ki.role_exists(postgres_server, role), "the role")
        (await asyncio.to_thread(ki.create_database_as_role, postgres_server, kube, ref)).close()

        # The namespace goes: its controller deletes the children; our
        # finalizer holds the instance.
        await asyncio.to_thread(kubernetes.client.CoreV1Api(api_client).delete_namespace, doomed)
        await eventually(
            lambda: kube.find(api.SECRET, doomed, naming.db_password_secret_name("shop")) is None,
            "the namespace controller deleted the children",
        )
        await eventually(
            lambda: (
                (kube.find(api.INSTANCE, doomed, "shop") or {})
                .get("metadata", {})
                .get("deletionTimestamp")
            ),
            "the instance being deleted",
        )

        # An apply now must create them again: refused for good, and shown.
        await watcher.send_spec()

        def refused() -> str | None:
            message = _status(kube, doomed).get("message") or ""
            return message if "being terminated" in message else None

        message = await eventually(refused, "status.message says the namespace is terminating")
        assert f"in namespace {doomed}" in message

        # The watcher's delete signal is acted on.
        await handle.signal(OdooInstanceWorkflow.delete_instance, DeleteRequest(uid=ref.uid))
        result = await asyncio.wait_for(handle.result(), timeout=60)

    assert result.cleaned_up
    await eventually(lambda: _namespace_gone(api_client, doomed), "the namespace gone")
    kept = reclaim == "Retain"
    assert await asyncio.to_thread(ki.database_exists, postgres_server, database) is kept
    assert await asyncio.to_thread(ki.role_exists, postgres_server, role) is kept
    if kept:
        with ki.superuser(postgres_server) as su:
            su.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database)))
            su.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
