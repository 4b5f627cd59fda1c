"""What lifecycle tests share: the watcher's part, condition waits, leak scans.

Not a test module. The tests play the watcher (set_spec, poke and
delete_instance signals) and steer the session's simulated kubelet (hold a
Pod Pending, make one not ready); the worker is the real one from
odoo_operator.worker, and the real Deployment, ReplicaSet and Job
controllers report what the Pods do.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import yaml
from temporalio.client import Client, WorkflowHandle

from activities import api
from model import naming
from model.crds import OdooInstanceSpec
from model.payloads import (
    InstanceRef,
    InstanceWorkflowInput,
    InstanceWorkflowResult,
    MachineState,
    Poke,
    SpecUpdate,
)
from tests.activities import kube_instance as ki
from workflows.instance import OdooInstanceWorkflow

_T = TypeVar("_T")
DEADLINE = 60.0
"""Seconds a condition may take. Generous: on a loaded 2-core machine the
control plane, Temporal, PostgreSQL and BATCH concurrent cycles share the CPU
(the garbage collector alone can take 20 s to collect a batch); a deadline
is only reached when something is wrong."""

Handle = WorkflowHandle[OdooInstanceWorkflow, InstanceWorkflowResult]


async def eventually(
    check: Callable[[], _T | None],
    what: str,
    deadline: float = DEADLINE,
    interval: float = 0.02,
) -> _T:
    """Poll `check` (run in a thread: it calls the API) until truthy, with a deadline.

    `interval` is the poll period of a condition wait, not a timing guess; many
    concurrent waits should poll less often (they share one GIL with the worker).
    """
    until = time.monotonic() + deadline
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return result
        if time.monotonic() > until:
            raise TimeoutError(f"not reached within {deadline}s: {what}")
        await asyncio.sleep(interval)


async def eventually_async(
    check: Callable[[], Awaitable[_T | None]], what: str, deadline: float = DEADLINE
) -> _T:
    """Like `eventually`, for a check that awaits (a workflow query)."""
    until = time.monotonic() + deadline
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > until:
            raise TimeoutError(f"not reached within {deadline}s: {what}")
        await asyncio.sleep(0.05)


async def start_workflow(
    client: Client, task_queue: str, ref: InstanceRef, spec: OdooInstanceSpec
) -> Handle:
    """Start the instance workflow as the watcher's signal-with-start would."""
    return await client.start_workflow(
        OdooInstanceWorkflow.run,
        InstanceWorkflowInput(state=MachineState(ref=ref, spec=spec, generation=1)),
        id=naming.workflow_id(ref.namespace, ref.name),
        task_queue=task_queue,
    )


class Watcher:
    """What the Kopf watcher would send: the whole spec with its generation, and pokes."""

    def __init__(self, kube: api.KubeApi, ref: InstanceRef, handle: WorkflowHandle[Any, Any]):
        self.kube, self.ref, self.handle = kube, ref, handle

    async def send_spec(self) -> int:
        body = await asyncio.to_thread(
            self.kube.get, api.INSTANCE, self.ref.namespace, self.ref.name
        )
        generation = int(body["metadata"]["generation"])
        update = SpecUpdate(ref=self.ref, generation=generation, spec=ki.redacted_spec(body))
        await self.handle.signal(OdooInstanceWorkflow.set_spec, update)
        return generation

    async def poke(self) -> None:
        await self.handle.signal(OdooInstanceWorkflow.poke, Poke(reason="test"))

    async def patch_spec(self, patch: dict[str, Any]) -> int:
        await asyncio.to_thread(
            self.kube.merge_patch, api.INSTANCE, self.ref.namespace, self.ref.name, {"spec": patch}
        )
        return await self.send_spec()


async def history_texts(handles: Iterable[WorkflowHandle[Any, Any]]) -> list[str]:
    """The whole Temporal history of each workflow, as JSON text, followed by every
    payload in it decoded (payload data is base64 in the JSON, so a secret inside
    a signal, input or result would not show in the raw text)."""
    texts: list[str] = []
    for handle in handles:
        raw = (await handle.fetch_history()).to_json()
        texts.append(raw)
        texts.extend(decoded_payloads(json.loads(raw)))
    return texts


def decoded_payloads(node: Any) -> list[str]:
    """The decoded `data` of every Temporal payload (`{metadata, data}`) under `node`."""
    found: list[str] = []
    if isinstance(node, dict):
        data = node.get("data")
        if isinstance(data, str) and isinstance(node.get("metadata"), dict):
            found.append(base64.b64decode(data).decode("utf-8", "replace"))
        for value in node.values():
            found.extend(decoded_payloads(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(decoded_payloads(item))
    return found


def log_texts(records: Iterable[logging.LogRecord]) -> list[str]:
    """Every captured log line, formatted as a handler would (args, exception text)."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return [formatter.format(record) for record in records]


TOUCHED = (
    api.INSTANCE,
    api.job_resource("odooinitjobs"),
    api.job_resource("odoobackupjobs"),
    api.DEPLOYMENT,
    api.Resource("apps/v1", "replicasets"),
    api.Resource("v1", "pods"),
    api.JOB,
    api.SERVICE,
    api.INGRESS,
    api.CONFIG_MAP,
    api.PVC,
    api.SERVICE_ACCOUNT,
    api.ROLE,
    api.ROLE_BINDING,
    api.EVENT,
    api.SECRET,
)
"""Every kind of object the operator writes, or that controllers make from what it wrote."""


def object_texts(
    kube: api.KubeApi, namespace: str, *, inline_password_of: str | None = None
) -> list[str]:
    """What `kubectl get <kind> -o yaml` shows of every object of TOUCHED in
    `namespace`, annotations included. Of a Secret only its metadata: its data is
    where a password belongs. `inline_password_of` names an OdooInstance whose
    spec.adminPassword the user wrote in it (the compatibility form): that field
    alone is left out, since the user put it there."""
    texts: list[str] = []
    for res in TOUCHED:
        for item in kube.list_of(res, namespace):
            if res is api.SECRET:
                item = {"metadata": item.get("metadata")}
            elif res is api.INSTANCE and item["metadata"]["name"] == inline_password_of:
                item = {**item, "spec": {**item["spec"], "adminPassword": None}}
            texts.append(yaml.safe_dump(item))
    return texts


def leaks(secrets: Iterable[str], places: dict[str, Iterable[str]]) -> list[str]:
    """`<place> contains secret #<n>` for every secret found in a text of a place."""
    found: list[str] = []
    wanted = [s for s in secrets if s]
    for place, texts in places.items():
        for text in texts:
            for n, secret in enumerate(wanted):
                if secret in text:
                    found.append(f"{place} contains secret #{n}")
    return sorted(set(found))
