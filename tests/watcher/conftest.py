"""Fixtures of the watcher tests: the real Kopf watcher in the test loop, on a real control plane.

`run_watcher` starts a `watcher.startup.Watcher` as an asyncio task (logged
in with the admin client certificate, watching only the test namespace) and
cancels it at the end, which stops Kopf at once. Signals go to the Temporal
dev server on a task queue no worker polls, so each workflow's history shows
exactly what the watcher sent. Helpers read that history with deadlines,
never sleeps.

`admission_webhook` runs a watcher with its HTTPS admission server (a
serving certificate signed by the cluster CA) and registers it with the API
server through the product's ValidatingWebhookConfiguration
(watcher.webhook_configuration), limited to the test namespace; it yields
once the API server really calls it, and removes the configuration before
the watcher stops. API calls that reach the webhook must run in a thread
(`asyncio.to_thread`): the webhook answers from this test's event loop.
`refusal()` turns an ApiException into the (status, message) the API server
answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import kopf
import kubernetes
import pytest
import pytest_asyncio
from temporalio import client as temporal_client
from temporalio import service as temporal_service
from temporalio.api.enums.v1 import EventType
from temporalio.contrib.pydantic import pydantic_data_converter

from activities import api
from model import naming
from model.settings import OperatorSettings, WatcherSettings, WebhookSettings
from sandbox import controlplane, pki, processes
from watcher import webhook_configuration
from watcher.config import WatcherConfig, WebhookConfig
from watcher.startup import Watcher

_T = TypeVar("_T")
DEADLINE = 30.0
"""Seconds a condition may take: a watcher start (Kopf's first listings) plus its
signals, on 2 cores shared with the rest of the suite (15 s once ran out there)."""

RunWatcher = Callable[..., contextlib.AbstractAsyncContextManager[Watcher]]


async def eventually(check: Callable[[], Awaitable[_T | None]], what: str) -> _T:
    """Await `check` until it returns something truthy, or fail after DEADLINE."""
    deadline = time.monotonic() + DEADLINE
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached within {DEADLINE}s: {what}")
        await asyncio.sleep(0.02)  # poll interval of a condition wait, not a timing guess


@pytest.fixture
def kube(api_client: kubernetes.client.ApiClient) -> api.KubeApi:
    """The user's hands: writes under kubectl's field manager, not the operator's
    (the watcher tells the operator's own writes to a child by it)."""
    return api.KubeApi(api_client, field_manager="kubectl-edit")


@pytest.fixture
def watcher_config(namespace: str, task_queue: str) -> WatcherConfig:
    return WatcherConfig(
        watcher=WatcherSettings(
            namespaces=(namespace,), retry_delay_seconds=0.2, retry_delay_max_seconds=1.0
        ),
        operator=OperatorSettings(namespace=namespace),
        task_queue=task_queue,
        webhook=None,
    )


@pytest.fixture
def run_watcher(
    kube_login: kopf.ConnectionInfo,
    temporal_client: temporal_client.Client,
    watcher_config: WatcherConfig,
) -> RunWatcher:
    """An async context manager running one watcher; call it again for a restart."""

    @contextlib.asynccontextmanager
    async def run(
        config: WatcherConfig | None = None,
        connect: Callable[[], Awaitable[temporal_client.Client]] | None = None,
    ) -> AsyncIterator[Watcher]:
        async def same_client() -> temporal_client.Client:
            return temporal_client

        watcher = Watcher(
            config or watcher_config,
            connect or same_client,
            login=kube_login,
        )
        task = asyncio.create_task(watcher.run())
        try:
            await eventually(_flag(watcher, task), "the watcher is ready")
            yield watcher
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return run


def _flag(watcher: Watcher, task: asyncio.Task[None]) -> Callable[[], Awaitable[bool]]:
    async def ready() -> bool:
        if task.done():
            task.result()  # re-raise why the operator stopped
        return watcher.ready_flag.is_set()

    return ready


async def signals_of(handle: temporal_client.WorkflowHandle[Any, Any]) -> list[tuple[str, Any]]:
    """(signal name, decoded payload) of every signal in the workflow's history so far."""
    result: list[tuple[str, Any]] = []
    try:
        history = await handle.fetch_history()
    except temporal_service.RPCError as err:
        if err.status == temporal_service.RPCStatusCode.NOT_FOUND:
            return result  # not started yet
        raise
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            attrs = event.workflow_execution_signaled_event_attributes
            payloads = list(attrs.input.payloads)
            values = pydantic_data_converter.payload_converter.from_payloads(payloads)
            result.append((attrs.signal_name, values[0] if values else None))
    return result


async def workflow_started(
    client: temporal_client.Client, workflow_id: str
) -> temporal_client.WorkflowExecutionDescription | None:
    """The running workflow's description, or None while it does not exist (or ended)."""
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except temporal_service.RPCError as err:
        if err.status == temporal_service.RPCStatusCode.NOT_FOUND:
            return None
        raise
    running = temporal_client.WorkflowExecutionStatus.RUNNING
    return description if description.status == running else None


# --- the admission webhook, called by the API server ----------------------------------------

_S3 = {
    "bucket": "backups",
    "objectKey": "shop.zip",
    "endpoint": "http://127.0.0.1:9",
    "s3CredentialsSecretRef": {"name": "s3-credentials"},
}
JOB_SPECS: dict[str, dict[str, Any]] = {
    "OdooInitJob": {},
    "OdooUpgradeJob": {"modules": ["sale"]},
    "OdooBackupJob": {"destination": _S3},
    "OdooRestoreJob": {"source": {"type": "s3", "s3": _S3}},
}
"""A spec the CRD schema accepts for each job kind, but for its odooInstanceRef."""


def job_resource(kind: str, name: str, ref: dict[str, str]) -> dict[str, Any]:
    """A job resource of `kind` (JOB_SPECS) whose spec.odooInstanceRef is `ref`."""
    return {
        "apiVersion": naming.GROUP_VERSION,
        "kind": kind,
        "metadata": {"name": name},
        "spec": {"odooInstanceRef": ref, **JOB_SPECS[kind]},
    }


WEBHOOK_HOSTS = ["127.0.0.1", "localhost"]
PROBE_JOB = "webhook-probe"
"""Name of the dry-run job resources that probe the webhook (never stored)."""
PROBE_INSTANCE = "no-such-instance"


@pytest.fixture(scope="session")
def webhook_certificate(control_plane: controlplane.ControlPlane) -> pki.KeyPair:
    """The webhook's serving certificate, signed by the cluster CA (the caBundle)."""
    return control_plane.issue_serving_certificate("watcher-webhook", WEBHOOK_HOSTS)


@pytest.fixture
def webhook_config(
    watcher_config: WatcherConfig, webhook_certificate: pki.KeyPair
) -> WatcherConfig:
    """The watcher's configuration with its HTTPS admission server on a free port."""
    hook = WebhookConfig(
        settings=WebhookSettings(port=processes.free_port(), addr="127.0.0.1", host="127.0.0.1"),
        certfile=webhook_certificate.cert,
        pkeyfile=webhook_certificate.key,
    )
    return dataclasses.replace(watcher_config, webhook=hook)


def refusal(err: kubernetes.client.ApiException) -> tuple[int, str]:
    """(HTTP status, Status.message) of a request the API server refused."""
    body = json.loads(err.body) if err.body else {}
    return int(err.status), str(body.get("message", ""))


class CustomObjects:
    """The official client's custom-object calls for our group, one namespace, in threads."""

    def __init__(self, api_client: kubernetes.client.ApiClient, namespace: str) -> None:
        self.api = kubernetes.client.CustomObjectsApi(api_client)
        self.namespace = namespace

    async def create(self, body: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        plural = body["kind"].lower() + "s"
        extra = {"dry_run": "All"} if dry_run else {}
        created = await asyncio.to_thread(
            self.api.create_namespaced_custom_object,
            naming.API_GROUP,
            naming.API_VERSION,
            self.namespace,
            plural,
            body,
            **extra,
        )
        return dict(created)

    async def merge_patch(self, plural: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        patched = await asyncio.to_thread(
            self.api.patch_namespaced_custom_object,
            naming.API_GROUP,
            naming.API_VERSION,
            self.namespace,
            plural,
            name,
            patch,
            _content_type="application/merge-patch+json",
        )
        return dict(patched)

    async def delete(self, plural: str, name: str) -> None:
        await asyncio.to_thread(
            self.api.delete_namespaced_custom_object,
            naming.API_GROUP,
            naming.API_VERSION,
            self.namespace,
            plural,
            name,
        )


@pytest.fixture
def objects(api_client: kubernetes.client.ApiClient, namespace: str) -> CustomObjects:
    return CustomObjects(api_client, namespace)


def _probe(instance: str) -> dict[str, Any]:
    """A job resource for `instance`, created only as a dry run to ask the webhook."""
    return {
        "apiVersion": naming.GROUP_VERSION,
        "kind": "OdooInitJob",
        "metadata": {"name": PROBE_JOB},
        "spec": {"odooInstanceRef": {"name": instance}},
    }


async def indexed(objects: CustomObjects, instance: str) -> None:
    """Wait until the webhook's index knows `instance` (a dry-run job for it is allowed)."""

    async def allowed() -> bool:
        try:
            await objects.create(_probe(instance), dry_run=True)
        except kubernetes.client.ApiException as err:
            if f"no OdooInstance named {instance}" in refusal(err)[1]:
                return False
            raise
        return True

    await eventually(allowed, f"the webhook's index knows {instance}")


@pytest_asyncio.fixture
async def admission_webhook(
    run_watcher: RunWatcher,
    webhook_config: WatcherConfig,
    control_plane: controlplane.ControlPlane,
    api_client: kubernetes.client.ApiClient,
    objects: CustomObjects,
    namespace: str,
) -> AsyncIterator[Watcher]:
    """A watcher whose webhook the API server calls for the test namespace."""
    assert webhook_config.webhook is not None
    assert control_plane.ca is not None
    port = webhook_config.webhook.settings.port
    registration = kubernetes.client.AdmissionregistrationV1Api(api_client)
    body = webhook_configuration.validating_webhook_configuration(
        f"odoo-operator-{namespace}",
        control_plane.ca.cert_pem,
        base_url=f"https://127.0.0.1:{port}",
        namespaces=(namespace,),
    )
    async with run_watcher(webhook_config) as watcher:

        async def listening() -> bool:  # Kopf starts its server shortly after the watches
            return await asyncio.to_thread(processes.port_accepts, port)

        await eventually(listening, "the webhook server listens")
        await asyncio.to_thread(registration.create_validating_webhook_configuration, body)
        try:
            # The API server loads a new configuration asynchronously: probe with a
            # dry-run create (nothing is stored) until the webhook refuses it.
            async def called() -> bool:
                try:
                    await objects.create(_probe(PROBE_INSTANCE), dry_run=True)
                except kubernetes.client.ApiException as err:
                    _, message = refusal(err)
                    if "denied the request" in message:
                        return True
                    raise
                return False

            await eventually(called, "the API server calls the webhook")
            yield watcher
        finally:
            await asyncio.to_thread(
                registration.delete_validating_webhook_configuration, body["metadata"]["name"]
            )
