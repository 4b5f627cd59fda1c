"""How an instance is configured: odoo.conf, its ConfigMap, its Secret, the env blocks.

Owns odoo.conf (and the hash that rolls the pods when it changes), the
ConfigMap `<name>-odoo-conf`, the Secret `<name>-db-password`, the one
source of the PostgreSQL connection env every container gets, Odoo's and the
tools' alike (`db_env`), and the Odoo system parameters kept in the database
(`system_parameters`: report.url, web.base.url). Pure: activities.children
and activities.odoo_settings write what these return.

How secrets reach Odoo (the official `odoo` image, 17/18):

- The ConfigMap holds odoo.conf and the connection facts (`db_host`,
  `db_port`, `db_name`, `db_user`) but never a password, even one a user
  put in configOptions.
- The Secret holds `password` (the PostgreSQL role's) and `admin-password`
  (Odoo's master password: a copy of the key spec.adminPasswordSecretRef
  names, the inline spec.adminPassword, or one generated; activities.children).
- Database password: the image's `/entrypoint.sh` passes
  `--db_password $PASSWORD` to odoo when odoo.conf has no `db_password`, so
  every Odoo container gets `PASSWORD` from a `secretKeyRef` (and
  HOST/PORT/USER from `configMapKeyRef`, which the entrypoint reads the same
  way). The tools containers of the batch Jobs get the same values under
  libpq's names (PGHOST/PGPORT/PGUSER/PGPASSWORD) plus DB_NAME.
- Master password and spec.configSecretRef: rendered into the pod's
  odoo.conf by an init container (specs.workloads).

Deviation from the reference, on purpose: addons_path defaults to the
official image's `/mnt/extra-addons` (the reference prepends paths of its own
images that do not exist in `odoo:18.0`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from model import naming
from model.crds import OdooInstanceSpec
from specs import facts, odoo_cli

__all__ = [
    "ADMIN_PASSWORD_KEY",
    "BASE_URL",
    "DB_PASSWORD_KEY",
    "FILESTORE_MOUNT",
    "ODOO_DB_ENV",
    "REPORT_URL",
    "TOOLS_DB_ENV",
    "DbEnvNames",
    "conf_hash",
    "config_map",
    "db_env",
    "db_secret",
    "merge_env",
    "odoo_conf",
    "odoo_env",
    "public_url",
    "system_parameters",
]

DB_PASSWORD_KEY = "password"
ADMIN_PASSWORD_KEY = "admin-password"
FILESTORE_MOUNT = "/var/lib/odoo"
"""Odoo's data_dir, where every pod mounts the filestore claim."""

_DEFAULT_ADDONS = "/mnt/extra-addons"

REPORT_URL = "report.url"
"""Odoo system parameter: where wkhtmltopdf fetches the pages of a PDF report."""
BASE_URL = "web.base.url"
"""Odoo system parameter: the URL links in emails, portals and reports point to."""


class DbEnvNames(NamedTuple):
    """The variable names one kind of container reads the database connection from."""

    host: str
    port: str
    user: str
    password: str
    database: str


ODOO_DB_ENV = DbEnvNames("HOST", "PORT", "USER", "PASSWORD", "PGDATABASE")
"""What the official image's entrypoint reads (PGDATABASE: psql's, for the cron probe)."""
TOOLS_DB_ENV = DbEnvNames("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "DB_NAME")
"""libpq's variables, and DB_NAME for the step scripts (scripts/jobs/)."""


def odoo_conf(inst: facts.Instance) -> str:
    """odoo.conf: fixed keys in a fixed order, then configOptions sorted.

    configOptions override the operator's keys in place. No password is ever
    written here (see the module docstring).
    """
    db = inst.database
    options: dict[str, str] = {
        "data_dir": FILESTORE_MOUNT,
        "logfile": "",
        "log_level": "info",
        "proxy_mode": "True",
        "addons_path": _DEFAULT_ADDONS,
        "db_host": db.host,
        "db_port": str(db.port),
        "db_name": db.name,
        "db_user": db.user,
        "list_db": "False",
        "http_interface": "0.0.0.0",
        "http_port": str(odoo_cli.HTTP_PORT),
        "max_cron_threads": "2",
    }
    extra = dict(inst.spec.config_options)
    for key in list(options):
        if key in extra:
            options[key] = extra.pop(key)
    for key in ("db_password", "admin_passwd"):
        # Secrets never go into a ConfigMap, even when a user puts them in
        # configOptions: they belong in the Secret.
        extra.pop(key, None)
    options.update(sorted(extra.items()))
    lines = ["[options]", *(f"{key} = {value}" for key, value in options.items())]
    return "\n".join(lines) + "\n"


def public_url(spec: OdooInstanceSpec) -> str:
    """Where users reach the instance: https on the first of spec.ingress.hosts."""
    return f"https://{spec.ingress.hosts[0]}"


def system_parameters(inst: facts.Instance) -> dict[str, str]:
    """The Odoo system parameters (ir_config_parameter) the operator keeps once the
    database is initialized.

    report.url is the web Service inside the cluster (specs.network.service,
    port 8069): the cron pods run `--no-http` behind no Ingress, and a report a
    scheduled action renders must fetch its pages and assets without leaving
    the cluster (reference §3.10, bemade/odoo-operator #40). web.base.url stays
    the public URL, which links in mails and portals need.
    """
    return {
        REPORT_URL: f"http://{inst.name}:{odoo_cli.HTTP_PORT}",
        BASE_URL: public_url(inst.spec),
    }


def conf_hash(inst: facts.Instance) -> str:
    return hashlib.sha256(odoo_conf(inst).encode()).hexdigest()


def config_map(inst: facts.Instance) -> dict[str, Any]:
    db = inst.database
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": facts.metadata(inst, naming.config_map_name(inst.name)),
        "data": {
            "odoo.conf": odoo_conf(inst),
            "db_host": db.host,
            "db_port": str(db.port),
            "db_name": db.name,
            "db_user": db.user,
        },
    }


def db_secret(inst: facts.Instance, *, password: str, admin_password: str) -> dict[str, Any]:
    """The Secret holding the database password and Odoo's master password."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": facts.metadata(inst, naming.db_password_secret_name(inst.name)),
        "type": "Opaque",
        "stringData": {DB_PASSWORD_KEY: password, ADMIN_PASSWORD_KEY: admin_password},
    }


def merge_env(
    base: Sequence[Mapping[str, Any]], extra: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """`extra` merged into `base` by name: last one wins, first position kept."""
    merged: dict[str, dict[str, Any]] = {}
    for var in (*base, *extra):
        merged[var["name"]] = dict(var)  # dict keeps the first insertion position
    return list(merged.values())


def db_env(inst: facts.Instance, names: DbEnvNames = ODOO_DB_ENV) -> list[dict[str, Any]]:
    """The instance's own database connection under `names`: host, port and user
    from the ConfigMap, the password from the Secret, the database name as a value."""
    cm = naming.config_map_name(inst.name)

    def from_cm(name: str, key: str) -> dict[str, Any]:
        return {"name": name, "valueFrom": {"configMapKeyRef": {"name": cm, "key": key}}}

    return [
        from_cm(names.host, "db_host"),
        from_cm(names.port, "db_port"),
        from_cm(names.user, "db_user"),
        {
            "name": names.password,
            "valueFrom": {
                "secretKeyRef": {
                    "name": naming.db_password_secret_name(inst.name),
                    "key": DB_PASSWORD_KEY,
                }
            },
        },
        {"name": names.database, "value": inst.database.name},
    ]


def odoo_env(inst: facts.Instance, *extra_base: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An Odoo container's env: the connection, then `extra_base`, then spec.extraEnv
    (merged by name, last one wins)."""
    return merge_env([*db_env(inst), *extra_base], inst.spec.extra_env)
