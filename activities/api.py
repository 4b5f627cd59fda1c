"""The operator's whole interface to the Kubernetes API: JSON in, JSON out.

The only module that imports the official `kubernetes` client (an import
contract says so): everything else takes a `KubeApi`. Owns the credentials
(`connect`: in-cluster, else a kubeconfig; `kubeconfig_namespace`: the
namespace of its current context, as kubectl reads it), the REST calls (get,
list, create, replace, server-side apply, merge and JSON patches, delete,
a container's log) on top
of the client's `ApiClient` (its configuration, authentication and
connection pool), Kubernetes quantities (`quantity`), and the mapping of
`ApiException` and urllib3 errors onto `activities.failures`. Bodies stay
plain dicts (the wire form the builders in `specs` produce) so nothing
is lost or renamed by the client's model classes.

Must not decide anything: no retries, no "404 means absent" (callers say
what a 404 means), no logging of bodies (they may hold a Secret).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import kubernetes
import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from activities import failures
from model import naming

__all__ = [
    "CONFIG_MAP",
    "DEPLOYMENT",
    "EVENT",
    "HTTP_ROUTE",
    "INGRESS",
    "INSTANCE",
    "JOB",
    "LEASE",
    "POD",
    "PVC",
    "ROLE",
    "ROLE_BINDING",
    "SECRET",
    "SERVICE",
    "SERVICE_ACCOUNT",
    "KubeApi",
    "Resource",
    "connect",
    "job_resource",
    "kubeconfig_namespace",
    "quantity",
]

_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds; activities have their own deadline
_JSON = "application/json"
_MERGE = "application/merge-patch+json"
_JSON_PATCH = "application/json-patch+json"
_APPLY = "application/apply-patch+yaml"
_NAMESPACE_TERMINATING = "NamespaceTerminating"
"""Status cause of a create refused because its namespace is being deleted."""


@dataclass(frozen=True)
class Resource:
    """A namespaced REST resource: `apiVersion` and plural."""

    api_version: str
    plural: str

    def path(self, namespace: str, name: str | None = None, sub: str | None = None) -> str:
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        path = f"{prefix}/namespaces/{namespace}/{self.plural}"
        if name is not None:
            path += f"/{name}"
        if sub is not None:
            path += f"/{sub}"
        return path


POD = Resource("v1", "pods")
CONFIG_MAP = Resource("v1", "configmaps")
SECRET = Resource("v1", "secrets")
SERVICE = Resource("v1", "services")
PVC = Resource("v1", "persistentvolumeclaims")
SERVICE_ACCOUNT = Resource("v1", "serviceaccounts")
EVENT = Resource("v1", "events")
DEPLOYMENT = Resource("apps/v1", "deployments")
JOB = Resource("batch/v1", "jobs")
POD = Resource("v1", "pods")
INGRESS = Resource("networking.k8s.io/v1", "ingresses")
HTTP_ROUTE = Resource("gateway.networking.k8s.io/v1", "httproutes")
ROLE = Resource("rbac.authorization.k8s.io/v1", "roles")
ROLE_BINDING = Resource("rbac.authorization.k8s.io/v1", "rolebindings")
INSTANCE = Resource(naming.GROUP_VERSION, "odooinstances")
LEASE = Resource("coordination.k8s.io/v1", "leases")


def job_resource(plural: str) -> Resource:
    """One of the bemade.org job kinds, by plural (`odooinitjobs`, ...)."""
    return Resource(naming.GROUP_VERSION, plural)


class KubeApi:
    """Typed-error JSON calls through one `kubernetes.client.ApiClient` (thread-safe).

    Writes go under `field_manager` (metadata.managedFields names it), the
    operator's own by default: the watcher tells the operator's writes to its
    children from anyone else's by it (watcher.pokes).
    """

    def __init__(self, client: ApiClient, *, field_manager: str = naming.FIELD_MANAGER) -> None:
        self._client = client
        self.field_manager = field_manager

    def close(self) -> None:
        """Close the connection pool (and the client's thread pool, if it made one)."""
        self._client.close()  # type: ignore[no-untyped-call]

    def __enter__(self) -> KubeApi:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- reads ------------------------------------------------------------------

    def get(
        self, res: Resource, namespace: str, name: str, sub: str | None = None
    ) -> dict[str, Any]:
        return self._call("GET", res.path(namespace, name, sub))

    def find(self, res: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return self.get(res, namespace, name)
        except failures.NotFound:
            return None

    def list_of(
        self,
        res: Resource,
        namespace: str,
        *,
        field_selector: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        query: list[tuple[str, str]] = []
        if field_selector:
            query.append(("fieldSelector", field_selector))
        if label_selector:
            query.append(("labelSelector", label_selector))
        items = self._call("GET", res.path(namespace), query=query).get("items") or []
        return [dict(item) for item in items]

    def list_all(self, res: Resource) -> list[dict[str, Any]]:
        """Every object of `res` in every namespace."""
        prefix = "/api/v1" if res.api_version == "v1" else f"/apis/{res.api_version}"
        items = self._call("GET", f"{prefix}/{res.plural}").get("items") or []
        return [dict(item) for item in items]

    def log(
        self, namespace: str, pod: str, container: str, *, tail_lines: int | None = None
    ) -> str:
        """A container's log, as text (pods/log; the kubelet of the Pod's node answers);
        only its last `tail_lines` lines when given."""
        path = POD.path(namespace, pod, "log")
        query = [("container", container)]
        if tail_lines is not None:
            query.append(("tailLines", str(tail_lines)))
        data = self._send("GET", path, query=query, accept="*/*")
        return data.decode("utf-8", "replace")

    # --- writes ------------------------------------------------------------------

    def create(self, res: Resource, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", res.path(namespace), body=body)

    def replace(self, res: Resource, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT: an optimistic write; a stale metadata.resourceVersion is a Conflict."""
        name = body["metadata"]["name"]
        query = [("fieldManager", self.field_manager)]
        return self._call("PUT", res.path(namespace, name), body=body, query=query)

    def apply(self, res: Resource, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply under our field manager, forcing ownership."""
        name = body["metadata"]["name"]
        query = [("fieldManager", self.field_manager), ("force", "true")]
        return self._call(
            "PATCH", res.path(namespace, name), body=body, query=query, content=_APPLY
        )

    def merge_patch(
        self,
        res: Resource,
        namespace: str,
        name: str,
        patch: dict[str, Any],
        sub: str | None = None,
    ) -> dict[str, Any]:
        query = [("fieldManager", self.field_manager)]
        return self._call(
            "PATCH", res.path(namespace, name, sub), body=patch, query=query, content=_MERGE
        )

    def json_patch(
        self,
        res: Resource,
        namespace: str,
        name: str,
        ops: list[dict[str, Any]],
        sub: str | None = None,
    ) -> dict[str, Any]:
        query = [("fieldManager", self.field_manager)]
        return self._call(
            "PATCH", res.path(namespace, name, sub), body=ops, query=query, content=_JSON_PATCH
        )

    def delete(self, res: Resource, namespace: str, name: str, *, uid: str | None = None) -> bool:
        """Delete (background propagation); False when it was already gone. With
        `uid`, only that object: another one of the same name is a Conflict."""
        body: dict[str, Any] = {"propagationPolicy": "Background"}
        if uid is not None:
            body["preconditions"] = {"uid": uid}
        try:
            self._call("DELETE", res.path(namespace, name), body=body)
        except failures.NotFound:
            return False
        return True

    # --- transport ---------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        query: list[tuple[str, str]] | None = None,
        content: str = _JSON,
    ) -> dict[str, Any]:
        data = self._send(method, path, body=body, query=query, content=content)
        if not data:
            return {}
        parsed = json.loads(data)
        return parsed if isinstance(parsed, dict) else {"items": parsed}

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        query: list[tuple[str, str]] | None = None,
        content: str = _JSON,
        accept: str = _JSON,
    ) -> bytes:
        headers = {"Accept": accept, "Content-Type": content}
        try:
            request = self._client.param_serialize(
                method=method,
                resource_path=path,
                query_params=query or None,
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self._client.call_api(*request, _request_timeout=_TIMEOUT)
            data: bytes = response.read()  # type: ignore[no-untyped-call]
        except ApiException as err:  # raised by the REST layer for some statuses
            raise _mapped(method, path, err.status or 0, err.reason or "", err.body) from err
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise failures.Unavailable(f"{method} {path}: {err}") from err
        status = int(response.status)
        if not 200 <= status <= 299:
            text = data.decode("utf-8", "replace") if data else ""
            raise _mapped(method, path, status, str(response.reason or ""), text)
        return data or b""


def connect(
    kubeconfig: Path | None = None, *, connections: int = 10, context: str | None = None
) -> KubeApi:
    """In-cluster credentials, else the kubeconfig (`kubeconfig`, $KUBECONFIG, ~/.kube/config)
    and its current context (or `context`, which also skips the in-cluster ones).

    `connections`: the size of urllib3's connection pool (its default is 10).
    A thread that finds the pool full opens a connection of its own and drops
    it afterwards: a TLS handshake per request for the API server to pay.
    """
    configuration = kubernetes.client.Configuration()
    configuration.connection_pool_maxsize = connections
    if kubeconfig is None and context is None:
        try:
            kubernetes.config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return KubeApi(ApiClient(configuration))
        except kubernetes.config.ConfigException:
            pass
    path = str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG") or None
    kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=path, context=context, client_configuration=configuration
    )
    return KubeApi(ApiClient(configuration))


def kubeconfig_namespace(kubeconfig: Path | None = None, context: str | None = None) -> str | None:
    """The namespace the kubeconfig's current context (or `context`) names, as kubectl
    reads it; None when it names none or there is no kubeconfig."""
    path = str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG") or None
    try:
        contexts, current = kubernetes.config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
    except (kubernetes.config.ConfigException, OSError):
        return None
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else current
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else None


def quantity(value: str) -> Decimal:
    """A Kubernetes quantity (`2Gi`, `500M`, `1.5`) as a number; ValueError when malformed."""
    parsed: Decimal = kubernetes.utils.parse_quantity(value)  # type: ignore[no-untyped-call]
    return parsed


def _mapped(method: str, path: str, status: int, reason: str, body: object) -> failures.ApiError:
    """The failures.ApiError for an HTTP answer, carrying the server's own message."""
    message = reason
    causes: set[str] = set()
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body:
        try:
            decoded = json.loads(body)
        except ValueError:
            message = body[:500]
        else:
            if isinstance(decoded, dict):
                message = str(decoded.get("message") or reason)
                reason = str(decoded.get("reason") or reason)
                details = decoded.get("details")
                if isinstance(details, dict):
                    causes = {
                        str(c.get("reason"))
                        for c in details.get("causes") or []
                        if isinstance(c, dict)
                    }
    text = f"{method} {path}: {status} {message}"
    summary = f"{describe_path(path)}: {message}"
    cls: type[failures.ApiError]
    if status == 404:
        cls = failures.NotFound
    elif status == 409:
        cls = failures.Conflict
    elif status == 422:
        cls = failures.Invalid
    elif status == 403 and _NAMESPACE_TERMINATING in causes:
        cls = failures.NamespaceTerminating
    elif status == 0 or status == 429 or status >= 500:
        cls = failures.Unavailable
    else:
        cls = failures.ApiError
    return cls(text, status=status, reason=reason, summary=summary)


def describe_path(path: str) -> str:
    """The object a REST path names, for people: `deployments shop in namespace prod`."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if "namespaces" in parts:
        at = parts.index("namespaces")
        namespace = parts[at + 1] if len(parts) > at + 1 else ""
        rest = parts[at + 2 :]
        if not rest:
            return f"namespace {namespace}"
        what = " ".join(rest)
        return f"{what} in namespace {namespace}"
    return " ".join(parts[2:] if parts[:1] == ["api"] else parts[3:]) or path
