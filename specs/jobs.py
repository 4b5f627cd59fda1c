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
    restore   download -> extract  restore-download.sh, restore-extract.sh (the dump)
              -> load              restore-load.sh: into <db>_restoring, never the live db
              -> neutralize (Odoo) odoo neutralize -d <db>_restoring (when asked)
              -> verify            restore-verify.sh: neutralized, no active mail server
              -> filestore         restore-filestore.sh: the backup's filestore (or an
                                   empty one) staged as filestore/.restore-<db>, marked
                                   with the operation, then swapped in; the live one
                                   kept aside as filestore/.<db>.pre-<8 hex>
    filestore filestore            filestore-step.sh undo | discard (a short Job of a
                                   restore: put the previous filestore back, or remove it)

A restore's Job never touches the live database: the workflow swaps
`<db>_restoring` in afterwards through an activity (the commit point of the
restore), and undoes the filestore swap with the `filestore` Job
(`<resource>-filestore-undo-<n>`) when anything fails after the Job's last
step started. The filestore swap runs in the Job rather than after the
database swap because a rename on the volume needs a Pod: as the Job's last
step it costs no Pod start on the way that succeeds, it is two renames that
keep the previous filestore aside (marked, so the undo knows which is
which), and the site is down (web and cron at 0) until the database swap
decides.

Deadlines: a kind's default (model.crds.DEFAULT_DEADLINE_SECONDS) or the
resource's spec.activeDeadlineSeconds is the Pod's activeDeadlineSeconds,
so the kubelet stops the step that runs and its status says which
(specs.job_outcome words it 'deadline of N s exceeded at step S'); the
Job's own activeDeadlineSeconds is JOB_DEADLINE_GRACE_SECONDS longer, for a
Pod that never started.

Steps report a line of outcome through their termination message file
(TERMINATION_LOG, /dev/termination-log): the restore's filestore step says
whether the backup held a filestore.

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
from enum import StrEnum
from typing import Any

from model import naming
from model.crds import (
    DEFAULT_DEADLINE_SECONDS,
    OdooBackupJobSpec,
    OdooRestoreJobSpec,
    OdooUpgradeJobSpec,
    RestoreSourceType,
    ScheduledBackups,
    deadline_seconds,
)
from model.crds.common import S3Config
from model.payloads import JobKind
from specs import config, facts, odoo_cli, workloads

__all__ = [
    "JOB_DEADLINE_GRACE_SECONDS",
    "SCRIPTS_DIR",
    "TERMINATION_LOG",
    "WORKSPACE",
    "FilestoreAction",
    "auto_init_job",
    "backup_destination",
    "backup_job",
    "filestore_job",
    "init_job",
    "restore_job",
    "upgrade_job",
]

SCRIPTS_DIR = "/opt/odoo-operator/scripts"
"""Where the tools image holds scripts/jobs/ (the local pod runner maps it back)."""
WORKSPACE = "/workspace"
_MASTER_PASSWORD_DIR = "/run/secrets/odoo-master"
_MASTER_PASSWORD_FILE = f"{_MASTER_PASSWORD_DIR}/password"

TERMINATION_LOG = "/dev/termination-log"
"""The kubelet's default terminationMessagePath: a step's one-line outcome."""
JOB_DEADLINE_GRACE_SECONDS = 300
"""How much longer than its Pod a batch Job may run (a Pod that never started)."""
_FILESTORE_STEP_DEADLINE_SECONDS = 600


class FilestoreAction(StrEnum):
    """What a restore's filestore step does (scripts/jobs/filestore-step.sh)."""

    SWAP = "swap"
    """The staged filestore in, the live one kept aside (the restore Job's last step)."""
    UNDO = "undo"
    """The kept-aside filestore back, the staged or swapped-in one removed."""
    DISCARD = "discard"
    """The kept-aside filestore removed (the restore succeeded)."""


# Odoo's `neutralize` runs in the instance's image, which holds no script of
# ours: its output goes to the workspace, a failure is marked there, and the
# verify step reports it (and drops the restored copy) instead.
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
    deadline: int,
    step: str | None = None,
) -> dict[str, Any]:
    """The Job of the job resource `resource_name` of `kind`, running `pod` (its
    containers and volumes) for at most `deadline` seconds, with everything every
    batch Job shares. `step` names a Job of the resource other than its main one."""
    name = naming.batch_job_name(resource_name, step or kind.value)
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
            "activeDeadlineSeconds": deadline + JOB_DEADLINE_GRACE_SECONDS,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    **workloads.pod_spec(inst),
                    "restartPolicy": "Never",
                    "activeDeadlineSeconds": deadline,
                    **pod,
                },
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
    deadline: int | None = None,
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
        inst,
        JobKind.INIT,
        resource_name=resource_name,
        resource_uid=resource_uid,
        pod=pod,
        deadline=deadline or DEFAULT_DEADLINE_SECONDS[JobKind.INIT.value],
    )


# --- upgrade -----------------------------------------------------------------------------


def upgrade_job(
    inst: facts.Instance, *, resource_name: str, resource_uid: str, spec: OdooUpgradeJobSpec
) -> dict[str, Any]:
    """`odoo -u` on the live database, in spec.image when the upgrade names one (the
    workflow copied the database aside first: workflows.upgrade)."""
    image = spec.image or inst.image
    args = odoo_cli.upgrade_args(
        odoo_cli.odoo_version(image),
        spec.modules,
        inst.database.name,
        install=spec.modules_install,
    )
    container = _step(_odoo_container(inst, "upgrade", ["/entrypoint.sh", "odoo", *args]))
    container["image"] = image
    pod = {"containers": [container], "volumes": workloads.volumes(inst)}
    return _batch_job(
        inst,
        JobKind.UPGRADE,
        resource_name=resource_name,
        resource_uid=resource_uid,
        pod=pod,
        deadline=deadline_seconds(JobKind.UPGRADE.value, spec),
    )


# --- backup ------------------------------------------------------------------------------


def backup_destination(
    spec: OdooBackupJobSpec,
    *,
    namespace: str,
    instance: str,
    resource_name: str,
    created: str,
    scheduled: ScheduledBackups | None,
) -> S3Config | None:
    """Where an OdooBackupJob uploads: its spec.destination, else the instance's
    spec.backup bucket (endpoint, region, credentials) under the key
    naming.backup_object_key makes of its creation time (`created`, RFC 3339, as
    metadata.creationTimestamp says it) and its name, so every attempt names the same
    object; None when it names none and the instance has no spec.backup."""
    if spec.destination is not None:
        return spec.destination
    if scheduled is None:
        return None
    target = scheduled.destination
    stamp = "".join(c for c in created if c.isdigit())[:14]
    return target.location(
        naming.backup_object_key(
            target.prefix, namespace, instance, stamp, resource_name, spec.format.value
        )
    )


def backup_job(
    inst: facts.Instance,
    *,
    resource_name: str,
    resource_uid: str,
    spec: OdooBackupJobSpec,
    tools_image: str,
    credentials_secret: str | None,
) -> dict[str, Any]:
    """dump -> package -> upload; the filestore is mounted read-only, nothing is scaled.
    `spec.destination` is set (backup_destination); ValueError otherwise."""
    if spec.destination is None:
        raise ValueError(f"OdooBackupJob {resource_name}: no destination")
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
        inst,
        JobKind.BACKUP,
        resource_name=resource_name,
        resource_uid=resource_uid,
        pod=pod,
        deadline=deadline_seconds(JobKind.BACKUP.value, spec),
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
    """download -> extract -> load -> [neutralize] -> verify -> filestore (see the
    module docstring).

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
        _tool("extract", tools_image, "restore-extract.sh", common, [workspace]),
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
    init.append(
        _tool(
            "verify",
            tools_image,
            "restore-verify.sh",
            [*database, _value("WORKSPACE", WORKSPACE), _value("NEUTRALIZE", neutralize)],
            [workspace],
        )
    )
    swap = _tool(
        "filestore",
        tools_image,
        "restore-filestore.sh",
        [*common, *_filestore_env(inst, resource_uid), _value("TERMINATION_LOG", TERMINATION_LOG)],
        [workspace, filestore],
    )
    pod = {"initContainers": init, "containers": [swap], "volumes": volumes}
    return _batch_job(
        inst,
        JobKind.RESTORE,
        resource_name=resource_name,
        resource_uid=resource_uid,
        pod=pod,
        deadline=deadline_seconds(JobKind.RESTORE.value, spec),
    )


def filestore_job(
    inst: facts.Instance,
    *,
    resource_name: str,
    resource_uid: str,
    tools_image: str,
    action: FilestoreAction,
    attempt: int = 1,
) -> dict[str, Any]:
    """The short Job `<resource>-filestore-<action>-<attempt>` of a restore: put the
    previous filestore back (undo) or remove it (discard). Idempotent: a later
    attempt of the same action (after a failed one) does what is left."""
    step = _filestore_step(inst, tools_image, resource_uid, action)
    volumes = [v for v in workloads.volumes(inst) if v["name"] == "filestore"]
    return _batch_job(
        inst,
        JobKind.RESTORE,
        resource_name=resource_name,
        resource_uid=resource_uid,
        pod={"containers": [step], "volumes": volumes},
        deadline=_FILESTORE_STEP_DEADLINE_SECONDS,
        step=f"filestore-{action.value}-{attempt}",
    )


def _filestore_env(inst: facts.Instance, resource_uid: str) -> list[dict[str, Any]]:
    """Where a restore's filestores are: the volume, the live, staged and kept-aside
    directories (naming) and the operation's mark."""
    database = inst.database.name
    return [
        _value("FILESTORE_ROOT", config.FILESTORE_MOUNT),
        _value("DB_NAME", database),
        _value("STAGING", naming.filestore_staging_dir(database)),
        _value("ASIDE", naming.filestore_aside_dir(database, resource_uid)),
        _value("MARK", naming.operation_mark(JobKind.RESTORE.value, resource_uid)),
    ]


def _filestore_step(
    inst: facts.Instance, tools_image: str, resource_uid: str, action: FilestoreAction
) -> dict[str, Any]:
    return _tool(
        "filestore",
        tools_image,
        "filestore-step.sh",
        [
            *_filestore_env(inst, resource_uid),
            _value("ACTION", action.value),
            _value("TERMINATION_LOG", TERMINATION_LOG),
        ],
        [{"name": "filestore", "mountPath": config.FILESTORE_MOUNT}],
    )
