"""OdooInstance: one Odoo deployment with its database, filestore and routing."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from model import phases, settings
from model.crds import backup as backups
from model.crds import common, kube, schema

__all__ = [
    "CronConfig",
    "DatabaseConfig",
    "DeploymentStrategy",
    "Environment",
    "FilestoreConfig",
    "GatewayRef",
    "IngressConfig",
    "InitConfig",
    "MissingPolicy",
    "OdooInstance",
    "OdooInstanceSpec",
    "OdooInstanceStatus",
    "ProbesConfig",
    "ReadOnlySqlAccess",
    "ReclaimPolicy",
    "RollingUpdateConfig",
    "StrategyType",
]

DNS_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
"""RFC 1123 subdomain: what Kubernetes accepts as an Ingress host."""

Hostname = Annotated[
    str,
    Field(min_length=1, max_length=common.DNS_SUBDOMAIN_MAX, pattern=DNS_NAME_PATTERN),
]
Quantity = Annotated[str, Field(pattern=schema.QUANTITY_PATTERN, max_length=64)]
HttpPath = Annotated[str, Field(pattern=r"^/", max_length=1024)]
_INT_OR_PERCENT = re.compile(r"^[0-9]+%?$")


def _int_or_percent(value: int | str) -> int | str:
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must be a non-negative count or a percentage such as 25%")
        return value
    if not _INT_OR_PERCENT.match(value) or len(value) > 16:
        raise ValueError("must be a non-negative count or a percentage such as 25%")
    return value


IntOrPercent = Annotated[
    int | str,
    AfterValidator(_int_or_percent),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
            "x-kubernetes-validations": [
                {
                    "rule": "type(self) == int ? self >= 0 : self.matches('^[0-9]+%?$')",
                    "message": "must be a non-negative count or a percentage such as 25%",
                }
            ],
        }
    ),
]
"""Kubernetes IntOrString as Deployments take it: a count (1) or a percentage ("25%")."""

SECRET_OPTION_WORDS = ("password", "passwd", "secret")
"""configOptions keys containing one of these, in any case, are refused: they name a
secret value (db_password, admin_passwd, smtp_password, ...), which belongs in
spec.configSecretRef. Odoo lower-cases the keys it reads, so SMTP_PASSWORD is
smtp_password."""

SECRET_OPTIONS_RULE = (
    "self.all(k, "
    + " && ".join(f"!k.lowerAscii().contains('{w}')" for w in SECRET_OPTION_WORDS)
    + ")"
)
SECRET_OPTIONS_MESSAGE = (
    "configOptions must not hold secrets (keys containing password, passwd or secret in any "
    "case, such as smtp_password, SMTP_PASSWORD, db_password, admin_passwd): the ConfigMap "
    "is not secret. Put them in "
    "a Secret and name it in spec.configSecretRef; use spec.adminPasswordSecretRef for "
    "admin_passwd"
)


def secret_option_keys(options: dict[str, Any]) -> list[str]:
    """The keys of `options` that name a secret value (see SECRET_OPTION_WORDS), sorted."""
    return sorted(k for k in options if any(w in k.lower() for w in SECRET_OPTION_WORDS))


ADMIN_PASSWORD_RULE = "!has(self.adminPassword) || !has(self.adminPasswordSecretRef)"
ADMIN_PASSWORD_MESSAGE = (
    "spec.adminPassword and spec.adminPasswordSecretRef are both set: keep "
    "spec.adminPasswordSecretRef (the master password in a Secret) and remove spec.adminPassword"
)
"""The master password comes from one place: the Secret named (documented), the inline
value (kept for compatibility), or neither (the operator generates one)."""

PRODUCTION_REF_RULE = "self.environment != 'Production' || !has(self.productionInstanceRef)"
PRODUCTION_REF_MESSAGE = "spec.productionInstanceRef is forbidden on production instances"
_NEW_DB = "(has(self.database) && has(self.database.name))"
_OLD_DB = "(has(oldSelf.database) && has(oldSelf.database.name))"
DATABASE_NAME_RULE = (
    f"{_NEW_DB} == {_OLD_DB} && (!{_NEW_DB} || self.database.name == oldSelf.database.name)"
)
"""spec.database.name is fixed at creation: neither changed, added nor removed
(a running instance would be pointed at another, maybe empty, database)."""
DATABASE_NAME_MESSAGE = "spec.database.name cannot change after creation"


class Environment(StrEnum):
    """Whether the instance is production or staging."""

    STAGING = "Staging"
    PRODUCTION = "Production"


class MissingPolicy(StrEnum):
    """What to do when the database disappears out of band."""

    IGNORE = "Ignore"
    RECREATE = "Recreate"


class ReclaimPolicy(StrEnum):
    """What happens to the database and the role when the instance is deleted."""

    DELETE = "Delete"
    RETAIN = "Retain"


class StrategyType(StrEnum):
    """Deployment strategy of the web and cron Deployments."""

    RECREATE = "Recreate"
    ROLLING_UPDATE = "RollingUpdate"


class CronConfig(common.SpecModel):
    """The cron Deployment `<name>-cron` (runs scheduled actions, no HTTP)."""

    replicas: common.NonNegInt32 = Field(
        default=1,
        description="Number of cron pods (default 1). Scaled to 0 whenever the web is stopped.",
    )
    resources: kube.ResourceRequirements | None = Field(
        default=None,
        description=(
            "CPU and memory of the cron container. Defaults to the operator's default Odoo "
            "resources."
        ),
    )


class GatewayRef(common.SpecModel):
    """A Gateway API Gateway; when set an HTTPRoute replaces the Ingress."""

    name: common.ResourceName = Field(description="Name of the Gateway.")
    namespace: common.NamespaceName = Field(description="Namespace of the Gateway.")


class IngressConfig(common.SpecModel):
    """How the instance is reached from outside the cluster."""

    hosts: list[Hostname] = Field(
        min_length=1,
        description=(
            "Host names served (DNS names). The first one gives status.url (https://<first host>)."
        ),
    )
    issuer: str | None = Field(
        default=None,
        max_length=common.DNS_SUBDOMAIN_MAX,
        description=(
            "cert-manager ClusterIssuer used for the TLS certificate of the Ingress. Defaults "
            "to the operator's default issuer; ignored with gatewayRef."
        ),
    )
    class_: str | None = Field(
        default=None,
        alias="class",
        max_length=common.DNS_SUBDOMAIN_MAX,
        description=(
            "ingressClassName of the Ingress. Defaults to the operator's default ingress "
            "class; ignored with gatewayRef."
        ),
    )
    gateway_ref: GatewayRef | None = Field(
        default=None,
        description=(
            "Gateway to attach to. When set, an HTTPRoute is created instead of an Ingress."
        ),
    )


class FilestoreConfig(common.SpecModel):
    """The filestore PersistentVolumeClaim `<name>-filestore-pvc`."""

    storage_size: Quantity | None = Field(
        default=None,
        description=(
            "Size of the filestore volume, a Kubernetes quantity such as 2Gi. It can grow but "
            "never shrink. Defaults to the operator's default storage size "
            f"({settings.DEFAULT_STORAGE_SIZE})."
        ),
    )
    storage_class: str | None = Field(
        default=None,
        max_length=common.DNS_SUBDOMAIN_MAX,
        description=(
            "StorageClass of the filestore volume; cannot change once set. Defaults to the "
            "operator's default storage class."
        ),
    )


class DatabaseConfig(common.SpecModel):
    """Where the PostgreSQL database lives and how it is named."""

    cluster: str | None = Field(
        default=None,
        max_length=common.DNS_SUBDOMAIN_MAX,
        description=(
            "Name of a PostgreSQL cluster in the operator's clusters Secret (clusters.yaml). "
            "Unset means the cluster marked default; cannot change once set."
        ),
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        description=(
            "Database name (at most 63 bytes, PostgreSQL's limit). Unset means odoo_<uid with "
            "non [a-z0-9] replaced by _>. Fixed at creation (it can be neither changed, "
            "added nor removed later), and no other instance on the same cluster may use it."
        ),
    )
    missing_policy: MissingPolicy = Field(
        default=MissingPolicy.IGNORE,
        description=(
            "What to do when the database was dropped out of band: Ignore (report it, "
            "default) or Recreate (mark the instance uninitialized so it is initialized "
            "again)."
        ),
    )
    reclaim_policy: ReclaimPolicy = Field(
        default=ReclaimPolicy.DELETE,
        description=(
            "What deleting the instance does to its database and role: Delete (default, "
            "drop both; only a database owned by the instance's role is dropped) or Retain "
            "(keep both, e.g. to re-attach the data to a new instance)."
        ),
    )


class InitConfig(common.SpecModel):
    """Automatic database initialization of a new instance."""

    enabled: bool = Field(
        default=True,
        description=(
            "Create an OdooInitJob automatically when the database is uninitialized "
            "(default true). Set false to initialize by hand or restore a backup."
        ),
    )
    modules: list[common.ModuleName] = Field(
        default=["base"], description="Modules installed by the automatic init (default [base])."
    )
    demo: bool = Field(default=False, description="Load demo data (default false).")
    webhook: common.WebhookConfig | None = Field(
        default=None, description="Called when the automatic init finishes."
    )


class RollingUpdateConfig(common.SpecModel):
    """Parameters of the RollingUpdate strategy."""

    max_unavailable: IntOrPercent = Field(
        default="25%",
        description="Pods that may be unavailable during the update: a count or a percentage.",
    )
    max_surge: IntOrPercent = Field(
        default="25%",
        description="Pods that may be created above replicas: a count or a percentage.",
    )


class DeploymentStrategy(common.SpecModel):
    """How pods are replaced when the image or configuration changes."""

    type: StrategyType = Field(
        default=StrategyType.RECREATE,
        description=(
            "Recreate (default: stop all pods, then start new ones; safe for Odoo module "
            "changes) or RollingUpdate."
        ),
    )
    rolling_update: RollingUpdateConfig = Field(
        default_factory=RollingUpdateConfig,
        description="Used when type is RollingUpdate.",
    )


class ProbesConfig(common.SpecModel):
    """HTTP paths of the web container's probes (port 8069)."""

    startup_path: HttpPath = Field(
        default="/web/health", description="Startup probe path (default /web/health)."
    )
    liveness_path: HttpPath = Field(
        default="/web/health", description="Liveness probe path (default /web/health)."
    )
    readiness_path: HttpPath = Field(
        default="/web/health", description="Readiness probe path (default /web/health)."
    )


class ReadOnlySqlAccess(common.SpecModel):
    """An optional read-only PostgreSQL role on the instance database (for reporting)."""

    enabled: bool = Field(
        default=False, description="Create the read-only role and its Secret (default false)."
    )
    connection_limit: Annotated[
        int, Field(ge=-1, le=common.INT32_MAX), common.JsonFormat("int32")
    ] = Field(
        default=5,
        description="CONNECTION LIMIT of the read-only role (default 5; -1 means no limit).",
    )


class OdooInstanceSpec(common.SpecModel):
    """Desired state of an Odoo instance."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": PRODUCTION_REF_RULE,
                    "message": PRODUCTION_REF_MESSAGE,
                    "fieldPath": ".productionInstanceRef",
                    "reason": "FieldValueForbidden",
                },
                {
                    "rule": DATABASE_NAME_RULE,
                    "message": DATABASE_NAME_MESSAGE,
                    "fieldPath": ".database.name",
                    "reason": "FieldValueInvalid",
                },
                {
                    "rule": ADMIN_PASSWORD_RULE,
                    "message": ADMIN_PASSWORD_MESSAGE,
                    "fieldPath": ".adminPasswordSecretRef",
                    "reason": "FieldValueForbidden",
                },
            ]
        }
    )

    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description=(
            "Odoo container image for the web and cron pods and every Job. Defaults to the "
            f"operator's default image ({settings.DEFAULT_IMAGE}); an empty string is refused. "
            "The tag's major version (16.0, 17, 18.0-20250101, 19.0) picks the Odoo "
            "command-line flags. Changing it rolls the pods; run an OdooUpgradeJob to update "
            "modules."
        ),
    )
    image_pull_secret: str | None = Field(
        default=None,
        max_length=common.DNS_SUBDOMAIN_MAX,
        description=(
            "Name of a dockerconfigjson Secret in the operator namespace, copied into this "
            "namespace and used to pull the image."
        ),
    )
    admin_password_secret_ref: common.SecretKeyRef | None = Field(
        default=None,
        description="The Odoo master password (admin_passwd in odoo.conf, protecting the "
        "database manager): a key of a Secret in the instance's namespace. Without it (and "
        "without adminPassword) the operator generates one and keeps it in the Secret "
        "<name>-db-password, key admin-password.",
    )
    admin_password: str | None = Field(
        default=None,
        description="The Odoo master password written in the resource itself, kept for "
        "compatibility: anyone who can read the OdooInstance reads it. Prefer "
        "adminPasswordSecretRef (both set: refused). Empty disables it.",
    )
    replicas: common.NonNegInt32 = Field(
        default=1,
        description="Number of web pods (default 1). 0 stops the instance (phase Stopped).",
    )
    cron: CronConfig = Field(
        default=CronConfig(), description="The cron Deployment (scheduled actions)."
    )
    ingress: IngressConfig = Field(description="How the instance is exposed over HTTP(S).")
    resources: kube.ResourceRequirements | None = Field(
        default=None,
        description=(
            "CPU and memory of the web container. Defaults to the operator's default Odoo "
            "resources."
        ),
    )
    filestore: FilestoreConfig = Field(
        default_factory=FilestoreConfig, description="The filestore volume."
    )
    config_options: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Extra odoo.conf [options] keys; they override the operator's values. Stored in "
            "a ConfigMap, so keys holding secrets (containing password, passwd or secret) "
            "are refused: use configSecretRef. workers > 0 switches Odoo to its prefork "
            "server, and /websocket is then routed to the gevent port 8072."
        ),
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": SECRET_OPTIONS_RULE, "message": SECRET_OPTIONS_MESSAGE}
            ]
        },
    )
    config_secret_ref: common.ResourceName | None = Field(
        default=None,
        description=(
            "Name of a Secret in the instance's namespace whose keys are odoo.conf [options] "
            "keys (smtp_password, ...). An init container merges them into odoo.conf inside "
            "each Odoo pod (a memory-backed volume); they never reach a ConfigMap or the "
            "operator. A key also in configOptions is taken from the Secret."
        ),
    )
    database: DatabaseConfig = Field(
        default_factory=DatabaseConfig, description="PostgreSQL cluster and database."
    )
    init: InitConfig = Field(
        default=InitConfig(), description="Automatic initialization of a new database."
    )
    environment: Environment = Field(
        default=Environment.STAGING,
        description=(
            "Staging (default) or Production. Sets the pod label bemade.org/environment; "
            "staging instances get outgoing mail redirected."
        ),
    )
    production_instance_ref: common.OdooInstanceRef | None = Field(
        default=None,
        description=(
            "For a staging instance, the production OdooInstance it is a copy of. Forbidden "
            "when environment is Production."
        ),
    )
    strategy: DeploymentStrategy = Field(
        default_factory=DeploymentStrategy,
        description="Deployment strategy of the web and cron Deployments.",
    )
    webhook: common.WebhookConfig | None = Field(
        default=None, description="Called on every phase change of the instance."
    )
    probes: ProbesConfig = Field(
        default_factory=ProbesConfig, description="HTTP probe paths of the web container."
    )
    affinity: kube.Affinity | None = Field(
        default=None,
        description=(
            "Scheduling affinity of the web and cron pods. Defaults to the operator's "
            "default affinity."
        ),
    )
    tolerations: list[kube.Toleration] = Field(
        default_factory=list,
        description=(
            "Tolerations of the web and cron pods. Empty means the operator's default tolerations."
        ),
    )
    read_only_sql_access: ReadOnlySqlAccess = Field(
        default_factory=ReadOnlySqlAccess,
        description="Optional read-only PostgreSQL role on the database.",
    )
    extra_env: list[kube.EnvVar] = Field(
        default_factory=list,
        description=(
            "Environment variables added to the Odoo containers; same name overrides, last "
            "one wins."
        ),
    )
    extra_env_from: list[kube.EnvFromSource] = Field(
        default_factory=list,
        description="ConfigMaps or Secrets whose keys become environment variables of Odoo.",
    )
    backup: backups.ScheduledBackups | None = Field(
        default=None,
        description=(
            "Scheduled backups to S3 with retention, run by a Temporal Schedule per instance; "
            "also the destination of on-demand and final backups."
        ),
    )

    def redacted(self) -> Self:
        """This spec without secret values, fit for a workflow payload or a log.

        Activities that need the admin password read the live object.
        """
        return self.model_copy(update={"admin_password": None})

    @field_validator("config_options")
    @classmethod
    def _no_secret_in_config_options(cls, options: dict[str, str]) -> dict[str, str]:
        # A field's rule (not the model's): a refusal is located at spec.configOptions.
        keys = secret_option_keys(options)
        if keys:
            raise ValueError(f"{', '.join(keys)}: {SECRET_OPTIONS_MESSAGE}")
        return options

    @model_validator(mode="after")
    def _one_master_password(self) -> Self:
        if self.admin_password is not None and self.admin_password_secret_ref is not None:
            raise ValueError(ADMIN_PASSWORD_MESSAGE)
        return self

    @model_validator(mode="after")
    def _production_has_no_production_ref(self) -> Self:
        if self.environment is Environment.PRODUCTION and self.production_instance_ref:
            raise ValueError(PRODUCTION_REF_MESSAGE)
        return self


class OdooInstanceStatus(common.StatusModel):
    """Observed state of an Odoo instance, written by the operator."""

    phase: phases.Phase | None = Field(default=None, description="Lifecycle phase of the instance.")
    message: str | None = Field(
        default=None, description="Human-readable detail about the phase, e.g. an error."
    )
    ready: bool = Field(default=False, description="True when the phase is Running.")
    ready_replicas: common.NonNegInt32 = Field(
        default=0, description="Ready pods of the web Deployment."
    )
    db_initialized: bool = Field(
        default=False, description="Whether the database has been initialized or restored."
    )
    url: str | None = Field(default=None, description="https://<first ingress host>.")
    target_replicas: common.NonNegInt32 | None = Field(
        default=None, description="spec.replicas as last seen by the operator."
    )
    selector: str | None = Field(
        default=None, description="Label selector of the web pods (scale subresource)."
    )
    observed_generation: common.NonNegInt64 | None = Field(
        default=None,
        description="metadata.generation of the spec this status reflects.",
    )
    conditions: list[common.Condition] = Field(
        default_factory=list,
        json_schema_extra=common.CONDITIONS_LIST,
        description="Ready (True only when Running) and Progressing (work in progress).",
    )
    active_cluster: str | None = Field(
        default=None, description="Name of the PostgreSQL cluster in use."
    )


class OdooInstance(common.KubeObject):
    """An Odoo instance (a whole `OdooInstance` object)."""

    api_version: Literal["bemade.org/v1alpha1"] = Field(
        default="bemade.org/v1alpha1", description="bemade.org/v1alpha1."
    )
    kind: Literal["OdooInstance"] = Field(default="OdooInstance", description="OdooInstance.")
    metadata: common.ObjectMeta = Field(
        default_factory=common.ObjectMeta, description="Standard object metadata."
    )
    spec: OdooInstanceSpec = Field(description="Desired state.")
    status: OdooInstanceStatus = Field(
        default_factory=OdooInstanceStatus, description="Observed state."
    )
