"""An instance's PostgreSQL role and database, through the real activities,
the real control plane (its Job controller and the simulated kubelet) and
the embedded PostgreSQL.

Covers:
- apply_children ensures the role odoo.<ns>.<name>, which logs in with the
  password of the `<name>-db-password` Secret, and whose database name is
  spec.database.name or odoo_<sanitized uid> (as the ConfigMap says);
- a cluster where nothing listens: apply_children raises a retryable
  PostgresUnavailable after applying the Kubernetes objects, posts one
  Warning DatabaseUnavailable Event naming host:port per generation, and
  status.message says why; once the clusters Secret points at a live cluster
  the apply succeeds and the message is cleared;
- the database missing check of gather_snapshot, which posts nothing: Ignore
  flags database_missing_ignored only, and record_status reports it with one
  Warning DatabaseMissing per generation; Recreate flags database_missing; no
  check while the database is not initialized or an init runs; a PostgreSQL
  outage never flags it;
- converge_phase replaces a finished auto OdooInitJob (and its batch Job)
  when asked for a new one (reference QUIRK §2.12), and keeps an active one;
- record_status posts a DatabaseMissing Warning for a Recreate transition
  (whose MarkDatabase edge action wrote dbInitialized false).
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from temporalio.exceptions import ApplicationError

from activities import api, databases
from model import naming
from model.payloads import (
    ApplyChildrenInput,
    ConvergePhaseInput,
    GatherSnapshotInput,
    InstanceRef,
    MarkDatabase,
    RecordStatusInput,
    RunEdgeActionsInput,
    Snapshot,
)
from model.phases import Phase
from sandbox import kubelet, postgres, processes
from tests.activities import kube_instance as ki
from tests.fixtures.kube import wait_for


def _apply(acts: ki.Activities, ref: InstanceRef, spec: Any, generation: int = 1) -> None:
    acts.env.run(
        acts.children.apply_children,
        ApplyChildrenInput(ref=ref, spec=spec, generation=generation),
    )


def _snapshot(acts: ki.Activities, ref: InstanceRef, spec: Any) -> Snapshot:
    snap = acts.env.run(acts.snapshot.gather_snapshot, GatherSnapshotInput(ref=ref, spec=spec))
    assert isinstance(snap, Snapshot)
    return snap


def _events(acts: ki.Activities, namespace: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in acts.kube.list_of(api.EVENT, namespace) if e["reason"] == reason]


def _mark_initialized(acts: ki.Activities, ref: InstanceRef, value: bool = True) -> None:
    acts.kube.merge_patch(
        api.INSTANCE, ref.namespace, ref.name, {"status": {"dbInitialized": value}}, sub="status"
    )


def test_role_logs_in_with_the_secret_password_when_children_are_applied(
    acts: ki.Activities, namespace: str, postgres_server: postgres.EmbeddedPostgres
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")

    _apply(acts, ref, spec)
    _apply(acts, ref, spec)  # idempotent: the role is neither recreated nor altered

    role = naming.role_name(namespace, "shop")
    assert role == f"odoo.{namespace}.shop"
    with psycopg.connect(
        host=postgres_server.host,
        port=postgres_server.port,
        user=role,
        password=ki.db_password(acts.kube, namespace, "shop"),
        dbname="postgres",
    ) as conn:
        row = conn.execute("SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user")
        assert row.fetchone() == (True,)
    conf = acts.kube.get(api.CONFIG_MAP, namespace, "shop-odoo-conf")["data"]
    assert conf["db_name"] == "odoo_" + ref.uid.replace("-", "_")
    assert conf["db_user"] == role


def test_database_name_is_the_spec_one_when_spec_database_name_is_set(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop", database={"name": "shop_prod"})

    _apply(acts, ref, spec)

    conf = acts.kube.get(api.CONFIG_MAP, namespace, "shop-odoo-conf")["data"]
    assert conf["db_name"] == "shop_prod"


def test_apply_retries_and_says_why_when_the_cluster_is_unreachable_until_it_is_back(
    acts: ki.Activities, namespace: str, postgres_server: postgres.EmbeddedPostgres
) -> None:
    address = ki.ClusterAddress.of(postgres_server)
    dead = address.moved_to(processes.free_port(postgres_server.host))
    ki.update_clusters_secret(acts.kube, namespace, dead)
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    role = naming.role_name(namespace, "shop")

    for _ in range(2):  # two attempts of the same generation
        with pytest.raises(ApplicationError) as caught:
            _apply(acts, ref, spec)
        assert caught.value.type == databases.POSTGRES_UNAVAILABLE
        assert not caught.value.non_retryable

    where = f"{dead.host}:{dead.port}"
    [warning] = _events(acts, namespace, "DatabaseUnavailable")
    assert warning["type"] == "Warning"
    assert where in warning["message"]
    status = acts.kube.get(api.INSTANCE, namespace, "shop")["status"]
    assert status["message"].startswith(f"PostgreSQL cluster 'main' ({where}) unreachable: ")
    assert status["message"].endswith("; retrying")
    assert {c["message"] for c in status["conditions"]} == {status["message"]}
    # Everything on the Kubernetes side is there already.
    assert acts.kube.find(api.DEPLOYMENT, namespace, "shop") is not None
    assert not ki.role_exists(postgres_server, role)

    ki.update_clusters_secret(acts.kube, namespace, address)
    _apply(acts, ref, spec)

    assert ki.role_exists(postgres_server, role)
    status = acts.kube.get(api.INSTANCE, namespace, "shop")["status"]
    assert status.get("message") is None
    assert "unreachable" not in str(status["conditions"])
    assert len(_events(acts, namespace, "DatabaseUnavailable")) == 1


def test_one_warning_per_generation_and_no_flag_when_database_is_missing_under_ignore(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    _apply(acts, ref, spec)
    _mark_initialized(acts, ref)

    snaps = [_snapshot(acts, ref, spec) for _ in range(3)]

    assert [s.database_missing for s in snaps] == [False] * 3
    assert [s.database_missing_ignored for s in snaps] == [True] * 3
    assert _events(acts, namespace, "DatabaseMissing") == []  # a read posts nothing
    # The status writes report it: each write of generation 1 (a retry, the next
    # wake), then the first of generation 2.
    for generation in (1, 1, 2):
        acts.env.run(
            acts.status.record_status,
            RecordStatusInput(
                ref=ref,
                phase=Phase.RUNNING,
                generation=generation,
                spec=spec,
                database_missing_ignored=True,
            ),
        )
        if generation == 1:
            [warning] = _events(acts, namespace, "DatabaseMissing")
            database = naming.database_name(ref.uid)
            assert warning["type"] == "Warning"
            assert warning["message"] == (
                f"Database {database} not found on cluster main (policy: Ignore)"
            )
    assert len(_events(acts, namespace, "DatabaseMissing")) == 2


def test_database_missing_is_flagged_when_it_vanished_under_recreate(
    acts: ki.Activities, namespace: str, postgres_server: postgres.EmbeddedPostgres
) -> None:
    ref, spec = ki.create_instance(
        acts.kube, namespace, "shop", database={"missingPolicy": "Recreate"}
    )
    _apply(acts, ref, spec)
    assert not _snapshot(acts, ref, spec).database_missing  # not initialized: not checked
    ki.create_database_as_role(postgres_server, acts.kube, ref).close()
    _mark_initialized(acts, ref)
    assert not _snapshot(acts, ref, spec).database_missing  # there

    with ki.superuser(postgres_server) as su:
        su.execute(f'DROP DATABASE "{naming.database_name(ref.uid)}" WITH (FORCE)')

    assert _snapshot(acts, ref, spec).database_missing
    assert _events(acts, namespace, "DatabaseMissing") == []  # record_status reports it
    acts.env.run(
        acts.converge.converge_phase, ConvergePhaseInput(ref=ref, spec=spec, create_auto_init=True)
    )
    during_init = _snapshot(acts, ref, spec)
    assert during_init.init is not None
    assert not during_init.database_missing  # an init is running: not checked


def test_nothing_is_flagged_when_postgres_cannot_answer(
    acts: ki.Activities, namespace: str, postgres_server: postgres.EmbeddedPostgres
) -> None:
    ref, spec = ki.create_instance(
        acts.kube, namespace, "shop", database={"missingPolicy": "Recreate"}
    )
    _apply(acts, ref, spec)
    _mark_initialized(acts, ref)
    dead = ki.ClusterAddress.of(postgres_server).moved_to(processes.free_port("127.0.0.1"))
    ki.update_clusters_secret(acts.kube, namespace, dead)

    snap = _snapshot(acts, ref, spec)

    assert not snap.database_missing
    assert snap.problems == ()
    assert _events(acts, namespace, "DatabaseMissing") == []


def test_finished_auto_init_is_replaced_when_a_new_one_is_wanted(
    acts: ki.Activities, namespace: str, kube_kubelet: kubelet.KubeletThread
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    _apply(acts, ref, spec)
    want_init = ConvergePhaseInput(ref=ref, spec=spec, create_auto_init=True)
    acts.env.run(acts.converge.converge_phase, want_init)
    first = acts.kube.get(api.job_resource("odooinitjobs"), namespace, "shop-auto-init")
    snap = _snapshot(acts, ref, spec)
    acts.env.run(
        acts.converge.converge_phase, ConvergePhaseInput(ref=ref, spec=spec, start_job=snap.init)
    )
    acts.env.run(acts.converge.converge_phase, want_init)  # active: kept as it is
    kept = acts.kube.get(api.job_resource("odooinitjobs"), namespace, "shop-auto-init")
    assert kept["metadata"]["uid"] == first["metadata"]["uid"]
    # The kubelet ran its Pod: the Job controller says Complete; the workflow
    # would then mark the resource Completed.
    wait_for(
        lambda: ki.job_finished(acts.kube, namespace, "shop-auto-init-init") == "Complete",
        timeout=ki.DEADLINE,
    )
    acts.kube.merge_patch(
        api.job_resource("odooinitjobs"),
        namespace,
        "shop-auto-init",
        {"status": {"phase": "Completed"}},
        sub="status",
    )

    acts.env.run(acts.converge.converge_phase, want_init)

    fresh = acts.kube.get(api.job_resource("odooinitjobs"), namespace, "shop-auto-init")
    assert fresh["metadata"]["uid"] != first["metadata"]["uid"]
    assert (fresh.get("status") or {}).get("phase") in (None, "Pending")
    assert acts.kube.find(api.JOB, namespace, "shop-auto-init-init") is None
    snap = _snapshot(acts, ref, spec)
    assert snap.init is not None
    assert snap.init.job_name is None
    with ki.holding(kube_kubelet, kubelet.pod_matcher(namespace)):  # the new Job's Pod waits
        acts.env.run(
            acts.converge.converge_phase,
            ConvergePhaseInput(ref=ref, spec=spec, start_job=snap.init),
        )
        job = acts.kube.get(api.JOB, namespace, "shop-auto-init-init")
        assert job["metadata"]["ownerReferences"][0]["uid"] == fresh["metadata"]["uid"]
        assert "succeeded" not in (job.get("status") or {})
        assert ki.job_finished(acts.kube, namespace, "shop-auto-init-init") is None


def test_warning_names_database_and_cluster_when_a_recreate_transition_is_recorded(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(
        acts.kube, namespace, "shop", database={"missingPolicy": "Recreate"}
    )

    acts.env.run(
        acts.edges.run_edge_actions,
        RunEdgeActionsInput(ref=ref, spec=spec, actions=(MarkDatabase(initialized=False),)),
    )
    acts.env.run(
        acts.status.record_status,
        RecordStatusInput(
            ref=ref,
            phase=Phase.UNINITIALIZED,
            previous_phase=Phase.RUNNING,
            generation=1,
            spec=spec,
            database_lost=True,
        ),
    )

    [warning] = _events(acts, namespace, "DatabaseMissing")
    assert warning["message"] == (
        f"Database {naming.database_name(ref.uid)} not found on cluster main "
        "(policy: Recreate); initializing it again"
    )
    assert acts.kube.get(api.INSTANCE, namespace, "shop")["status"]["dbInitialized"] is False
