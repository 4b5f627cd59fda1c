"""Odoo's system parameters the operator keeps in an instance's database.

Owns writing specs.config.system_parameters (report.url: the web Service,
so the cron pods render PDF reports inside the cluster; web.base.url: the
public URL) into the database's ir_config_parameter, as the instance's role
(Odoo's tables are the role's, never the cluster admin's business), only the
keys whose value differs (activities.databases.set_parameters).

Written when the database is initialized: by apply_children on every apply
of an initialized instance (a changed host comes through), and by the
MarkDatabase edge action the moment it becomes initialized (after an init,
or a restore, whose copy carries its source's URLs). A failure is never
fatal: Odoo runs without these. A Warning `OdooSettingsNotWritten` Event on
the instance says why (once per message), and the next apply tries again.
"""

from __future__ import annotations

import base64

from pydantic import SecretStr

from activities import api, clusters, databases, lookup, recorder
from model import naming
from model.crds import OdooInstanceSpec
from model.payloads import InstanceRef
from model.settings import OperatorSettings
from specs import config, events, facts

__all__ = ["NOT_WRITTEN", "keep", "keep_live"]

NOT_WRITTEN = "OdooSettingsNotWritten"
"""Reason of the Warning Event when the system parameters could not be written."""


def keep(
    kube: api.KubeApi,
    postgres: databases.Databases,
    inst: facts.Instance,
    cluster: clusters.Cluster,
    password: SecretStr,
    *,
    reporting_instance: str,
) -> tuple[str, ...]:
    """Write the system parameters of the initialized instance `inst`; the keys
    written (none when they were right already, or on a failure, reported)."""
    try:
        return postgres.set_parameters(
            cluster,
            inst.database.name,
            inst.database.user,
            password,
            config.system_parameters(inst),
        )
    except databases.PostgresError as err:
        ref = InstanceRef(namespace=inst.namespace, name=inst.name, uid=inst.uid)
        message = (
            f"Odoo's {config.REPORT_URL} and {config.BASE_URL} were not written into "
            f"database {inst.database.name!r}: {err.message}; the next apply tries again"
        )
        recorder.post(
            kube,
            ref,
            name=events.event_name(ref, "odoosettings", unique=message),
            reason=NOT_WRITTEN,
            message=message,
            warning=True,
            reporting_instance=reporting_instance,
        )
        return ()


def keep_live(
    kube: api.KubeApi,
    operator: OperatorSettings,
    postgres: databases.Databases,
    ref: InstanceRef,
    spec: OdooInstanceSpec,
) -> tuple[str, ...]:
    """`keep`, finding the cluster and the role's password itself (from the
    `<name>-db-password` Secret); nothing when either is missing (apply_children
    reports that)."""
    try:
        cluster = lookup.load_cluster(kube, operator, spec)
    except clusters.ClusterConfigError:
        return ()
    secret = kube.find(api.SECRET, ref.namespace, naming.db_password_secret_name(ref.name))
    raw = ((secret or {}).get("data") or {}).get(config.DB_PASSWORD_KEY)
    if not raw:
        return ()
    password = SecretStr(base64.b64decode(raw).decode())
    inst = lookup.instance_facts(ref, spec, cluster)
    return keep(
        kube, postgres, inst, cluster, password, reporting_instance=operator.reporting_instance
    )
