"""What starting an upgrade, backup or restore Job needs besides the Job itself.

Owns reading a job resource's spec and making the batch Job's inputs exist
in the instance's namespace before specs.jobs builds it: the S3
credentials Secret (checked for its `accessKey` and `secretKey` keys, and
copied next to the Job when it lives in another namespace: a Pod's
secretKeyRef only reaches its own), the Odoo master password of a restore
from a live Odoo (a Secret key, or the inline value put into a Secret owned
by the resource, so it never becomes a Job env literal). Copies carry an
owner reference to the job resource: they go away with it.

A resource that cannot work as written raises `Refused` with a message
naming the field. `check()` asks the same questions without writing
anything: the snapshot (activities.snapshot) uses it to refuse such a
resource before the phase machine moves the instance (no scale down for a
Job that never starts); jobs.start still marks the resource Failed when
`batch_job()` refuses it (a Secret deleted in between) instead of starting
a Job whose Pod would wait forever for a missing Secret.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from pydantic import ValidationError

from activities import api, failures, lookup, ownership, s3
from model import naming
from model.crds import (
    OdooBackupJobSpec,
    OdooRestoreJobSpec,
    OdooUpgradeJobSpec,
    RestoreSourceType,
    ScheduledBackups,
)
from model.crds.common import S3Config
from model.payloads import JobKind
from model.settings import JobSettings
from specs import facts, jobs

__all__ = ["BACKUP_CHECK_TIMEOUT", "Refused", "backup_object_problem", "batch_job", "check"]

_S3_KEYS = ("accessKey", "secretKey")
_BACKUPS = api.job_resource(JobKind.BACKUP.plural)
_log = logging.getLogger(__name__)


class Refused(Exception):
    """The job resource cannot run as written; the message says which field to fix."""


def check(
    kube: api.KubeApi,
    kind: JobKind,
    body: dict[str, Any],
    scheduled: ScheduledBackups | None = None,
) -> None:
    """Raise `Refused` when the job resource `body` of `kind` cannot run as written.

    Only reads (the spec, the Secrets it names): the same refusals as
    `batch_job()`, which also makes the Job's inputs. OdooInitJob needs
    nothing beyond its spec, which the CRD schema has checked. `scheduled`:
    the instance's spec.backup, where a backup without destination goes.
    """
    try:
        if kind is JobKind.UPGRADE:
            OdooUpgradeJobSpec.model_validate(body.get("spec") or {})
        elif kind is JobKind.BACKUP:
            backup = OdooBackupJobSpec.model_validate(body.get("spec") or {})
            _s3_secret(kube, body, _destination(body, backup, scheduled), "spec.destination")
        elif kind is JobKind.RESTORE:
            restore = OdooRestoreJobSpec.model_validate(body.get("spec") or {})
            if restore.source.type is RestoreSourceType.S3 and restore.source.s3 is not None:
                _s3_secret(kube, body, restore.source.s3, "spec.source.s3")
                namespace = body["metadata"]["namespace"]
                problem = backup_object_problem(kube, namespace, restore.source.s3)
                if problem is not None:
                    raise Refused(problem)
            else:
                _master_password_ref(kube, body, restore)
    except ValidationError as err:
        raise Refused(f"invalid {kind.resource_kind} spec: {err.errors()[0]['msg']}") from err


BACKUP_CHECK_TIMEOUT = 10.0
"""Seconds the S3 endpoint has to answer backup_object_problem's HEAD."""


def backup_object_problem(kube: api.KubeApi, namespace: str, source: S3Config) -> str | None:
    """Why a restore's backup object cannot be read, or None when it can (or the
    operator cannot tell).

    A HEAD of s3://bucket/objectKey with the source's credentials: 404 (no such
    key or bucket) and any other 4xx (403: refused) are a problem naming
    spec.source.s3 and what S3 answered. An endpoint the operator cannot reach
    (or a 5xx) proves nothing: the restore Job runs where the operator may not
    (another network), so it is logged and the Job's download step answers for it.
    """
    where = f"s3://{source.bucket}/{source.object_key}"
    try:
        client = lookup.s3_client(kube, namespace, source, read_timeout=BACKUP_CHECK_TIMEOUT)
        found = client.head_object(source.bucket, source.object_key)
    except s3.S3Unavailable as err:
        _log.warning("cannot check that %s exists (%s); the restore Job will", where, err)
        return None
    except s3.S3Error as err:
        if err.status >= 500:
            _log.warning("cannot check that %s exists (%s); the restore Job will", where, err)
            return None
        return (
            f"spec.source.s3: reading {where} was refused (HTTP {err.status}); check "
            "s3CredentialsSecretRef and the bucket's policy"
        )
    if found is None:
        return f"spec.source.s3: the backup {where} does not exist at {source.endpoint}"
    return None


def batch_job(
    kube: api.KubeApi,
    job_settings: JobSettings,
    inst: facts.Instance,
    kind: JobKind,
    body: dict[str, Any],
) -> dict[str, Any]:
    """The batch Job of an upgrade, backup or restore resource, its inputs made ready."""
    meta = body["metadata"]
    name, uid = meta["name"], meta["uid"]
    try:
        if kind is JobKind.UPGRADE:
            upgrade = OdooUpgradeJobSpec.model_validate(body.get("spec") or {})
            return jobs.upgrade_job(inst, resource_name=name, resource_uid=uid, spec=upgrade)
        if kind is JobKind.BACKUP:
            backup = OdooBackupJobSpec.model_validate(body.get("spec") or {})
            destination = _destination(body, backup, inst.spec.backup)
            if backup.destination is None:
                # In its status (the spec is the user's) before its Job exists:
                # kubectl, the plugin and the success message read where it went.
                dumped = destination.model_dump(mode="json", by_alias=True, exclude_none=True)
                patch = {"status": {"destination": dumped}}
                kube.merge_patch(_BACKUPS, inst.namespace, name, patch, sub="status")
                backup = backup.model_copy(update={"destination": destination})
            credentials = _s3_credentials(kube, inst, body, destination, "spec.destination")
            return jobs.backup_job(
                inst,
                resource_name=name,
                resource_uid=uid,
                spec=backup,
                tools_image=job_settings.tools_image,
                credentials_secret=credentials,
            )
        if kind is JobKind.RESTORE:
            restore = OdooRestoreJobSpec.model_validate(body.get("spec") or {})
            credentials = None
            master: tuple[str, str] | None = None
            if restore.source.type is RestoreSourceType.S3 and restore.source.s3 is not None:
                credentials = _s3_credentials(kube, inst, body, restore.source.s3, "spec.source.s3")
            else:
                master = _master_password(kube, inst, body, restore)
            return jobs.restore_job(
                inst,
                resource_name=name,
                resource_uid=uid,
                spec=restore,
                tools_image=job_settings.tools_image,
                credentials_secret=credentials,
                master_password=master,
            )
    except ValidationError as err:
        raise Refused(f"invalid {kind.resource_kind} spec: {err.errors()[0]['msg']}") from err
    raise ValueError(f"no batch Job builder here for {kind}")


def _destination(
    body: dict[str, Any], backup: OdooBackupJobSpec, scheduled: ScheduledBackups | None
) -> S3Config:
    """A backup's destination (specs.jobs.backup_destination); Refused without one."""
    meta = body["metadata"]
    destination = jobs.backup_destination(
        backup,
        namespace=meta["namespace"],
        instance=backup.odoo_instance_ref.name,
        resource_name=meta["name"],
        created=meta.get("creationTimestamp") or "",
        scheduled=scheduled,
    )
    if destination is None:
        raise Refused(
            "spec.destination: required, as the instance has no spec.backup whose "
            "bucket a backup without one goes to"
        )
    return destination


def _owned_secret(
    inst: facts.Instance, body: dict[str, Any], name: str, data: dict[str, str]
) -> dict[str, Any]:
    meta = body["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": inst.namespace,
            "labels": inst.labels(),
            "ownerReferences": [facts.owner(body["kind"], meta["name"], meta["uid"])],
        },
        "type": "Opaque",
        "data": data,
    }


def _create_or_replace(kube: api.KubeApi, namespace: str, body: dict[str, Any]) -> None:
    """Create the Secret `body`, or update the one of that name the same job resource made
    (an earlier attempt); one made by anyone else is left alone and the resource refused."""
    try:
        kube.create(api.SECRET, namespace, body)
    except failures.Conflict:
        name = body["metadata"]["name"]
        existing = kube.get(api.SECRET, namespace, name)
        (owner,) = body["metadata"]["ownerReferences"]
        if not ownership.made_by(existing, owner["uid"]):
            raise Refused(
                f"Secret {namespace}/{name} exists and was not made for {owner['kind']} "
                f"{owner['name']}: delete or rename it (it was not changed)"
            ) from None
        kube.merge_patch(api.SECRET, namespace, name, {"data": body["data"]})


def _s3_secret(
    kube: api.KubeApi, body: dict[str, Any], location: S3Config, field: str
) -> tuple[str, str, dict[str, str]] | None:
    """(namespace, name, data) of the S3 credentials Secret; None for an anonymous bucket."""
    ref = location.s3_credentials_secret_ref
    if ref is None:
        return None  # an anonymous (public) bucket
    namespace = ref.namespace or body["metadata"]["namespace"]
    secret = kube.find(api.SECRET, namespace, ref.name)
    where = f"{field}.s3CredentialsSecretRef"
    if secret is None:
        raise Refused(f"{where}: Secret {namespace}/{ref.name} not found")
    data = secret.get("data") or {}
    missing = [key for key in _S3_KEYS if key not in data]
    if missing:
        raise Refused(f"{where}: Secret {namespace}/{ref.name} has no key {', '.join(missing)}")
    return namespace, ref.name, data


def _s3_credentials(
    kube: api.KubeApi,
    inst: facts.Instance,
    body: dict[str, Any],
    location: S3Config,
    field: str,
) -> str | None:
    """The name of a Secret in the instance's namespace holding accessKey and secretKey."""
    found = _s3_secret(kube, body, location, field)
    if found is None:
        return None
    namespace, secret_name, data = found
    if namespace == inst.namespace:
        return secret_name
    name = naming.s3_credentials_secret_name(body["metadata"]["name"])
    copy = _owned_secret(inst, body, name, {key: data[key] for key in _S3_KEYS})
    _create_or_replace(kube, inst.namespace, copy)
    return name


def _master_password_ref(
    kube: api.KubeApi, body: dict[str, Any], spec: OdooRestoreJobSpec
) -> tuple[str, str] | None:
    """(Secret, key) of masterPasswordSecretRef, checked; None for an inline masterPassword."""
    source = spec.source.odoo
    assert source is not None
    if source.master_password_secret_ref is not None:
        ref = source.master_password_secret_ref
        secret = kube.find(api.SECRET, body["metadata"]["namespace"], ref.name)
        where = "spec.source.odoo.masterPasswordSecretRef"
        if secret is None:
            raise Refused(f"{where}: Secret {ref.name} not found")
        if ref.key not in (secret.get("data") or {}):
            raise Refused(f"{where}: Secret {ref.name} has no key {ref.key}")
        return ref.name, ref.key
    if source.master_password:
        return None
    raise Refused(
        "spec.source.odoo.masterPasswordSecretRef (or masterPassword) is required to back "
        "up a live Odoo"
    )


def _master_password(
    kube: api.KubeApi, inst: facts.Instance, body: dict[str, Any], spec: OdooRestoreJobSpec
) -> tuple[str, str]:
    found = _master_password_ref(kube, body, spec)
    if found is not None:
        return found
    password = spec.source.odoo.master_password if spec.source.odoo is not None else None
    assert password  # _master_password_ref refused a source without one
    name = naming.master_password_secret_name(body["metadata"]["name"])
    encoded = base64.b64encode(password.encode()).decode()
    _create_or_replace(kube, inst.namespace, _owned_secret(inst, body, name, {"password": encoded}))
    return name, "password"
