"""gather_snapshot and converge_phase against the real control plane and its kubelet.

Covers: the batch Job state rules (no jobName -> Active; succeeded ->
Succeeded; a Failed condition -> Failed; pod failures within backoffLimit ->
still Active; beyond it -> Failed; Job gone -> Failed; being deleted ->
Failed); the oldest non-terminal job resource is the active one and pending
backups are counted; the OdooBackupJob made for a deletion is reported
final (the deletion waits for it); a scheduled upgrade is not due before its time; the
instance being gone is a non-retryable INSTANCE_GONE; configuration problems
name what to fix; the snapshot counts the ready Pods the Deployment
controller reports (a Pending Pod and a Pod no longer ready are not);
converge_phase run twice creates one auto OdooInitJob and one batch Job
(accepted by the API server) and marks the resource Running; the Job is
Active while its Pod is held Pending, Succeeded once the Job controller
says Complete, Failed once deleted.
"""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities import api
from activities.backup_resources import BackupActivities
from model import failures, naming
from model.crds import S3Config
from model.payloads import (
    ApplyChildrenInput,
    BackupRequest,
    ConvergePhaseInput,
    CreateBackupJobInput,
    GatherSnapshotInput,
    JobKind,
    QueuedBackup,
    Snapshot,
)
from model.phases import JobState, batch_job_state
from model.settings import OperatorSettings
from sandbox import kubelet
from tests.activities import kube_instance as ki
from tests.fixtures.kube import wait_for


def _job(status: dict[str, Any], backoff: int = 0, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "j"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"backoffLimit": backoff}, "status": status}


def _true(kind: str) -> dict[str, Any]:
    return {"type": kind, "status": "True", "reason": "R", "message": f"{kind} happened"}


@pytest.mark.parametrize(
    ("job", "state"),
    [
        pytest.param(_job({}), JobState.ACTIVE, id="running"),
        pytest.param(_job({"succeeded": 1}), JobState.SUCCEEDED, id="succeeded-count"),
        pytest.param(_job({"conditions": [_true("Complete")]}), JobState.SUCCEEDED, id="complete"),
        pytest.param(
            _job({"failed": 1, "conditions": [_true("Failed")]}), JobState.FAILED, id="failed"
        ),
        pytest.param(_job({"failed": 2}, backoff=3), JobState.ACTIVE, id="within-retry-budget"),
        pytest.param(_job({"failed": 4}, backoff=3), JobState.FAILED, id="budget-exhausted"),
        pytest.param(_job({}, deleting=True), JobState.FAILED, id="being-deleted"),
        pytest.param(None, JobState.FAILED, id="gone"),
    ],
)
def test_job_state_follows_the_job_when_mapped(job: dict[str, Any] | None, state: JobState) -> None:
    assert batch_job_state(job)[0] is state


def _gather(acts: ki.Activities, ref: Any, spec: Any) -> Snapshot:
    result = acts.env.run(acts.snapshot.gather_snapshot, GatherSnapshotInput(ref=ref, spec=spec))
    assert isinstance(result, Snapshot)
    return result


def _job_resource(
    acts: ki.Activities, namespace: str, kind: JobKind, name: str, **spec: Any
) -> None:
    acts.kube.create(
        api.job_resource(kind.plural),
        namespace,
        {
            "apiVersion": naming.GROUP_VERSION,
            "kind": kind.resource_kind,
            "metadata": {"name": name},
            "spec": {"odooInstanceRef": {"name": "shop"}, **spec},
        },
    )


def test_instance_gone_is_non_retryable_when_the_instance_is_deleted(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    acts.kube.delete(api.INSTANCE, namespace, "shop")

    with pytest.raises(ApplicationError) as caught:
        _gather(acts, ref, spec)

    assert (caught.value.type, caught.value.non_retryable) == (failures.INSTANCE_GONE, True)


def test_snapshot_reads_deployments_when_applied_and_ready(
    acts: ki.Activities, kube_kubelet: kubelet.KubeletThread, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    assert _gather(acts, ref, spec).web.exists is False
    acts.env.run(acts.children.apply_children, ApplyChildrenInput(ref=ref, spec=spec, generation=1))
    with ki.holding(kube_kubelet, kubelet.pod_matcher(namespace, "shop-cron-")):  # cron Pending
        acts.env.run(
            acts.converge.converge_phase,
            ConvergePhaseInput(ref=ref, spec=spec, web_replicas=2, cron_replicas=1),
        )
        wait_for(lambda: ki.ready_replicas(acts.kube, namespace, "shop") == 2, timeout=ki.DEADLINE)
        first = ki.deployment_pods(acts.kube, namespace, "shop")[0]["metadata"]["name"]
        kube_kubelet.set_ready(namespace, first, False)
        wait_for(lambda: ki.ready_replicas(acts.kube, namespace, "shop") == 1, timeout=ki.DEADLINE)

        snap = _gather(acts, ref, spec)

    assert (snap.web.desired, snap.web.ready, snap.web.exists) == (2, 1, True)
    assert (snap.cron.desired, snap.cron.ready) == (1, 0)
    assert snap.problems == ()


def test_oldest_pending_backup_is_active_when_several_are_queued(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    destination = {"bucket": "b", "objectKey": "k", "endpoint": "https://s3.example"}
    for name in ("b-first", "a-second", "c-third"):
        _job_resource(acts, namespace, JobKind.BACKUP, name, destination=destination)
    acts.kube.merge_patch(
        api.job_resource(JobKind.BACKUP.plural),
        namespace,
        "c-third",
        {"status": {"phase": "Completed"}},
        sub="status",
    )

    snap = _gather(acts, ref, spec)

    items = acts.kube.list_of(api.job_resource(JobKind.BACKUP.plural), namespace)
    oldest = min(
        (i["metadata"]["creationTimestamp"], i["metadata"]["name"])
        for i in items
        if i["metadata"]["name"] != "c-third"
    )
    assert snap.backup is not None
    assert snap.backup.name == oldest[1]  # creationTimestamp first, then name
    assert snap.pending_backups == 2

    # The one whose Job was started stays the active one, even when it is younger
    # (two made in one second go by name).
    younger = max(
        (i["metadata"]["creationTimestamp"], i["metadata"]["name"])
        for i in items
        if i["metadata"]["name"] != "c-third"
    )[1]
    acts.kube.merge_patch(
        api.job_resource(JobKind.BACKUP.plural),
        namespace,
        younger,
        {"status": {"phase": "Running", "jobName": f"{younger}-backup"}},
        sub="status",
    )
    started = _gather(acts, ref, spec)
    assert started.backup is not None
    assert started.backup.name == younger


def test_the_backup_made_for_a_deletion_is_reported_final(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    destination = S3Config(bucket="b", object_key="k", endpoint="https://s3.example")
    backups = BackupActivities(acts.kube, OperatorSettings(namespace=namespace))
    for name, final in (("shop-backup-1", False), ("shop-final-2", True)):
        queued = QueuedBackup(
            request=BackupRequest(destination=destination), name=name, object_key="k", final=final
        )
        acts.env.run(
            backups.create_backup_job, CreateBackupJobInput(ref=ref, spec=spec, queued=queued)
        )

    first = _gather(acts, ref, spec).backup
    assert first is not None
    assert (first.name, first.final) == ("shop-backup-1", False)
    acts.kube.merge_patch(
        api.job_resource(JobKind.BACKUP.plural),
        namespace,
        "shop-backup-1",
        {"status": {"phase": "Completed"}},
        sub="status",
    )
    final = _gather(acts, ref, spec).backup
    assert final is not None
    assert (final.name, final.final) == ("shop-final-2", True)


def test_scheduled_upgrade_is_not_due_when_its_time_is_future(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    _job_resource(acts, namespace, JobKind.UPGRADE, "later", scheduledTime="2999-01-01T00:00:00Z")

    snap = _gather(acts, ref, spec)

    assert snap.upgrade is not None
    assert (snap.upgrade.due, snap.upgrade.state) == (False, JobState.ACTIVE)


def test_problems_say_what_to_fix_when_secrets_are_missing(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop", imagePullSecret="regcred")
    acts.kube.delete(api.SECRET, namespace, "postgres-clusters")

    problems = _gather(acts, ref, spec).problems

    assert len(problems) == 2
    assert "postgres-clusters not found" in problems[0]
    assert problems[1].startswith("spec.imagePullSecret: Secret regcred not found")


def test_one_init_job_runs_when_converge_runs_twice(
    acts: ki.Activities, kube_kubelet: kubelet.KubeletThread, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    acts.env.run(acts.children.apply_children, ApplyChildrenInput(ref=ref, spec=spec, generation=1))
    with ki.holding(kube_kubelet, kubelet.pod_matcher(namespace)):  # the Job's Pod waits
        for _ in range(2):
            acts.env.run(
                acts.converge.converge_phase,
                ConvergePhaseInput(ref=ref, spec=spec, web_replicas=0, create_auto_init=True),
            )
        init = _gather(acts, ref, spec).init
        assert init is not None
        assert (init.name, init.state, init.job_name) == ("shop-auto-init", JobState.ACTIVE, None)

        for _ in range(2):
            acts.env.run(
                acts.converge.converge_phase, ConvergePhaseInput(ref=ref, spec=spec, start_job=init)
            )

        jobs = acts.kube.list_of(api.JOB, namespace)
        assert [j["metadata"]["name"] for j in jobs] == ["shop-auto-init-init"]
        resource = acts.kube.get(api.job_resource("odooinitjobs"), namespace, "shop-auto-init")
        assert resource["status"]["phase"] == "Running"
        assert resource["status"]["jobName"] == "shop-auto-init-init"
        running = _gather(acts, ref, spec).init
        assert running is not None
        assert running.state is JobState.ACTIVE

    wait_for(
        lambda: ki.job_finished(acts.kube, namespace, "shop-auto-init-init") == "Complete",
        timeout=ki.DEADLINE,
    )
    done = _gather(acts, ref, spec).init
    assert done is not None
    assert done.state is JobState.SUCCEEDED

    acts.kube.delete(api.JOB, namespace, "shop-auto-init-init")
    gone = _gather(acts, ref, spec).init
    assert gone is not None
    assert gone.state is JobState.FAILED
