"""Building blocks shared by every custom resource.

Base model classes (aliases, strictness), integer formats, Kubernetes object
metadata, `metav1.Condition`, and the sub-types several kinds use: instance
references, webhooks, S3 locations, backup formats and the job status.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from model import phases

__all__ = [
    "CONDITIONS_LIST",
    "DNS_LABEL_MAX",
    "DNS_SUBDOMAIN_MAX",
    "HTTP_URL_PATTERN",
    "INT32_MAX",
    "BackupFormat",
    "Condition",
    "ConditionStatus",
    "Int32",
    "Int64",
    "JobStatus",
    "JsonFormat",
    "KubeModel",
    "KubeObject",
    "ModuleName",
    "NamespaceName",
    "NonNegInt32",
    "NonNegInt64",
    "ObjectMeta",
    "OdooInstanceRef",
    "OwnerReference",
    "ResourceName",
    "S3Config",
    "SecretKeyRef",
    "SecretReference",
    "SpecModel",
    "StatusModel",
    "WebhookConfig",
]

INT32_MAX = 2**31 - 1
DNS_SUBDOMAIN_MAX = 253
DNS_LABEL_MAX = 63
HTTP_URL_PATTERN = r"^https?://"


class KubeModel(BaseModel):
    """Base of every model: snake_case attributes, camelCase on the wire."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class SpecModel(KubeModel):
    """A part of a `spec`: unknown fields are refused, naming the field."""

    model_config = ConfigDict(extra="forbid")


class StatusModel(KubeModel):
    """A part of a `status`: written by the operator, read leniently."""

    model_config = ConfigDict(extra="ignore")


@dataclasses.dataclass(frozen=True, slots=True)
class JsonFormat:
    """Annotation adding an OpenAPI `format` (e.g. `int32`) to a field's schema."""

    format: str

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["format"] = self.format
        return schema


Int32 = Annotated[int, Field(ge=-(2**31), le=INT32_MAX), JsonFormat("int32")]
NonNegInt32 = Annotated[int, Field(ge=0, le=INT32_MAX), JsonFormat("int32")]
Int64 = Annotated[int, JsonFormat("int64")]
NonNegInt64 = Annotated[int, Field(ge=0), JsonFormat("int64")]
ResourceName = Annotated[str, Field(min_length=1, max_length=DNS_SUBDOMAIN_MAX)]
NamespaceName = Annotated[str, Field(min_length=1, max_length=DNS_LABEL_MAX)]
ModuleName = Annotated[str, Field(min_length=1, max_length=255)]


# --- Kubernetes object metadata (parsing only; never part of a CRD schema) ---


class OwnerReference(KubeModel):
    """`metadata.ownerReferences[]`: an object that owns this one."""

    model_config = ConfigDict(extra="allow")

    api_version: str = Field(description="API version of the owner.")
    kind: str = Field(description="Kind of the owner.")
    name: str = Field(description="Name of the owner.")
    uid: str = Field(description="UID of the owner.")
    controller: bool | None = Field(default=None, description="True on the managing owner.")
    block_owner_deletion: bool | None = Field(
        default=None, description="Foreground deletion waits for this object when true."
    )


class ObjectMeta(KubeModel):
    """The subset of `metadata` the operator reads; other keys are kept as extras."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(default=None, description="Object name, unique in its namespace.")
    namespace: str | None = Field(default=None, description="Namespace of the object.")
    uid: str | None = Field(default=None, description="Unique id of this incarnation.")
    generation: int | None = Field(default=None, description="Bumped on every spec change.")
    resource_version: str | None = Field(
        default=None, description="Opaque version for optimistic concurrency."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Labels.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations.")
    owner_references: list[OwnerReference] = Field(
        default_factory=list, description="Objects owning this one."
    )
    finalizers: list[str] = Field(default_factory=list, description="Pending finalizers.")
    creation_timestamp: datetime | None = Field(default=None, description="Creation time.")
    deletion_timestamp: datetime | None = Field(
        default=None, description="Set when deletion was requested."
    )


class KubeObject(KubeModel):
    """A whole Kubernetes object of one of our kinds (apiVersion, kind, metadata, spec, status).

    Subclasses declare `api_version` and `kind` as literals, so validating a body
    of another kind fails.
    """

    def to_body(self) -> dict[str, Any]:
        """The Kubernetes wire form: camelCase keys, RFC 3339 times, unset optionals omitted.

        `status` is left out unless it was given (parsed or assigned), so a body
        built to create an object carries no status.
        """
        exclude = None if "status" in self.model_fields_set else {"status"}
        return self.model_dump(mode="json", exclude_none=True, exclude=exclude)


# --- metav1.Condition ---------------------------------------------------------


class ConditionStatus(StrEnum):
    """`status` of a condition."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(StatusModel):
    """One aspect of the current state (the `metav1.Condition` shape)."""

    type: str = Field(
        max_length=316,
        pattern=(
            r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
            r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
        ),
        description="Type of condition in CamelCase, e.g. Ready or Progressing.",
    )
    status: ConditionStatus = Field(description="Status of the condition: True, False or Unknown.")
    observed_generation: NonNegInt64 | None = Field(
        default=None,
        description=(
            "metadata.generation the condition was computed from; older than the current "
            "generation means the condition is out of date."
        ),
    )
    last_transition_time: datetime = Field(
        description="Last time the condition changed from one status to another."
    )
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="Programmatic identifier of the reason for the last transition, in CamelCase.",
    )
    message: str = Field(
        max_length=32768, description="Human-readable details about the transition."
    )


# --- references ---------------------------------------------------------------


CONDITIONS_LIST: dict[str, Any] = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
}
"""Schema extras of a `conditions` list: one entry per type, merged by type under SSA."""


class OdooInstanceRef(SpecModel):
    """Reference to an OdooInstance by name (and optionally namespace)."""

    name: ResourceName = Field(description="Name of the OdooInstance.")
    namespace: NamespaceName | None = Field(
        default=None,
        description=(
            "Namespace of the OdooInstance. Defaults to the namespace of the resource that "
            "holds this reference."
        ),
    )


class SecretKeyRef(SpecModel):
    """A key of a Secret in the same namespace as the resource."""

    name: ResourceName = Field(description="Name of the Secret.")
    key: str = Field(min_length=1, max_length=DNS_SUBDOMAIN_MAX, description="Key in the Secret.")


class SecretReference(SpecModel):
    """Reference to a Secret, possibly in another namespace (core SecretReference)."""

    name: ResourceName = Field(description="Name of the Secret.")
    namespace: NamespaceName | None = Field(
        default=None,
        description="Namespace of the Secret. Defaults to the namespace of the resource.",
    )


class WebhookConfig(SpecModel):
    """An HTTP callback notified when the work finishes or the phase changes."""

    url: str = Field(
        min_length=1,
        max_length=2048,
        pattern=HTTP_URL_PATTERN,
        description="URL (http:// or https://) that receives a JSON POST.",
    )
    token: str | None = Field(
        default=None,
        description=(
            "Bearer token sent in the Authorization header. Prefer secretTokenSecretRef, "
            "which keeps the token out of the resource."
        ),
    )
    secret_token_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description=(
            "Secret key holding the bearer token, read from the namespace of the resource "
            "that carries this webhook. Takes precedence over token."
        ),
    )


class BackupFormat(StrEnum):
    """Format of a backup artifact."""

    ZIP = "zip"
    SQL = "sql"
    DUMP = "dump"


class S3Config(SpecModel):
    """An object in an S3-compatible bucket."""

    bucket: str = Field(min_length=1, max_length=DNS_LABEL_MAX, description="Bucket name.")
    object_key: str = Field(
        min_length=1, max_length=1024, description="Key of the object in the bucket."
    )
    endpoint: str = Field(
        min_length=1,
        max_length=2048,
        description="S3 endpoint URL, e.g. https://s3.amazonaws.com or http://minio:9000.",
    )
    region: str | None = Field(
        default=None, max_length=DNS_LABEL_MAX, description="Region of the bucket, if required."
    )
    insecure: bool = Field(
        default=False, description="Skip TLS certificate verification of the endpoint."
    )
    s3_credentials_secret_ref: SecretReference | None = Field(
        default=None,
        description=(
            "Secret with keys accessKey and secretKey used to authenticate to the endpoint. "
            "The namespace defaults to the namespace of the job resource."
        ),
    )


# --- job status ---------------------------------------------------------------


class JobStatus(StatusModel):
    """Status of a job resource, written by the operator."""

    phase: phases.JobPhase | None = Field(
        default=None,
        description=(
            "Pending, Running, Completed or Failed. Absent until the operator picks the "
            "resource up."
        ),
    )
    job_name: str | None = Field(
        default=None, description="Name of the batch/v1 Job running the work."
    )
    start_time: datetime | None = Field(
        default=None, description="When the batch Job was started (RFC 3339)."
    )
    completion_time: datetime | None = Field(
        default=None, description="When the work completed or failed (RFC 3339)."
    )
    message: str | None = Field(default=None, description="Human-readable outcome or error.")
    step: str | None = Field(
        default=None,
        description=(
            "The step the batch Job is running (backup: dump, package, upload; restore: "
            "download, extract, load, neutralize, finalize; init; upgrade), read from its "
            "Pod while it runs; the last one once it ended."
        ),
    )
    progress: str | None = Field(
        default=None,
        description=(
            "How far that step has come, as the step reports it (e.g. 38 MB of 120 MB, "
            "3 of 87 modules); refreshed every few seconds while the Job runs."
        ),
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra=CONDITIONS_LIST,
        description="Standard conditions of the job resource.",
    )
