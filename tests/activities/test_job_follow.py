"""The follow_job activity against the control plane: a running Job's step and progress.

A batch Job of an OdooBackupJob whose two steps (an init container `dump`,
the container `upload`) print progress lines as the step scripts do and
wait for the test to let them go on; the simulated kubelet runs them as
local processes and shows which container runs, and serves their logs
(pods/log). Covers: while the Job runs, the job resource's status.step and
status.progress follow the running step and its last progress line (what
`kubectl get odoobackupjob -w` shows), the activity's heartbeat details say
the same in words (the Temporal UI's pending activity); once the Job ended
the activity returns and the last progress stays shown; marked Completed
(job_lifecycle.finish), the resource shows no step any more, while a Failed
one keeps the step it failed at.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from temporalio.testing import ActivityEnvironment

from activities import api, job_follow, job_lifecycle
from model.payloads import FollowJobInput, FollowJobResult, JobAction, JobKind
from sandbox import podrunner
from tests.activities import kube_instance as ki

BACKUPS = api.job_resource(JobKind.BACKUP.plural)


def _step(name: str, line: str, gate: Path) -> dict[str, Any]:
    """A container that says how far it came, then waits for `gate` to exist."""
    script = f"echo '{line}' >&2; while [ ! -f {gate} ]; do sleep 0.05; done"
    return {"name": name, "image": "tools", "command": ["sh", "-c", script]}


async def _until(check: Any, what: str) -> Any:
    deadline = time.monotonic() + ki.DEADLINE
    while not (found := await asyncio.to_thread(check)):
        assert time.monotonic() < deadline, f"not reached: {what}"
        await asyncio.sleep(0.05)
    return found


async def test_step_and_progress_follow_the_running_job_when_it_reports(
    acts: ki.Activities, job_pods: podrunner.LocalPodRunner, namespace: str, tmp_path: Path
) -> None:
    ref, _ = ki.create_instance(acts.kube, namespace, "shop")
    destination = {"bucket": "b", "objectKey": "k", "endpoint": "https://s3.example"}
    body = {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooBackupJob",
        "metadata": {"name": "nightly"},
        "spec": {"odooInstanceRef": {"name": "shop"}, "destination": destination},
    }
    acts.kube.create(BACKUPS, namespace, body)
    job_name = "nightly-backup"
    acts.kube.merge_patch(
        BACKUPS,
        namespace,
        "nightly",
        {"status": {"phase": "Running", "jobName": job_name}},
        sub="status",
    )
    dumped, uploaded = tmp_path / "dumped", tmp_path / "uploaded"
    pod = {
        "restartPolicy": "Never",
        "initContainers": [_step("dump", "progress: step=backup-dump bytes=5000000", dumped)],
        "containers": [
            _step(
                "upload",
                "progress: step=backup-upload bytes=38000000 total=120000000",
                uploaded,
            )
        ],
    }
    acts.kube.create(
        api.JOB,
        namespace,
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": job_name},
            "spec": {"backoffLimit": 0, "template": {"spec": pod}},
        },
    )
    beats: list[tuple[Any, ...]] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    follow = job_follow.FollowActivities(acts.kube, check_every=0.1, progress_every=0.1)
    following = asyncio.ensure_future(
        env.run(
            follow.follow_job,
            FollowJobInput(ref=ref, kind=JobKind.BACKUP, name="nightly", job_name=job_name),
        )
    )

    def shown() -> tuple[str | None, str | None]:
        status = acts.kube.get(BACKUPS, namespace, "nightly").get("status") or {}
        return status.get("step"), status.get("progress")

    await _until(lambda: shown() == ("dump", "5.0 MB"), "the dump step shown")
    await _until(lambda: beats[-1][:1] == ("dump, 5.0 MB",), "the heartbeat of dump")
    dumped.touch()
    await _until(lambda: shown() == ("upload", "38 MB of 120 MB"), "the upload step shown")
    await _until(lambda: beats[-1][:1] == ("upload, 38 MB of 120 MB",), "the heartbeat of upload")
    assert not following.done()  # the Job still runs
    uploaded.touch()
    result: FollowJobResult = await asyncio.wait_for(following, ki.DEADLINE)

    assert result.ended
    assert result.progress is not None
    assert result.progress.describe() == "upload, 38 MB of 120 MB"
    assert shown() == ("upload", "38 MB of 120 MB")
    assert ki.job_finished(acts.kube, namespace, job_name) == "Complete"

    job_lifecycle.finish(
        acts.kube, namespace, JobAction(kind=JobKind.BACKUP, name="nightly", succeeded=True)
    )
    assert shown() == (None, None)
    assert acts.kube.get(BACKUPS, namespace, "nightly")["status"]["phase"] == "Completed"

    failing = {"metadata": {"name": "failing"}, "spec": dict(body["spec"])}
    acts.kube.create(BACKUPS, namespace, {**body, **failing})
    running = {"phase": "Running", "step": "upload", "progress": "1.0 MB"}
    acts.kube.merge_patch(BACKUPS, namespace, "failing", {"status": running}, sub="status")
    job_lifecycle.finish(
        acts.kube, namespace, JobAction(kind=JobKind.BACKUP, name="failing", succeeded=False)
    )
    status = acts.kube.get(BACKUPS, namespace, "failing")["status"]
    assert (status["phase"], status["step"], status["progress"]) == ("Failed", "upload", "1.0 MB")
