"""The chart's operator Pods run as local processes, as a kubelet would run them.

Not a test module. `OperatorPod.from_deployment` reads a Deployment the chart
installed and starts its container's command (`odoo-operator` with the
container's args: the image's entrypoint) with the environment a kubelet
gives it: `envFrom` the chart's ConfigMap, `env` values, `fieldRef`
(metadata.name) and `secretKeyRef`, the Secret volumes written to local
directories and their mountPaths rewritten in the variables. Its Kubernetes
credentials are a token of the chart's ServiceAccount (`kubectl create
token`) in a kubeconfig, what the Pod's projected token would give it.

What a Pod has that a local process does not, and how it is replaced: its
own network namespace (the probe and webhook ports are remapped to free
local ports) and its ServiceAccount token mount (the kubeconfig).
"""

from __future__ import annotations

import base64
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes

from sandbox import processes

START_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 20.0


class OperatorPod:
    """One container of a chart Deployment, as a local process."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_file: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_file = log_file
        self.probe_port = int(env["ODOO_OPERATOR_PROBE_PORT"])
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def from_deployment(
        cls,
        client: kubernetes.client.ApiClient,
        namespace: str,
        deployment: str,
        *,
        pod_name: str,
        kubeconfig: Path,
        work_dir: Path,
    ) -> OperatorPod:
        apps = kubernetes.client.AppsV1Api(client)
        body = client.sanitize_for_serialization(
            apps.read_namespaced_deployment(deployment, namespace)
        )
        pod = body["spec"]["template"]["spec"]
        [container] = pod["containers"]
        core = kubernetes.client.CoreV1Api(client)
        directory = work_dir / pod_name
        mounts: dict[str, Path] = {}
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        for mount in container.get("volumeMounts") or []:
            local = directory / "volumes" / mount["name"]
            local.mkdir(parents=True, exist_ok=True)
            secret = volumes[mount["name"]].get("secret")
            if secret is not None:
                data = core.read_namespaced_secret(secret["secretName"], namespace).data or {}
                for key, value in data.items():
                    (local / key).write_bytes(base64.b64decode(value))
            mounts[mount["mountPath"]] = local
        env: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            config_map = core.read_namespaced_config_map(source["configMapRef"]["name"], namespace)
            env.update(config_map.data or {})
        for variable in container.get("env") or []:
            if "value" in variable:
                env[variable["name"]] = variable["value"]
                continue
            source = variable["valueFrom"]
            if "fieldRef" in source:
                assert source["fieldRef"]["fieldPath"] == "metadata.name"
                env[variable["name"]] = pod_name
            else:
                ref = source["secretKeyRef"]
                secret_data = core.read_namespaced_secret(ref["name"], namespace).data or {}
                env[variable["name"]] = base64.b64decode(secret_data[ref["key"]]).decode()
        for key, value in env.items():  # the longest mountPath first: nested mounts
            for path in sorted(mounts, key=len, reverse=True):
                if value.startswith(path + "/"):
                    env[key] = str(mounts[path]) + value[len(path) :]
                    break
        # Each Pod has its ports to itself; here they share one host.
        env["ODOO_OPERATOR_PROBE_PORT"] = str(processes.free_port())
        env["ODOO_OPERATOR_WEBHOOK_PORT"] = str(processes.free_port())
        base = {k: v for k, v in os.environ.items() if not k.startswith("ODOO_OPERATOR_")}
        base.pop("KUBERNETES_SERVICE_HOST", None)
        full_env = {**base, **env, "KUBECONFIG": str(kubeconfig)}
        argv = [str(processes.find_binary("odoo-operator")), *container["args"]]
        return cls(pod_name, argv, full_env, directory / "log")

    @property
    def webhook_port(self) -> int:
        return int(self.env["ODOO_OPERATOR_WEBHOOK_PORT"])

    def start(self, *, wait_ready: bool = True) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        if wait_ready:
            processes.wait_until(
                self.ready,
                timeout=START_TIMEOUT_SECONDS,
                what=f"{self.name} ready",
                failure=self._exited,
            )

    def ready(self) -> bool:
        try:
            url = f"http://{processes.LOCALHOST}:{self.probe_port}/readyz"
            with urllib.request.urlopen(url, timeout=1.0) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def metrics(self) -> str:
        url = f"http://{processes.LOCALHOST}:{self.probe_port}/metrics"
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return str(response.read().decode())

    def stop(self) -> int:
        if self.process is None:
            return 0
        code = processes.stop_process(self.process, timeout=STOP_TIMEOUT_SECONDS)
        self.process = None
        return code

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def _exited(self) -> str | None:
        if self.process is None or self.process.poll() is None:
            return None
        return f"exited with {self.process.returncode}:\n{processes.tail(self.log_file, lines=40)}"


def host_address() -> str | None:
    """A non-loopback IPv4 address of this machine (an EndpointSlice may not hold
    127.0.0.0/8), or None when there is none."""
    import socket

    for probe in ("192.0.2.1", "10.255.255.255", "172.31.255.255"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.connect((probe, 9))  # UDP: no packet is sent
            except OSError:
                continue
            address = str(sock.getsockname()[0])
            if not address.startswith("127.") and address != "0.0.0.0":
                return address
    return None


def serve_service_locally(
    client: kubernetes.client.ApiClient,
    namespace: str,
    service: str,
    address: str,
    ports: dict[str, int],
) -> None:
    """An EndpointSlice of `service` at `address` (ports by Service port name): what the
    EndpointSlice controller would publish for a ready Pod, pointing at local processes."""
    body: dict[str, Any] = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service}-local",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "IPv4",
        "ports": [{"name": name, "port": port, "protocol": "TCP"} for name, port in ports.items()],
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
    }
    discovery = kubernetes.client.DiscoveryV1Api(client)
    try:
        discovery.create_namespaced_endpoint_slice(namespace, body)
    except kubernetes.client.ApiException as err:
        if err.status != 409:
            raise
        discovery.delete_namespaced_endpoint_slice(f"{service}-local", namespace)
        discovery.create_namespaced_endpoint_slice(namespace, body)
