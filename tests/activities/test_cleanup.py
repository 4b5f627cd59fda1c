"""cleanup_instance against the real kube-apiserver and the embedded PostgreSQL.

Covers:
- a deleted instance: both Deployments at 0, its database dropped although a
  connection to it is open, its role dropped, the finalizer removed (the
  instance goes), idempotent when run again;
- a role that cannot be dropped (it owns a table in another database): the
  finalizer stays, one Warning CleanupFailed Event carries the real
  PostgreSQL message, the error is retryable; once fixed, cleanup completes;
- the clusters Secret missing at deletion time: no silent success (the
  reference's QUIRK), CleanupFailed says what to fix, the finalizer stays;
  with the Secret back, cleanup completes;
- the API refusing a step for good (403: the operator's ServiceAccount may not
  patch OdooInstances, so the finalizer cannot be removed): the error stays
  retryable (CleanupFailed, never the non-retryable ApiRejected that would end
  the workflow with the finalizer left), a Warning CleanupFailed Event and
  status.message name the object and carry the API's message; once the Role
  allows it, cleanup completes.
"""

from __future__ import annotations

import pathlib
from typing import Any

import kubernetes
import pytest
from psycopg import sql
from temporalio.exceptions import ApplicationError

from activities import api, cleanup
from model import naming
from model.payloads import ApplyChildrenInput, CleanupInput, ConvergePhaseInput
from sandbox import controlplane, postgres
from tests.activities import kube_instance as ki
from tests.fixtures.kube import wait_for


def _deleted_instance(acts: ki.Activities, namespace: str) -> tuple[Any, Any]:
    """An applied instance with replicas running, deleted (held by the finalizer)."""
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    acts.env.run(acts.children.apply_children, ApplyChildrenInput(ref=ref, spec=spec, generation=1))
    acts.env.run(
        acts.converge.converge_phase,
        ConvergePhaseInput(ref=ref, spec=spec, web_replicas=2, cron_replicas=1),
    )
    acts.kube.delete(api.INSTANCE, namespace, "shop")
    return ref, spec


def _cleanup(acts: ki.Activities, ref: Any, spec: Any) -> None:
    acts.env.run(acts.cleanup.cleanup_instance, CleanupInput(ref=ref, spec=spec))


def _warnings(acts: ki.Activities, namespace: str) -> list[dict[str, Any]]:
    return [
        e
        for e in acts.kube.list_of(api.EVENT, namespace)
        if e["reason"] == cleanup.CLEANUP_FAILED and e["type"] == "Warning"
    ]


def _held(acts: ki.Activities, namespace: str) -> bool:
    live = acts.kube.find(api.INSTANCE, namespace, "shop")
    return live is not None and naming.FINALIZER in live["metadata"]["finalizers"]


def test_database_role_and_instance_go_when_cleaned_up_with_a_connection_open(
    acts: ki.Activities, namespace: str, postgres_server: postgres.EmbeddedPostgres
) -> None:
    ref, spec = _deleted_instance(acts, namespace)
    odoo = ki.create_database_as_role(postgres_server, acts.kube, ref)  # Odoo still connected
    database, role = naming.database_name(ref.uid), naming.role_name(namespace, "shop")
    assert _held(acts, namespace)

    try:
        _cleanup(acts, ref, spec)
        _cleanup(acts, ref, spec)  # idempotent
    finally:
        odoo.close()

    assert acts.kube.find(api.INSTANCE, namespace, "shop") is None
    assert not ki.database_exists(postgres_server, database)
    assert not ki.role_exists(postgres_server, role)
    assert _warnings(acts, namespace) == []


def test_finalizer_stays_with_the_postgres_message_when_the_role_cannot_be_dropped(
    acts: ki.Activities, namespace: str, postgres_server: postgres.EmbeddedPostgres
) -> None:
    ref, spec = _deleted_instance(acts, namespace)
    role = naming.role_name(namespace, "shop")
    elsewhere = f"elsewhere_{namespace.replace('-', '_')}"
    with ki.superuser(postgres_server) as su:
        su.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(elsewhere)))
    with ki.superuser(postgres_server, elsewhere) as su:
        su.execute("CREATE TABLE kept (id int)")
        su.execute(sql.SQL("ALTER TABLE kept OWNER TO {}").format(sql.Identifier(role)))

    for _ in range(2):  # the workflow retries; one Event per distinct failure
        with pytest.raises(ApplicationError) as caught:
            _cleanup(acts, ref, spec)
        assert caught.value.type == cleanup.CLEANUP_FAILED
        assert not caught.value.non_retryable

    assert _held(acts, namespace)
    [warning] = _warnings(acts, namespace)
    assert "cannot be dropped because some objects depend on it" in warning["message"]
    assert f"1 object in database {elsewhere}" in warning["message"]
    assert warning["message"] == caught.value.message
    assert acts.kube.get(api.DEPLOYMENT, namespace, "shop")["spec"]["replicas"] == 0
    assert ki.role_exists(postgres_server, role)

    with ki.superuser(postgres_server) as su:
        su.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(elsewhere)))
    _cleanup(acts, ref, spec)

    assert acts.kube.find(api.INSTANCE, namespace, "shop") is None
    assert not ki.role_exists(postgres_server, role)


def test_finalizer_stays_and_says_what_to_fix_when_the_clusters_secret_is_gone(
    acts: ki.Activities, namespace: str, postgres_server: postgres.EmbeddedPostgres
) -> None:
    ref, spec = _deleted_instance(acts, namespace)
    acts.kube.delete(api.SECRET, namespace, ki.CLUSTERS_SECRET)

    with pytest.raises(ApplicationError) as caught:
        _cleanup(acts, ref, spec)

    assert caught.value.type == cleanup.CLEANUP_FAILED
    assert not caught.value.non_retryable
    assert _held(acts, namespace)
    [warning] = _warnings(acts, namespace)
    assert f"Secret {namespace}/{ki.CLUSTERS_SECRET} not found" in warning["message"]
    assert naming.FINALIZER in warning["message"]
    assert ki.role_exists(postgres_server, naming.role_name(namespace, "shop"))

    ki.create_clusters_secret(acts.kube, namespace, ki.ClusterAddress.of(postgres_server))
    _cleanup(acts, ref, spec)

    assert acts.kube.find(api.INSTANCE, namespace, "shop") is None
    assert not ki.role_exists(postgres_server, naming.role_name(namespace, "shop"))


def _cleanup_rules(*instance_verbs: str) -> list[dict[str, Any]]:
    """What cleanup_instance needs, with `instance_verbs` on OdooInstances."""
    return [
        {"apiGroups": ["bemade.org"], "resources": ["odooinstances"], "verbs": [*instance_verbs]},
        {"apiGroups": ["bemade.org"], "resources": ["odooinstances/status"], "verbs": ["patch"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
    ]


def test_finalizer_stays_and_the_api_message_is_shown_when_rbac_forbids_a_step(
    acts: ki.Activities,
    namespace: str,
    postgres_server: postgres.EmbeddedPostgres,
    control_plane: controlplane.ControlPlane,
    api_client: kubernetes.client.ApiClient,
    tmp_path: pathlib.Path,
) -> None:
    ref, spec = _deleted_instance(acts, namespace)
    client = ki.service_account_client(
        control_plane, api_client, namespace, "operator", _cleanup_rules("get"), tmp_path
    )
    restricted = ki.activities(client, namespace)

    def run() -> None:
        restricted.env.run(restricted.cleanup.cleanup_instance, CleanupInput(ref=ref, spec=spec))

    try:
        for _ in range(2):  # the workflow retries; one Event per distinct failure
            with pytest.raises(ApplicationError) as caught:
                run()
            assert caught.value.type == cleanup.CLEANUP_FAILED
            assert not caught.value.non_retryable

        assert _held(acts, namespace)
        [warning] = _warnings(acts, namespace)
        message = warning["message"]
        assert f"odooinstances shop in namespace {namespace}" in message
        assert 'cannot patch resource "odooinstances"' in message
        assert f"system:serviceaccount:{namespace}:operator" in message
        live = acts.kube.get(api.INSTANCE, namespace, "shop")
        assert live["status"]["message"] == message

        ki.set_role_rules(api_client, namespace, "operator", _cleanup_rules("get", "patch"))

        def completed() -> bool:
            try:
                run()
            except ApplicationError as err:
                if err.type != cleanup.CLEANUP_FAILED:
                    raise
                return False  # until the authorizer sees the new Role
            return True

        wait_for(completed, timeout=ki.DEADLINE, interval=0.2)
    finally:
        client.close()

    assert acts.kube.find(api.INSTANCE, namespace, "shop") is None
    assert not ki.role_exists(postgres_server, naming.role_name(namespace, "shop"))
