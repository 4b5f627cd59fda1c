"""Pure builders of every Kubernetes object the operator writes, as JSON dicts.

Owns the exact shape of each child object of an instance (Deployments,
Service, Ingress or HTTPRoute, PVC, ConfigMap, Secret, ServiceAccount, Role,
RoleBinding), of the auto OdooInitJob, of the init batch Job and of Events.
It does no I/O and reads no clock or environment: the activities
(children.py, jobs.py, events.py) fetch what a builder needs and send what
it returns.

How secrets reach Odoo (the official `odoo` image, 17/18):

- The ConfigMap `<name>-odoo-conf` holds odoo.conf and the connection facts
  (`db_host`, `db_port`, `db_name`, `db_user`) but never a password.
- The Secret `<name>-db-password` holds `password` (the PostgreSQL role's) and
  `admin-password` (spec.adminPassword, Odoo's master password).
- Database password: the image's `/entrypoint.sh` passes
  `--db_password $PASSWORD` to odoo when odoo.conf has no `db_password`, so
  every Odoo container gets `PASSWORD` from a `secretKeyRef` (and HOST/PORT/USER
  from `configMapKeyRef`, which the entrypoint reads the same way).
- Master password: odoo has no command-line flag or environment variable for
  `admin_passwd`, only the config file. The web pod therefore has an init
  container (same image, same uid) that writes `/run/odoo/odoo.conf` into a
  memory-backed emptyDir: the ConfigMap's odoo.conf plus `admin_passwd` from
  a `secretKeyRef` env var; the web container runs with
  `ODOO_RC=/run/odoo/odoo.conf` (read by both odoo and the entrypoint). The
  password exists only in the Secret, in that tmpfs file and in the process
  environment of the init container. Cron and Jobs serve no HTTP, need no
  master password, and read the ConfigMap's odoo.conf directly.
- spec.configSecretRef (options such as smtp_password): the named Secret is
  mounted into that same init container only, which merges each key
  (`[a-z0-9_]+`, except db_password and admin_passwd, which the operator
  owns) into the rendered odoo.conf, replacing a line of the same key. With
  configSecretRef set, cron and the init Job render their odoo.conf the same
  way (without the master password). The values never reach a ConfigMap, an
  operator process or a workflow payload.
- The pod template carries `bemade.org/credentials-version` (the Secret's
  resourceVersion) so that a changed Secret rolls the pods; it reveals
  nothing about the values.

Deviations from the reference, on purpose: addons_path defaults to the
official image's `/mnt/extra-addons` (the reference prepends paths of its own
images that do not exist in `odoo:18.0`); container names are fixed (`odoo`,
`odoo-cron`, `init`) so long instance names cannot overflow the 63-character
limit; Job pods carry `app=<job name>` so they never match the web Service;
the rollingUpdate parameters are applied when the strategy is RollingUpdate;
Odoo pods do not mount a service-account token (Odoo never calls the API).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from model import naming, settings
from model.crds import OdooInstanceSpec, StrategyType
from specs import odoo

__all__ = [
    "ADMIN_PASSWORD_KEY",
    "CONF_HASH_ANNOTATION",
    "CREDENTIALS_ANNOTATION",
    "DB_PASSWORD_KEY",
    "ENVIRONMENT_LABEL",
    "HTTP_PORT",
    "HTTP_ROUTE_API",
    "RESTARTED_AT_ANNOTATION",
    "WEBSOCKET_PORT",
    "Database",
    "Instance",
    "auto_init_job",
    "config_map",
    "cron_deployment",
    "db_secret",
    "event",
    "http_route",
    "ingress",
    "init_job",
    "instance_owner",
    "merge_env",
    "odoo_conf",
    "pvc",
    "role",
    "role_binding",
    "service",
    "service_account",
    "web_deployment",
]

HTTP_PORT = 8069
WEBSOCKET_PORT = 8072
ENVIRONMENT_LABEL = "bemade.org/environment"
CONF_HASH_ANNOTATION = "bemade.org/odoo-conf-hash"
CREDENTIALS_ANNOTATION = "bemade.org/credentials-version"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
ISSUER_ANNOTATION = "cert-manager.io/cluster-issuer"
HTTP_ROUTE_API = "gateway.networking.k8s.io/v1"
DB_PASSWORD_KEY = "password"
ADMIN_PASSWORD_KEY = "admin-password"

_FILESTORE_MOUNT = "/var/lib/odoo"
_CONF_MOUNT = "/etc/odoo"
_RC_MOUNT = "/run/odoo"
_RC_FILE = f"{_RC_MOUNT}/odoo.conf"
_DEFAULT_ADDONS = "/mnt/extra-addons"
_ODOO_UID, _ODOO_GID = 100, 101
_INIT_DEADLINE_SECONDS = 3600

_SECRET_CONF_MOUNT = "/etc/odoo-secret"
# Writes odoo.conf with the master password and the configSecretRef keys into
# the tmpfs the Odoo container reads (see the module docstring). Newlines are
# stripped so a value cannot add config lines; nothing is echoed.
_RENDER_CONF = (
    "set -eu; umask 077; "
    f"cp {_CONF_MOUNT}/odoo.conf {_RC_FILE}; "
    f"if [ -d {_SECRET_CONF_MOUNT} ]; then for f in {_SECRET_CONF_MOUNT}/*; do "
    '[ -f "$f" ] || continue; k=${f##*/}; '
    "case \"$k\" in ''|*[!a-z0-9_]*|db_password|admin_passwd) continue;; esac; "
    f'grep -v "^$k *=" {_RC_FILE} > {_RC_FILE}.new || true; mv {_RC_FILE}.new {_RC_FILE}; '
    f'printf \'%s = %s\\n\' "$k" "$(tr -d \'\\r\\n\' < "$f")" >> {_RC_FILE}; done; fi; '
    'if [ -n "${ODOO_ADMIN_PASSWD:-}" ]; then '
    f"printf 'admin_passwd = %s\\n' \"$(printf '%s' \"$ODOO_ADMIN_PASSWD\" | tr -d '\\r\\n')\" "
    f">> {_RC_FILE}; fi"
)

CRON_OVERDUE_MINUTES = 30
"""A scheduled action overdue by more than this (and not running) means cron is dead."""

# Liveness of the cron pod: the cron runner has no HTTP and a dead cron
# thread (seen after a PostgreSQL failover) leaves the process up. What a
# live runner guarantees is that no active scheduled action stays overdue:
# the probe fails when one is overdue by more than CRON_OVERDUE_MINUTES and
# not being run right now (a running job holds its row lock, so FOR SHARE
# SKIP LOCKED leaves it out), or when the database cannot be reached.
_CRON_ALIVE = (
    'PGPASSWORD="$PASSWORD" psql -h "$HOST" -p "$PORT" -U "$USER" -d "$PGDATABASE" '
    "-tAX -v ON_ERROR_STOP=1 -c "
    '"SELECT count(*) FROM (SELECT 1 FROM ir_cron WHERE active AND nextcall < '
    f"(now() AT TIME ZONE 'UTC') - interval '{CRON_OVERDUE_MINUTES} minutes' "
    'FOR SHARE SKIP LOCKED) AS overdue" | grep -qx 0'
)


@dataclass(frozen=True)
class Database:
    """Where the instance's database lives (no password: that is in the Secret)."""

    host: str
    port: int
    name: str
    user: str


@dataclass(frozen=True)
class Instance:
    """The facts every builder needs about one OdooInstance."""

    name: str
    namespace: str
    uid: str
    spec: OdooInstanceSpec
    database: Database

    @property
    def image(self) -> str:
        return self.spec.image or settings.DEFAULT_IMAGE

    @property
    def environment(self) -> str:
        return self.spec.environment.value.lower()

    def labels(self, app: str | None = None) -> dict[str, str]:
        return {**naming.instance_labels(self.name, app), ENVIRONMENT_LABEL: self.environment}


# --- metadata -------------------------------------------------------------------------


def instance_owner(name: str, uid: str) -> dict[str, Any]:
    """Controller owner reference to an OdooInstance."""
    return _owner("OdooInstance", name, uid)


def _owner(kind: str, name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": naming.GROUP_VERSION,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _meta(inst: Instance, name: str, app: str | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": inst.namespace,
        "labels": inst.labels(app),
        "ownerReferences": [instance_owner(inst.name, inst.uid)],
    }


# --- configuration ------------------------------------------------------------------


def odoo_conf(inst: Instance) -> str:
    """odoo.conf: fixed keys in a fixed order, then configOptions sorted.

    configOptions override the operator's keys in place. No password is ever
    written here (see the module docstring).
    """
    db = inst.database
    options: dict[str, str] = {
        "data_dir": _FILESTORE_MOUNT,
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
        "http_port": str(HTTP_PORT),
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


def conf_hash(inst: Instance) -> str:
    return hashlib.sha256(odoo_conf(inst).encode()).hexdigest()


def config_map(inst: Instance) -> dict[str, Any]:
    db = inst.database
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(inst, naming.config_map_name(inst.name)),
        "data": {
            "odoo.conf": odoo_conf(inst),
            "db_host": db.host,
            "db_port": str(db.port),
            "db_name": db.name,
            "db_user": db.user,
        },
    }


def db_secret(inst: Instance, *, password: str, admin_password: str) -> dict[str, Any]:
    """The Secret holding the database password and Odoo's master password."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(inst, naming.db_password_secret_name(inst.name)),
        "type": "Opaque",
        "stringData": {DB_PASSWORD_KEY: password, ADMIN_PASSWORD_KEY: admin_password},
    }


# --- pods ----------------------------------------------------------------------------


def merge_env(
    base: Sequence[Mapping[str, Any]], extra: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """`extra` merged into `base` by name: last one wins, first position kept."""
    merged: dict[str, dict[str, Any]] = {}
    for var in (*base, *extra):
        merged[var["name"]] = dict(var)  # dict keeps the first insertion position
    return list(merged.values())


def _db_env(inst: Instance) -> list[dict[str, Any]]:
    cm = naming.config_map_name(inst.name)
    secret = naming.db_password_secret_name(inst.name)

    def from_cm(name: str, key: str) -> dict[str, Any]:
        return {"name": name, "valueFrom": {"configMapKeyRef": {"name": cm, "key": key}}}

    return [
        from_cm("HOST", "db_host"),
        from_cm("PORT", "db_port"),
        from_cm("USER", "db_user"),
        {
            "name": "PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": secret, "key": DB_PASSWORD_KEY}},
        },
        {"name": "PGDATABASE", "value": inst.database.name},
    ]


def _odoo_env(inst: Instance, *extra_base: dict[str, Any]) -> list[dict[str, Any]]:
    return merge_env([*_db_env(inst), *extra_base], inst.spec.extra_env)


def _volumes(inst: Instance) -> list[dict[str, Any]]:
    return [
        {"name": "filestore", "persistentVolumeClaim": {"claimName": naming.pvc_name(inst.name)}},
        {"name": "odoo-conf", "configMap": {"name": naming.config_map_name(inst.name)}},
    ]


def _mounts() -> list[dict[str, Any]]:
    return [
        {"name": "filestore", "mountPath": _FILESTORE_MOUNT},
        {"name": "odoo-conf", "mountPath": _CONF_MOUNT, "readOnly": True},
    ]


def _pod_security() -> dict[str, Any]:
    return {"runAsUser": _ODOO_UID, "runAsGroup": _ODOO_GID, "fsGroup": _ODOO_GID}


def _pod_common(inst: Instance) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceAccountName": inst.name,
        "automountServiceAccountToken": False,
        "securityContext": _pod_security(),
    }
    if inst.spec.image_pull_secret:
        spec["imagePullSecrets"] = [{"name": inst.spec.image_pull_secret}]
    if inst.spec.affinity:
        spec["affinity"] = inst.spec.affinity
    if inst.spec.tolerations:
        spec["tolerations"] = list(inst.spec.tolerations)
    return spec


def _render_conf(inst: Instance, *, admin_password: bool) -> dict[str, Any]:
    """The init container writing the pod's odoo.conf into the tmpfs /run/odoo.

    It adds the configSecretRef keys and, for the web pod, the master password
    (see the module docstring).
    """
    env: list[dict[str, Any]] = []
    if admin_password:
        env.append(
            {
                "name": "ODOO_ADMIN_PASSWD",
                "valueFrom": {
                    "secretKeyRef": {
                        "name": naming.db_password_secret_name(inst.name),
                        "key": ADMIN_PASSWORD_KEY,
                    }
                },
            }
        )
    mounts = [
        {"name": "odoo-conf", "mountPath": _CONF_MOUNT, "readOnly": True},
        {"name": "odoo-rc", "mountPath": _RC_MOUNT},
    ]
    if inst.spec.config_secret_ref:
        mounts.append(
            {"name": "odoo-secret-conf", "mountPath": _SECRET_CONF_MOUNT, "readOnly": True}
        )
    container: dict[str, Any] = {
        "name": "odoo-conf",
        "image": inst.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c", _RENDER_CONF],
    }
    if env:
        container["env"] = env
    container["volumeMounts"] = mounts
    return container


def _rendered_volumes(inst: Instance) -> list[dict[str, Any]]:
    """The tmpfs for the rendered odoo.conf, and the configSecretRef Secret if set."""
    volumes: list[dict[str, Any]] = [{"name": "odoo-rc", "emptyDir": {"medium": "Memory"}}]
    if inst.spec.config_secret_ref:
        volumes.append(
            {
                "name": "odoo-secret-conf",
                "secret": {"secretName": inst.spec.config_secret_ref, "defaultMode": 0o400},
            }
        )
    return volumes


def _with_secret_conf(inst: Instance, pod: dict[str, Any]) -> dict[str, Any]:
    """Cron and Job pods: render odoo.conf with the configSecretRef keys when one is set."""
    if not inst.spec.config_secret_ref:
        return pod
    container = pod["containers"][0]
    container["env"] = merge_env(container["env"], [{"name": "ODOO_RC", "value": _RC_FILE}])
    container["volumeMounts"] = [
        *container["volumeMounts"],
        {"name": "odoo-rc", "mountPath": _RC_MOUNT, "readOnly": True},
    ]
    return {
        **pod,
        "initContainers": [_render_conf(inst, admin_password=False)],
        "volumes": [*pod["volumes"], *_rendered_volumes(inst)],
    }


def _http_probe(path: str, **timing: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": HTTP_PORT}, "timeoutSeconds": 5, **timing}


def _strategy(inst: Instance) -> dict[str, Any]:
    strategy = inst.spec.strategy
    if strategy.type is StrategyType.ROLLING_UPDATE:
        rolling = strategy.rolling_update
        return {
            "type": strategy.type.value,
            "rollingUpdate": {
                "maxUnavailable": rolling.max_unavailable,
                "maxSurge": rolling.max_surge,
            },
        }
    return {"type": strategy.type.value}


def _deployment(
    inst: Instance,
    name: str,
    pod_spec: dict[str, Any],
    *,
    replicas: int,
    credentials_version: str,
) -> dict[str, Any]:
    annotations = {CONF_HASH_ANNOTATION: conf_hash(inst)}
    if credentials_version:
        annotations[CREDENTIALS_ANNOTATION] = credentials_version
    metadata = _meta(inst, name, app=name)
    metadata["annotations"] = {naming.REPLICAS_ANNOTATION: str(replicas)}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": _strategy(inst),
            "template": {
                "metadata": {"labels": inst.labels(app=name), "annotations": annotations},
                "spec": pod_spec,
            },
        },
    }


def web_deployment(
    inst: Instance, *, replicas: int, credentials_version: str = ""
) -> dict[str, Any]:
    """Deployment `<name>`: HTTP on 8069, websocket on 8072, no cron threads.

    `replicas` is the live value (0 on creation): the phase machine owns the
    replica count, the apply only re-states it (see children.py).
    """
    name = naming.web_deployment_name(inst.name)
    probes = inst.spec.probes
    container: dict[str, Any] = {
        "name": "odoo",
        "image": inst.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/entrypoint.sh", "odoo", "--max-cron-threads", "0"],
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "websocket", "containerPort": WEBSOCKET_PORT, "protocol": "TCP"},
        ],
        "env": _odoo_env(inst, {"name": "ODOO_RC", "value": _RC_FILE}),
        "volumeMounts": [*_mounts(), {"name": "odoo-rc", "mountPath": _RC_MOUNT, "readOnly": True}],
        "startupProbe": _http_probe(
            probes.startup_path, initialDelaySeconds=5, periodSeconds=10, failureThreshold=30
        ),
        "livenessProbe": _http_probe(probes.liveness_path, periodSeconds=15, failureThreshold=3),
        "readinessProbe": _http_probe(probes.readiness_path, periodSeconds=10, failureThreshold=3),
    }
    if inst.spec.extra_env_from:
        container["envFrom"] = list(inst.spec.extra_env_from)
    if inst.spec.resources:
        container["resources"] = inst.spec.resources
    pod = {
        **_pod_common(inst),
        "initContainers": [_render_conf(inst, admin_password=True)],
        "containers": [container],
        "volumes": [*_volumes(inst), *_rendered_volumes(inst)],
    }
    return _deployment(inst, name, pod, replicas=replicas, credentials_version=credentials_version)


def cron_deployment(
    inst: Instance, *, replicas: int, credentials_version: str = ""
) -> dict[str, Any]:
    """Deployment `<name>-cron`: scheduled actions only, no HTTP, no ports.

    Its liveness probe (an exec of psql, in the official image) fails when an
    active scheduled action is overdue by more than CRON_OVERDUE_MINUTES
    without being run: a dead cron thread restarts the pod.
    """
    name = naming.cron_deployment_name(inst.name)
    container: dict[str, Any] = {
        "name": "odoo-cron",
        "image": inst.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/entrypoint.sh", "odoo", "--workers", "0", "--no-http"],
        "env": _odoo_env(inst),
        "volumeMounts": _mounts(),
        "livenessProbe": {
            "exec": {"command": ["/bin/sh", "-c", _CRON_ALIVE]},
            "initialDelaySeconds": 300,
            "periodSeconds": 120,
            "timeoutSeconds": 30,
            "failureThreshold": 3,
        },
    }
    if inst.spec.extra_env_from:
        container["envFrom"] = list(inst.spec.extra_env_from)
    if inst.spec.cron.resources:
        container["resources"] = inst.spec.cron.resources
    pod = {**_pod_common(inst), "containers": [container], "volumes": _volumes(inst)}
    pod = _with_secret_conf(inst, pod)
    return _deployment(inst, name, pod, replicas=replicas, credentials_version=credentials_version)


# --- networking ----------------------------------------------------------------------


def service(inst: Instance) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(inst, inst.name),
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": naming.web_deployment_name(inst.name)},
            "ports": [
                {"name": "http", "port": HTTP_PORT, "targetPort": HTTP_PORT, "protocol": "TCP"},
                {
                    "name": "websocket",
                    "port": WEBSOCKET_PORT,
                    "targetPort": WEBSOCKET_PORT,
                    "protocol": "TCP",
                },
            ],
        },
    }


def _backend(inst: Instance, port: int) -> dict[str, Any]:
    return {"service": {"name": inst.name, "port": {"number": port}}}


def websocket_port(inst: Instance) -> int:
    """Where `/websocket` is served: 8069 threaded (workers 0), 8072 with workers > 0."""
    return odoo.websocket_port(inst.spec.config_options)


def ingress(inst: Instance) -> dict[str, Any]:
    """Ingress `<name>`: `/websocket` to websocket_port(), everything else to 8069."""
    cfg = inst.spec.ingress
    meta = _meta(inst, inst.name)
    if cfg.issuer:
        meta["annotations"] = {ISSUER_ANNOTATION: cfg.issuer}
    spec: dict[str, Any] = {}
    if cfg.class_:
        spec["ingressClassName"] = cfg.class_
    spec["rules"] = [
        {
            "host": host,
            "http": {
                "paths": [
                    {
                        "path": "/websocket",
                        "pathType": "Prefix",
                        "backend": _backend(inst, websocket_port(inst)),
                    },
                    {"path": "/", "pathType": "Prefix", "backend": _backend(inst, HTTP_PORT)},
                ]
            },
        }
        for host in cfg.hosts
    ]
    spec["tls"] = [{"hosts": list(cfg.hosts), "secretName": f"{inst.name}-tls"}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def http_route(inst: Instance) -> dict[str, Any]:
    """HTTPRoute `<name>` to spec.ingress.gatewayRef (TLS is the Gateway's job).

    `/websocket` goes to websocket_port(), everything else to 8069.
    """
    gateway = inst.spec.ingress.gateway_ref
    if gateway is None:
        raise ValueError("http_route() needs spec.ingress.gatewayRef")

    def rule(prefix: str, port: int) -> dict[str, Any]:
        return {
            "matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
            "backendRefs": [{"name": inst.name, "port": port}],
        }

    return {
        "apiVersion": HTTP_ROUTE_API,
        "kind": "HTTPRoute",
        "metadata": _meta(inst, inst.name),
        "spec": {
            "parentRefs": [
                {
                    "group": "gateway.networking.k8s.io",
                    "kind": "Gateway",
                    "name": gateway.name,
                    "namespace": gateway.namespace,
                }
            ],
            "hostnames": list(inst.spec.ingress.hosts),
            "rules": [rule("/websocket", websocket_port(inst)), rule("/", HTTP_PORT)],
        },
    }


# --- storage and identity ----------------------------------------------------------


def pvc(inst: Instance) -> dict[str, Any]:
    filestore = inst.spec.filestore
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteMany"],
        "resources": {
            "requests": {"storage": filestore.storage_size or settings.DEFAULT_STORAGE_SIZE}
        },
    }
    if filestore.storage_class:
        spec["storageClassName"] = filestore.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(inst, naming.pvc_name(inst.name)),
        "spec": spec,
    }


def service_account(inst: Instance) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(inst, inst.name),
        "automountServiceAccountToken": False,
    }


def role(inst: Instance) -> dict[str, Any]:
    """Least privilege for the instance's pods: read their own ConfigMap, nothing else."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(inst, inst.name),
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": [naming.config_map_name(inst.name)],
                "verbs": ["get"],
            }
        ],
    }


def role_binding(inst: Instance) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(inst, inst.name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": inst.name},
        "subjects": [{"kind": "ServiceAccount", "name": inst.name, "namespace": inst.namespace}],
    }


# --- job resources and batch Jobs --------------------------------------------------------


def auto_init_job(inst: Instance) -> dict[str, Any]:
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
        "metadata": _meta(inst, naming.auto_init_job_name(inst.name)),
        "spec": spec,
    }


def init_job(
    inst: Instance,
    *,
    resource_name: str,
    resource_uid: str,
    modules: Sequence[str],
    demo: bool,
) -> dict[str, Any]:
    """The batch Job of an OdooInitJob: `odoo -i <modules> -d <db> --stop-after-init`.

    The demo flag follows the image's Odoo version (specs.odoo).

    No ttlSecondsAfterFinished: the outcome must survive until the workflow
    has mirrored it into the job resource; record_status then sets the TTL.
    """
    name = naming.batch_job_name(resource_name, "init")
    version = odoo.odoo_version(inst.image)
    args = odoo.init_args(version, modules, inst.database.name, demo=demo)
    container: dict[str, Any] = {
        "name": "init",
        "image": inst.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/entrypoint.sh", "odoo"],
        "args": args,
        "env": _odoo_env(inst),
        "volumeMounts": _mounts(),
    }
    if inst.spec.extra_env_from:
        container["envFrom"] = list(inst.spec.extra_env_from)
    if inst.spec.resources:
        container["resources"] = inst.spec.resources
    labels = inst.labels(app=name)
    pod = _with_secret_conf(
        inst,
        {
            **_pod_common(inst),
            "restartPolicy": "Never",
            "containers": [container],
            "volumes": _volumes(inst),
        },
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": inst.namespace,
            "labels": labels,
            "ownerReferences": [_owner("OdooInitJob", resource_name, resource_uid)],
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": _INIT_DEADLINE_SECONDS,
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


# --- events ------------------------------------------------------------------------------


def event(
    *,
    name: str,
    namespace: str,
    involved: Mapping[str, str],
    reason: str,
    message: str,
    type_: str,
    timestamp: str,
    reporting_instance: str,
    action: str = "Reconcile",
) -> dict[str, Any]:
    """A core/v1 Event with a caller-chosen (deterministic) name."""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": dict(involved),
        "reason": reason,
        "message": message[:1024],
        "type": type_,
        "action": action,
        "source": {"component": naming.FIELD_MANAGER},
        "reportingComponent": naming.FIELD_MANAGER,
        "reportingInstance": reporting_instance,
        "firstTimestamp": timestamp,
        "lastTimestamp": timestamp,
        "count": 1,
    }
