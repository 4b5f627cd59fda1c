"""Which watch events poke an instance workflow, and how a burst of them coalesces."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from model.payloads import Poke
from watcher.pokes import ChangeFilter, PokeCoalescer


def deployment(replicas: int = 1, ready: int = 0, **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "shop", "uid": "d1", "annotations": {"bemade.org/replicas": "1"}},
        "spec": {"replicas": replicas},
        "status": {"readyReplicas": ready, **status},
    }


def job(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "shop-init", "uid": "j1"},
        "status": status,
    }


def test_deployment_status_churn_the_snapshot_does_not_read_pokes_once() -> None:
    changes = ChangeFilter()
    assert changes.changed(None, deployment())  # first sight (initial listing) counts
    assert not changes.changed("MODIFIED", deployment(observedGeneration=2))
    assert not changes.changed("MODIFIED", deployment(updatedReplicas=1, replicas=1))
    assert changes.changed("MODIFIED", deployment(ready=1))
    assert changes.changed("MODIFIED", deployment(replicas=0, ready=1))  # scaled by hand
    assert changes.changed("DELETED", deployment(replicas=0, ready=1))
    assert changes.changed(None, deployment(replicas=0, ready=1))  # forgotten when deleted


def test_the_creation_of_a_deployment_or_job_does_not_poke_but_first_sight_does() -> None:
    changes = ChangeFilter()
    assert not changes.changed("ADDED", deployment())  # the workflow just created it
    assert not changes.changed("MODIFIED", deployment(observedGeneration=1))
    assert changes.changed("MODIFIED", deployment(ready=1))
    assert not ChangeFilter().changed("ADDED", job())
    assert ChangeFilter().changed(None, job(succeeded=1))  # listed after a watcher restart
    # A creation delivered together with later changes (one batch of events): news.
    assert ChangeFilter().changed("ADDED", job(succeeded=1))
    assert ChangeFilter().changed("ADDED", deployment(ready=1))


def test_a_job_pokes_when_it_finishes_not_while_it_runs() -> None:
    changes = ChangeFilter()
    assert changes.changed(None, job())
    assert not changes.changed("MODIFIED", job(active=1, startTime="2026-11-29T00:00:00Z"))
    assert not changes.changed(
        "MODIFIED", job(active=1, conditions=[{"type": "Suspended", "status": "False"}])
    )
    # SuccessCriteriaMet comes first, with the Pod not yet counted: the snapshot
    # still sees the Job running, so no poke yet; the count and Complete are one.
    met = [{"type": "SuccessCriteriaMet", "status": "True"}]
    assert not changes.changed("MODIFIED", job(conditions=met, uncountedTerminatedPods={}))
    assert changes.changed("MODIFIED", job(conditions=met, succeeded=1))
    complete = [*met, {"type": "Complete", "status": "True"}]
    assert not changes.changed("MODIFIED", job(conditions=complete, succeeded=1, ready=0))


def test_a_job_that_fails_pokes_once_and_backoff_limit_counts() -> None:
    changes = ChangeFilter()
    retried = {**job(), "spec": {"backoffLimit": 1}}
    assert changes.changed(None, retried)
    assert not changes.changed("MODIFIED", {**retried, "status": {"failed": 1}})  # retried
    assert changes.changed("MODIFIED", {**retried, "status": {"failed": 2}})
    failed = [{"type": "FailureTarget", "status": "True"}, {"type": "Failed", "status": "True"}]
    assert not changes.changed(
        "MODIFIED", {**retried, "status": {"failed": 2, "conditions": failed}}
    )


def test_a_job_a_job_resource_controls_pokes_only_when_deleted_its_follow_sees_the_end() -> None:
    owner = {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooBackupJob",
        "name": "nightly",
        "controller": True,
    }
    followed = job()
    followed["metadata"]["ownerReferences"] = [owner]
    changes = ChangeFilter()
    assert changes.changed(None, followed)
    assert not changes.changed("MODIFIED", {**followed, "status": {"active": 1}})
    assert not changes.changed("MODIFIED", {**followed, "status": {"succeeded": 1}})
    assert changes.changed("DELETED", {**followed, "status": {"succeeded": 1}})


def test_the_cron_deployment_pokes_on_replicas_not_on_readiness() -> None:
    changes = ChangeFilter()
    cron = deployment()
    cron["metadata"] = {"name": "shop-cron", "uid": "c1", "labels": {"bemade.org/instance": "shop"}}
    assert changes.changed(None, cron)
    assert not changes.changed("MODIFIED", {**cron, "status": {"readyReplicas": 1}})
    assert changes.changed("MODIFIED", {**cron, "spec": {"replicas": 0}})


def test_a_job_resource_pokes_on_spec_changes_not_on_the_status_the_workflow_writes() -> None:
    changes = ChangeFilter()
    body: dict[str, Any] = {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooBackupJob",
        "metadata": {"name": "b", "uid": "b1", "generation": 1},
    }
    assert changes.changed("ADDED", body)
    assert not changes.changed("MODIFIED", {**body, "status": {"phase": "Running"}})
    assert changes.changed("MODIFIED", {**body, "metadata": {**body["metadata"], "generation": 2}})
    deleting = {**body["metadata"], "generation": 2, "deletionTimestamp": "2026-11-29T00:00:00Z"}
    assert changes.changed("MODIFIED", {**body, "metadata": deleting})


async def test_a_burst_of_pokes_while_one_is_in_flight_becomes_one_more_with_the_last_reason() -> (
    None
):
    sent: list[tuple[str, str, str]] = []
    release = asyncio.Event()
    two_sent = asyncio.Event()

    async def send(namespace: str, name: str, poke: Poke) -> bool:
        sent.append((namespace, name, poke.reason))
        if len(sent) == 2:
            two_sent.set()
        await release.wait()
        return name == "shop"  # no workflow runs for erp

    pokes = PokeCoalescer(send)
    first = asyncio.create_task(pokes.poke("ns", "shop", Poke(reason="a")))
    await asyncio.sleep(0)  # let it start: it is now in flight, held by `release`
    assert sent == [("ns", "shop", "a")]
    for reason in ("b", "c", "d"):
        assert await pokes.poke("ns", "shop", Poke(reason=reason))  # folded: returns at once
    # Another instance is not held.
    other = asyncio.create_task(pokes.poke("ns", "erp", Poke(reason="x")))
    await asyncio.wait_for(two_sent.wait(), timeout=5)
    release.set()
    assert await asyncio.gather(first, other) == [True, False]  # erp has no workflow
    assert sent == [("ns", "shop", "a"), ("ns", "erp", "x"), ("ns", "shop", "d")]
    assert await pokes.poke("ns", "shop", Poke(reason="e"))  # nothing in flight: sent at once
    assert sent[-1] == ("ns", "shop", "e")


async def test_a_failed_send_does_not_leave_the_instance_held() -> None:
    calls = 0

    async def send(namespace: str, name: str, poke: Poke) -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("refused")
        return True

    pokes = PokeCoalescer(send)
    with pytest.raises(RuntimeError):
        await pokes.poke("ns", "shop", Poke(reason="a"))
    await pokes.poke("ns", "shop", Poke(reason="b"))
    assert calls == 2


def test_the_operators_own_scaling_does_not_poke_a_hand_made_one_does() -> None:
    changes = ChangeFilter()

    def scaled(replicas: int, annotated: int) -> dict[str, Any]:
        body = deployment(replicas=replicas)
        body["metadata"]["annotations"] = {"bemade.org/replicas": str(annotated)}
        return body

    assert changes.changed(None, scaled(0, 0))
    assert not changes.changed("MODIFIED", scaled(1, 1))  # converge_phase wrote both
    assert changes.changed("MODIFIED", scaled(3, 1))  # kubectl scale --replicas=3
    assert changes.changed("MODIFIED", scaled(1, 1))  # put back by the operator: news again


def test_the_auto_init_job_resource_does_not_poke_when_created_a_users_one_does() -> None:
    auto_init: dict[str, Any] = {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooInitJob",
        "metadata": {
            "name": "shop-auto-init",
            "uid": "a1",
            "generation": 1,
            "ownerReferences": [{"kind": "OdooInstance", "name": "shop", "controller": True}],
        },
    }
    mine = {**auto_init, "metadata": {"name": "by-hand", "uid": "u1", "generation": 1}}
    changes = ChangeFilter()
    assert not changes.changed("ADDED", auto_init)
    assert changes.changed("ADDED", mine)
    assert changes.changed("DELETED", auto_init)


def test_a_backup_the_workflow_made_on_request_does_not_poke_when_created() -> None:
    requested: dict[str, Any] = {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooBackupJob",
        "metadata": {
            "name": "shop-backup-20261206020000-a1b2",
            "uid": "r1",
            "generation": 1,
            "annotations": {"bemade.org/requested-by": "schedule"},
        },
    }
    changes = ChangeFilter()
    assert not changes.changed("ADDED", requested)
    assert not changes.changed("MODIFIED", {**requested, "status": {"phase": "Running"}})
    assert changes.changed("DELETED", requested)


def _config_map(data: str, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "shop-config",
            "uid": "cm1",
            "labels": {"bemade.org/instance": "shop"},
            **meta,
        },
        "data": {"odoo.conf": data},
    }


def test_a_child_pokes_when_deleted_or_edited_not_when_created_or_touched() -> None:
    drift = ChangeFilter.for_drift()
    assert not drift.changed("ADDED", _config_map("a"))  # the workflow made it
    assert not drift.changed("MODIFIED", _config_map("a", resourceVersion="2"))
    assert not drift.changed("MODIFIED", _config_map("a", annotations={"note": "x"}))
    assert drift.changed("MODIFIED", _config_map("b"))  # kubectl edit
    assert drift.changed("MODIFIED", _config_map("b", deletionTimestamp="2026-12-01T00:00:00Z"))
    assert drift.changed("DELETED", _config_map("b"))
    assert drift.changed(None, _config_map("b"))  # seen again after a watcher restart


def _wrote(manager: str, time: str, subresource: str | None = None) -> dict[str, Any]:
    entry = {"manager": manager, "operation": "Apply", "time": f"2026-12-06T12:00:{time}Z"}
    return entry if subresource is None else {**entry, "subresource": subresource}


def test_a_childs_change_the_operator_wrote_itself_does_not_poke_a_hand_edit_does() -> None:
    drift = ChangeFilter.for_drift()
    ours = _wrote("odoo-operator", "01")
    assert not drift.changed("ADDED", _config_map("a", managedFields=[ours]))
    # The operator applies a new spec: its own entry is the newest, the cluster's
    # controllers' and status writes after it do not count.
    applied = [
        _wrote("kubectl-edit", "00"),
        _wrote("odoo-operator", "05"),
        _wrote("kube-controller-manager", "06"),
        _wrote("someone", "09", subresource="status"),
    ]
    assert not drift.changed("MODIFIED", _config_map("b", managedFields=applied))
    # Someone else's edit is newer: news, even within the operator's second.
    edited = [_wrote("odoo-operator", "05"), _wrote("kubectl-edit", "07")]
    assert drift.changed("MODIFIED", _config_map("c", managedFields=edited))
    tie = [_wrote("odoo-operator", "08"), _wrote("kubectl-patch", "08")]
    assert drift.changed("MODIFIED", _config_map("d", managedFields=tie))
    # A deletion writes no entry: the operator's is still the newest, and it pokes.
    ours_last = [_wrote("odoo-operator", "09")]
    deleting = _config_map("d", managedFields=ours_last, deletionTimestamp="2026-12-06T13:00:00Z")
    assert drift.changed("MODIFIED", deleting)
    # Without managedFields (an API server that strips them), every change pokes.
    assert drift.changed("MODIFIED", _config_map("e"))


def test_a_rolling_updates_surge_pod_does_not_poke_a_lost_replica_does() -> None:
    changes = ChangeFilter()
    assert changes.changed(None, deployment(replicas=1, ready=1))
    assert not changes.changed("MODIFIED", deployment(replicas=1, ready=2))  # surge Pod ready
    assert not changes.changed("MODIFIED", deployment(replicas=1, ready=1))  # old Pod gone
    assert changes.changed("MODIFIED", deployment(replicas=1, ready=0))


async def test_a_folded_poke_says_children_changed_when_any_of_those_it_stands_for_did() -> None:
    sent: list[Poke] = []
    release = asyncio.Event()

    async def send(namespace: str, name: str, poke: Poke) -> bool:
        sent.append(poke)
        await release.wait()
        return True

    pokes = PokeCoalescer(send)
    first = asyncio.create_task(pokes.poke("ns", "shop", Poke(reason="a")))
    await asyncio.sleep(0)  # in flight, held by `release`
    await pokes.poke("ns", "shop", Poke(reason="Service shop changed", children_changed=True))
    await pokes.poke("ns", "shop", Poke(reason="Deployment shop changed"))
    release.set()
    await first
    assert sent == [
        Poke(reason="a"),
        Poke(reason="Deployment shop changed", children_changed=True),
    ]
