"""The floors the operator's convergence is compared with.

(a) Temporal alone: `benchmarks.temporal_floor` as a process of its own on
the run's dev server.

(b) The straight line: for each of N OdooInstances (created at once in a
namespace the watcher does not watch), a script makes the writes and
database calls the operator makes on the way to Running, with the
operator's own manifest builders and PostgreSQL code, one after the other,
with no orchestration: finalizer and defaults; credentials Secret;
ServiceAccount, Role, RoleBinding, ConfigMap, Service (server-side apply);
filestore PVC; Ingress; web and cron Deployments at 0; the PostgreSQL role;
status.activeCluster; the OdooInitJob and its batch Job, then wait for the
Job (the kubelet's init Pod creates the database); the OdooInitJob
Completed; both Deployments scaled to 1, then wait for web to be ready;
status Running. Requests go through `activities.api.KubeApi` as the
floor's own ServiceAccount (audited like the operator's), 32 at a time (the
worker's activity threads); waits are watch events, never polls.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kubernetes
from pydantic import SecretStr

from activities import api, children, clusters, converge, databases, lookup
from benchmarks import observe, stack
from model import naming
from model.crds import OdooInstanceSpec
from model.payloads import InstanceRef
from model.settings import InstanceDefaults
from specs import config, defaults, facts, jobs, network, rbac, storage, workloads

__all__ = ["StraightLine", "finish_temporal_alone", "start_temporal_alone"]

_THREADS = 32


def start_temporal_alone(
    address: str, workflows: int, activities: int, local: int
) -> subprocess.Popen[bytes]:
    """Start floor (a) as a process (sample it while it runs, then
    `finish_temporal_alone`)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.temporal_floor",
            "--address",
            address,
            "--workflows",
            str(workflows),
            "--activities",
            str(activities),
            "--local-activities",
            str(local),
        ],
        cwd=stack.ROOT,
        stdout=subprocess.PIPE,
    )


def finish_temporal_alone(process: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    """Floor (a)'s JSON answer; RuntimeError when it failed."""
    out, _ = process.communicate(timeout=timeout)
    if process.returncode != 0:
        raise RuntimeError(f"benchmarks.temporal_floor exited with {process.returncode}")
    figures: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return figures


class _Instance:
    """One instance of the straight line: its facts once provisioned."""

    def __init__(self, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        self.body = body
        self.ref = InstanceRef(namespace=meta["namespace"], name=meta["name"], uid=meta["uid"])
        self.inst: facts.Instance | None = None
        self.init_resource = ""


class StraightLine:
    """Floor (b) on a run's Stack, driven by the suite's watches."""

    def __init__(self, run: stack.Stack, jobs: observe.Watch, deployments: observe.Watch) -> None:
        self._jobs = jobs
        self._deployments = deployments
        self._defaults = InstanceDefaults()
        self._cluster = clusters.Cluster.model_validate(
            {"name": "main", **run.cluster_entry(stack.FLOOR_PG_USER)}
        )
        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(run.kubeconfig(stack.FLOOR_ACCOUNT)),
            client_configuration=configuration,
        )
        configuration.connection_pool_maxsize = _THREADS
        self._client = kubernetes.client.ApiClient(configuration)
        self._kube = api.KubeApi(self._client)
        self._postgres = databases.Databases()

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]

    async def drive(self, bodies: list[tuple[dict[str, Any], float]]) -> list[float]:
        """Take each created instance (with the time its create returned) to Running;
        each one's seconds from create to Running."""
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="floor") as pool:

            async def one(body: dict[str, Any], created: float) -> float:
                item = _Instance(body)
                await loop.run_in_executor(pool, self._provision, item)
                assert item.inst is not None
                job = naming.batch_job_name(item.init_resource, "init")
                await self._jobs.until((item.ref.namespace, job), _job_complete)
                web = (item.ref.namespace, naming.web_deployment_name(item.ref.name))
                ready = self._deployments.until(web, _web_ready)
                await loop.run_in_executor(pool, self._start, item)
                await ready
                await loop.run_in_executor(pool, self._running, item)
                return time.monotonic() - created

            return list(await asyncio.gather(*(one(body, at) for body, at in bodies)))

    def _provision(self, item: _Instance) -> None:
        kube, ref = self._kube, item.ref
        live = children.ensure_finalizer(kube, item.body)
        patch = defaults.defaults_patch(live.get("spec") or {}, self._defaults)
        if patch:
            live = kube.merge_patch(api.INSTANCE, ref.namespace, ref.name, {"spec": patch})
        spec = OdooInstanceSpec.model_validate(live["spec"]).redacted()
        inst = lookup.instance_facts(ref, spec, self._cluster)
        item.inst = inst
        password = secrets.token_hex(24)
        secret = kube.create(
            api.SECRET,
            ref.namespace,
            config.db_secret(
                inst, password=password, admin_password=str(live["spec"]["adminPassword"])
            ),
        )
        version = str(secret["metadata"]["resourceVersion"])
        for res, body in (
            (api.SERVICE_ACCOUNT, rbac.service_account(inst)),
            (api.ROLE, rbac.role(inst)),
            (api.ROLE_BINDING, rbac.role_binding(inst)),
            (api.CONFIG_MAP, config.config_map(inst)),
            (api.SERVICE, network.service(inst)),
        ):
            kube.apply(res, ref.namespace, body)
        kube.create(api.PVC, ref.namespace, storage.pvc(inst))
        kube.apply(api.INGRESS, ref.namespace, network.ingress(inst))
        for build in (workloads.web_deployment, workloads.cron_deployment):
            kube.apply(
                api.DEPLOYMENT, ref.namespace, build(inst, replicas=0, credentials_version=version)
            )
        self._postgres.ensure_role(self._cluster, inst.database.user, SecretStr(password))
        kube.merge_patch(
            api.INSTANCE,
            ref.namespace,
            ref.name,
            {"status": {"activeCluster": self._cluster.name}},
            sub="status",
        )
        resource = kube.create(
            api.job_resource("odooinitjobs"), ref.namespace, jobs.auto_init_job(inst)
        )
        item.init_resource = str(resource["metadata"]["name"])
        kube.create(
            api.JOB,
            ref.namespace,
            jobs.init_job(
                inst,
                resource_name=item.init_resource,
                resource_uid=str(resource["metadata"]["uid"]),
                modules=list(spec.init.modules),
                demo=spec.init.demo,
            ),
        )

    def _start(self, item: _Instance) -> None:
        kube, ref = self._kube, item.ref
        kube.merge_patch(
            api.job_resource("odooinitjobs"),
            ref.namespace,
            item.init_resource,
            {"status": {"phase": "Completed"}},
            sub="status",
        )
        converge.scale(kube, ref, naming.web_deployment_name(ref.name), 1)
        converge.scale(kube, ref, naming.cron_deployment_name(ref.name), 1)

    def _running(self, item: _Instance) -> None:
        self._kube.merge_patch(
            api.INSTANCE,
            item.ref.namespace,
            item.ref.name,
            {"status": {"phase": "Running", "ready": True, "dbInitialized": True}},
            sub="status",
        )


def _job_complete(job: dict[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Complete" and c.get("status") == "True" for c in conditions)


def _web_ready(deployment: dict[str, Any]) -> bool:
    return int((deployment.get("status") or {}).get("readyReplicas") or 0) >= 1
