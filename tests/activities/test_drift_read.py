"""Drift against the real kube-apiserver: what apply_children records, what the snapshot finds.

Covers: right after an apply, and after what the operator itself does next
(scaling, a rollout restart), the snapshot finds no drift: the fingerprints
recorded from the API server's answers match the objects it serves (the
HTTPRoute too, defaults of its CRD included); a child deleted, one being
deleted (held by a finalizer) and one edited by another field manager are
each reported, and nothing else; the snapshot reads no child unless asked; a
restore posts one ChildRestored Event per object whatever the retries, and a
followed credentials Secret a CredentialsChanged one; a credentials Secret
whose password was emptied is refused (non-retryable, naming the Secret and
the key).
"""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest
from temporalio.exceptions import ApplicationError

from activities import api
from model import failures
from model.payloads import (
    AppliedChildren,
    ApplyChildrenInput,
    ChildDrift,
    ConvergePhaseInput,
    Drift,
    GatherSnapshotInput,
    InstanceRef,
    RestartWeb,
    RunEdgeActionsInput,
)
from specs import config
from tests.activities import kube_instance as ki
from tests.fixtures.kube import wait_for

HOLD = "tests.bemade.org/hold"


def _apply(acts: ki.Activities, ref: InstanceRef, spec: Any, **extra: Any) -> AppliedChildren:
    applied: AppliedChildren = acts.env.run(
        acts.children.apply_children,
        ApplyChildrenInput(ref=ref, spec=spec, generation=1, **extra),
    )
    return applied


def _drift(acts: ki.Activities, ref: InstanceRef, spec: Any, applied: AppliedChildren) -> Any:
    snap = acts.env.run(
        acts.snapshot.gather_snapshot,
        GatherSnapshotInput(ref=ref, spec=spec, children=applied.children),
    )
    return snap.drift


def _events(acts: ki.Activities, namespace: str, reason: str) -> list[str]:
    return [e["message"] for e in acts.kube.list_of(api.EVENT, namespace) if e["reason"] == reason]


def test_nothing_drifted_after_an_apply_nor_after_the_operators_own_writes(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    applied = _apply(acts, ref, spec)
    assert sorted(c.kind for c in applied.children) == sorted(
        [
            "Secret",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "ConfigMap",
            "Service",
            "PersistentVolumeClaim",
            "Ingress",
            "Deployment",
            "Deployment",
        ]
    )
    assert _drift(acts, ref, spec, applied) == ()
    acts.env.run(
        acts.converge.converge_phase,
        ConvergePhaseInput(ref=ref, spec=spec, web_replicas=1, cron_replicas=1),
    )
    acts.env.run(
        acts.edges.run_edge_actions,
        RunEdgeActionsInput(ref=ref, spec=spec, actions=(RestartWeb(),)),
    )
    assert _drift(acts, ref, spec, applied) == ()


@pytest.mark.usefixtures("gateway_api")
def test_an_http_route_is_not_drift_after_its_apply(acts: ki.Activities, namespace: str) -> None:
    ref, spec = ki.create_instance(
        acts.kube,
        namespace,
        "shop",
        ingress={"hosts": ["shop.example.com"], "gatewayRef": {"name": "gw", "namespace": "infra"}},
    )
    applied = _apply(acts, ref, spec)
    assert "HTTPRoute" in {c.kind for c in applied.children}
    assert _drift(acts, ref, spec, applied) == ()


def test_each_child_gone_going_or_edited_is_reported_and_nothing_else(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    applied = _apply(acts, ref, spec)
    kube = acts.kube
    kube.delete(api.CONFIG_MAP, namespace, "shop-odoo-conf")
    kube.merge_patch(api.INGRESS, namespace, "shop", {"metadata": {"finalizers": [HOLD]}})
    kube.delete(api.INGRESS, namespace, "shop")
    kube.merge_patch(api.SERVICE, namespace, "shop", {"spec": {"selector": {"app": "other"}}})
    try:
        assert set(_drift(acts, ref, spec, applied)) == {
            ChildDrift(kind="ConfigMap", name="shop-odoo-conf", drift=Drift.MISSING),
            ChildDrift(kind="Ingress", name="shop", drift=Drift.DELETING),
            ChildDrift(kind="Service", name="shop", drift=Drift.CHANGED),
        }
        unread = acts.env.run(
            acts.snapshot.gather_snapshot, GatherSnapshotInput(ref=ref, spec=spec)
        )
        assert unread.drift == ()  # not asked: no child read
    finally:
        kube.merge_patch(api.INGRESS, namespace, "shop", {"metadata": {"finalizers": None}})


def test_a_restore_posts_one_event_per_object_whatever_the_retries(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    _apply(acts, ref, spec)
    acts.kube.delete(api.CONFIG_MAP, namespace, "shop-odoo-conf")
    restoring = (
        ChildDrift(kind="ConfigMap", name="shop-odoo-conf", drift=Drift.MISSING),
        ChildDrift(kind="Secret", name="shop-db-password", drift=Drift.CHANGED),
    )
    for _ in range(2):  # a retry: the same activity execution
        again = _apply(acts, ref, spec, restoring=restoring)
    assert not again.namespace_terminating
    assert _drift(acts, ref, spec, again) == ()
    assert acts.kube.find(api.CONFIG_MAP, namespace, "shop-odoo-conf") is not None
    assert _events(acts, namespace, "ChildRestored") == [
        "Restored ConfigMap shop-odoo-conf (it was missing)"
    ]
    (credentials,) = _events(acts, namespace, "CredentialsChanged")
    assert credentials.startswith("Secret shop-db-password changed")


def test_a_credentials_secret_without_its_password_is_refused_naming_it(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    _apply(acts, ref, spec)
    acts.kube.merge_patch(
        api.SECRET, namespace, "shop-db-password", {"data": {config.DB_PASSWORD_KEY: None}}
    )
    with pytest.raises(ApplicationError) as refused:
        _apply(acts, ref, spec)
    assert refused.value.type == failures.CONFIG_INVALID
    assert refused.value.non_retryable
    assert "Secret shop-db-password" in str(refused.value)
    assert repr(config.DB_PASSWORD_KEY) in str(refused.value)


def test_a_restore_in_a_namespace_being_deleted_stops_quietly(
    acts: ki.Activities, namespace: str, api_client: kubernetes.client.ApiClient
) -> None:
    """The namespace controller deletes the children before the instance is
    released: a restore then must not fight it, fail, or log a refusal."""
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    _apply(acts, ref, spec)
    kube = acts.kube
    # The clusters Secret stays readable while the namespace empties (here it
    # shares the instance's namespace; the operator's is another one).
    kube.merge_patch(
        api.SECRET, namespace, ki.CLUSTERS_SECRET, {"metadata": {"finalizers": [HOLD]}}
    )
    core = kubernetes.client.CoreV1Api(api_client)
    core.delete_namespace(namespace)
    try:
        wait_for(
            lambda: kube.find(api.SECRET, namespace, "shop-db-password") is None,
            timeout=60.0,
            interval=0.1,
        )
        missing = (ChildDrift(kind="Secret", name="shop-db-password", drift=Drift.MISSING),)
        applied = _apply(acts, ref, spec, restoring=missing)
        assert applied.namespace_terminating
        assert applied.children == ()
        assert kube.find(api.SECRET, namespace, "shop-db-password") is None
    finally:
        kube.merge_patch(
            api.SECRET, namespace, ki.CLUSTERS_SECRET, {"metadata": {"finalizers": None}}
        )
        kube.merge_patch(api.INSTANCE, namespace, "shop", {"metadata": {"finalizers": None}})
        wait_for(
            lambda: not core.list_namespace(field_selector=f"metadata.name={namespace}").items,
            timeout=60.0,
            interval=0.2,
        )
