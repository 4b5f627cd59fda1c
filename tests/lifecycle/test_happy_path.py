"""The whole happy path: the real workflow and the real activities, one instance.

A worker from odoo_operator.worker runs on the Temporal dev server against
the real control plane; the test plays the watcher (set_spec and poke
signals) and steers the simulated kubelet, while the real Job, ReplicaSet
and Deployment controllers report what the Pods do. Covers: Provisioning ->
Uninitialized (auto OdooInitJob) -> Initializing (one batch Job, its Pod
held Pending) -> Starting -> Running once the web Pod is Ready; replicas 0
-> Stopped with both Deployments at 0 and their Pods gone; replicas 2 ->
Starting -> Running; one Pod no longer ready -> Degraded -> Running again;
the instance status (phase, conditions, readyReplicas, observedGeneration)
at each step; exactly one init Job created; the PostgreSQL role exists and
creates the database and Odoo's tables (as Odoo's init would) before the
Job succeeds, so no Warning Event is posted, and report.url and
web.base.url are written there. The master password comes from the Secret
spec.adminPasswordSecretRef names (the documented form). Afterwards no
password (the role's, Odoo's master password, the cluster admin's) appears
in any ConfigMap, Event, log record (DEBUG, whole run), the workflow
history, raw or with every Temporal payload decoded, or what `kubectl get
-o yaml` shows of any object the operator touched (annotations included;
of Secrets, their metadata); neither does the smtp_password of the
configSecretRef Secret.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable
from typing import Any

import kubernetes
import pytest
from temporalio.client import Client

from activities import api
from odoo_operator import worker
from sandbox import kubelet, postgres
from tests.activities import kube_instance as ki
from tests.fixtures import operator_settings
from tests.lifecycle.driver import (
    Watcher,
    decoded_payloads,
    eventually,
    eventually_async,
    history_texts,
    leaks,
    log_texts,
    object_texts,
    start_workflow,
)
from workflows.instance import OdooInstanceWorkflow

SMTP_PASSWORD = "smtp-s3cret-value"


async def test_instance_goes_from_provisioning_to_running_and_scales_when_all_goes_well(
    temporal_client: Client,
    api_client: kubernetes.client.ApiClient,
    kube_kubelet: kubelet.KubeletThread,
    namespace: str,
    task_queue: str,
    postgres_server: postgres.EmbeddedPostgres,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    kube = api.KubeApi(api_client)
    address = ki.ClusterAddress.of(postgres_server)
    await asyncio.to_thread(ki.create_clusters_secret, kube, namespace, address)
    # Options with secrets come from a Secret (configSecretRef), never a ConfigMap
    # or a workflow payload.
    await asyncio.to_thread(
        kube.create,
        api.SECRET,
        namespace,
        {"metadata": {"name": "mail"}, "stringData": {"smtp_password": SMTP_PASSWORD}},
    )
    await asyncio.to_thread(
        kube.create,
        api.SECRET,
        namespace,
        {"metadata": {"name": "shop-admin"}, "stringData": {"password": ki.ADMIN_PASSWORD}},
    )
    ref, spec = await asyncio.to_thread(
        ki.create_instance,
        kube,
        namespace,
        "shop",
        configSecretRef="mail",
        adminPassword=None,
        adminPasswordSecretRef={"name": "shop-admin", "key": "password"},
    )
    settings = operator_settings.for_test(namespace, task_queue)

    def status() -> dict[str, Any]:
        return dict(kube.get(api.INSTANCE, namespace, "shop").get("status") or {})

    def in_phase(phase: str) -> Callable[[], dict[str, Any] | None]:
        return lambda: s if (s := status()).get("phase") == phase else None

    def replicas(name: str) -> int:
        return int(kube.get(api.DEPLOYMENT, namespace, name)["spec"]["replicas"])

    def ready(name: str, count: int) -> Callable[[], bool]:
        return lambda: ki.ready_replicas(kube, namespace, name) == count

    # The init Job's Pod waits until the test has played Odoo's init.
    kube_kubelet.hold(kubelet.pod_matcher(namespace, "shop-auto-init-init-"))

    async with worker.build_worker(temporal_client, settings, api.KubeApi(api_client)):
        handle = await start_workflow(temporal_client, task_queue, ref, spec)
        watcher = Watcher(kube, ref, handle)

        # Provisioning -> Uninitialized; the operator defaults made generation 2.
        await eventually(in_phase("Uninitialized"), "Uninitialized")
        generation = await watcher.send_spec()
        assert generation == 2
        await eventually(
            lambda: kube.find(api.job_resource("odooinitjobs"), namespace, "shop-auto-init"),
            "auto OdooInitJob",
        )

        # The watcher sees the OdooInitJob: Initializing, one batch Job.
        await watcher.poke()
        initializing = await eventually(in_phase("Initializing"), "Initializing")
        assert {c["type"]: c["status"] for c in initializing["conditions"]} == {
            "Ready": "False",
            "Progressing": "True",
        }
        job = await eventually(
            lambda: kube.find(api.JOB, namespace, "shop-auto-init-init"), "init batch Job"
        )
        assert job["spec"]["template"]["spec"]["containers"][0]["args"][:2] == ["-i", "base"]

        # The Job succeeds (having created the database, as Odoo does as the
        # role): Starting, web and cron scaled to their spec.
        finished = await asyncio.to_thread(
            ki.job_finished, kube, namespace, job["metadata"]["name"]
        )
        assert finished is None  # its Pod is held Pending
        odoo = await asyncio.to_thread(ki.create_database_as_role, postgres_server, kube, ref)
        with odoo:
            odoo.execute(ki.ODOO_CONFIG_TABLES)
        kube_kubelet.release()
        await eventually(
            lambda: ki.job_finished(kube, namespace, "shop-auto-init-init") == "Complete",
            "the Job controller says Complete",
        )
        await watcher.poke()
        starting = await eventually(in_phase("Starting"), "Starting")
        assert starting["dbInitialized"] is True
        await eventually(lambda: replicas("shop") == 1 and replicas("shop-cron") == 1, "scaled up")
        init = await asyncio.to_thread(
            kube.get, api.job_resource("odooinitjobs"), namespace, "shop-auto-init"
        )
        assert init["status"]["phase"] == "Completed"

        # The web Pod becomes ready: Running (the workflow waits for an event).
        await eventually(ready("shop", 1), "web Pod Ready")
        await watcher.poke()
        running = await eventually(in_phase("Running"), "Running")
        assert running["ready"] is True
        assert running["readyReplicas"] == 1
        assert running["observedGeneration"] == 2
        conditions = {c["type"]: c for c in running["conditions"]}
        assert (conditions["Ready"]["status"], conditions["Ready"]["reason"]) == ("True", "Running")
        assert conditions["Progressing"]["status"] == "False"

        # record_status writes the status; the workflow's own phase moves when
        # that activity completes, a moment later.
        async def workflow_running() -> bool:
            return await handle.query(OdooInstanceWorkflow.phase) == "Running"

        await eventually_async(workflow_running, "the workflow's phase query says Running")

        # replicas 0: Stopped, both Deployments at 0.
        generation = await watcher.patch_spec({"replicas": 0})
        stopped = await eventually(in_phase("Stopped"), "Stopped")
        await eventually(
            lambda: replicas("shop") == 0 and replicas("shop-cron") == 0, "scaled down"
        )
        assert stopped["ready"] is False
        assert stopped["targetReplicas"] == 0
        await eventually(
            lambda: (
                ki.deployment_pods(kube, namespace, "shop") == []
                and ki.deployment_pods(kube, namespace, "shop-cron") == []
            ),
            "every Pod gone",
        )

        # replicas 2: Starting, then Running once both pods are ready.
        generation = await watcher.patch_spec({"replicas": 2})
        await eventually(in_phase("Starting"), "Starting again")
        await eventually(lambda: replicas("shop") == 2, "web at 2")
        await eventually(ready("shop", 2), "both web Pods Ready")
        await watcher.poke()
        running = await eventually(in_phase("Running"), "Running at 2")
        assert running["readyReplicas"] == 2
        assert running["observedGeneration"] == generation

        # One Pod no longer ready: Degraded; ready again: Running.
        pods = await asyncio.to_thread(ki.deployment_pods, kube, namespace, "shop")
        lost = pods[0]["metadata"]["name"]
        await asyncio.to_thread(kube_kubelet.set_ready, namespace, lost, False)
        await eventually(ready("shop", 1), "one web Pod not Ready")
        await watcher.poke()
        degraded = await eventually(in_phase("Degraded"), "Degraded")
        assert degraded["readyReplicas"] == 1
        assert {c["type"]: c["status"] for c in degraded["conditions"]}["Ready"] == "False"
        await asyncio.to_thread(kube_kubelet.set_ready, namespace, lost, True)
        await eventually(ready("shop", 2), "both web Pods Ready again")
        await watcher.poke()
        await eventually(in_phase("Running"), "Running again")

        jobs = await asyncio.to_thread(kube.list_of, api.JOB, namespace)
        assert [j["metadata"]["name"] for j in jobs] == ["shop-auto-init-init"]
        transitions = await handle.query(OdooInstanceWorkflow.transitions)
        assert [(t.from_phase, t.to_phase) for t in transitions][:5] == [
            ("Provisioning", "Uninitialized"),
            ("Uninitialized", "Initializing"),
            ("Initializing", "Starting"),
            ("Starting", "Running"),
            ("Running", "Stopped"),
        ]
        await handle.terminate("test over")

    # No password anywhere but in its Secret.
    secrets = (
        await asyncio.to_thread(ki.db_password, kube, namespace, "shop"),
        ki.ADMIN_PASSWORD,
        postgres_server.admin_password,
        SMTP_PASSWORD,
    )
    config_maps = await asyncio.to_thread(kube.list_of, api.CONFIG_MAP, namespace)
    events = await asyncio.to_thread(kube.list_of, api.EVENT, namespace)
    assert [e["reason"] for e in events if e["type"] == "Warning"] == []
    assert len(caplog.records) > 100  # DEBUG really was captured
    assert (
        leaks(
            secrets,
            {
                "a ConfigMap": [json.dumps(cm.get("data")) for cm in config_maps],
                "an Event": [json.dumps(e) for e in events],
                "the log": log_texts(caplog.records),
                "the workflow history": await history_texts([handle]),
                "kubectl get -o yaml": await asyncio.to_thread(object_texts, kube, namespace),
            },
        )
        == []
    )
    # Odoo's init done: report.url is the web Service (the cron pods render through it).
    with ki.role_connection(postgres_server, kube, ref) as conn:
        rows = conn.execute("SELECT key, value FROM ir_config_parameter").fetchall()
    assert dict(rows) == {
        "report.url": "http://shop:8069",
        "web.base.url": "https://shop.example.com",
    }
    # The Secret form reached Odoo: the master password in the operator's Secret.
    copied = await asyncio.to_thread(kube.get, api.SECRET, namespace, "shop-db-password")
    assert base64.b64decode(copied["data"]["admin-password"]).decode() == ki.ADMIN_PASSWORD


def test_decoded_payloads_reveal_what_base64_hides() -> None:
    secret = "hidden-in-base64"
    payload = {"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": ""}
    payload["data"] = base64.b64encode(json.dumps({"pw": secret}).encode()).decode()
    history = {
        "events": [{"workflowExecutionSignaledEventAttributes": {"input": {"payloads": [payload]}}}]
    }
    assert secret not in json.dumps(history)
    assert leaks([secret], {"history": decoded_payloads(history)}) == ["history contains secret #0"]
