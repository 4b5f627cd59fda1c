"""What the job-resource tests share: a real worker driving real instances whose Jobs run.

Not a test module. `Operator` runs the worker of odoo_operator.worker (every
real activity) on the Temporal dev server, against the session control
plane; the kubelet runs this test's Job Pods for real (tests.fixtures.jobs:
scripts/jobs/ and the stand-in odoo, on the embedded PostgreSQL and the S3
server). The test plays the watcher: it starts each instance's workflow
and pokes it after creating a job resource (the workflow also polls while a
Job runs). The test namespace doubles as the operator namespace (it holds
the clusters Secret).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import kubernetes
import psycopg
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
    WorkflowSettings,
)
from model.settings import DEFAULT_CLUSTERS_SECRET
from odoo_operator import worker
from sandbox import podrunner, postgres, s3
from tests.fixtures import operator_settings
from workflows.instance import OdooInstanceWorkflow

_T = TypeVar("_T")
Handle = WorkflowHandle[OdooInstanceWorkflow, InstanceWorkflowResult]
DEADLINE = 90.0
TOOLS_IMAGE = "ghcr.io/bemade/odoo-operator-tools:test"
FAST = WorkflowSettings(
    resync_interval=timedelta(seconds=5), job_poll_interval=timedelta(seconds=1)
)


async def eventually(check: Callable[[], _T | None], what: str, deadline: float = DEADLINE) -> _T:
    """Poll `check` (in a thread: it calls the API) until truthy, with a deadline."""
    until = time.monotonic() + deadline
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return result
        if time.monotonic() > until:
            raise TimeoutError(f"not reached within {deadline}s: {what}")
        await asyncio.sleep(0.2)


@dataclass
class Instance:
    """One OdooInstance under the test's worker."""

    operator: Operator
    ref: InstanceRef
    handle: Handle

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def database(self) -> str:
        return naming.database_name(self.ref.uid)

    @property
    def filestore(self) -> Path:
        claim = self.operator.runner.work_dir / "claims" / self.ref.namespace
        return claim / naming.pvc_name(self.name) / "filestore" / self.database

    def status(self) -> dict[str, Any]:
        body = self.operator.kube.get(api.INSTANCE, self.ref.namespace, self.name)
        return dict(body.get("status") or {})

    async def wait_phase(self, phase: str, deadline: float = DEADLINE) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            status = self.status()
            return status if status.get("phase") == phase else None

        return await eventually(check, f"{self.name} in {phase}", deadline)

    async def poke(self) -> None:
        await self.handle.signal(OdooInstanceWorkflow.poke, Poke(reason="test"))

    async def send_spec(self) -> None:
        body = await asyncio.to_thread(
            self.operator.kube.get, api.INSTANCE, self.ref.namespace, self.name
        )
        spec = OdooInstanceSpec.model_validate(body["spec"]).redacted()
        update = SpecUpdate(ref=self.ref, generation=body["metadata"]["generation"], spec=spec)
        await self.handle.signal(OdooInstanceWorkflow.set_spec, update)

    async def transitions(self) -> list[str]:
        records = await self.handle.query(OdooInstanceWorkflow.transitions)
        return [f"{r.from_phase}->{r.to_phase}" for r in records]

    async def wait_transition(self, transition: str, deadline: float = DEADLINE) -> None:
        until = time.monotonic() + deadline
        while transition not in await self.transitions():
            if time.monotonic() > until:
                raise TimeoutError(f"not reached within {deadline}s: {self.name} {transition}")
            await asyncio.sleep(0.05)  # poll interval of a condition wait

    def connect(self) -> psycopg.Connection[Any]:
        """A connection to the instance's database as its own role (as Odoo connects)."""
        server = self.operator.postgres
        secret = self.operator.kube.get(
            api.SECRET, self.ref.namespace, naming.db_password_secret_name(self.name)
        )
        password = base64.b64decode(secret["data"]["password"]).decode()
        return psycopg.connect(
            host=server.host,
            port=server.port,
            user=naming.role_name(self.ref.namespace, self.name),
            password=password,
            dbname=self.database,
            autocommit=True,
        )

    def replicas(self, deployment: str) -> int:
        body = self.operator.kube.get(api.DEPLOYMENT, self.ref.namespace, deployment)
        return int(body["spec"]["replicas"])


@dataclass
class Operator:
    """The worker and what the tests need around it (see the module docstring)."""

    client: Client
    api_client: kubernetes.client.ApiClient
    namespace: str
    task_queue: str
    postgres: postgres.EmbeddedPostgres
    s3: s3.S3Server
    runner: podrunner.LocalPodRunner
    kube: api.KubeApi = field(init=False)

    def __post_init__(self) -> None:
        self.kube = api.KubeApi(self.api_client)

    async def create_instance(self, name: str, **spec: Any) -> Instance:
        body = {
            "apiVersion": naming.GROUP_VERSION,
            "kind": "OdooInstance",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {
                "adminPassword": "admin-secret",
                "ingress": {"hosts": [f"{name}.example.com"]},
                "image": "odoo:18.0",
                **spec,
            },
        }
        created = await asyncio.to_thread(self.kube.create, api.INSTANCE, self.namespace, body)
        ref = InstanceRef(namespace=self.namespace, name=name, uid=created["metadata"]["uid"])
        instance_spec = OdooInstanceSpec.model_validate(created["spec"]).redacted()
        handle = await self.client.start_workflow(
            OdooInstanceWorkflow.run,
            InstanceWorkflowInput(
                state=MachineState(ref=ref, spec=instance_spec, generation=1), settings=FAST
            ),
            id=naming.workflow_id(self.namespace, name),
            task_queue=self.task_queue,
        )
        return Instance(self, ref, handle)

    async def running_instance(self, name: str, **spec: Any) -> Instance:
        """An instance through auto-init (the stand-in odoo makes its database) to Running."""
        instance = await self.create_instance(name, **spec)
        # Uninitialized may last a few milliseconds (the auto-init is made in the
        # same wake): the workflow's transitions say it was reached.
        await instance.wait_transition("Provisioning->Uninitialized")
        await instance.send_spec()  # the operator's defaults made a new generation
        await instance.poke()
        await instance.wait_phase("Running")
        return instance

    def create_job(self, kind: str, spec: dict[str, Any], name: str | None = None) -> str:
        name = name or f"{kind.lower().removeprefix('odoo')}-{uuid.uuid4().hex[:6]}"
        body = {
            "apiVersion": naming.GROUP_VERSION,
            "kind": kind,
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": spec,
        }
        self.kube.create(api.job_resource(kind.lower() + "s"), self.namespace, body)
        return name

    def batch_job_failed(self, name: str) -> bool:
        """Whether the batch Job `name` exists with its Failed condition (the Job
        controller's)."""
        status = (self.kube.find(api.JOB, self.namespace, name) or {}).get("status") or {}
        return any(
            c.get("type") == "Failed" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )

    def job(self, kind: str, name: str) -> dict[str, Any]:
        return self.kube.get(api.job_resource(kind.lower() + "s"), self.namespace, name)

    async def wait_job(self, kind: str, name: str, *phases: str) -> dict[str, Any]:
        phases = phases or ("Completed", "Failed")

        def check() -> dict[str, Any] | None:
            body = self.job(kind, name)
            return body if (body.get("status") or {}).get("phase") in phases else None

        return await eventually(check, f"{kind} {name} in {phases}")

    def s3_secret(self, name: str = "s3-credentials", secret_key: str | None = None) -> str:
        self.kube.create(
            api.SECRET,
            self.namespace,
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name},
                "stringData": {
                    "accessKey": self.s3.access_key,
                    "secretKey": secret_key or self.s3.secret_key,
                },
            },
        )
        return name

    def destination(self, bucket: str, key: str, credentials: str) -> dict[str, Any]:
        return {
            "bucket": bucket,
            "objectKey": key,
            "endpoint": self.s3.endpoint,
            "s3CredentialsSecretRef": {"name": credentials},
        }


def clusters_secret(
    server: postgres.EmbeddedPostgres, *, address: tuple[str, int] | None = None
) -> dict[str, Any]:
    """The clusters Secret naming `server` (its admin login) as cluster main,
    at `address` instead of the server's own when given."""
    host, port = address or (server.host, server.port)
    text = yaml.safe_dump(
        {
            "main": {
                "host": host,
                "port": port,
                "adminUser": server.admin_user,
                "adminPassword": server.admin_password,
                "default": True,
            }
        }
    )
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": DEFAULT_CLUSTERS_SECRET},
        "data": {"clusters.yaml": base64.b64encode(text.encode()).decode()},
    }


@contextlib.asynccontextmanager
async def operator(
    client: Client,
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    task_queue: str,
    server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
    runner: podrunner.LocalPodRunner,
    **jobs: Any,
) -> AsyncIterator[Operator]:
    """The worker over the test's namespace and task queue; `jobs` are JobSettings."""
    kube = api.KubeApi(api_client)
    await asyncio.to_thread(kube.create, api.SECRET, namespace, clusters_secret(server))
    config = operator_settings.for_test(
        namespace, task_queue, reporting_instance="test-worker", tools_image=TOOLS_IMAGE, **jobs
    )
    async with worker.build_worker(client, config, api.KubeApi(api_client)):
        yield Operator(client, api_client, namespace, task_queue, server, s3_server, runner)
