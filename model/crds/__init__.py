"""The custom resources: typed models and the CRDs generated from them.

One source of truth: the pydantic models here parse Kubernetes bodies
(`OdooInstance.model_validate(body)`) and produce the CRD schemas
(`crd_manifests()`, rendered to YAML by `odoo_operator.crdgen`).

Modules: `common` (shared sub-types, metadata, conditions, job status), `kube`
(Kubernetes-native sub-objects), `instance` (OdooInstance), `backup`
(spec.backup), `job_resources` (the four job kinds), `schema` (pydantic →
structural schema), `definitions` (CRD documents).
"""

from __future__ import annotations

from model.crds.backup import (
    BackupDestination,
    BackupRetention,
    ScheduledBackups,
)
from model.crds.common import (
    BackupFormat,
    Condition,
    ConditionStatus,
    JobStatus,
    KubeModel,
    KubeObject,
    ObjectMeta,
    OdooInstanceRef,
    OwnerReference,
    S3Config,
    SecretKeyRef,
    SecretReference,
    WebhookConfig,
)
from model.crds.definitions import (
    CATEGORY,
    RESOURCES,
    PrinterColumn,
    ResourceInfo,
    crd_manifest,
    crd_manifests,
    open_api_schema,
    parse_resource,
    resource_info,
)
from model.crds.instance import (
    CronConfig,
    DatabaseConfig,
    DeploymentStrategy,
    Environment,
    FilestoreConfig,
    GatewayRef,
    IngressConfig,
    InitConfig,
    MissingPolicy,
    OdooInstance,
    OdooInstanceSpec,
    OdooInstanceStatus,
    ProbesConfig,
    ReadOnlySqlAccess,
    ReclaimPolicy,
    RollingUpdateConfig,
    StrategyType,
)
from model.crds.job_resources import (
    OdooBackupJob,
    OdooBackupJobSpec,
    OdooInitJob,
    OdooInitJobSpec,
    OdooRestoreJob,
    OdooRestoreJobSpec,
    OdooSource,
    OdooUpgradeJob,
    OdooUpgradeJobSpec,
    RestoreSource,
    RestoreSourceType,
)
from model.crds.kube import (
    KUBE_ROOTS,
    Affinity,
    EnvFromSource,
    EnvVar,
    ResourceRequirements,
    Toleration,
)

__all__ = [
    "CATEGORY",
    "KUBE_ROOTS",
    "RESOURCES",
    "Affinity",
    "BackupDestination",
    "BackupFormat",
    "BackupRetention",
    "Condition",
    "ConditionStatus",
    "CronConfig",
    "DatabaseConfig",
    "DeploymentStrategy",
    "EnvFromSource",
    "EnvVar",
    "Environment",
    "FilestoreConfig",
    "GatewayRef",
    "IngressConfig",
    "InitConfig",
    "JobStatus",
    "KubeModel",
    "KubeObject",
    "MissingPolicy",
    "ObjectMeta",
    "OdooBackupJob",
    "OdooBackupJobSpec",
    "OdooInitJob",
    "OdooInitJobSpec",
    "OdooInstance",
    "OdooInstanceRef",
    "OdooInstanceSpec",
    "OdooInstanceStatus",
    "OdooRestoreJob",
    "OdooRestoreJobSpec",
    "OdooSource",
    "OdooUpgradeJob",
    "OdooUpgradeJobSpec",
    "OwnerReference",
    "PrinterColumn",
    "ProbesConfig",
    "ReadOnlySqlAccess",
    "ReclaimPolicy",
    "ResourceInfo",
    "ResourceRequirements",
    "RestoreSource",
    "RestoreSourceType",
    "RollingUpdateConfig",
    "S3Config",
    "ScheduledBackups",
    "SecretKeyRef",
    "SecretReference",
    "StrategyType",
    "Toleration",
    "WebhookConfig",
    "crd_manifest",
    "crd_manifests",
    "open_api_schema",
    "parse_resource",
    "resource_info",
]
