"""Stand-ins for the kubelet and the Deployment/Job controllers, for the emulator.

The emulator runs no controllers, so nothing ever becomes ready by itself.
``fake_deployment_ready``/``fake_job_succeeded``/``fake_job_failed`` write the
status those controllers would write, through the ``/status`` subresource; they
are synchronous (the official client), so call them from test threads or via
``asyncio.to_thread``. ``SimulatedKubelet`` is asynchronous (aiohttp): it
watches every Deployment and Job in the emulator and, after ``delay`` seconds,
marks Deployments ready at ``spec.replicas`` and Jobs succeeded; the sandbox
runs it on its own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import aiohttp
import kubernetes

__all__ = [
    "SimulatedKubelet",
    "deployment_status",
    "deployment_status_patch",
    "fake_deployment_ready",
    "fake_job_failed",
    "fake_job_succeeded",
    "job_status",
]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def deployment_status(deployment: dict[str, Any], ready: int) -> dict[str, Any]:
    """The status the deployment controller writes once ``ready`` pods are ready."""
    spec_replicas = int((deployment.get("spec") or {}).get("replicas", 1))
    now = _now()
    status: dict[str, Any] = {
        "observedGeneration": deployment["metadata"].get("generation", 1),
        "replicas": spec_replicas,
        "updatedReplicas": spec_replicas,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "conditions": [
            {
                "type": "Available",
                "status": "True" if ready >= spec_replicas else "False",
                "reason": "MinimumReplicasAvailable"
                if ready >= spec_replicas
                else "MinimumReplicasUnavailable",
                "message": "Deployment has minimum availability."
                if ready >= spec_replicas
                else "Deployment does not have minimum availability.",
                "lastUpdateTime": now,
                "lastTransitionTime": now,
            },
            {
                "type": "Progressing",
                "status": "True",
                "reason": "NewReplicaSetAvailable",
                "message": (
                    f'ReplicaSet "{deployment["metadata"]["name"]}" has successfully progressed.'
                ),
                "lastUpdateTime": now,
                "lastTransitionTime": now,
            },
        ],
    }
    if spec_replicas > ready:
        status["unavailableReplicas"] = spec_replicas - ready
    # The controller omits zero counts (Go omitempty).
    return {k: v for k, v in status.items() if v != 0 or k == "observedGeneration"}


_DEPLOYMENT_COUNTS = (
    "replicas",
    "updatedReplicas",
    "readyReplicas",
    "availableReplicas",
    "unavailableReplicas",
)


def deployment_status_patch(status: dict[str, Any]) -> dict[str, Any]:
    """A merge patch of ``/status`` that writes ``status`` as the controller would.

    The controller replaces the whole status, so a count that drops to zero
    disappears; a merge patch keeps keys it does not mention, so the omitted
    counts are set to null (removed) explicitly. Without this a Deployment
    scaled to 0 kept ``readyReplicas`` of its last ready state forever.
    """
    removed = {key: None for key in _DEPLOYMENT_COUNTS if key not in status}
    return {"status": {**status, **removed}}


def job_status(job: dict[str, Any], *, succeeded: bool) -> dict[str, Any]:
    """The terminal status the Job controller (1.31+) writes."""
    now = _now()
    start = ((job.get("status") or {}).get("startTime")) or now
    spec = job.get("spec") or {}
    if succeeded:
        reason, message = "CompletionsReached", "Reached expected number of succeeded pods"
        kinds = ("SuccessCriteriaMet", "Complete")
    else:
        reason, message = "BackoffLimitExceeded", "Job has reached the specified backoff limit"
        kinds = ("FailureTarget", "Failed")
    status: dict[str, Any] = {
        "startTime": start,
        "active": 0,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
        "conditions": [
            {
                "type": t,
                "status": "True",
                "reason": reason,
                "message": message,
                "lastProbeTime": now,
                "lastTransitionTime": now,
            }
            for t in kinds
        ],
    }
    if succeeded:
        status["succeeded"] = int(spec.get("completions", 1))
        status["completionTime"] = now
    else:
        status["failed"] = int(spec.get("backoffLimit", 6)) + 1
    return status


def _client(api_client_or_url: kubernetes.client.ApiClient | str) -> kubernetes.client.ApiClient:
    if isinstance(api_client_or_url, kubernetes.client.ApiClient):
        return api_client_or_url
    configuration = kubernetes.client.Configuration()
    configuration.host = api_client_or_url
    return kubernetes.client.ApiClient(configuration)


def fake_deployment_ready(
    api_client_or_url: kubernetes.client.ApiClient | str, namespace: str, name: str, ready: int
) -> None:
    """Write the Deployment's status as if ``ready`` of its pods were ready (sync)."""
    apps = kubernetes.client.AppsV1Api(_client(api_client_or_url))
    client = apps.api_client
    deployment = client.sanitize_for_serialization(apps.read_namespaced_deployment(name, namespace))
    apps.patch_namespaced_deployment_status(
        name,
        namespace,
        deployment_status_patch(deployment_status(deployment, ready)),
        _content_type="application/merge-patch+json",
    )


def _finish_job(
    api_client_or_url: kubernetes.client.ApiClient | str, namespace: str, name: str, succeeded: bool
) -> None:
    batch = kubernetes.client.BatchV1Api(_client(api_client_or_url))
    job = batch.api_client.sanitize_for_serialization(batch.read_namespaced_job(name, namespace))
    batch.patch_namespaced_job_status(
        name,
        namespace,
        {"status": job_status(job, succeeded=succeeded)},
        _content_type="application/merge-patch+json",
    )


def fake_job_succeeded(
    api_client_or_url: kubernetes.client.ApiClient | str, namespace: str, name: str
) -> None:
    """Complete the Job as its controller would after its pod succeeded (sync)."""
    _finish_job(api_client_or_url, namespace, name, succeeded=True)


def fake_job_failed(
    api_client_or_url: kubernetes.client.ApiClient | str, namespace: str, name: str
) -> None:
    """Fail the Job as its controller does when the backoff limit is exceeded (sync)."""
    _finish_job(api_client_or_url, namespace, name, succeeded=False)


class SimulatedKubelet:
    """Watches Deployments and Jobs and, ``delay`` s after a change, makes them ready/succeeded."""

    def __init__(
        self,
        url: str,
        *,
        delay: float = 0.5,
        job_effect: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    ) -> None:
        """`job_effect(job)` runs before a Job is marked succeeded: what its pod
        would have done (the sandbox creates the database an init Job makes)."""
        self.url = url.rstrip("/")
        self.delay = delay
        self.job_effect = job_effect
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: dict[tuple[str, str, str], asyncio.Task[None]] = {}

    async def __aenter__(self) -> SimulatedKubelet:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self._tasks = [
            asyncio.create_task(self._watch("/apis/apps/v1/deployments", self._on_deployment)),
            asyncio.create_task(self._watch("/apis/batch/v1/jobs", self._on_job)),
        ]

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._pending.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks, self._pending = [], {}
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _watch(self, path: str, handle: Any) -> None:
        assert self._session is not None
        resource_version = ""
        while True:
            params = {"watch": "true", "timeoutSeconds": "300"}
            if resource_version:
                params["resourceVersion"] = resource_version
            try:
                async with self._session.get(
                    self.url + path, params=params, timeout=aiohttp.ClientTimeout(total=None)
                ) as response:
                    async for line in response.content:
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        obj = event["object"]
                        if event["type"] == "ERROR":
                            resource_version = ""
                            break
                        resource_version = obj["metadata"]["resourceVersion"]
                        if event["type"] in ("ADDED", "MODIFIED"):
                            handle(obj)
            except (TimeoutError, aiohttp.ClientError):
                await asyncio.sleep(
                    self.delay
                )  # the emulator restarts or is stopping; retry the watch

    def _schedule(self, kind: str, obj: dict[str, Any], action: Any) -> None:
        key = (kind, obj["metadata"]["namespace"], obj["metadata"]["name"])
        previous = self._pending.pop(key, None)
        if previous is not None:
            previous.cancel()  # debounce: only the latest state matters
        self._pending[key] = asyncio.create_task(self._later(key, action))

    async def _later(self, key: tuple[str, str, str], action: Any) -> None:
        await asyncio.sleep(self.delay)
        with contextlib.suppress(aiohttp.ClientError):
            await action()
        if self._pending.get(key) is asyncio.current_task():
            del self._pending[key]

    def _on_deployment(self, deployment: dict[str, Any]) -> None:
        if deployment["metadata"].get("deletionTimestamp"):
            return
        status = deployment.get("status") or {}
        replicas = int((deployment.get("spec") or {}).get("replicas", 1))
        if (
            status.get("observedGeneration") == deployment["metadata"].get("generation")
            and int(status.get("readyReplicas", 0)) == replicas
        ):
            return
        self._schedule(
            "deployments",
            deployment,
            lambda: self._patch_status("/apis/apps/v1", "deployments", deployment, None),
        )

    def _on_job(self, job: dict[str, Any]) -> None:
        status = job.get("status") or {}
        if (
            job["metadata"].get("deletionTimestamp")
            or status.get("succeeded")
            or status.get("failed")
            or (job.get("spec") or {}).get("suspend")
        ):
            return
        self._schedule("jobs", job, lambda: self._run_job(job))

    async def _run_job(self, job: dict[str, Any]) -> None:
        if self.job_effect is not None:
            await self.job_effect(job)
        await self._patch_status("/apis/batch/v1", "jobs", job, True)

    async def _patch_status(
        self, prefix: str, plural: str, obj: dict[str, Any], succeeded: bool | None
    ) -> None:
        assert self._session is not None
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        url = f"{self.url}{prefix}/namespaces/{ns}/{plural}/{name}"
        async with self._session.get(url) as response:
            if response.status != 200:
                return
            current = await response.json()
        if plural == "deployments":
            replicas = int((current.get("spec") or {}).get("replicas", 1))
            patch = deployment_status_patch(deployment_status(current, replicas))
        else:
            patch = {"status": job_status(current, succeeded=bool(succeeded))}
        headers = {"Content-Type": "application/merge-patch+json"}
        async with self._session.patch(f"{url}/status", data=json.dumps(patch), headers=headers):
            pass
