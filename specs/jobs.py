"""The batch Jobs of every job resource, built around one skeleton, and the auto OdooInitJob.

Owns the exact shape of the Jobs of OdooInitJob, OdooUpgradeJob,
OdooBackupJob and OdooRestoreJob: which step runs in which image, with which
environment, volumes and limits; and the OdooInitJob `<name>-auto-init` an
instance gets in Uninitialized. No I/O, no clock: activities.job_lifecycle
and activities.job_inputs read what a builder needs (the job resource,
which Secrets exist) and create what it returns.

Every kind goes through `_batch_job`, as CloudNativePG's pkg/specs/jobs.go
builds every Job role through one function: metadata with the instance's
labels and `app=<job name>` (so a Job pod never matches the web Service),
a controller owner reference to the job resource, the instance's pod
fields (specs.workloads.pod_spec: service account, security context, pull
secret, affinity, tolerations), restartPolicy Never, backoffLimit 0 and
the kind's activeDeadlineSeconds. No ttlSecondsAfterFinished at creation:
the outcome must survive until the workflow has mirrored it into the job
resource; activities.job_lifecycle.finish then sets the TTL.

Steps and images (one script per step, scripts/jobs/, run from the pinned
tools image at SCRIPTS_DIR; Odoo steps run the instance's own image):

    init      init (Odoo)          odoo -i <modules> -d <db> --stop-after-init
    upgrade   upgrade (Odoo)       odoo -d <db> -u <modules> -i <modules> --stop-after-init
    backup    dump -> package ->   backup-dump.sh, backup-package.sh (init containers)
              upload               backup-upload.sh
    restore   download -> extract  restore-download.sh, restore-extract.sh
              -> load              restore-load.sh: into <db>_restoring, never the live db
              -> neutralize (Odoo) odoo neutralize -d <db>_restoring (when asked)
              -> finalize          restore-finalize.sh: verify, swap in, move the filestore

Credentials reach the containers only as secretKeyRef env (the database
password from the instance's `<name>-db-password`, specs.config.db_env;
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from the S3 credentials Secret) or
as a mounted Secret file (the Odoo master password): never as a literal
value or an argument. Every container of upgrade, backup and restore keeps
its log tail as termination message (FallbackToLogsOnError), which the
operator copies into the job resource's status.message (specs.job_outcome).
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
from model.payloads import JobKind
from specs import config, facts, odoo_cli, workloads

__all__ = [
    "SCRIPTS_DIR",
    "WORKSPACE",
    "auto_init_job",
    "backup_job",
    "init_job",
    "restore_job",
    "upgrade_job",
]

SCRIPTS_DIR = "/opt/odoo-operator/scripts"
"""Where the tools image holds scripts/jobs/ (the local pod runner maps it back)."""
WORKSPACE = "/workspace"
_MASTER_PASSWORD_DIR = "/run/secrets/odoo-master"
_MASTER_PASSWORD_FILE = f"{_MASTER_PASSWORD_DIR}/password"

_DEADLINE_SECONDS = {
    JobKind.INIT: 3600,
    JobKind.UPGRADE: 3600,
    JobKind.BACKUP: 5400,
    JobKind.RESTORE: 3600,
}

# Odoo's `neutralize` runs in the instance's image, which holds no script of
# ours: its output goes to the workspace, a failure is marked there, and the
# finalize step reports it (and drops the restored copy) instead.
_NEUTRALIZE = (
    'status=0; /entrypoint.sh odoo neutralize -d "$TEMP_DB" > "$WORKSPACE/neutralize.log" 2>&1 '
    '|| status=$?; cat "$WORKSPACE/neutralize.log"; '
    'if [ "$status" != 0 ]; then echo "$status" > "$WORKSPACE/neutralize.failed"; fi'
)


# --- the skeleton ------------------------------------------------------------------------


def _batch_job(
    inst: facts.Instance,
    kind: JobKind,
    *,
    resource_name: str,
    resource_uid: str,
    pod: dict[str, Any],
) -> dict[str, Any]:
    """The Job of the job resource `resource_name` of `kind`, running `pod` (its
    containers and volumes) with everything every batch Job shares."""
    name = naming.batch_job_name(resource_name, kind.value)
    labels = inst.labels(app=name)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": inst.namespace,
            "labels": labels,
            "ownerReferences": [facts.owner(kind.resource_kind, resource_name, resource_uid)],
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": _DEADLINE_SECONDS[kind],
            "template": {
                "metadata": {"labels": labels},
                "spec": {**workloads.pod_spec(inst), "restartPolicy": "Never", **pod},
            },
        },
    }


# --- containers --------------------------------------------------------------------------


def _value(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


def _odoo_container(
    inst: facts.Instance, name: str, command: list[str], extra_env: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """A container of the instance's own image, configured like its pods."""
    container: dict[str, Any] = {
        "name": name,
        "image": inst.image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "env": config.odoo_env(inst, *extra_env),
        "volumeMounts": workloads.mounts(),
    }
    if inst.spec.extra_env_from:
        container["envFrom"] = list(inst.spec.extra_env_from)
    if inst.spec.resources:
        container["resources"] = inst.spec.resources
    return container


def _step(container: dict[str, Any]) -> dict[str, Any]:
    """`container` keeping its log tail as termination message (see the module docstring)."""
    return {**container, "terminationMessagePolicy": "FallbackToLogsOnError"}


def _tool(
    name: str, image: str, script: str, env: Sequence[dict[str, Any]], mounts: list[dict[str, Any]]
) -> dict[str, Any]:
    return _step(
        {
            "name": name,
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "command": [f"{SCRIPTS_DIR}/{script}"],
            "env": [*env],
            "volumeMounts": mounts,
        }
    )


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


def _workspace_volumes(
    inst: facts.Instance, *, filestore_read_only: bool = False
) -> list[dict[str, Any]]:
    return [
        {"name": "workspace", "emptyDir": {}},
        *workloads.volumes(inst, filestore_read_only=filestore_read_only),
    ]


# --- init --------------------------------------------------------------------------------


def auto_init_job(inst: facts.Instance) -> dict[str, Any]:
    """The OdooInitJob `<name>-auto-init` created in Uninitialized."""
    init = inst.spec.init
    spec: dict[str, Any] = {
        "odooInstanceRef": {"name": inst.name},
        "modules": list(init.modules),
        "demo": init.demo,
    }
    if init.webhook is not None:
        spec["webhook"] = init.webhook.model_dump(mode="json", exclude_none=True)
    return {
        "apiVersion": naming.GROUP_VERSION,
        "kind": "OdooInitJob",
        "metadata": facts.metadata(inst, naming.auto_init_job_name(inst.name)),
        "spec": spec,
    }


def init_job(
    inst: facts.Instance,
    *,
    resource_name: str,
    resource_uid: str,
    modules: Sequence[str],
    demo: bool,
) -> dict[str, Any]:
    """The batch Job of an OdooInitJob: `odoo -i <modules> -d <db> --stop-after-init`.

    The demo flag follows the image's Odoo version (specs.odoo_cli). With
    spec.configSecretRef its odoo.conf is rendered like the cron pod's.
    """
    args = odoo_cli.init_args(
        odoo_cli.odoo_version(inst.image), modules, inst.database.name, demo=demo
    )
    container = {**_odoo_container(inst, "init", ["/entrypoint.sh", "odoo"]), "args": args}
    pod = workloads.with_secret_conf(
        inst, {"containers": [container], "volumes": workloads.volumes(inst)}
    )
    return _batch_job(
        inst, JobKind.INIT, resource_name=resource_name, resource_uid=resource_uid, pod=pod
    )


# --- upgrade -----------------------------------------------------------------------------


def upgrade_job(
    inst: facts.Instance, *, resource_name: str, resource_uid: str, spec: OdooUpgradeJobSpec
) -> dict[str, Any]:
    args = odoo_cli.upgrade_args(
        odoo_cli.odoo_version(inst.image),
        spec.modules,
        inst.database.name,
        install=spec.modules_install,
    )
    container = _step(_odoo_container(inst, "upgrade", ["/entrypoint.sh", "odoo", *args]))
    pod = {"containers": [container], "volumes": workloads.volumes(inst)}
    return _batch_job(
        inst, JobKind.UPGRADE, resource_name=resource_name, resource_uid=resource_uid, pod=pod
    )


# --- backup ------------------------------------------------------------------------------


def backup_job(
    inst: facts.Instance,
    *,
    resource_name: str,
    resource_uid: str,
    spec: OdooBackupJobSpec,
    tools_image: str,
    credentials_secret: str | None,
) -> dict[str, Any]:
    """dump -> package -> upload; the filestore is mounted read-only, nothing is scaled."""
    workspace: dict[str, Any] = {"name": "workspace", "mountPath": WORKSPACE}
    filestore: dict[str, Any] = {
        "name": "filestore",
        "mountPath": config.FILESTORE_MOUNT,
        "readOnly": True,
    }
    common = [_value("WORKSPACE", WORKSPACE), _value("BACKUP_FORMAT", spec.format.value)]
    series = odoo_cli.series(inst.image)
    dump = _tool(
        "dump",
        tools_image,
        "backup-dump.sh",
        [
            *config.db_env(inst, config.TOOLS_DB_ENV),
            *common,
            *([_value("ODOO_VERSION", series)] if series else []),
        ],
        [workspace],
    )
    package = _tool(
        "package",
        tools_image,
        "backup-package.sh",
        [
            *common,
            _value("FILESTORE", f"{config.FILESTORE_MOUNT}/filestore/{inst.database.name}"),
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
            v
            for v in _workspace_volumes(inst, filestore_read_only=True)
            if v["name"] != "odoo-conf"
        ],
    }
    return _batch_job(
        inst, JobKind.BACKUP, resource_name=resource_name, resource_uid=resource_uid, pod=pod
    )


# --- restore -----------------------------------------------------------------------------


def restore_job(
    inst: facts.Instance,
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
    temp = naming.restore_database_name(inst.database.name)
    workspace: dict[str, Any] = {"name": "workspace", "mountPath": WORKSPACE}
    filestore: dict[str, Any] = {"name": "filestore", "mountPath": config.FILESTORE_MOUNT}
    common = [_value("WORKSPACE", WORKSPACE), _value("BACKUP_FORMAT", spec.format.value)]
    source = spec.source
    download_env = [*common, _value("SOURCE_TYPE", source.type.value)]
    download_mounts: list[dict[str, Any]] = [workspace]
    volumes = _workspace_volumes(inst)
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
    database = [*config.db_env(inst, config.TOOLS_DB_ENV), _value("TEMP_DB", temp)]
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
                _value("FILESTORE_ROOT", config.FILESTORE_MOUNT),
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
        neutralize_step = _step(
            _odoo_container(
                inst,
                "neutralize",
                ["/bin/sh", "-c", _NEUTRALIZE],
                [_value("TEMP_DB", temp), _value("WORKSPACE", WORKSPACE)],
            )
        )
        neutralize_step["volumeMounts"] = [
            workspace,
            {"name": "odoo-conf", "mountPath": workloads.CONF_MOUNT, "readOnly": True},
        ]
        init.append(neutralize_step)
    finalize = _tool(
        "finalize",
        tools_image,
        "restore-finalize.sh",
        [
            *database,
            _value("WORKSPACE", WORKSPACE),
            _value("NEUTRALIZE", neutralize),
            _value("FILESTORE_ROOT", config.FILESTORE_MOUNT),
        ],
        [workspace, filestore],
    )
    pod = {"initContainers": init, "containers": [finalize], "volumes": volumes}
    return _batch_job(
        inst, JobKind.RESTORE, resource_name=resource_name, resource_uid=resource_uid, pod=pod
    )
