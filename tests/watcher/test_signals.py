"""What the watcher sends to Temporal, seen in the workflow's history.

Covers: signal-with-start on create (workflow id, memo uid, whole redacted
spec and generation, no admin password anywhere in the history); a new
generation on spec change; Kopf's last-handled-configuration annotation
never holds the inline master password (`kubectl get -o yaml` and describe
show it in the spec only), and a change of that password alone still sends
the new generation; pokes on owned Deployment, batch Job and job
resource changes and on a clusters Secret change; delete_instance on
deletion (Kopf adds no finalizer of its own), including a cleanup workflow
started when none runs any more; every instance resumed after a watcher
restart; the wire names pinned to the workflow class.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import yaml
from temporalio import client as temporal_client

from activities import api
from model import naming
from model.payloads import DeleteRequest, Poke, SpecUpdate
from model.settings import DEFAULT_CLUSTERS_SECRET
from tests.activities import kube_instance as ki
from tests.watcher.conftest import RunWatcher, eventually, signals_of, workflow_started
from watcher import signals as watcher_temporal
from watcher import startup
from workflows.instance import OdooInstanceWorkflow


def _instance_body(namespace: str, name: str, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooInstance",
        "metadata": {"name": name, "namespace": namespace, **meta},
        "spec": {"adminPassword": ki.ADMIN_PASSWORD, "ingress": {"hosts": [f"{name}.example.com"]}},
    }


async def _create(kube: api.KubeApi, namespace: str, name: str, **meta: Any) -> dict[str, Any]:
    body = _instance_body(namespace, name, **meta)
    return dict(await asyncio.to_thread(kube.create, api.INSTANCE, namespace, body))


def _release(kube: api.KubeApi, namespace: str, name: str) -> None:
    """Drop our finalizer (no worker runs the cleanup here), so the namespace can go."""
    kube.merge_patch(api.INSTANCE, namespace, name, {"metadata": {"finalizers": None}})


async def _signal_named(
    handle: temporal_client.WorkflowHandle[Any, Any], name: str, count: int = 1
) -> list[Any]:
    async def check() -> list[Any] | None:
        found = [value for signal, value in await signals_of(handle) if signal == name]
        return found if len(found) >= count else None

    return await eventually(check, f"{count} {name} signal(s)")


def test_wire_names_match_the_workflow_class_when_pinned_as_strings() -> None:
    defn = OdooInstanceWorkflow.__temporal_workflow_definition  # type: ignore[attr-defined]
    assert defn.name == watcher_temporal.WORKFLOW_TYPE
    assert {
        watcher_temporal.SET_SPEC_SIGNAL,
        watcher_temporal.POKE_SIGNAL,
        watcher_temporal.DELETE_SIGNAL,
    } <= set(defn.signals)


async def test_workflow_started_with_whole_redacted_spec_when_instance_created(
    run_watcher: RunWatcher,
    temporal_client: temporal_client.Client,
    kube: api.KubeApi,
    namespace: str,
) -> None:
    async with run_watcher():
        started = time.monotonic()
        created = await _create(kube, namespace, "shop")
        workflow_id = naming.workflow_id(namespace, "shop")
        description = await eventually(
            lambda: workflow_started(temporal_client, workflow_id), "workflow started"
        )
        elapsed = time.monotonic() - started
        handle = temporal_client.get_workflow_handle(workflow_id)
        (update,) = await _signal_named(handle, "set_spec")

    assert description.workflow_type == "OdooInstance"
    assert await description.memo_value("uid") == created["metadata"]["uid"]
    assert isinstance(update, dict)
    spec_update = SpecUpdate.model_validate(update)
    assert spec_update.ref.uid == created["metadata"]["uid"]
    assert spec_update.generation == 1
    assert spec_update.spec == ki.redacted_spec(created)
    history = await handle.fetch_history()
    assert ki.ADMIN_PASSWORD.encode() not in history.to_json().encode()
    print(f"create -> workflow started: {elapsed:.3f} s")
    # Kopf added no finalizer of its own.
    stored = await asyncio.to_thread(kube.get, api.INSTANCE, namespace, "shop")
    assert not stored["metadata"].get("finalizers")


async def test_new_generation_sent_when_spec_changes(
    run_watcher: RunWatcher,
    temporal_client: temporal_client.Client,
    kube: api.KubeApi,
    namespace: str,
) -> None:
    async with run_watcher():
        await _create(kube, namespace, "shop")
        handle = temporal_client.get_workflow_handle(naming.workflow_id(namespace, "shop"))
        await _signal_named(handle, "set_spec")
        await asyncio.to_thread(
            kube.merge_patch, api.INSTANCE, namespace, "shop", {"spec": {"replicas": 3}}
        )
        updates = await _signal_named(handle, "set_spec", count=2)

    latest = SpecUpdate.model_validate(updates[-1])
    assert (latest.generation, latest.spec.replicas) == (2, 3)


async def test_kopf_annotation_holds_no_master_password_and_its_change_still_reaches_the_workflow(
    run_watcher: RunWatcher,
    temporal_client: temporal_client.Client,
    kube: api.KubeApi,
    namespace: str,
) -> None:
    changed = "a-new-master-password"
    annotation = f"{startup.KOPF_PREFIX}/last-handled-configuration"

    def handled(before: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The instance once Kopf stored its annotation (another one than `before`'s)."""
        body = kube.get(api.INSTANCE, namespace, "shop")
        text = (body["metadata"].get("annotations") or {}).get(annotation)
        old = ((before or {}).get("metadata", {}).get("annotations") or {}).get(annotation)
        return body if text and text != old else None

    async with run_watcher():
        await _create(kube, namespace, "shop")
        handle = temporal_client.get_workflow_handle(naming.workflow_id(namespace, "shop"))
        await _signal_named(handle, "set_spec")
        first = await eventually(lambda: asyncio.to_thread(handled), "Kopf's annotation")
        await asyncio.to_thread(
            kube.merge_patch, api.INSTANCE, namespace, "shop", {"spec": {"adminPassword": changed}}
        )
        updates = await _signal_named(handle, "set_spec", count=2)
        second = await eventually(
            lambda: asyncio.to_thread(handled, first), "Kopf's annotation after the change"
        )

    assert SpecUpdate.model_validate(updates[-1]).generation == 2
    for body, password in ((first, ki.ADMIN_PASSWORD), (second, changed)):
        metadata = yaml.safe_dump(body["metadata"])  # what `kubectl get -o yaml` shows of it
        assert annotation in metadata
        assert password not in metadata
        assert body["spec"]["adminPassword"] == password  # the spec itself is the user's


async def test_instance_poked_when_owned_deployment_job_or_job_resource_changes(
    run_watcher: RunWatcher,
    temporal_client: temporal_client.Client,
    kube: api.KubeApi,
    namespace: str,
) -> None:
    labels = naming.instance_labels("shop")
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "shop", "labels": labels},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "shop"}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "odoo", "image": "odoo:18.0"}]},
            },
        },
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "shop-init", "labels": labels},
        "spec": {
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "init", "image": "odoo:18.0"}],
                },
            }
        },
    }
    init_job = {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooInitJob",
        "metadata": {"name": "shop-init"},
        "spec": {"odooInstanceRef": {"name": "shop"}},
    }
    async with run_watcher():
        await _create(kube, namespace, "shop")
        handle = temporal_client.get_workflow_handle(naming.workflow_id(namespace, "shop"))
        await _signal_named(handle, "set_spec")
        await asyncio.to_thread(kube.create, api.DEPLOYMENT, namespace, deployment)
        await asyncio.to_thread(kube.create, api.JOB, namespace, job)
        await asyncio.to_thread(kube.create, api.job_resource("odooinitjobs"), namespace, init_job)
        # Creating a Deployment or Job pokes nobody (the workflow made them);
        # scaling by hand does, and so does the Job finishing (the simulated
        # kubelet lets its Pod succeed). The real controllers write status
        # too, so wait for the three reasons, not a count.
        await asyncio.to_thread(
            kube.merge_patch, api.DEPLOYMENT, namespace, "shop", {"spec": {"replicas": 1}}
        )
        expected = {
            "Deployment shop changed",
            "Job shop-init changed",
            "OdooInitJob shop-init changed",
        }

        async def reasons() -> set[str] | None:
            pokes = [value for name, value in await signals_of(handle) if name == "poke"]
            seen = {Poke.model_validate(poke).reason for poke in pokes}
            return seen if expected <= seen else None

        await eventually(reasons, "pokes for the Deployment, the Job and the OdooInitJob")


async def test_every_instance_poked_when_clusters_secret_changes(
    run_watcher: RunWatcher,
    temporal_client: temporal_client.Client,
    kube: api.KubeApi,
    namespace: str,
) -> None:
    async with run_watcher():
        for name in ("one", "two"):
            await _create(kube, namespace, name)
        handles = [
            temporal_client.get_workflow_handle(naming.workflow_id(namespace, name))
            for name in ("one", "two")
        ]
        for handle in handles:
            await _signal_named(handle, "set_spec")
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": DEFAULT_CLUSTERS_SECRET},
            "stringData": {"clusters.yaml": "main: {host: pg, port: 5432, default: true}\n"},
        }
        await asyncio.to_thread(kube.create, api.SECRET, namespace, secret)
        for handle in handles:
            (poke,) = await _signal_named(handle, "poke")
            assert Poke.model_validate(poke).reason == "clusters Secret changed"


async def test_delete_signalled_when_instance_deleted_behind_our_finalizer(
    run_watcher: RunWatcher,
    temporal_client: temporal_client.Client,
    kube: api.KubeApi,
    namespace: str,
) -> None:
    async with run_watcher():
        created = await _create(kube, namespace, "shop", finalizers=[naming.FINALIZER])
        handle = temporal_client.get_workflow_handle(naming.workflow_id(namespace, "shop"))
        await _signal_named(handle, "set_spec")
        await asyncio.to_thread(kube.delete, api.INSTANCE, namespace, "shop")
        # Sent on every event while the deletionTimestamp is set (Kopf's own
        # annotation writes are events too): at least one, all for this uid.
        requests = await _signal_named(handle, "delete_instance")
        stored = await asyncio.to_thread(kube.get, api.INSTANCE, namespace, "shop")
    await asyncio.to_thread(_release, kube, namespace, "shop")

    uids = {DeleteRequest.model_validate(request).uid for request in requests}
    assert uids == {created["metadata"]["uid"]}
    assert stored["metadata"]["finalizers"] == [naming.FINALIZER]


async def test_cleanup_workflow_started_when_deleted_instance_has_none_running(
    run_watcher: RunWatcher,
    temporal_client: temporal_client.Client,
    kube: api.KubeApi,
    namespace: str,
) -> None:
    workflow_id = naming.workflow_id(namespace, "shop")
    async with run_watcher():
        created = await _create(kube, namespace, "shop", finalizers=[naming.FINALIZER])
        await eventually(lambda: workflow_started(temporal_client, workflow_id), "started")
    await temporal_client.get_workflow_handle(workflow_id).terminate("operator lost it")
    await asyncio.to_thread(kube.delete, api.INSTANCE, namespace, "shop")
    async with run_watcher():
        await eventually(lambda: workflow_started(temporal_client, workflow_id), "restarted")
        handle = temporal_client.get_workflow_handle(workflow_id)
        requests = await _signal_named(handle, "delete_instance")
    await asyncio.to_thread(_release, kube, namespace, "shop")
    uids = {DeleteRequest.model_validate(request).uid for request in requests}
    assert uids == {created["metadata"]["uid"]}


async def test_every_instance_signalled_when_watcher_restarts(
    run_watcher: RunWatcher,
    temporal_client: temporal_client.Client,
    kube: api.KubeApi,
    namespace: str,
) -> None:
    names = ("one", "two", "three")
    for name in names:
        await _create(kube, namespace, name)
    async with run_watcher():
        for name in names:
            wid = naming.workflow_id(namespace, name)
            await eventually(lambda wid=wid: workflow_started(temporal_client, wid), name)
    for name in names:
        await temporal_client.get_workflow_handle(naming.workflow_id(namespace, name)).terminate()
    async with run_watcher():
        for name in names:
            wid = naming.workflow_id(namespace, name)
            await eventually(lambda wid=wid: workflow_started(temporal_client, wid), name)
