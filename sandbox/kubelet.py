"""A simulated kubelet (and scheduler) for Pods on a real kube-apiserver.

There is no container runtime here, so `SimulatedKubelet` registers one Node
and plays its kubelet: it binds every unscheduled Pod to that Node (the
scheduler's job), then writes the Pod status a kubelet would. The real
controllers do the rest: the ReplicaSet and Deployment controllers count
ready Pods into readyReplicas and roll out, the Job controller sets Complete
or Failed from the Pods' phases (so backoffLimit means what it says).

- A Deployment's Pod (any Pod not owned by a Job) becomes Running and Ready
  `ready_delay` seconds after it is bound.
- A Job's Pod runs: by default it succeeds at once; with `run_commands` its
  containers' commands run as local processes (`podrunner`), and the exit
  code decides Succeeded or Failed; the last log lines of a failed container
  become its termination message, as the kubelet does with
  terminationMessagePolicy FallbackToLogsOnError.
- A Pod being deleted is confirmed gone (grace period 0), as the kubelet does
  once its containers stopped.
- While a Job's Pod runs, its status names the container that runs when the
  job runner tells (`StepSource`: podrunner.LocalPodRunner does): the init
  containers before it terminated, it running, the rest waiting, as a node
  shows a Pod going through its init containers.
- Container logs: the kubelet's read-only HTTPS endpoint serves
  `/containerLogs/<namespace>/<pod>/<container>` (its last `tailLines` when
  asked) from the job runner when it keeps logs (`LogSource`:
  podrunner.LocalPodRunner does), so `kubectl logs` and the API's pods/log
  work, while the container runs too; the Node's daemonEndpoints name its port.
  The API server does not verify a kubelet's serving certificate unless
  given --kubelet-certificate-authority (the control plane is not): a
  throwaway self-signed one serves.

Tests steer it: `hold` keeps matching Pods Pending until `release`,
`fail_jobs` makes matching Job Pods fail, `set_ready` flips a running Pod's
readiness. It must not write anything but Nodes, Pod bindings, Pod status and
Pod deletions.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import shutil
import socket
import ssl
import tempfile
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

import aiohttp
from aiohttp import web

from sandbox import pki

__all__ = [
    "NODE_NAME",
    "STEP_CHECK_SECONDS",
    "KubeletThread",
    "LogSource",
    "PodMatcher",
    "PodOutcome",
    "SimulatedKubelet",
    "StepSource",
    "pod_matcher",
]

NODE_NAME = "sandbox-node"
_CONFIRM = "confirm-deletion"
"""Name of the task confirming a Pod's deletion."""
logger = logging.getLogger(__name__)

PodMatcher = Callable[[dict[str, Any]], bool]
Getter = Callable[[str], Awaitable[dict[str, Any] | None]]
"""GETs an API path (None on 404): how a runner reads Secrets and ConfigMaps."""


@dataclass(frozen=True)
class PodOutcome:
    """How a Job's Pod ended, as a runner reports it.

    `failed` names the container that failed (so an init container's failure
    shows in initContainerStatuses, as on a real node); `messages` are the
    containers' termination message files (terminationMessagePath), which a
    kubelet puts in their terminated state, a failed one's log tail standing
    in when it wrote none (FallbackToLogsOnError); `deadline_exceeded`: the
    Pod's activeDeadlineSeconds stopped it (status.reason DeadlineExceeded).
    """

    code: int
    log: str = ""
    failed: str | None = None
    messages: dict[str, str] = field(default_factory=dict)
    deadline_exceeded: bool = False


JobRunner = Callable[
    [dict[str, Any], Getter],
    Awaitable[tuple[int, str] | tuple[int, str, str] | PodOutcome],
]
"""Runs a Job's Pod; returns a PodOutcome, or (exit code, last log lines) and
optionally, on a failure, the name of the container that failed."""


@runtime_checkable
class LogSource(Protocol):
    """A job runner that keeps its containers' logs."""

    def container_log(self, namespace: str, pod: str, container: str) -> bytes | None:
        """The log of that container (None: it never ran here)."""
        ...


@runtime_checkable
class StepSource(Protocol):
    """A job runner that tells which container of a Pod runs now."""

    def running_container(self, namespace: str, pod: str) -> str | None:
        """The container of that Pod running now (None: none, or not one of ours)."""
        ...


STEP_CHECK_SECONDS = 0.2
"""How often a running Job Pod's status follows its runner's step (StepSource)."""


def pod_matcher(namespace: str | None = None, prefix: str = "") -> PodMatcher:
    """Matches Pods in `namespace` (any when None) whose name starts with `prefix`."""

    def match(pod: dict[str, Any]) -> bool:
        meta = pod["metadata"]
        name: str = meta["name"]
        return (namespace is None or meta["namespace"] == namespace) and name.startswith(prefix)

    return match


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _job_owned(pod: dict[str, Any]) -> bool:
    return any(ref.get("kind") == "Job" for ref in pod["metadata"].get("ownerReferences") or [])


@dataclass
class _Override:
    match: PodMatcher
    value: bool = True


class SimulatedKubelet:
    """One Node's kubelet for every Pod of the cluster (see the module docstring).

    `server` is the apiserver URL and `ssl_context` carries the CA and a client
    certificate allowed to write nodes, pods/binding, pods/status and delete
    pods (the admin one in tests and the sandbox).
    """

    def __init__(
        self,
        server: str,
        ssl_context: ssl.SSLContext,
        *,
        ready_delay: float = 0.0,
        job_runner: JobRunner | None = None,
        node_name: str = NODE_NAME,
    ) -> None:
        self.server = server.rstrip("/")
        self.ssl_context = ssl_context
        self.ready_delay = ready_delay
        self.job_runner = job_runner
        self.node_name = node_name
        self._session: aiohttp.ClientSession | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._pods: dict[str, asyncio.Task[None]] = {}
        self._holds: list[PodMatcher] = []
        self._fails: list[PodMatcher] = []
        self._released = asyncio.Event()
        self._log_server: web.AppRunner | None = None
        self._log_port = 0
        self._cert_dir: Path | None = None
        self.started_pods: list[str] = []
        """`namespace/name` of every Pod this kubelet started, in order (for tests)."""

    # --- lifecycle ----------------------------------------------------------

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
        """Register the Node (Ready) and start watching Pods."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self.ssl_context, limit=20)
        )
        await self._serve_logs()
        await self._register_node()
        self._watch_task = asyncio.create_task(self._watch_pods(), name="simulated-kubelet")

    async def stop(self) -> None:
        # Close the session before cancelling: it then closes the connections
        # of requests in flight (the watch) and waits for their TLS shutdown.
        # A request cancelled first closes its connection without waiting, and
        # the loop could go away with the socket still open (ResourceWarning).
        if self._session is not None:
            await self._session.close()
            self._session = None
        tasks = [t for t in [self._watch_task, *self._pods.values()] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._watch_task, self._pods = None, {}
        if self._log_server is not None:
            await self._log_server.cleanup()
            self._log_server = None
        if self._cert_dir is not None:
            shutil.rmtree(self._cert_dir, ignore_errors=True)
            self._cert_dir = None
        await asyncio.sleep(0)  # connection_lost callbacks of the closed transports

    # --- container logs -----------------------------------------------------

    async def _serve_logs(self) -> None:
        """The kubelet endpoint the API server proxies pods/log to (see the module docstring)."""
        self._cert_dir = Path(tempfile.mkdtemp(prefix="simulated-kubelet-"))
        pair = pki.CertificateAuthority(self._cert_dir).issue(
            "kubelet", self.node_name, hosts=("127.0.0.1",)
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pair.cert, pair.key)
        app = web.Application()
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._container_log)
        self._log_server = web.AppRunner(app, access_log=None)
        await self._log_server.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._log_port = sock.getsockname()[1]
        await web.SockSite(self._log_server, sock, ssl_context=context).start()

    async def _container_log(self, request: web.Request) -> web.Response:
        info = request.match_info
        runner = self.job_runner
        log = None
        if isinstance(runner, LogSource):
            log = runner.container_log(info["namespace"], info["pod"], info["container"])
        tail = request.query.get("tailLines")
        if log and tail is not None and tail.isdigit():
            log = b"".join(log.splitlines(keepends=True)[-int(tail) :]) if int(tail) else b""
        return web.Response(body=log or b"", content_type="text/plain")

    # --- what tests steer ---------------------------------------------------

    def hold(self, match: PodMatcher) -> None:
        """Keep matching Pods Pending (not started) until `release()`."""
        self._holds.append(match)

    def release(self) -> None:
        """Drop every hold; held Pods start now."""
        self._holds.clear()
        self._released.set()

    def fail_jobs(self, match: PodMatcher) -> None:
        """Matching Job Pods fail (exit code 1) instead of running."""
        self._fails.append(match)

    async def set_ready(self, namespace: str, name: str, ready: bool) -> None:
        """Flip a running Pod's Ready condition (its containers stay running)."""
        pod = await self._get(f"/api/v1/namespaces/{namespace}/pods/{name}")
        if pod is not None:
            await self._write_status(pod, self._running_status(pod, ready=ready))

    # --- the Node -----------------------------------------------------------

    async def _register_node(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "labels": {"kubernetes.io/hostname": self.node_name, "kubernetes.io/os": "linux"},
            },
        }
        await self._request("POST", "/api/v1/nodes", node, ok=(201, 409))
        capacity = {"cpu": "64", "memory": "256Gi", "pods": "1000", "ephemeral-storage": "1Ti"}
        now = _now()
        status = {
            "status": {
                "capacity": capacity,
                "allocatable": capacity,
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "simulated kubelet is posting ready status",
                        "lastHeartbeatTime": now,
                        "lastTransitionTime": now,
                    }
                ],
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": self._log_port}},
                "nodeInfo": {
                    "architecture": "amd64",
                    "operatingSystem": "linux",
                    "kubeletVersion": "simulated",
                    "containerRuntimeVersion": "none://0",
                    "kernelVersion": "",
                    "osImage": "",
                    "kubeProxyVersion": "",
                    "machineID": "",
                    "systemUUID": "",
                    "bootID": "",
                },
            }
        }
        await self._request(
            "PATCH",
            f"/api/v1/nodes/{self.node_name}/status",
            status,
            content_type="application/merge-patch+json",
        )

    # --- the Pod watch ------------------------------------------------------

    async def _watch_pods(self) -> None:
        assert self._session is not None
        resource_version = ""
        while True:
            try:
                if not resource_version:
                    listing = await self._get("/api/v1/pods")
                    assert listing is not None
                    for pod in listing["items"]:
                        self._on_pod(pod)
                    resource_version = listing["metadata"]["resourceVersion"]
                params = {
                    "watch": "true",
                    "resourceVersion": resource_version,
                    "allowWatchBookmarks": "true",
                    "timeoutSeconds": "300",
                }
                async with self._session.get(
                    f"{self.server}/api/v1/pods",
                    params=params,
                    timeout=aiohttp.ClientTimeout(total=None, sock_read=330),
                ) as response:
                    if response.status != 200:
                        resource_version = ""
                        await asyncio.sleep(0.5)
                        continue
                    async for line in response.content:
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        obj = event["object"]
                        if event["type"] == "ERROR":  # 410 Gone: relist
                            resource_version = ""
                            break
                        resource_version = obj["metadata"]["resourceVersion"]
                        if event["type"] in ("ADDED", "MODIFIED"):
                            self._on_pod(obj)
                        elif event["type"] == "DELETED":
                            self._forget(obj["metadata"]["uid"])
            except (TimeoutError, aiohttp.ClientError) as error:
                logger.debug("pod watch interrupted (%s); watching again", error)
                resource_version = ""
                await asyncio.sleep(0.5)

    def _forget(self, uid: str) -> None:
        task = self._pods.pop(uid, None)
        if task is not None:
            task.cancel()

    def _on_pod(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        uid = meta["uid"]
        if meta.get("deletionTimestamp"):
            # The kubelet stops the containers (a held or running Pod too),
            # then confirms the deletion. A confirmation in flight is left alone:
            # cancelling its DELETE could leave the Pod at grace period 0, not gone.
            current = self._pods.get(uid)
            if current is not None and not current.done() and current.get_name() == _CONFIRM:
                return
            self._forget(uid)
            self._pods[uid] = asyncio.create_task(self._confirm_deletion(pod), name=_CONFIRM)
            return
        if uid in self._pods and not self._pods[uid].done():
            return  # already being handled
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        if not spec.get("nodeName"):
            self._pods[uid] = asyncio.create_task(self._bind_and_start(pod))
        elif spec["nodeName"] == self.node_name and status.get("phase", "Pending") == "Pending":
            self._pods[uid] = asyncio.create_task(self._start(pod))

    async def _confirm_deletion(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        if meta.get("deletionGracePeriodSeconds") == 0 and meta.get("finalizers"):
            return  # confirmed already; only finalizers keep it
        # Also when the grace period is 0 already: an apiserver whose DELETE
        # handler timed out can leave the Pod updated to grace 0 but not
        # removed. Confirming again is idempotent (404 once it is gone), and
        # a failed answer (5xx, timeout) is retried.
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}}
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
        for attempt in range(10):
            try:
                status = await self._request("DELETE", path, body, ok=(200, 404, 409))
            except (TimeoutError, aiohttp.ClientError) as error:
                logger.debug("confirming the deletion of %s failed: %s", path, error)
                status = 0
            if status in (200, 404, 409):
                return
            await asyncio.sleep(min(0.2 * 2**attempt, 5.0))

    async def _bind_and_start(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name},
        }
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding"
        if await self._request("POST", path, binding, ok=(201, 404, 409)) == 201:
            await self._start(pod)

    async def _start(self, pod: dict[str, Any]) -> None:
        while any(match(pod) for match in self._holds):
            self._released.clear()
            await self._released.wait()
        meta = pod["metadata"]
        self.started_pods.append(f"{meta['namespace']}/{meta['name']}")
        if _job_owned(pod):
            await self._run_job_pod(pod)
            return
        if self.ready_delay:
            await asyncio.sleep(self.ready_delay)
        await self._write_status(pod, self._running_status(pod, ready=True))

    async def _run_job_pod(self, pod: dict[str, Any]) -> None:
        await self._write_status(pod, self._running_status(pod, ready=False))
        if any(match(pod) for match in self._fails):
            outcome = PodOutcome(1, "failed by the test (SimulatedKubelet.fail_jobs)")
        elif self.job_runner is not None:
            runner = self.job_runner
            steps = (
                asyncio.create_task(self._show_steps(pod, runner))
                if isinstance(runner, StepSource)
                else None
            )
            try:
                result = await runner(pod, self._get)
            finally:
                if steps is not None:  # done before the final status is written
                    steps.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await steps
            if isinstance(result, PodOutcome):
                outcome = result
            else:
                failed = result[2] if len(result) > 2 else None
                outcome = PodOutcome(result[0], result[1], failed)
        else:
            if self.ready_delay:
                await asyncio.sleep(self.ready_delay)
            outcome = PodOutcome(0)
        await self._write_status(pod, self._terminated_status(pod, outcome))

    async def _show_steps(self, pod: dict[str, Any], runner: StepSource) -> None:
        """Keep the running Pod's status on the container its runner runs now."""
        meta = pod["metadata"]
        shown: str | None = None
        while True:
            step = runner.running_container(meta["namespace"], meta["name"])
            if step is not None and step != shown:
                await self._write_status(pod, self._step_status(pod, step))
                shown = step
            await asyncio.sleep(STEP_CHECK_SECONDS)

    # --- Pod status, as the kubelet writes it -------------------------------

    def _step_status(self, pod: dict[str, Any], step: str) -> dict[str, Any]:
        """A running Pod at container `step`: the init containers before it completed,
        it running, those after it waiting (the containers too while an init one runs)."""
        status = self._running_status(pod, ready=False)
        started = status["startTime"]
        done = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started}}
        waiting = {"waiting": {"reason": "PodInitializing"}}
        running = {"running": {"startedAt": started}}
        init = (pod.get("spec") or {}).get("initContainers") or []
        names = [c["name"] for c in init]
        at = names.index(step) if step in names else len(names)
        status["initContainerStatuses"] = [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": i < at,
                "restartCount": 0,
                "state": done if i < at else running if i == at else waiting,
            }
            for i, c in enumerate(init)
        ]
        for container in status["containerStatuses"]:
            if at < len(names):
                container["started"] = False
                container["state"] = waiting
        return status

    @staticmethod
    def _conditions(ready: bool, now: str) -> list[dict[str, Any]]:
        def condition(kind: str, value: bool) -> dict[str, Any]:
            return {"type": kind, "status": "True" if value else "False", "lastTransitionTime": now}

        return [
            condition("PodScheduled", True),
            condition("Initialized", True),
            condition("ContainersReady", ready),
            condition("Ready", ready),
        ]

    def _running_status(self, pod: dict[str, Any], *, ready: bool) -> dict[str, Any]:
        now = _now()
        containers = (pod.get("spec") or {}).get("containers") or []
        started = (pod.get("status") or {}).get("startTime") or now
        return {
            "phase": "Running",
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "startTime": started,
            "conditions": self._conditions(ready, now),
            "containerStatuses": [
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": ready,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": started}},
                }
                for c in containers
            ],
        }

    def _terminated_status(self, pod: dict[str, Any], outcome: PodOutcome) -> dict[str, Any]:
        """The final status. When `outcome.failed` names an init container, the init
        containers before it completed, it terminated with the outcome's code and
        log, and the rest never started (as a node reports an init container
        failure); otherwise every init container completed and the containers ended
        with the outcome's code. Each container's termination message is the one it
        wrote, else (failed) the log tail; a deadline sets status.reason."""
        code, log = outcome.code, outcome.log
        failed = outcome.failed
        now = _now()
        status = self._running_status(pod, ready=False)
        status["phase"] = "Succeeded" if code == 0 else "Failed"
        if outcome.deadline_exceeded:
            status["reason"] = "DeadlineExceeded"
            status["message"] = "Pod was active on the node longer than the specified deadline"
        started = status["startTime"]

        def terminated(exit_code: int, name: str = "") -> dict[str, Any]:
            state: dict[str, Any] = {
                "exitCode": exit_code,
                "reason": "Completed" if exit_code == 0 else "Error",
                "startedAt": started,
                "finishedAt": now,
            }
            message = outcome.messages.get(name) or (log if exit_code != 0 else "")
            if message:
                state["message"] = message
            return {"terminated": state}

        init_names = [c["name"] for c in (pod.get("spec") or {}).get("initContainers") or []]
        failed_init = code != 0 and failed in init_names
        if init_names:
            statuses = []
            reached = False
            for name in init_names:
                image = next(
                    c.get("image", "") for c in pod["spec"]["initContainers"] if c["name"] == name
                )
                if reached:
                    state: dict[str, Any] = {"waiting": {"reason": "PodInitializing"}}
                elif failed_init and name == failed:
                    state, reached = terminated(code, name), True
                else:
                    state = terminated(0, name)
                statuses.append(
                    {
                        "name": name,
                        "image": image,
                        "imageID": "",
                        "ready": False,
                        "restartCount": 0,
                        "state": state,
                    }
                )
            status["initContainerStatuses"] = statuses
        for container in status["containerStatuses"]:
            container["started"] = False
            if failed_init:
                container["state"] = {"waiting": {"reason": "PodInitializing"}}
            else:
                container["state"] = terminated(code, container["name"])
        return status

    async def _write_status(self, pod: dict[str, Any], status: dict[str, Any]) -> None:
        meta = pod["metadata"]
        await self._request(
            "PATCH",
            f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
            {"metadata": {"uid": meta["uid"]}, "status": status},
            content_type="application/merge-patch+json",
            ok=(200, 404, 409),
        )

    # --- HTTP ---------------------------------------------------------------

    async def _get(self, path: str) -> dict[str, Any] | None:
        assert self._session is not None
        async with self._session.get(self.server + path) as response:
            if response.status == 404:
                return None
            response.raise_for_status()
            body: dict[str, Any] = await response.json()
            return body

    async def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any],
        *,
        content_type: str = "application/json",
        ok: tuple[int, ...] = (200, 201),
    ) -> int:
        assert self._session is not None
        async with self._session.request(
            method,
            self.server + path,
            data=json.dumps(body),
            headers={"Content-Type": content_type},
        ) as response:
            if response.status not in ok:
                text = await response.text()
                logger.warning("%s %s: %s %s", method, path, response.status, text[:300])
            return response.status


class KubeletThread:
    """A `SimulatedKubelet` on an event loop of its own thread.

    For synchronous callers (tests using the official client, the sandbox):
    the kubelet keeps running while they block. `hold`, `release`,
    `fail_jobs` and `set_ready` are safe to call from any thread.
    """

    def __init__(self, server: str, ssl_context: ssl.SSLContext, **options: Any) -> None:
        self._server = server
        self._ssl_context = ssl_context
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kubelet", daemon=True)
        self.kubelet: SimulatedKubelet | None = None

    def start(self, timeout: float = 30.0) -> None:
        self._thread.start()

        async def start() -> SimulatedKubelet:
            kubelet = SimulatedKubelet(self._server, self._ssl_context, **self._options)
            await kubelet.start()
            return kubelet

        self.kubelet = asyncio.run_coroutine_threadsafe(start(), self._loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self.kubelet is not None:
            asyncio.run_coroutine_threadsafe(self.kubelet.stop(), self._loop).result(timeout)
            self.kubelet = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._loop.close()

    def hold(self, match: PodMatcher) -> None:
        assert self.kubelet is not None
        self._loop.call_soon_threadsafe(self.kubelet.hold, match)

    def release(self) -> None:
        assert self.kubelet is not None
        self._loop.call_soon_threadsafe(self.kubelet.release)

    def fail_jobs(self, match: PodMatcher) -> None:
        assert self.kubelet is not None
        self._loop.call_soon_threadsafe(self.kubelet.fail_jobs, match)

    def set_ready(self, namespace: str, name: str, ready: bool, timeout: float = 10.0) -> None:
        assert self.kubelet is not None
        future = asyncio.run_coroutine_threadsafe(
            self.kubelet.set_ready(namespace, name, ready), self._loop
        )
        future.result(timeout)
