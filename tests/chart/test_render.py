"""The chart rendered with the helm CLI, every object judged by the real API server.

Covers: `helm lint --strict` for several value sets (defaults; a list of
watched namespaces; cert-manager with a ServiceMonitor; Temporal Cloud with
an API key and TLS from Secrets, scheduling and resources; everything
optional off); `helm template` of each set, every rendered object created
as a server-side dry run (`kubectl create --dry-run=server`, strict field
validation) on the control plane of the pinned Kubernetes version (the
cert-manager and ServiceMonitor objects against their own CRDs);
values.schema.json refusing a wrong type, an unknown key (at the top and
nested) and a glob in watchNamespaces; the ValidatingWebhookConfiguration
equal to what watcher/webhook_configuration.py builds (paths, rules,
failurePolicy, namespaces; cluster-wide and namespaced); RBAC built from
files/rbac-rules.yaml and nothing else (a ClusterRole for the whole cluster,
the Lease only in the release namespace; Roles only, in each watched
namespace, for a list); both containers non-root, read-only root
filesystem, no privilege escalation; the Temporal and operator settings
reaching the ConfigMap and the API key only through secretKeyRef; the
default values' ConfigMap read as the operator's defaults (model/settings.py)
but where the chart means otherwise; a change of values changing the pods'
config checksum.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from model.settings import Settings
from odoo_operator import environment
from sandbox import operator_rbac
from tests.chart.conftest import (
    CHART,
    CommandFailed,
    Helm,
    create_namespace,
    kubectl,
    objects_of,
)
from watcher import webhook_configuration

VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced": {"watchNamespaces": ["@0", "@1"]},
    "cert-manager": {
        "webhook": {"certManager": {"enabled": True}},
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
    },
    "cert-manager-issuer": {
        "webhook": {
            "certManager": {"enabled": True, "issuerRef": {"name": "ca", "kind": "ClusterIssuer"}}
        }
    },
    "temporal-cloud": {
        "image": {"digest": "sha256:" + "a" * 64},
        "imagePullSecrets": ["registry"],
        "temporal": {
            "address": "eu-west-1.aws.api.temporal.io:7233",
            "namespace": "odoo.a1b2c",
            "tls": {"secretName": "temporal-ca", "certKey": "", "keyKey": ""},
            "apiKey": {"secretName": "temporal-api-key", "key": "key"},
        },
        "defaults": {
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
            "tolerations": [{"key": "odoo", "operator": "Exists", "effect": "NoSchedule"}],
        },
        "watcher": {"replicas": 3},
        "worker": {"replicas": 4, "maxConcurrentActivities": 64},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "ops", "operator": "Exists"}],
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {
                                "matchLabels": {"app.kubernetes.io/name": "odoo-operator"}
                            },
                        },
                    }
                ]
            }
        },
        "priorityClassName": "system-cluster-critical",
    },
    "everything-off": {
        "webhook": {"enabled": False},
        "metrics": {"service": {"enabled": False}},
        "watcher": {"replicas": 1, "podDisruptionBudget": {"enabled": False}},
        "worker": {"podDisruptionBudget": {"enabled": False}},
        "rbac": {"create": False},
        "serviceAccount": {"create": False, "name": "operator"},
    },
}


def with_namespaces(values: dict[str, Any], namespaces: list[str]) -> dict[str, Any]:
    """`values` with each "@<n>" watched namespace replaced by namespaces[n]."""
    if "watchNamespaces" not in values:
        return values
    picked = [namespaces[int(ns[1:])] for ns in values["watchNamespaces"]]
    return {**values, "watchNamespaces": picked}


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_lint_passes_strictly_when_given_each_value_set(helm: Helm, name: str) -> None:
    values = with_namespaces(VALUE_SETS[name], ["shop", "crm"])
    result = helm.run("lint", "--strict", str(CHART), "--values", str(helm.values_file(values)))
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_every_rendered_object_is_accepted_by_the_api_server_when_given_each_value_set(
    helm: Helm,
    chart_admin: kubernetes.client.ApiClient,
    fresh_namespaces: list[str],
    tmp_path: Path,
    name: str,
) -> None:
    release_ns, *watched = fresh_namespaces
    for namespace in fresh_namespaces:
        create_namespace(chart_admin, namespace)
    docs = helm.template(with_namespaces(VALUE_SETS[name], watched), namespace=release_ns)
    for doc in docs:  # what `helm install --namespace` does for namespaced objects
        if doc["kind"] not in CLUSTER_SCOPED:
            doc["metadata"].setdefault("namespace", release_ns)
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(yaml.safe_dump_all(docs))

    out = kubectl(
        helm.kubeconfig, "create", "--dry-run=server", "--validate=strict", "-o", "name",
        "-f", str(rendered),
    )  # fmt: skip

    assert len(out.split()) == len(docs)


CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration"}


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"watcher": {"replicas": "two"}}, "/watcher/replicas"),
        ({"temporal": {"address": 7233}}, "/temporal/address"),
        ({"webhook": {"enabled": "yes"}}, "/webhook/enabled"),
        ({"watchNamespaces": "shop"}, "/watchNamespaces"),
        ({"replicas": 2}, "'replicas' not allowed"),
        ({"temporal": {"tls": {"secret": "x"}}}, "'secret' not allowed"),
        ({"worker": {"resource": {}}}, "'resource' not allowed"),
        ({"watchNamespaces": ["team-*"]}, "/watchNamespaces/0"),
        ({"logLevel": "verbose"}, "/logLevel"),
    ],
    ids=lambda v: str(v) if isinstance(v, str) else None,
)
def test_the_schema_refuses_when_a_value_has_a_wrong_type_or_an_unknown_key(
    helm: Helm, values: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(CommandFailed, match="values don't meet the specifications") as err:
        helm.template(values)
    assert complaint in str(err.value)


@pytest.mark.parametrize("namespaces", [[], ["shop", "crm"]], ids=["cluster-wide", "namespaced"])
def test_the_webhook_configuration_is_the_one_the_watcher_module_builds_when_rendered(
    helm: Helm, namespaces: list[str]
) -> None:
    docs = helm.template({"watchNamespaces": namespaces}, release="erp", namespace="ops")
    [rendered] = objects_of(docs, "ValidatingWebhookConfiguration")
    [service] = [
        s for s in objects_of(docs, "Service") if s["metadata"]["name"].endswith("-webhook")
    ]
    ca_bundle = base64.b64decode(rendered["webhooks"][0]["clientConfig"]["caBundle"])

    built = webhook_configuration.validating_webhook_configuration(
        "erp-odoo-operator",
        ca_bundle,
        service=webhook_configuration.ServiceEndpoint(
            namespace="ops",
            name=service["metadata"]["name"],
            port=service["spec"]["ports"][0]["port"],
        ),
        namespaces=namespaces,
    )

    assert rendered["webhooks"] == built["webhooks"]
    assert rendered["metadata"]["name"] == built["metadata"]["name"]


def triples(rules: list[dict[str, Any]]) -> set[tuple[str, str, str, str]]:
    """(apiGroup, resource, verb, resourceNames) of every rule, one per combination."""
    return {
        (group, resource, verb, ",".join(rule.get("resourceNames") or []))
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def granted(docs: list[dict[str, Any]], kind: str) -> dict[str, set[tuple[str, str, str, str]]]:
    """Rules of every `kind` object, by namespace ("" for a ClusterRole)."""
    return {
        doc["metadata"].get("namespace", ""): triples(doc["rules"])
        for doc in objects_of(docs, kind)
    }


def test_rbac_is_the_rules_file_with_the_lease_in_the_release_namespace_when_cluster_wide(
    helm: Helm,
) -> None:
    docs = helm.template({}, namespace="ops")
    rules = triples(operator_rbac.load_rules())
    lease = {t for t in rules if t[1] == "leases"}

    assert granted(docs, "ClusterRole") == {"": rules - lease}
    assert granted(docs, "Role") == {"ops": lease}
    [binding] = objects_of(docs, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "odoo-operator", "namespace": "ops"}
    ]


def test_rbac_is_roles_in_the_watched_namespaces_only_when_given_a_list(helm: Helm) -> None:
    docs = helm.template({"watchNamespaces": ["shop", "crm"]}, namespace="ops")
    rules = triples(operator_rbac.load_rules())
    cluster_scoped = {t for t in rules if t[1] in ("namespaces", "customresourcedefinitions")}
    lease = {t for t in rules if t[1] == "leases"}
    secrets = {t for t in rules if t[1] == "secrets"}

    assert objects_of(docs, "ClusterRole") == []
    assert objects_of(docs, "ClusterRoleBinding") == []
    assert granted(docs, "Role") == {
        "shop": rules - cluster_scoped - lease,
        "crm": rules - cluster_scoped - lease,
        "ops": secrets | lease,  # the clusters Secret and the Lease, nothing else
    }
    assert {b["metadata"]["namespace"] for b in objects_of(docs, "RoleBinding")} == {
        "shop",
        "crm",
        "ops",
    }


def containers(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in objects_of(docs, "Deployment")
    }


def test_both_deployments_run_non_root_with_a_read_only_root_filesystem_when_rendered(
    helm: Helm,
) -> None:
    pods = containers(helm.template({}))

    assert set(pods) == {"odoo-operator-watcher", "odoo-operator-worker"}
    for pod in pods.values():
        assert pod["securityContext"]["runAsNonRoot"] is True
        [container] = pod["containers"]
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
    assert pods["odoo-operator-watcher"]["containers"][0]["args"][0] == "watch"
    assert pods["odoo-operator-worker"]["containers"][0]["args"][0] == "worker"


def test_temporal_settings_reach_the_operator_and_the_api_key_only_by_reference_when_set(
    helm: Helm,
) -> None:
    docs = helm.template(VALUE_SETS["temporal-cloud"], namespace="ops")
    [config] = objects_of(docs, "ConfigMap")
    data = config["data"]

    assert data["ODOO_OPERATOR_TEMPORAL_ADDRESS"] == "eu-west-1.aws.api.temporal.io:7233"
    assert data["ODOO_OPERATOR_TEMPORAL_NAMESPACE"] == "odoo.a1b2c"
    assert data["ODOO_OPERATOR_TEMPORAL_TLS_CA"] == "/etc/odoo-operator/temporal-tls/ca.crt"
    assert "ODOO_OPERATOR_TEMPORAL_TLS_CERT" not in data
    assert "ODOO_OPERATOR_TEMPORAL_API_KEY" not in data
    assert data["ODOO_OPERATOR_OPERATOR_NAMESPACE"] == "ops"
    assert data["ODOO_OPERATOR_MAX_CONCURRENT_ACTIVITIES"] == "64"
    for pod in containers(docs).values():
        [container] = pod["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["ODOO_OPERATOR_TEMPORAL_API_KEY"]["valueFrom"] == {
            "secretKeyRef": {"name": "temporal-api-key", "key": "key"}
        }
        assert container["image"] == "ghcr.io/bemade/odoo-operator-temporal@sha256:" + "a" * 64


CHART_DIFFERS = {
    ("temporal", "address"): "the frontend Service of the official Temporal chart",
    ("operator", "namespace"): "the release namespace",
    ("leader_election", "enabled"): "the watcher Deployment runs two replicas: one leads",
}
"""Settings whose chart default differs from the operator's on purpose, and why."""


def test_the_default_values_are_the_operators_defaults_but_where_the_chart_differs(
    helm: Helm,
) -> None:
    [config] = objects_of(helm.template({}, namespace="ops"), "ConfigMap")
    rendered, defaults = environment.from_environment(config["data"]), Settings()

    differ = {
        (source.group, source.field)
        for source in environment.sources()
        if getattr(getattr(rendered, source.group), source.field)
        != getattr(getattr(defaults, source.group), source.field)
    }

    assert differ == set(CHART_DIFFERS)


def test_the_pods_config_checksum_changes_when_a_value_changes(helm: Helm) -> None:
    def checksums(values: dict[str, Any]) -> set[str]:
        return {
            pod["metadata"]["annotations"]["checksum/config"]
            for d in objects_of(helm.template(values), "Deployment")
            for pod in [d["spec"]["template"]]
        }

    before = checksums({})
    after = checksums({"defaults": {"image": "odoo:19.0"}})

    assert len(before) == len(after) == 1  # one ConfigMap for both Deployments
    assert before != after
