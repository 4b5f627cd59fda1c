"""The CustomResourceDefinition documents, built from the models.

`RESOURCES` describes each kind (names, printer columns, subresources); the
schemas come from the pydantic models through `schema.model_schema`. The result
is plain data; `odoo_operator.crdgen` renders it as YAML.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from model import naming
from model.crds import common, instance, job_resources, schema

__all__ = [
    "CATEGORY",
    "KEEP_ANNOTATION",
    "RESOURCES",
    "PrinterColumn",
    "ResourceInfo",
    "crd_manifest",
    "crd_manifests",
    "open_api_schema",
    "parse_resource",
    "resource_info",
]

CATEGORY = "odoo-operator"
"""`kubectl get odoo-operator` lists every resource of ours (`odoo` is a short name)."""

KEEP_ANNOTATION = {"helm.sh/resource-policy": "keep"}


@dataclasses.dataclass(frozen=True, slots=True)
class PrinterColumn:
    """One `additionalPrinterColumns` entry."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""

    def manifest(self) -> dict[str, Any]:
        column: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.description:
            column["description"] = self.description
        column["jsonPath"] = self.json_path
        return column


_AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date")
_PHASE = PrinterColumn("Phase", ".status.phase", description="Lifecycle phase.")
_TARGET = PrinterColumn(
    "Target", ".spec.odooInstanceRef.name", description="The OdooInstance worked on."
)
# A running job resource's movement, for `kubectl get odoobackupjob -w`.
_STEP = PrinterColumn("Step", ".status.step", description="The step the batch Job runs.")
_PROGRESS = PrinterColumn("Progress", ".status.progress", description="How far the step has come.")


@dataclasses.dataclass(frozen=True, slots=True)
class ResourceInfo:
    """Everything the CRD of one kind needs besides the schemas."""

    model: type[common.KubeObject]
    spec: type[BaseModel]
    status: type[BaseModel]
    plural: str
    short_names: tuple[str, ...]
    description: str
    printer_columns: tuple[PrinterColumn, ...]
    selectable_fields: tuple[str, ...] = ()
    scale: bool = False
    root_validations: tuple[Mapping[str, str], ...] = ()

    @property
    def kind(self) -> str:
        kind: str = self.model.model_fields["kind"].default
        return kind

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{naming.API_GROUP}"


_JOB_SELECTABLE = (".spec.odooInstanceRef.name", ".status.phase")

RESOURCES: tuple[ResourceInfo, ...] = (
    ResourceInfo(
        model=instance.OdooInstance,
        spec=instance.OdooInstanceSpec,
        status=instance.OdooInstanceStatus,
        plural="odooinstances",
        short_names=("odoo",),
        description=(
            "An Odoo instance: web and cron Deployments, filestore, database and routing, "
            "driven through its lifecycle by the odoo-operator."
        ),
        printer_columns=(
            PrinterColumn("Image", ".spec.image", description="Odoo image."),
            PrinterColumn("Replicas", ".status.readyReplicas", "integer", "Ready web replicas."),
            _PHASE,
            PrinterColumn("URL", ".status.url", description="Public URL."),
            _AGE,
        ),
        scale=True,
        root_validations=(
            {
                "rule": (
                    f"self.metadata.name.size() <= {naming.INSTANCE_NAME_MAX} && "
                    "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')"
                ),
                "message": (
                    f"metadata.name must be a DNS-1035 label of at most "
                    f"{naming.INSTANCE_NAME_MAX} characters (lower-case letters, digits and "
                    "'-', starting with a letter, no '.'): it names the instance's Service and "
                    f"is the value of its labels app and {naming.INSTANCE_LABEL}"
                ),
                # No fieldPath: the CRD schema does not declare metadata's fields.
            },
        ),
    ),
    ResourceInfo(
        model=job_resources.OdooInitJob,
        spec=job_resources.OdooInitJobSpec,
        status=common.JobStatus,
        plural="odooinitjobs",
        short_names=("initjob",),
        description="Initializes the database of an OdooInstance (installs modules).",
        printer_columns=(_TARGET, _PHASE, _STEP, _PROGRESS, _AGE),
        selectable_fields=_JOB_SELECTABLE,
    ),
    ResourceInfo(
        model=job_resources.OdooUpgradeJob,
        spec=job_resources.OdooUpgradeJobSpec,
        status=job_resources.OperationStatus,
        plural="odooupgradejobs",
        short_names=("upgradejob",),
        description="Updates or installs modules of an OdooInstance, optionally at a set time.",
        printer_columns=(_TARGET, _PHASE, _STEP, _PROGRESS, _AGE),
        selectable_fields=_JOB_SELECTABLE,
    ),
    ResourceInfo(
        model=job_resources.OdooBackupJob,
        spec=job_resources.OdooBackupJobSpec,
        status=job_resources.BackupJobStatus,
        plural="odoobackupjobs",
        short_names=("backupjob",),
        description="Backs up the database and filestore of an OdooInstance to S3.",
        printer_columns=(
            _TARGET,
            PrinterColumn("Format", ".spec.format", description="Backup format."),
            _PHASE,
            _STEP,
            _PROGRESS,
            _AGE,
        ),
        selectable_fields=_JOB_SELECTABLE,
    ),
    ResourceInfo(
        model=job_resources.OdooRestoreJob,
        spec=job_resources.OdooRestoreJobSpec,
        status=job_resources.OperationStatus,
        plural="odoorestorejobs",
        short_names=("restore",),
        description="Restores an OdooInstance from a backup in S3 or from a live Odoo server.",
        printer_columns=(
            _TARGET,
            PrinterColumn("Source", ".spec.source.type", description="Backup source type."),
            _PHASE,
            _STEP,
            _PROGRESS,
            _AGE,
        ),
        selectable_fields=_JOB_SELECTABLE,
    ),
)

_BY_KIND = {info.kind: info for info in RESOURCES}


def resource_info(kind: str) -> ResourceInfo:
    """The ResourceInfo of a kind, e.g. `resource_info("OdooBackupJob").plural`."""
    return _BY_KIND[kind]


def parse_resource(body: Mapping[str, Any]) -> common.KubeObject:
    """A Kubernetes object body of any of our kinds as its model (dispatch on `kind`)."""
    kind = body.get("kind")
    if not isinstance(kind, str) or kind not in _BY_KIND:
        raise ValueError(f"not an odoo-operator resource kind: {kind!r}")
    return _BY_KIND[kind].model.model_validate(body)


def open_api_schema(info: ResourceInfo) -> dict[str, Any]:
    """The `openAPIV3Schema` of one kind."""
    status = schema.model_schema(info.status, keep_defaults=False)
    status["description"] = f"Observed state of the {info.kind}, written by the operator."
    root: dict[str, Any] = {}
    if info.root_validations:
        root["x-kubernetes-validations"] = [dict(rule) for rule in info.root_validations]
    result: dict[str, Any] = schema.sort_keys(
        {
            **root,
            "description": info.description,
            "type": "object",
            "required": ["spec"],
            "properties": {
                "apiVersion": {
                    "description": (
                        "APIVersion defines the versioned schema of this representation of an "
                        "object."
                    ),
                    "type": "string",
                },
                "kind": {
                    "description": (
                        "Kind is a string value representing the REST resource this object "
                        "represents."
                    ),
                    "type": "string",
                },
                # The apiserver refuses anything but the type here (even a description).
                "metadata": {"type": "object"},
                "spec": schema.model_schema(info.spec),
                "status": status,
            },
        }
    )
    return result


def crd_manifest(info: ResourceInfo) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind (deterministic key order)."""
    subresources: dict[str, Any] = {"status": {}}
    if info.scale:
        subresources["scale"] = {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.readyReplicas",
            "labelSelectorPath": ".status.selector",
        }
    version: dict[str, Any] = {
        "name": naming.API_VERSION,
        "served": True,
        "storage": True,
        "additionalPrinterColumns": [column.manifest() for column in info.printer_columns],
    }
    if info.selectable_fields:
        version["selectableFields"] = [{"jsonPath": path} for path in info.selectable_fields]
    version["subresources"] = subresources
    version["schema"] = {"openAPIV3Schema": open_api_schema(info)}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": info.crd_name, "annotations": dict(KEEP_ANNOTATION)},
        "spec": {
            "group": naming.API_GROUP,
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.singular,
                "shortNames": list(info.short_names),
                "categories": [CATEGORY],
            },
            "scope": "Namespaced",
            "versions": [version],
        },
    }


def crd_manifests() -> list[dict[str, Any]]:
    """Every CustomResourceDefinition, OdooInstance first."""
    return [crd_manifest(info) for info in RESOURCES]
