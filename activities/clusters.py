"""The clusters Secret: which PostgreSQL clusters exist and how to log in as their admin.

Owns the `clusters.yaml` model (`Cluster`), its parser, the choice of one
cluster for an instance, and reading the Secret (through `activities.api`).
It must not connect to PostgreSQL (activities.databases does) and never puts
the admin password in a message, log line or repr (it is a `SecretStr`; input
values are never echoed in validation messages, as one could be a password).

`clusters.yaml` is a YAML map clusterName -> entry::

    main:
      host: pg.databases.svc
      port: 5432            # optional, default 5432
      adminUser: postgres
      adminPassword: s3cret
      default: true         # optional, default false; one entry should set it

Errors: `ClusterConfigError`, an ApplicationError of type CONFIG_INVALID,
non-retryable, whose message says what to fix (Secret missing, key missing,
YAML invalid with line and column, an entry missing a field, no default, two
defaults, unknown cluster). Any other failure reading the Secret is an
`activities.failures.ApiError` (transient; `failures.boundary()` maps it).

Public API::

    read_cluster(kube, operator_namespace, secret_name, cluster_name) -> Cluster
    read_clusters(kube, operator_namespace, secret_name) -> dict[str, Cluster]
    parse_clusters(text, source) -> dict[str, Cluster]
    select_cluster(clusters, cluster_name, source) -> Cluster
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from temporalio.exceptions import ApplicationError

from activities import api
from model import failures

__all__ = [
    "CLUSTERS_KEY",
    "DEFAULT_PORT",
    "Cluster",
    "ClusterConfigError",
    "parse_clusters",
    "read_cluster",
    "read_clusters",
    "select_cluster",
]

CLUSTERS_KEY = "clusters.yaml"
"""The key of the clusters Secret that holds the YAML map."""

DEFAULT_PORT = 5432


class ClusterConfigError(ApplicationError):
    """The clusters Secret or the instance's choice of cluster is wrong; retrying will
    not help until it is fixed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, type=failures.CONFIG_INVALID, non_retryable=True)


class Cluster(BaseModel):
    """One PostgreSQL cluster of the clusters Secret, with its admin login.

    `name` is the entry's key in clusters.yaml; the other fields carry their
    clusters.yaml spelling as aliases. Unknown keys are ignored, as the
    reference implementation does, so one Secret can serve both.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    name: str
    host: str = Field(min_length=1)
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    admin_user: str = Field(alias="adminUser", min_length=1)
    admin_password: SecretStr = Field(alias="adminPassword")
    default: bool = False

    @property
    def address(self) -> str:
        """`host:port`, as messages name the cluster."""
        return f"{self.host}:{self.port}"

    def describe(self) -> str:
        """`cluster 'main' (pg.example:5432)`: how messages and logs name a cluster."""
        return f"cluster {self.name!r} ({self.address})"


def parse_clusters(text: str, source: str) -> dict[str, Cluster]:
    """Every cluster of a clusters.yaml text, by name.

    `source` names where the text came from (`Secret ns/name`) in messages.
    Raises ClusterConfigError saying what to fix: invalid YAML (with line and
    column), not a map, an entry that is not a map, a missing or invalid field
    (naming the entry and the field).
    """
    where = f"{CLUSTERS_KEY} in {source}"
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ClusterConfigError(f"{where} is not valid YAML: {_yaml_problem(exc)}") from None
    if document is None or document == {}:
        raise ClusterConfigError(f"{where} is empty: define at least one cluster")
    if not isinstance(document, dict):
        raise ClusterConfigError(
            f"{where} must be a map of cluster name to "
            f"{{host, port, adminUser, adminPassword, default}}, not a {_kind(document)}"
        )
    parsed: dict[str, Cluster] = {}
    for name, entry in document.items():
        if not isinstance(name, str) or not name:
            raise ClusterConfigError(
                f"{where}: cluster names must be non-empty strings, got {name!r}"
            )
        if not isinstance(entry, dict):
            raise ClusterConfigError(
                f"{where}: cluster {name!r} must be a map with host, port, adminUser, "
                f"adminPassword, default; it is a {_kind(entry)}"
            )
        try:
            parsed[name] = Cluster.model_validate({**entry, "name": name})
        except ValidationError as exc:
            raise ClusterConfigError(f"{where}: cluster {name!r}: {_field_problems(exc)}") from None
    return parsed


def select_cluster(
    clusters: Mapping[str, Cluster], cluster_name: str | None, source: str
) -> Cluster:
    """The cluster an instance uses: `spec.database.cluster`, else the one default.

    Two entries marked default are refused as ambiguous only when the default
    is needed: an instance naming its cluster does not depend on it.
    """
    known = ", ".join(sorted(clusters)) or "none"
    if cluster_name:
        try:
            return clusters[cluster_name]
        except KeyError:
            raise ClusterConfigError(
                f"spec.database.cluster {cluster_name!r} is not defined in {source}; known: {known}"
            ) from None
    defaults = sorted(name for name, cluster in clusters.items() if cluster.default)
    if not defaults:
        raise ClusterConfigError(
            f"no cluster in {source} is marked 'default: true' (known: {known}); "
            "mark one as default or set spec.database.cluster"
        )
    if len(defaults) > 1:
        raise ClusterConfigError(
            f"clusters {', '.join(defaults)} in {source} are all marked 'default: true', "
            "which is ambiguous; mark exactly one as default or set spec.database.cluster"
        )
    return clusters[defaults[0]]


def read_clusters(kube: api.KubeApi, namespace: str, secret_name: str) -> dict[str, Cluster]:
    """Read and parse the clusters Secret `namespace/secret_name`."""
    source = f"Secret {namespace}/{secret_name}"
    secret = kube.find(api.SECRET, namespace, secret_name)
    if secret is None:
        raise ClusterConfigError(f"{source} not found: create it with a {CLUSTERS_KEY} key")
    data = secret.get("data") or {}
    raw = data.get(CLUSTERS_KEY)
    if not raw:
        keys = ", ".join(sorted(data)) or "none"
        raise ClusterConfigError(f"{source} has no {CLUSTERS_KEY} key (keys: {keys}); add it")
    try:
        text = base64.b64decode(raw, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ClusterConfigError(f"{source}: key {CLUSTERS_KEY} is not UTF-8 text") from None
    return parse_clusters(text, source)


def read_cluster(
    kube: api.KubeApi, namespace: str, secret_name: str, cluster_name: str | None
) -> Cluster:
    """The cluster an instance uses (`spec.database.cluster`, else the default)."""
    found = read_clusters(kube, namespace, secret_name)
    return select_cluster(found, cluster_name, f"Secret {namespace}/{secret_name}")


# --- messages (never echo an input value: it could be a password) ---------------------

_FIELD_ALIASES = {"admin_user": "adminUser", "admin_password": "adminPassword"}


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return "cannot be parsed"
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _field_problems(exc: ValidationError) -> str:
    problems: list[str] = []
    for error in exc.errors():
        loc = str(error["loc"][0]) if error["loc"] else ""
        field = _FIELD_ALIASES.get(loc, loc)
        if error["type"] == "missing":
            problems.append(f"missing field {field}")
        else:
            problems.append(f"field {field}: {error['msg']}")
    return "; ".join(problems)
