"""An instance never writes what it does not own: the real workflow, worker, control plane
and PostgreSQL; the test plays the watcher.

Covers the user's own Deployment `shop` (`kubectl create deployment shop
--image=nginx`) made before an OdooInstance `shop`: the instance is in
Error, its status.message naming the Deployment; a stop (replicas 0) while
in Error leaves the user's Deployment at its replicas, the status.message
and a Warning NotOwned Event say it was not scaled; deleting the instance
finishes (the instance is gone, the workflow ends) and the user's
Deployment is still there, at its replicas, its pod template unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kubernetes
from temporalio.client import Client

from activities import api, ownership
from model.payloads import DeleteRequest
from odoo_operator import worker
from sandbox import postgres
from tests.activities import kube_instance as ki
from tests.fixtures import operator_settings
from tests.lifecycle.driver import Watcher, eventually, start_workflow
from workflows.instance import OdooInstanceWorkflow


def _status(kube: api.KubeApi, namespace: str) -> dict[str, Any]:
    return dict((kube.find(api.INSTANCE, namespace, "shop") or {}).get("status") or {})


async def test_the_users_deployment_keeps_its_replicas_through_a_stop_and_the_deletion(
    temporal_client: Client,
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    task_queue: str,
    postgres_server: postgres.EmbeddedPostgres,
) -> None:
    kube = api.KubeApi(api_client)
    address = ki.ClusterAddress.of(postgres_server)
    await asyncio.to_thread(ki.create_clusters_secret, kube, namespace, address)
    users = await asyncio.to_thread(ki.create_deployment, kube, namespace, "shop")
    ref, spec = await asyncio.to_thread(ki.create_instance, kube, namespace, "shop")
    settings = operator_settings.for_test(namespace, task_queue)

    def users_deployment() -> dict[str, Any]:
        return kube.get(api.DEPLOYMENT, namespace, "shop")

    def message_with(text: str) -> Any:
        def check() -> str | None:
            status = _status(kube, namespace)
            message = status.get("message") or ""
            return message if status.get("phase") == "Error" and text in message else None

        return check

    async with worker.build_worker(temporal_client, settings, api.KubeApi(api_client)):
        handle = await start_workflow(temporal_client, task_queue, ref, spec)
        watcher = Watcher(kube, ref, handle)
        message = await eventually(
            message_with("Deployment shop exists and was not created by odoo-operator"),
            "Error naming the Deployment",
        )
        assert "OdooInstance shop" in message

        # A stop while in Error: the instance asks for 0, the user's Deployment stays.
        await watcher.patch_spec({"replicas": 0})
        await eventually(message_with("not scaled to 0"), "status.message says it was not scaled")
        events = await asyncio.to_thread(kube.list_of, api.EVENT, namespace)
        refused = [e for e in events if e["reason"] == ownership.NOT_OWNED]
        assert refused, "no NotOwned Event"
        assert {e["type"] for e in refused} == {"Warning"}
        assert all("Deployment shop" in e["message"] for e in refused)
        assert (await asyncio.to_thread(users_deployment))["spec"]["replicas"] == 1

        # The deletion finishes and leaves it too.
        await asyncio.to_thread(kube.delete, api.INSTANCE, namespace, "shop")
        await handle.signal(OdooInstanceWorkflow.delete_instance, DeleteRequest(uid=ref.uid))
        result = await asyncio.wait_for(handle.result(), timeout=60)

    assert result.cleaned_up
    assert await asyncio.to_thread(kube.find, api.INSTANCE, namespace, "shop") is None
    after = await asyncio.to_thread(users_deployment)
    assert after["metadata"]["uid"] == users["metadata"]["uid"]
    assert after["spec"]["replicas"] == 1
    assert after["spec"]["template"] == users["spec"]["template"]
