"""Drift healed on the real stack: the Kopf watcher, the worker, the control plane.

Unlike the other lifecycle tests, nobody plays the watcher here: the real
one (`run_watcher`, tests/lifecycle/conftest.py) starts the workflow and
pokes it, and the Job Pods run for real (tests/fixtures/jobs.py: the stand-in
odoo creates the database), so the instance gets to Running by itself. The
watcher starts before the worker and stops after it.

Covers (issue 19, Why 1 and 2):
- a Running instance whose Service, Ingress, ConfigMap, password Secret and
  cron Deployment are deleted out of band is not Running while they are
  missing: Degraded, ready false, status.message naming each of them (they
  are held by a finalizer first, so that the status can be read while they
  go); once they are gone the workflow restores every one within the
  deadline, posts a ChildRestored Event naming each, and is Running again;
- a password changed in the `<name>-db-password` Secret, without any spec
  change, is followed: the instance's PostgreSQL role accepts the new
  password and refuses the old one, and a CredentialsChanged Event says so.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import kubernetes
import psycopg
import pytest_asyncio
from temporalio import client as temporal_client

from activities import api
from model import naming
from odoo_operator import worker
from sandbox import podrunner, postgres
from specs import config
from tests.activities import kube_instance as ki
from tests.fixtures import operator_settings
from tests.jobs.harness import TOOLS_IMAGE, clusters_secret
from tests.lifecycle.driver import eventually
from tests.watcher.conftest import RunWatcher

HOLD = "tests.bemade.org/hold"
"""A finalizer of the test's: the object stays, being deleted, until it is removed."""
DEADLINE = 90.0
"""Seconds: the init Job runs for real, and restores wait restore_interval (10 s)."""


def _gone(name: str) -> list[tuple[api.Resource, str, str]]:
    """(resource, object name, kind) of what the test deletes from instance `name`."""
    return [
        (api.SERVICE, name, "Service"),
        (api.INGRESS, name, "Ingress"),
        (api.CONFIG_MAP, naming.config_map_name(name), "ConfigMap"),
        (api.SECRET, naming.db_password_secret_name(name), "Secret"),
        (api.DEPLOYMENT, naming.cron_deployment_name(name), "Deployment"),
    ]


async def _running_instance(kube: api.KubeApi, namespace: str, name: str) -> dict[str, Any]:
    spec = {"adminPassword": ki.ADMIN_PASSWORD, "ingress": {"hosts": [f"{name}.example.com"]}}
    body = {
        "apiVersion": naming.GROUP_VERSION,
        "kind": "OdooInstance",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {**spec, "image": "odoo:18.0"},
    }
    created = await asyncio.to_thread(kube.create, api.INSTANCE, namespace, body)
    await _phase(kube, namespace, name, "Running")
    return dict(created)


async def _phase(kube: api.KubeApi, namespace: str, name: str, phase: str) -> None:
    def reached() -> bool:
        return _status(kube, namespace, name).get("phase") == phase

    await eventually(reached, f"{name} {phase}", DEADLINE)


def _status(kube: api.KubeApi, namespace: str, name: str) -> dict[str, Any]:
    return dict(kube.get(api.INSTANCE, namespace, name).get("status") or {})


def _events(kube: api.KubeApi, namespace: str, reason: str) -> list[str]:
    return [e["message"] for e in kube.list_of(api.EVENT, namespace) if e["reason"] == reason]


@pytest_asyncio.fixture
async def operated(
    run_watcher: RunWatcher,
    temporal_client: temporal_client.Client,
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    task_queue: str,
    postgres_server: postgres.EmbeddedPostgres,
    job_pods: podrunner.LocalPodRunner,
) -> AsyncIterator[api.KubeApi]:
    """The watcher and the worker over the test's namespace (its clusters Secret
    names the embedded PostgreSQL); the watcher starts first and stops last."""
    kube = api.KubeApi(api_client)
    await asyncio.to_thread(kube.create, api.SECRET, namespace, clusters_secret(postgres_server))
    settings = operator_settings.for_test(namespace, task_queue, tools_image=TOOLS_IMAGE)
    async with run_watcher(), worker.build_worker(temporal_client, settings, kube):
        yield kube


async def test_deleted_children_named_while_missing_then_restored_with_an_event_each(
    operated: api.KubeApi, namespace: str
) -> None:
    kube = operated
    await _running_instance(kube, namespace, "shop")
    gone = _gone("shop")
    before = {}
    for res, name, _ in gone:
        held = {"metadata": {"finalizers": [HOLD]}}
        body = await asyncio.to_thread(kube.merge_patch, res, namespace, name, held)
        before[name] = body["metadata"]["uid"]
        await asyncio.to_thread(kube.delete, res, namespace, name)

    # While they go: not Running, and the status names every one.
    def named_while_missing() -> dict[str, Any] | None:
        status = _status(kube, namespace, "shop")
        message = status.get("message") or ""
        wanted = [f"{kind} {name} is being deleted" for _, name, kind in gone]
        return status if all(text in message for text in wanted) else None

    status = await eventually(named_while_missing, "each missing child named", DEADLINE)
    assert status["phase"] == "Degraded"
    assert status["ready"] is False

    for res, name, _ in gone:
        await asyncio.to_thread(
            kube.merge_patch, res, namespace, name, {"metadata": {"finalizers": None}}
        )

    def restored() -> bool:
        for res, name, _ in gone:
            live = kube.find(res, namespace, name)
            if live is None or live["metadata"]["uid"] == before[name]:
                return False
        return True

    await eventually(restored, "every child back", DEADLINE)
    await _phase(kube, namespace, "shop", "Running")
    assert _status(kube, namespace, "shop").get("message") is None
    messages = await asyncio.to_thread(_events, kube, namespace, "ChildRestored")
    for _, name, kind in gone:
        assert f"Restored {kind} {name} (it was missing)" in messages


async def test_a_password_changed_in_the_secret_is_followed_by_the_role_without_a_spec_change(
    operated: api.KubeApi,
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    postgres_server: postgres.EmbeddedPostgres,
) -> None:
    kube = operated
    by_hand = api.KubeApi(api_client, field_manager="kubectl-edit")
    created = await _running_instance(kube, namespace, "shop")
    live = await asyncio.to_thread(kube.get, api.INSTANCE, namespace, "shop")
    generation = live["metadata"]["generation"]  # the operator's defaults made it 2
    old = await asyncio.to_thread(ki.db_password, kube, namespace, "shop")
    new = "rotated-by-hand-0123456789"

    def logs_in(password: str) -> bool:
        try:
            with psycopg.connect(
                host=postgres_server.host,
                port=postgres_server.port,
                user=naming.role_name(namespace, "shop"),
                password=password,
                dbname=naming.database_name(created["metadata"]["uid"]),
                connect_timeout=5,
            ):
                return True
        except psycopg.OperationalError:
            return False

    assert await asyncio.to_thread(logs_in, old)
    encoded = base64.b64encode(new.encode()).decode()
    await asyncio.to_thread(
        by_hand.merge_patch,
        api.SECRET,
        namespace,
        naming.db_password_secret_name("shop"),
        {"data": {config.DB_PASSWORD_KEY: encoded}},
    )
    await eventually(lambda: logs_in(new), "the role accepts the new password", DEADLINE)
    assert not await asyncio.to_thread(logs_in, old)
    messages = await eventually(
        lambda: _events(kube, namespace, "CredentialsChanged"), "the Event", DEADLINE
    )
    assert messages[0].startswith("Secret shop-db-password changed")
    body = await asyncio.to_thread(kube.get, api.INSTANCE, namespace, "shop")
    assert body["metadata"]["generation"] == generation
