"""Runs a Job Pod's containers as local processes: the simulated kubelet's container runtime.

Owns turning a Pod spec into local processes the way the kubelet turns it into
containers: init containers one after another, then the containers; the
environment resolved as the kubelet resolves it (`value` with `$(VAR)`
references, `secretKeyRef`, `configMapKeyRef`, `fieldRef`, `envFrom`); the
volumes made local directories. It must not write to the API: the exit code
and the log's tail go back to `kubelet.SimulatedKubelet`, which writes the
Pod status, and serves the whole log (`container_log`) to the API server.

The Pod's activeDeadlineSeconds runs from the start of its first container,
as a kubelet counts it from the Pod's start: the container running when it
passes is killed (its process group), and the outcome says so
(kubelet.PodOutcome.deadline_exceeded). Each container's terminationMessagePath
(default /dev/termination-log) is a local file the container may write; what
it wrote becomes its termination message.

There are no mount namespaces, so a container sees its volumes at local
paths: every occurrence of a volume's mountPath (or of a `path_map` prefix,
for files the image would hold) at the start of a path in the command, the
arguments, the working directory and the environment values is replaced by
the local directory. Scripts run this way take their paths from arguments or
environment variables, never from a literal path of their own.

Local layout under `work_dir`:
    claims/<namespace>/<claim>/      a PersistentVolumeClaim (kept across Pods)
    pods/<uid>/volumes/<volume>/     emptyDir, secret and configMap volumes
    pods/<uid>/termination/<container>   a container's termination message file
    logs/<namespace>_<pod>_<container>.log
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sandbox.kubelet import PodOutcome

__all__ = ["LocalPodRunner"]

Getter = Callable[[str], Awaitable[dict[str, Any] | None]]

LOG_TAIL_LINES = 20
"""How many log lines become a failed container's termination message."""
TERMINATION_MESSAGE_PATH = "/dev/termination-log"
"""A container's terminationMessagePath when its spec gives none."""

_VAR_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class PodRunError(Exception):
    """The Pod cannot start (a missing Secret key, no command).

    The kubelet reports these as CreateContainerConfigError."""


class LocalPodRunner:
    """A `kubelet.JobRunner` that runs each container's command locally.

    `path_map` maps image paths to local ones (say `/opt/odoo-operator/scripts`
    to the checkout's scripts/); `extra_path` goes in front of PATH (stand-in
    programs such as a fake `odoo`).
    """

    def __init__(
        self,
        work_dir: Path,
        *,
        path_map: Mapping[str, Path] | None = None,
        extra_path: Sequence[Path] = (),
    ) -> None:
        self.work_dir = work_dir
        self.path_map = dict(path_map or {})
        self.extra_path = list(extra_path)
        # (namespace, pod) -> the container that runs now (kubelet.StepSource).
        self._running: dict[tuple[str, str], str] = {}

    async def __call__(self, pod: dict[str, Any], get: Getter) -> PodOutcome:
        """How the Pod ended: the failed container's exit code, name and log tail
        (code 0 on success), and every container's termination message."""
        meta, spec = pod["metadata"], pod.get("spec") or {}
        containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        first = containers[0]["name"] if containers else ""
        try:
            volumes = await self._volumes(pod, get)
        except PodRunError as error:
            return PodOutcome(1, str(error), first)
        deadline = spec.get("activeDeadlineSeconds")
        ends = None if deadline is None else time.monotonic() + float(deadline)
        messages: dict[str, str] = {}
        key = (meta["namespace"], meta["name"])
        try:
            for container in containers:
                name = container["name"]
                self._running[key] = name
                log_file = self._log_file(meta["namespace"], meta["name"], name)
                message_file = self.work_dir / "pods" / meta["uid"] / "termination" / name
                remaining = None if ends is None else max(ends - time.monotonic(), 0.0)
                try:
                    code = await self._run(
                        pod, container, volumes, get, log_file, message_file, remaining
                    )
                except PodRunError as error:
                    return PodOutcome(1, str(error), name, messages)
                written = await asyncio.to_thread(_read_message, message_file)
                if written:
                    messages[name] = written
                if code is None:
                    return PodOutcome(137, _tail(log_file), name, messages, deadline_exceeded=True)
                if code != 0:
                    return PodOutcome(code, _tail(log_file), name, messages)
        finally:
            self._running.pop(key, None)
        return PodOutcome(0, "", None, messages)

    def running_container(self, namespace: str, pod: str) -> str | None:
        """The container of that Pod that runs now (kubelet.StepSource)."""
        return self._running.get((namespace, pod))

    def container_log(self, namespace: str, pod: str, container: str) -> bytes | None:
        """What that container wrote (kubelet.LogSource); None when it never ran here."""
        path = self._log_file(namespace, pod, container)
        return path.read_bytes() if path.is_file() else None

    def _log_file(self, namespace: str, pod: str, container: str) -> Path:
        return self.work_dir / "logs" / f"{namespace}_{pod}_{container}.log"

    # --- volumes ------------------------------------------------------------

    async def _volumes(self, pod: dict[str, Any], get: Getter) -> dict[str, Path]:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        namespace = meta["namespace"]
        local: dict[str, Path] = {}
        for volume in spec.get("volumes") or []:
            name = volume["name"]
            directory = self.work_dir / "pods" / meta["uid"] / "volumes" / name
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                directory = self.work_dir / "claims" / namespace / claim
            elif "secret" in volume:
                source = volume["secret"]
                data = await self._data(get, "secrets", namespace, source["secretName"])
                _write_items(directory, data, source.get("items"), decode=True)
            elif "configMap" in volume:
                source = volume["configMap"]
                data = await self._data(get, "configmaps", namespace, source["name"])
                _write_items(directory, data, source.get("items"), decode=False)
            directory.mkdir(parents=True, exist_ok=True)
            local[name] = directory
        return local

    @staticmethod
    async def _data(get: Getter, plural: str, namespace: str, name: str) -> dict[str, str]:
        obj = await get(f"/api/v1/namespaces/{namespace}/{plural}/{name}")
        if obj is None:
            raise PodRunError(f'{plural[:-1]} "{name}" not found')
        return dict(obj.get("data") or {})

    # --- one container ------------------------------------------------------

    async def _run(
        self,
        pod: dict[str, Any],
        container: dict[str, Any],
        volumes: dict[str, Path],
        get: Getter,
        log_file: Path,
        message_file: Path,
        timeout: float | None,
    ) -> int | None:
        """The container's exit code; None when `timeout` passed (it was killed)."""
        prefixes = dict(self.path_map)
        message_file.parent.mkdir(parents=True, exist_ok=True)
        prefixes[container.get("terminationMessagePath") or TERMINATION_MESSAGE_PATH] = message_file
        for mount in container.get("volumeMounts") or []:
            local = volumes.get(mount["name"])
            if local is not None:
                prefixes[mount["mountPath"].rstrip("/")] = local / mount.get("subPath", "")
        rewrite = _path_rewriter(prefixes)
        env = await self._environment(pod, container, get)
        env = {key: rewrite(value) for key, value in env.items()}
        argv = [*(container.get("command") or []), *(container.get("args") or [])]
        if not argv:
            raise PodRunError(
                f"container {container['name']!r} has no command: the image's entrypoint "
                "is not known to the simulated kubelet"
            )
        argv = [rewrite(_expand(arg, env)) for arg in argv]
        cwd = rewrite(container.get("workingDir") or str(self.work_dir))
        await asyncio.to_thread(Path(cwd).mkdir, parents=True, exist_ok=True)
        path = os.pathsep.join([*(str(p) for p in self.extra_path), os.environ.get("PATH", "")])
        full_env = {"PATH": path, "HOME": cwd, "LANG": "C.UTF-8", **env}
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as log:
            try:
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    cwd=cwd,
                    env=full_env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            except OSError as error:
                raise PodRunError(f"cannot start {argv[0]!r}: {error}") from error
            try:
                return await asyncio.wait_for(process.wait(), timeout=timeout)
            except TimeoutError:
                _kill_all(process)
                await process.wait()
                log.write(b"\nDeadlineExceeded: the Pod ran past activeDeadlineSeconds\n")
                return None
            except asyncio.CancelledError:  # the Pod was deleted
                _kill_all(process)
                await process.wait()
                raise

    async def environment(
        self, pod: dict[str, Any], container: dict[str, Any], get: Getter
    ) -> dict[str, str]:
        """The container's environment (name -> value) as the kubelet resolves it:
        `envFrom`, then `env` (`value` with `$(VAR)`, secretKeyRef, configMapKeyRef,
        fieldRef). Raises PodRunError for a missing Secret, ConfigMap or key."""
        return await self._environment(pod, container, get)

    async def _environment(
        self, pod: dict[str, Any], container: dict[str, Any], get: Getter
    ) -> dict[str, str]:
        namespace = pod["metadata"]["namespace"]
        env: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "secretRef" in source:
                data = await self._data(get, "secrets", namespace, source["secretRef"]["name"])
                env.update({prefix + k: _decode(v) for k, v in data.items()})
            elif "configMapRef" in source:
                data = await self._data(
                    get, "configmaps", namespace, source["configMapRef"]["name"]
                )
                env.update({prefix + k: v for k, v in data.items()})
        for variable in container.get("env") or []:
            name = variable["name"]
            if "value" in variable:
                env[name] = _expand(variable["value"], env)
                continue
            value_from = variable.get("valueFrom") or {}
            if "secretKeyRef" in value_from:
                ref = value_from["secretKeyRef"]
                data = await self._data(get, "secrets", namespace, ref["name"])
                if ref["key"] not in data:
                    if ref.get("optional"):
                        continue
                    raise PodRunError(
                        f"couldn't find key {ref['key']} in Secret {namespace}/{ref['name']}"
                    )
                env[name] = _decode(data[ref["key"]])
            elif "configMapKeyRef" in value_from:
                ref = value_from["configMapKeyRef"]
                data = await self._data(get, "configmaps", namespace, ref["name"])
                if ref["key"] not in data:
                    if ref.get("optional"):
                        continue
                    raise PodRunError(
                        f"couldn't find key {ref['key']} in ConfigMap {namespace}/{ref['name']}"
                    )
                env[name] = data[ref["key"]]
            elif "fieldRef" in value_from:
                env[name] = _field(pod, value_from["fieldRef"]["fieldPath"])
        return env


def _kill_all(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the container's whole process group (its session), as stopping a
    container kills every process in it, not only the first one."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _decode(value: str) -> str:
    return base64.b64decode(value).decode()


def _expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined names are replaced, others kept as written."""
    return _VAR_REFERENCE.sub(lambda m: env.get(m.group(1), m.group(0)), value)


def _field(pod: dict[str, Any], path: str) -> str:
    meta = pod["metadata"]
    simple = {
        "metadata.name": meta["name"],
        "metadata.namespace": meta["namespace"],
        "metadata.uid": meta["uid"],
        "spec.nodeName": (pod.get("spec") or {}).get("nodeName", ""),
        "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName", ""),
        "status.podIP": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
    }
    if path in simple:
        return str(simple[path])
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise PodRunError(f"fieldRef {path!r} is not supported by the simulated kubelet")


def _path_rewriter(prefixes: Mapping[str, Path]) -> Callable[[str], str]:
    ordered = sorted(prefixes.items(), key=lambda item: len(item[0]), reverse=True)

    def rewrite(value: str) -> str:
        for prefix, local in ordered:
            pattern = re.compile(rf"(?<![\w./-]){re.escape(prefix)}(?=/|$|[\s:;\"'])")
            value = pattern.sub(str(local).replace("\\", "\\\\"), value)
        return value

    return rewrite


def _write_items(
    directory: Path, data: dict[str, str], items: list[dict[str, Any]] | None, *, decode: bool
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    pairs = (
        [(i["key"], i.get("path", i["key"])) for i in items] if items else [(k, k) for k in data]
    )
    for key, relative in pairs:
        if key not in data:
            continue
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(data[key]) if decode else data[key].encode())
        target.chmod(0o600)


def _read_message(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-LOG_TAIL_LINES:])
