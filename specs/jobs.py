"""Pure builders of the batch Jobs of OdooUpgradeJob, OdooBackupJob and OdooRestoreJob.

Owns the exact shape of those Jobs: which step runs in which image, with
which environment, volumes and limits. No I/O, no clock: activities.job_inputs
reads what a builder needs (the job resource, which Secrets exist) and
creates what it returns.

Steps and images (one script per step, scripts/jobs/, run from the pinned
tools image at SCRIPTS_DIR; Odoo steps run the instance's own image):

    upgrade   upgrade (Odoo)       odoo -d <db> -u <modules> -i <modules> --stop-after-init
    backup    dump -> package ->   backup-dump.sh, backup-package.sh (init containers)
              upload               backup-upload.sh
    restore   download -> extract  restore-download.sh, restore-extract.sh
              -> load              restore-load.sh: into <db>_restoring, never the live db
              -> neutralize (Odoo) odoo neutralize -d <db>_restoring (when asked)
              -> finalize          restore-finalize.sh: verify, swap in, move the filestore

Credentials reach the containers only as secretKeyRef env (PGPASSWORD from the
instance's `<name>-db-password`, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from
the S3 credentials Secret) or as a mounted Secret file (the Odoo master
password): never as a literal value or an argument. Every container keeps
its log tail as termination message (FallbackToLogsOnError), which the
operator copies into the job resource's status.message.

No ttlSecondsAfterFinished at creation (see jobs.py): the outcome must
survive until the workflow mirrored it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from model import naming
from model.crds import (
    OdooBackupJobSpec,
    OdooRestoreJobSpec,
    OdooUpgradeJobSpec,
    RestoreSourceType,
)
from model.crds.common import S3Config
from specs import manifests, odoo_cli

__all__ = [
    "FILESTORE_MOUNT",
    "SCRIPTS_DIR",
    "WORKSPACE",
    "backup_job",
    "restore_job",
    "upgrade_job",
]

SCRIPTS_DIR = "/opt/odoo-operator/scripts"
"""Where the tools image holds scripts/jobs/ (the local pod runner maps it back)."""
WORKSPACE = "/workspace"
FILESTORE_MOUNT = "/var/lib/odoo"
_MASTER_PASSWORD_DIR = "/run/secrets/odoo-master"
_MASTER_PASSWORD_FILE = f"{_MASTER_PASSWORD_DIR}/password"

_UPGRADE_DEADLINE_SECONDS = 3600
_BACKUP_DEADLINE_SECONDS = 5400
_RESTORE_DEADLINE_SECONDS = 3600

# Odoo's `neutralize` runs in the instance's image, which holds no script of
# ours: its output goes to the workspace, a failure is marked there, and the
# finalize step reports it (and drops the restored copy) instead.
_NEUTRALIZE = (
    'status=0; /entrypoint.sh odoo neutralize -d "$TEMP_DB" > "$WORKSPACE/neutralize.log" 2>&1 '
    '|| status=$?; cat "$WORKSPACE/neutralize.log"; '
    'if [ "$status" != 0 ]; then echo "$status" > "$WORKSPACE/neutralize.failed"; fi'
)


# --- shared pieces -----------------------------------------------------------------


def _value(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


def _pg_env(inst: manifests.Instance) -> list[dict[str, Any]]:
    """libpq's variables for the instance's own role (host/port/user from the ConfigMap)."""
    cm = naming.config_map_name(inst.name)

    def from_cm(name: str, key: str) -> dict[str, Any]:
        return {"name": name, "valueFrom": {"configMapKeyRef": {"name": cm, "key": key}}}

    return [
        from_cm("PGHOST", "db_host"),
        from_cm("PGPORT", "db_port"),
        from_cm("PGUSER", "db_user"),
        {
            "name": "PGPASSWORD",
            "valueFrom": {
                "secretKeyRef": {
                    "name": naming.db_password_secret_name(inst.name),
                    "key": manifests.DB_PASSWORD_KEY,
                }
            },
        },
        _value("DB_NAME", inst.database.name),
    ]


def _s3_env(location: S3Config, credentials_secret: str | None) -> list[dict[str, Any]]:
    env = [
        _value("S3_ENDPOINT", location.endpoint),
        _value("S3_BUCKET", location.bucket),
        _value("S3_KEY", location.object_key),
        _value("S3_INSECURE", "true" if location.insecure else "false"),
    ]
    if location.region:
        env.append(_value("S3_REGION", location.region))
    if credentials_secret:
        for name, key in (
            ("AWS_ACCESS_KEY_ID", "accessKey"),
            ("AWS_SECRET_ACCESS_KEY", "secretKey"),
        ):
            env.append(
                {
                    "name": name,
                    "valueFrom": {"secretKeyRef": {"name": credentials_secret, "key": key}},
                }
            )
    return env


def _tool(
    name: str, image: str, script: str, env: Sequence[dict[str, Any]], mounts: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": [f"{SCRIPTS_DIR}/{script}"],
        "env": [*env],
        "volumeMounts": mounts,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def _odoo_container(
    inst: manifests.Instance, name: str, command: list[str], extra_env: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """A container of the instance's own image, configured like its pods."""
    container: dict[str, Any] = {
        "name": name,
        "image": inst.image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "env": manifests.merge_env([*_odoo_base_env(inst), *extra_env], inst.spec.extra_env),
        "volumeMounts": [
            {"name": "filestore", "mountPath": FILESTORE_MOUNT},
            {"name": "odoo-conf", "mountPath": "/etc/odoo", "readOnly": True},
        ],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if inst.spec.extra_env_from:
        container["envFrom"] = list(inst.spec.extra_env_from)
    if inst.spec.resources:
        container["resources"] = inst.spec.resources
    return container


def _odoo_base_env(inst: manifests.Instance) -> list[dict[str, Any]]:
    cm = naming.config_map_name(inst.name)

    def from_cm(name: str, key: str) -> dict[str, Any]:
        return {"name": name, "valueFrom": {"configMapKeyRef": {"name": cm, "key": key}}}

    return [
        from_cm("HOST", "db_host"),
        from_cm("PORT", "db_port"),
        from_cm("USER", "db_user"),
        {
            "name": "PASSWORD",
            "valueFrom": {
                "secretKeyRef": {
                    "name": naming.db_password_secret_name(inst.name),
                    "key": manifests.DB_PASSWORD_KEY,
                }
            },
        },
        _value("PGDATABASE", inst.database.name),
    ]


def _job(
    inst: manifests.Instance,
    *,
    name: str,
    owner_kind: str,
    owner_name: str,
    owner_uid: str,
    pod: dict[str, Any],
    deadline: int,
) -> dict[str, Any]:
    labels = inst.labels(app=name)
    spec: dict[str, Any] = {
        "serviceAccountName": inst.name,
        "automountServiceAccountToken": False,
        "securityContext": {"runAsUser": 100, "runAsGroup": 101, "fsGroup": 101},
        "restartPolicy": "Never",
        **pod,
    }
    if inst.spec.image_pull_secret:
        spec["imagePullSecrets"] = [{"name": inst.spec.image_pull_secret}]
    if inst.spec.affinity:
        spec["affinity"] = inst.spec.affinity
    if inst.spec.tolerations:
        spec["tolerations"] = list(inst.spec.tolerations)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": inst.namespace,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": naming.GROUP_VERSION,
                    "kind": owner_kind,
                    "name": owner_name,
                    "uid": owner_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline,
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def _standard_volumes(
    inst: manifests.Instance, *, filestore_read_only: bool
) -> list[dict[str, Any]]:
    return [
        {"name": "workspace", "emptyDir": {}},
        {
            "name": "filestore",
            "persistentVolumeClaim": {
                "claimName": naming.pvc_name(inst.name),
                "readOnly": filestore_read_only,
            },
        },
        {"name": "odoo-conf", "configMap": {"name": naming.config_map_name(inst.name)}},
    ]


# --- upgrade ------------------------------------------------------------------------


def upgrade_job(
    inst: manifests.Instance, *, resource_name: str, resource_uid: str, spec: OdooUpgradeJobSpec
) -> dict[str, Any]:
    name = naming.batch_job_name(resource_name, "upgrade")
    args = odoo_cli.upgrade_args(
        odoo_cli.odoo_version(inst.image),
        spec.modules,
        inst.database.name,
        install=spec.modules_install,
    )
    container = _odoo_container(inst, "upgrade", ["/entrypoint.sh", "odoo", *args], ())
    pod = {
        "containers": [container],
        "volumes": [
            v
            for v in _standard_volumes(inst, filestore_read_only=False)
            if v["name"] != "workspace"
        ],
    }
    return _job(
        inst,
        name=name,
        owner_kind="OdooUpgradeJob",
        owner_name=resource_name,
        owner_uid=resource_uid,
        pod=pod,
        deadline=_UPGRADE_DEADLINE_SECONDS,
    )


# --- backup -------------------------------------------------------------------------


def backup_job(
    inst: manifests.Instance,
    *,
    resource_name: str,
    resource_uid: str,
    spec: OdooBackupJobSpec,
    tools_image: str,
    credentials_secret: str | None,
) -> dict[str, Any]:
    """dump -> package -> upload; the filestore is mounted read-only, nothing is scaled."""
    name = naming.batch_job_name(resource_name, "backup")
    workspace: dict[str, Any] = {"name": "workspace", "mountPath": WORKSPACE}
    filestore: dict[str, Any] = {
        "name": "filestore",
        "mountPath": FILESTORE_MOUNT,
        "readOnly": True,
    }
    common = [_value("WORKSPACE", WORKSPACE), _value("BACKUP_FORMAT", spec.format.value)]
    version = _odoo_version(inst.image)
    dump = _tool(
        "dump",
        tools_image,
        "backup-dump.sh",
        [*_pg_env(inst), *common, *([_value("ODOO_VERSION", version)] if version else [])],
        [workspace],
    )
    package = _tool(
        "package",
        tools_image,
        "backup-package.sh",
        [
            *common,
            _value("FILESTORE", f"{FILESTORE_MOUNT}/filestore/{inst.database.name}"),
            _value("WITH_FILESTORE", "true" if spec.with_filestore else "false"),
        ],
        [workspace, filestore],
    )
    upload = _tool(
        "upload",
        tools_image,
        "backup-upload.sh",
        [*common, *_s3_env(spec.destination, credentials_secret)],
        [workspace],
    )
    pod = {
        "initContainers": [dump, package],
        "containers": [upload],
        "volumes": [
            v for v in _standard_volumes(inst, filestore_read_only=True) if v["name"] != "odoo-conf"
        ],
    }
    return _job(
        inst,
        name=name,
        owner_kind="OdooBackupJob",
        owner_name=resource_name,
        owner_uid=resource_uid,
        pod=pod,
        deadline=_BACKUP_DEADLINE_SECONDS,
    )


def _odoo_version(image: str) -> str:
    """`18.0` from `odoo:18.0` (or `.../odoo:18.0-20250101`); empty when the tag says nothing."""
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    head = tag.split("-", 1)[0]
    parts = head.split(".")
    return head if len(parts) == 2 and all(p.isdigit() for p in parts) else ""


# --- restore ------------------------------------------------------------------------


def restore_job(
    inst: manifests.Instance,
    *,
    resource_name: str,
    resource_uid: str,
    spec: OdooRestoreJobSpec,
    tools_image: str,
    credentials_secret: str | None,
    master_password: tuple[str, str] | None,
) -> dict[str, Any]:
    """download -> extract -> load -> [neutralize] -> finalize (see the module docstring).

    `master_password` is (Secret name, key) for a live-Odoo source.
    """
    name = naming.batch_job_name(resource_name, "restore")
    temp = naming.restore_database_name(inst.database.name)
    workspace: dict[str, Any] = {"name": "workspace", "mountPath": WORKSPACE}
    filestore: dict[str, Any] = {"name": "filestore", "mountPath": FILESTORE_MOUNT}
    common = [_value("WORKSPACE", WORKSPACE), _value("BACKUP_FORMAT", spec.format.value)]
    source = spec.source
    download_env = [*common, _value("SOURCE_TYPE", source.type.value)]
    download_mounts: list[dict[str, Any]] = [workspace]
    volumes = _standard_volumes(inst, filestore_read_only=False)
    if source.type is RestoreSourceType.S3 and source.s3 is not None:
        download_env += _s3_env(source.s3, credentials_secret)
    elif source.odoo is not None:
        download_env.append(_value("ODOO_URL", source.odoo.url))
        if source.odoo.source_database:
            download_env.append(_value("SOURCE_DB", source.odoo.source_database))
        if master_password is not None:
            secret, key = master_password
            download_env.append(_value("MASTER_PASSWORD_FILE", _MASTER_PASSWORD_FILE))
            download_mounts = [
                workspace,
                {"name": "master-password", "mountPath": _MASTER_PASSWORD_DIR, "readOnly": True},
            ]
            volumes.append(
                {
                    "name": "master-password",
                    "secret": {
                        "secretName": secret,
                        "items": [{"key": key, "path": "password"}],
                        "defaultMode": 0o400,
                    },
                }
            )
    database = [*_pg_env(inst), _value("TEMP_DB", temp)]
    neutralize = "true" if spec.neutralize else "false"
    init = [
        _tool("download", tools_image, "restore-download.sh", download_env, download_mounts),
        _tool(
            "extract",
            tools_image,
            "restore-extract.sh",
            [
                *common,
                _value("DB_NAME", inst.database.name),
                _value("FILESTORE_ROOT", FILESTORE_MOUNT),
            ],
            [workspace, filestore],
        ),
        _tool(
            "load",
            tools_image,
            "restore-load.sh",
            [*database, *common, _value("REIDENTIFY", neutralize)],
            [workspace],
        ),
    ]
    if spec.neutralize:
        odoo = _odoo_container(
            inst,
            "neutralize",
            ["/bin/sh", "-c", _NEUTRALIZE],
            [_value("TEMP_DB", temp), _value("WORKSPACE", WORKSPACE)],
        )
        odoo["volumeMounts"] = [
            workspace,
            {"name": "odoo-conf", "mountPath": "/etc/odoo", "readOnly": True},
        ]
        init.append(odoo)
    finalize = _tool(
        "finalize",
        tools_image,
        "restore-finalize.sh",
        [
            *database,
            _value("WORKSPACE", WORKSPACE),
            _value("NEUTRALIZE", neutralize),
            _value("FILESTORE_ROOT", FILESTORE_MOUNT),
        ],
        [workspace, filestore],
    )
    pod = {"initContainers": init, "containers": [finalize], "volumes": volumes}
    return _job(
        inst,
        name=name,
        owner_kind="OdooRestoreJob",
        owner_name=resource_name,
        owner_uid=resource_uid,
        pod=pod,
        deadline=_RESTORE_DEADLINE_SECONDS,
    )
