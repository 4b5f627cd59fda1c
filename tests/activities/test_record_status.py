"""record_status, run_edge_actions and cleanup_instance against the real kube-apiserver.

Covers: the instance status fields (phase, ready, readyReplicas, url,
targetReplicas, selector, observedGeneration, message; dbInitialized from
the MarkDatabase edge action); conditions Ready/Progressing whose
lastTransitionTime moves only when their status changes; the Held condition
and status.message of an instance on hold, gone once resumed; exactly one
PhaseChanged Event when the activity is retried; a Warning ConfigError Event
on entering Error; finishing a job resource (Completed, completionTime, the
batch Job's TTL set once mirrored) and the JobFailed Warnings of a failed
one; the web rollout restart annotation; a prune that cannot reach S3 is
retried, then left to the next backup; cleanup scales to 0 and removes the
finalizer.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities import api, edge_actions, job_lifecycle
from model import failures, naming
from model.crds import BackupRetention
from model.payloads import (
    ApplyChildrenInput,
    CleanupInput,
    ConvergePhaseInput,
    EdgeAction,
    GatherSnapshotInput,
    Hold,
    JobAction,
    JobKind,
    MarkDatabase,
    PruneScheduledBackups,
    RecordStatusInput,
    RestartWeb,
    RunEdgeActionsInput,
    Snapshot,
)
from model.phases import Phase
from sandbox import processes
from tests.activities import kube_instance as ki


def _record(acts: ki.Activities, ref: Any, spec: Any, phase: Phase, **kw: Any) -> dict[str, Any]:
    acts.env.run(
        acts.status.record_status,
        RecordStatusInput(
            ref=ref, phase=phase, generation=kw.pop("generation", 1), spec=spec, **kw
        ),
    )
    return dict(acts.kube.get(api.INSTANCE, ref.namespace, ref.name)["status"])


def _run_edges(acts: ki.Activities, ref: Any, spec: Any, *actions: EdgeAction) -> None:
    edges = RunEdgeActionsInput(ref=ref, spec=spec, actions=actions)
    acts.env.run(acts.edges.run_edge_actions, edges)


def _conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def _events(acts: ki.Activities, namespace: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in acts.kube.list_of(api.EVENT, namespace) if e["reason"] == reason]


def test_status_fields_are_written_when_recorded(acts: ki.Activities, namespace: str) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop", replicas=2)

    _run_edges(acts, ref, spec, MarkDatabase(initialized=True))
    status = _record(acts, ref, spec, Phase.RUNNING, ready_replicas=2, generation=3)

    assert status["phase"] == "Running"
    assert status["ready"] is True
    assert status["readyReplicas"] == 2
    assert status["url"] == "https://shop.example.com"
    assert status["targetReplicas"] == 2
    assert status["selector"] == "app=shop"
    assert status["observedGeneration"] == 3
    assert status["dbInitialized"] is True
    conditions = _conditions(status)
    assert (conditions["Ready"]["status"], conditions["Ready"]["reason"]) == ("True", "Running")
    assert conditions["Progressing"]["status"] == "False"
    assert conditions["Ready"]["observedGeneration"] == 3


def test_last_transition_time_moves_only_when_status_changes(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    first = _conditions(_record(acts, ref, spec, Phase.STARTING))
    # Make the stored times recognisable, so a rewrite with "now" would show.
    old = "2000-01-01T00:00:00Z"
    marked = [{**c, "lastTransitionTime": old} for c in first.values()]
    acts.kube.merge_patch(
        api.INSTANCE, namespace, "shop", {"status": {"conditions": marked}}, sub="status"
    )

    same = _conditions(_record(acts, ref, spec, Phase.STARTING, message="still starting"))
    assert same["Ready"]["lastTransitionTime"] == old
    assert same["Progressing"]["lastTransitionTime"] == old
    assert same["Progressing"]["message"] == "still starting"

    moved = _conditions(_record(acts, ref, spec, Phase.RUNNING, previous_phase=Phase.STARTING))
    assert moved["Ready"]["lastTransitionTime"] != old
    assert moved["Progressing"]["lastTransitionTime"] != old


def test_held_condition_and_message_while_the_instance_is_on_hold(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    hold = Hold(reason="incident 42", since=datetime(2026, 12, 6, 9, 30, tzinfo=UTC))

    held = _record(acts, ref, spec, Phase.RUNNING, message="a problem", hold=hold)
    condition = _conditions(held)["Held"]
    assert (condition["status"], condition["reason"]) == ("True", "OnHold")
    assert condition["lastTransitionTime"] == "2026-12-06T09:30:00Z"
    assert "incident 42" in condition["message"]
    assert held["message"] == (
        "On hold since 2026-12-06T09:30:00Z: incident 42. The operator applies, scales and "
        "starts nothing but a stop or the deletion until `kubectl odoo resume shop`; a problem"
    )
    assert _conditions(held)["Ready"]["message"] == "a problem"

    resumed = _record(acts, ref, spec, Phase.RUNNING)
    assert "Held" not in _conditions(resumed)
    assert resumed.get("message") is None


def test_one_phase_changed_event_is_posted_when_the_activity_is_retried(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")

    for _ in range(2):  # same activity id: a retry
        _record(acts, ref, spec, Phase.UNINITIALIZED, previous_phase=Phase.PROVISIONING)

    events = _events(acts, namespace, "PhaseChanged")
    assert len(events) == 1
    event = events[0]
    assert event["message"] == "Phase changed from Provisioning to Uninitialized"
    assert event["type"] == "Normal"
    assert event["reportingComponent"] == "odoo-operator"
    assert event["involvedObject"]["uid"] == ref.uid
    assert _events(acts, namespace, "ConfigError") == []


def test_warning_event_says_why_when_entering_error(acts: ki.Activities, namespace: str) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")

    status = _record(
        acts,
        ref,
        spec,
        Phase.ERROR,
        previous_phase=Phase.PROVISIONING,
        message="spec.database.cluster 'x' is not defined",
    )

    assert status["message"] == "spec.database.cluster 'x' is not defined"
    [warning] = _events(acts, namespace, "ConfigError")
    assert warning["type"] == "Warning"
    assert warning["message"] == "spec.database.cluster 'x' is not defined"


def test_job_resource_is_completed_and_its_job_expires_when_finished(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    acts.env.run(acts.children.apply_children, ApplyChildrenInput(ref=ref, spec=spec, generation=1))
    acts.env.run(
        acts.converge.converge_phase, ConvergePhaseInput(ref=ref, spec=spec, create_auto_init=True)
    )
    snap = acts.env.run(acts.snapshot.gather_snapshot, GatherSnapshotInput(ref=ref, spec=spec))
    assert isinstance(snap, Snapshot)
    acts.env.run(
        acts.converge.converge_phase, ConvergePhaseInput(ref=ref, spec=spec, start_job=snap.init)
    )

    action = JobAction(kind=JobKind.INIT, name="shop-auto-init", succeeded=True)
    _run_edges(acts, ref, spec, action, MarkDatabase(initialized=True))
    _run_edges(acts, ref, spec, action, MarkDatabase(initialized=True))  # a retry changes nothing
    status = _record(acts, ref, spec, Phase.STARTING, previous_phase=Phase.INITIALIZING)

    resource = acts.kube.get(api.job_resource("odooinitjobs"), namespace, "shop-auto-init")
    assert resource["status"]["phase"] == "Completed"
    assert resource["status"]["completionTime"]
    job = acts.kube.get(api.JOB, namespace, "shop-auto-init-init")
    assert job["spec"]["ttlSecondsAfterFinished"] == job_lifecycle.FINISHED_JOB_TTL_SECONDS
    assert (status["phase"], status["dbInitialized"]) == ("Starting", True)


def test_warning_event_names_the_job_when_a_job_fails(acts: ki.Activities, namespace: str) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    acts.env.run(acts.children.apply_children, ApplyChildrenInput(ref=ref, spec=spec, generation=1))
    acts.env.run(
        acts.converge.converge_phase, ConvergePhaseInput(ref=ref, spec=spec, create_auto_init=True)
    )
    action = JobAction(
        kind=JobKind.INIT, name="shop-auto-init", succeeded=False, message="OdooInitJob failed"
    )

    _run_edges(acts, ref, spec, action)
    _record(
        acts, ref, spec, Phase.INIT_FAILED, previous_phase=Phase.INITIALIZING, failed_jobs=(action,)
    )

    # One on the instance, one on the job resource itself (kubectl describe of either).
    warnings = {e["involvedObject"]["kind"]: e for e in _events(acts, namespace, "JobFailed")}
    assert sorted(warnings) == ["OdooInitJob", "OdooInstance"]
    for warning in warnings.values():
        assert warning["type"] == "Warning"
        assert warning["message"] == "OdooInitJob shop-auto-init failed: OdooInitJob failed"
    assert warnings["OdooInitJob"]["involvedObject"]["name"] == "shop-auto-init"
    resource = acts.kube.get(api.job_resource("odooinitjobs"), namespace, "shop-auto-init")
    assert resource["status"]["phase"] == "Failed"


def test_web_pods_restart_when_requested(acts: ki.Activities, namespace: str) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    acts.env.run(acts.children.apply_children, ApplyChildrenInput(ref=ref, spec=spec, generation=1))

    _run_edges(acts, ref, spec, RestartWeb())

    web = acts.kube.get(api.DEPLOYMENT, namespace, "shop")
    assert "kubectl.kubernetes.io/restartedAt" in web["spec"]["template"]["metadata"]["annotations"]


def test_prune_is_retried_then_left_to_the_next_backup_when_s3_is_unreachable(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    backups = api.job_resource(JobKind.BACKUP.plural)
    nowhere = f"http://127.0.0.1:{processes.free_port()}"
    acts.kube.create(
        backups,
        namespace,
        {
            "apiVersion": naming.GROUP_VERSION,
            "kind": "OdooBackupJob",
            "metadata": {
                "name": "shop-backup-1",
                "labels": {job_lifecycle.SCHEDULED_LABEL: "true"},
            },
            "spec": {
                "odooInstanceRef": {"name": "shop"},
                "destination": {"bucket": "b", "objectKey": "k.zip", "endpoint": nowhere},
            },
        },
    )
    acts.kube.merge_patch(
        backups, namespace, "shop-backup-1", {"status": {"phase": "Completed"}}, sub="status"
    )
    prune = PruneScheduledBackups(retention=BackupRetention(keep_last=0))

    with pytest.raises(ApplicationError) as caught:
        _run_edges(acts, ref, spec, prune)
    assert (caught.value.type, caught.value.non_retryable) == (failures.S3_UNAVAILABLE, False)

    acts.env.info = dataclasses.replace(acts.env.info, attempt=edge_actions.PRUNE_ATTEMPTS)
    _run_edges(acts, ref, spec, prune)  # the last attempt gives up: the object may still be there

    assert acts.kube.find(backups, namespace, "shop-backup-1") is not None


def test_cleanup_scales_down_and_releases_the_instance_when_deleted(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    acts.env.run(acts.children.apply_children, ApplyChildrenInput(ref=ref, spec=spec, generation=1))
    acts.env.run(
        acts.converge.converge_phase,
        ConvergePhaseInput(ref=ref, spec=spec, web_replicas=2, cron_replicas=1),
    )
    acts.kube.delete(api.INSTANCE, namespace, "shop")
    held = acts.kube.get(api.INSTANCE, namespace, "shop")
    assert naming.FINALIZER in held["metadata"]["finalizers"]
    assert acts.kube.get(api.DEPLOYMENT, namespace, "shop")["spec"]["replicas"] == 2

    acts.env.run(acts.cleanup.cleanup_instance, CleanupInput(ref=ref, spec=spec))
    acts.env.run(acts.cleanup.cleanup_instance, CleanupInput(ref=ref, spec=spec))  # idempotent

    assert acts.kube.find(api.INSTANCE, namespace, "shop") is None
