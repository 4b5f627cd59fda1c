"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager.

Owns starting, waiting for and stopping the three processes that
scripts/dev/kube-binaries builds from their Go modules, their certificates
(`pki`), flags and state directory, and the admin kubeconfig. The tests and
the sandbox share it, as envtest does for Go operators. It runs no kubelet
and no scheduler: `kubelet.SimulatedKubelet` plays both for Pods. It must
not know about the operator or its CRDs.

State directory (kept: started again on the same directory, every object,
certificate and kubeconfig is still valid):
    pki/                         CA, serving and client certificates, service-account keys
    etcd/                        etcd's data
    logs/                        etcd.log, kube-apiserver.log, kube-controller-manager.log
    admin.kubeconfig             system:masters client certificate, the apiserver's URL
    kube-controller-manager.kubeconfig

Flags follow what kubeadm and envtest pass: RBAC authorization, the default
admission plugins plus ValidatingAdmissionWebhook and
OwnerReferencesPermissionEnforcement, service-account token
signing, and in kube-controller-manager only the controllers the operator's
objects need (`CONTROLLERS`).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import yaml

from sandbox import pki, processes

__all__ = [
    "BIN_DIR_VARIABLE",
    "CONTROLLERS",
    "ControlPlane",
    "binaries_dir",
]

BIN_DIR_VARIABLE = "ODOO_OPERATOR_KUBE_BIN_DIR"
"""Where kube-apiserver, kube-controller-manager and etcd are; set by scripts/dev/test."""

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager")

CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "deployment-controller",
    "replicaset-controller",
    "job-controller",
    "ttl-after-finished-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
    # PVCs carry the kubernetes.io/pvc-protection finalizer (admission adds
    # it); without this controller a namespace with a PVC never goes away.
    "persistentvolumeclaim-protection-controller",
    # A ResourceQuota's status.used: without one, admission refuses every create it covers.
    "resourcequota-controller",
)
"""kube-controller-manager's --controllers: what owner references, namespaces,
Deployments, Jobs and ServiceAccounts need; nothing that needs a cloud or nodes."""

SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"
STARTUP_TIMEOUT_SECONDS = 120.0
"""kube-apiserver is ready in about 5-10 s on 2 cores; a loaded CI machine needs more."""

STOP_TIMEOUT_SECONDS = 15.0


def binaries_dir() -> Path:
    """The directory holding the three binaries: $ODOO_OPERATOR_KUBE_BIN_DIR, else
    the output of scripts/dev/kube-binaries (which builds them when missing).

    Raises processes.ServiceError when neither gives all three.
    """
    return processes.built_binaries(BIN_DIR_VARIABLE, "kube-binaries", BINARIES)


class ControlPlane:
    """etcd, kube-apiserver and kube-controller-manager as child processes.

    `port` is the apiserver's HTTPS port on 127.0.0.1 (a free one when None).
    `durable=False` lets etcd skip fsync (tests: a throwaway directory);
    the sandbox keeps it on. `extra_apiserver_args` go after our flags (e.g.
    `--enable-aggregator-routing=true`: the API server reaches a Service's
    webhook through its EndpointSlice addresses instead of its ClusterIP);
    `extra_controller_manager_args` go after kube-controller-manager's (e.g.
    `--kube-api-qps=200`: its client's default 20 requests a second, burst
    30, paces the Deployment and Job controllers when hundreds of objects
    change at once).
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int | None = None,
        durable: bool = True,
        bin_dir: Path | None = None,
        startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
        extra_apiserver_args: Sequence[str] = (),
        extra_controller_manager_args: Sequence[str] = (),
    ) -> None:
        self.state_dir = state_dir
        self.host = processes.LOCALHOST
        self.port = port if port is not None else processes.free_port(self.host)
        self.durable = durable
        self._bin_dir = bin_dir
        self.startup_timeout = startup_timeout
        self.extra_apiserver_args = tuple(extra_apiserver_args)
        self.extra_controller_manager_args = tuple(extra_controller_manager_args)
        self.pki_dir = state_dir / "pki"
        self.logs = state_dir / "logs"
        self.kubeconfig = state_dir / "admin.kubeconfig"
        self._processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._reaper: processes.Reaper | None = None
        self.ca: pki.CertificateAuthority | None = None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.pki_dir / "ca.crt"

    @property
    def admin(self) -> pki.KeyPair:
        """The admin client certificate (group system:masters)."""
        return pki.KeyPair(self.pki_dir / "admin.crt", self.pki_dir / "admin.key")

    @property
    def running(self) -> bool:
        return bool(self._processes) and all(p.poll() is None for _, p in self._processes)

    # --- start and stop -----------------------------------------------------

    def start(self) -> float:
        """Start the three processes, wait until /readyz answers ok; return seconds taken.

        Raises PortInUseError when the apiserver's port is taken, ServiceError
        with the log's tail when a process dies or is not ready in time.
        """
        if self.running:
            return 0.0
        if not processes.port_is_free(self.port, self.host):
            raise processes.PortInUseError(self.port, "kube-apiserver")
        bin_dir = self._bin_dir if self._bin_dir is not None else binaries_dir()
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "etcd").mkdir(parents=True, exist_ok=True)
        (self.state_dir / "etcd").chmod(0o700)  # etcd refuses a wider data directory
        self._certificates()
        try:
            etcd_port = processes.free_port(self.host)
            self._spawn("etcd", bin_dir, self._etcd_args(etcd_port))
            processes.wait_until(
                lambda: processes.port_accepts(etcd_port, self.host),
                timeout=self.startup_timeout,
                what="etcd",
                failure=self._exited,
            )
            self._spawn("kube-apiserver", bin_dir, self._apiserver_args(etcd_port))
            waited = processes.wait_until(
                self._ready,
                timeout=self.startup_timeout,
                what=f"kube-apiserver on {self.url}",
                failure=self._exited,
            )
            self._spawn("kube-controller-manager", bin_dir, self._controller_manager_args())
            # If we die, nobody stops them in order: kill at once (an orphaned
            # kube-apiserver was seen lingering after SIGTERM; etcd recovers
            # from its write-ahead log).
            self._reaper = processes.Reaper(
                ["kill", "-KILL", *(str(p.pid) for _, p in self._processes)]
            )
            return waited
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop in reverse order: controllers, apiserver, then etcd. Safe to call twice."""
        for _, process in reversed(self._processes):
            processes.stop_process(process, timeout=STOP_TIMEOUT_SECONDS)
        self._processes = []
        if self._reaper is not None:
            self._reaper.disarm()
            self._reaper = None

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- what it hands out --------------------------------------------------

    def kubeconfig_dict(
        self,
        *,
        user: str = "admin",
        client: pki.KeyPair | None = None,
        token: str | None = None,
        namespace: str | None = None,
    ) -> dict[str, object]:
        """A kubeconfig (as a dict) for this apiserver: the admin certificate by
        default, or another client certificate, or a bearer token."""
        assert self.ca is not None, "start() first"
        credentials: dict[str, str]
        if token is not None:
            credentials = {"token": token}
        else:
            pair = client if client is not None else self.admin
            credentials = {
                "client-certificate-data": _b64(pair.cert.read_bytes()),
                "client-key-data": _b64(pair.key.read_bytes()),
            }
        context: dict[str, str] = {"cluster": "sandbox", "user": user}
        if namespace is not None:
            context["namespace"] = namespace
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "sandbox",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": _b64(self.ca.cert_pem),
                    },
                }
            ],
            "users": [{"name": user, "user": credentials}],
            "contexts": [{"name": "sandbox", "context": context}],
            "current-context": "sandbox",
        }

    def write_kubeconfig(self, path: Path, **kwargs: object) -> Path:
        """Write `kubeconfig_dict(**kwargs)` to `path` (mode 600) and return it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig_dict(**kwargs)))  # type: ignore[arg-type]
        return path

    def issue_serving_certificate(self, stem: str, hosts: Sequence[str]) -> pki.KeyPair:
        """A serving certificate signed by the cluster CA (the admission webhook's)."""
        assert self.ca is not None, "start() first"
        return self.ca.issue(stem, hosts[0], hosts=tuple(hosts))

    # --- internals ----------------------------------------------------------

    def _certificates(self) -> None:
        self.ca = pki.CertificateAuthority(self.pki_dir)
        self.ca.issue(
            "apiserver",
            "kube-apiserver",
            hosts=(
                "127.0.0.1",
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "10.96.0.1",
            ),
        )
        self.ca.issue(
            "admin", "odoo-operator-admin", organizations=("system:masters",), client=True
        )
        controller_manager = self.ca.issue(
            "kube-controller-manager", "system:kube-controller-manager", client=True
        )
        pki.service_account_key(self.pki_dir)
        self.write_kubeconfig(self.kubeconfig)
        self.write_kubeconfig(
            self.state_dir / "kube-controller-manager.kubeconfig",
            user="kube-controller-manager",
            client=controller_manager,
        )

    def _etcd_args(self, port: int) -> list[str]:
        client_url = f"http://{self.host}:{port}"
        args = [
            f"--data-dir={self.state_dir / 'etcd'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            # One member: the peer port is never dialled; 0 avoids clashes.
            "--listen-peer-urls=http://127.0.0.1:0",
            "--log-level=warn",
        ]
        if not self.durable:
            args.append("--unsafe-no-fsync=true")
        return args

    def _apiserver_args(self, etcd_port: int) -> list[str]:
        p = self.pki_dir
        return [
            f"--etcd-servers=http://{self.host}:{etcd_port}",
            f"--bind-address={self.host}",
            f"--advertise-address={self.host}",
            # No kubernetes Service endpoints: a loopback address may not be one.
            "--endpoint-reconciler-type=none",
            f"--secure-port={self.port}",
            f"--cert-dir={p}",
            f"--tls-cert-file={p / 'apiserver.crt'}",
            f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            "--authorization-mode=RBAC",
            # OwnerReferencesPermissionEnforcement (on in OpenShift): setting
            # blockOwnerDeletion needs `update` on the owner's finalizers, which
            # the operator's RBAC rules must then grant.
            "--enable-admission-plugins=ValidatingAdmissionWebhook,"
            "OwnerReferencesPermissionEnforcement",
            "--allow-privileged=true",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={p / 'sa.pub'}",
            f"--service-account-signing-key-file={p / 'sa.key'}",
            "--profiling=false",
            "--v=0",
            *self.extra_apiserver_args,
        ]

    def _controller_manager_args(self) -> list[str]:
        p = self.pki_dir
        return [
            f"--kubeconfig={self.state_dir / 'kube-controller-manager.kubeconfig'}",
            f"--controllers={','.join(CONTROLLERS)}",
            f"--service-account-private-key-file={p / 'sa.key'}",
            f"--root-ca-file={p / 'ca.crt'}",
            "--use-service-account-credentials=true",
            "--leader-elect=false",
            # No metrics or health endpoint: several control planes share a machine.
            "--secure-port=0",
            "--v=0",
            *self.extra_controller_manager_args,
        ]

    def _spawn(self, name: str, bin_dir: Path, args: list[str]) -> None:
        log_file = self.logs / f"{name}.log"
        with log_file.open("ab") as log:
            process = subprocess.Popen(
                [str(bin_dir / name), *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Ctrl-C in a terminal reaches only us; we stop them in order.
                start_new_session=True,
            )
        self._processes.append((name, process))

    def _exited(self) -> str | None:
        for name, process in self._processes:
            if process.poll() is not None:
                log = self.logs / f"{name}.log"
                return (
                    f"{name} exited with {process.returncode}:\n{processes.tail(log)}"
                    f"\n(whole log: {log})"
                )
        return None

    def admin_ssl_context(self) -> ssl.SSLContext:
        """TLS to the apiserver as admin: its CA trusted, the admin client certificate."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.load_cert_chain(str(self.admin.cert), str(self.admin.key))
        return context

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"{self.url}/readyz", context=self.admin_ssl_context(), timeout=5
            ) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def install_crds(self, crd_dir: Path, *, timeout: float = 60.0) -> list[str]:
        """Create or update every CustomResourceDefinition in `crd_dir/*.yaml` and
        wait until each is Established and its resource answers a LIST; return
        their names."""
        import kubernetes

        documents = [
            doc
            for path in sorted(crd_dir.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text())
            if doc and doc.get("kind") == "CustomResourceDefinition"
        ]
        client = kubernetes.config.new_client_from_config(config_file=str(self.kubeconfig))  # type: ignore[no-untyped-call]
        with client:
            api = kubernetes.client.ApiextensionsV1Api(client)
            for doc in documents:
                api.patch_custom_resource_definition(
                    doc["metadata"]["name"],
                    doc,
                    field_manager="odoo-operator-sandbox",
                    force=True,
                    _content_type="application/apply-patch+yaml",
                )

            def established() -> bool:
                for doc in documents:
                    crd = api.read_custom_resource_definition(doc["metadata"]["name"])
                    conditions = (crd.status and crd.status.conditions) or []
                    if not any(c.type == "Established" and c.status == "True" for c in conditions):
                        return False
                return True

            processes.wait_until(established, timeout=timeout, what="CRDs Established")

            # Established is not yet served: the API server answers 429 "storage is
            # (re)initializing" to a LIST for a moment after, which Kopf then logs as
            # retries under the ready banner. Wait until each resource lists.
            objects = kubernetes.client.CustomObjectsApi(client)

            def served() -> bool:
                for doc in documents:
                    spec = doc["spec"]
                    version = next(v["name"] for v in spec["versions"] if v.get("served"))
                    try:
                        objects.list_cluster_custom_object(
                            spec["group"], version, spec["names"]["plural"], limit=1
                        )
                    except kubernetes.client.ApiException as err:
                        if err.status == 429:
                            return False
                        raise
                return True

            processes.wait_until(served, timeout=timeout, what="CRD resources served")
        return [doc["metadata"]["name"] for doc in documents]

    def get(self, path: str) -> object:
        """GET `path` as admin and decode the JSON (for checks and tests)."""
        with urllib.request.urlopen(
            f"{self.url}{path}", context=self.admin_ssl_context(), timeout=10
        ) as response:
            return json.loads(response.read())


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()
