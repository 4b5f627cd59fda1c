"""The `follow_job` activity: a running batch Job, followed until it ends, with its progress.

Owns watching one batch Job of a job resource while it runs. It reads the
Job every CHECK_EVERY (model.phases.batch_job_state: still running, or
succeeded, failed, gone) and, every PROGRESS_EVERY, the Job's newest Pod,
the container that runs (the step) and the tail of that container's log
(pods/log), which specs.job_progress turns into a JobProgress. A progress
that changed goes to the job resource's status.step and status.progress
(job_lifecycle.show_progress: `kubectl get odoobackupjob -w` shows them)
and to the activity's heartbeat details (the Temporal UI's pending activity
and `temporal workflow describe` show them). It returns when the Job ended
or is gone: the workflow wakes and looks (a Job the operator made ends
without poking it, watcher.pokes); or after FOLLOW_FOR, the Job still
running, and the workflow follows it again.

An async activity on a task queue of its own (naming.follow_task_queue,
served by odoo_operator.worker's follower): it holds no worker thread while
it waits, so Jobs running for hours never take the slots the other
activities need. Its API calls, which block, run in threads.

Must not: decide a job's outcome (the snapshot and the phase table do),
write anything but status.step and status.progress, or fail because the
progress cannot be read or written (a Pod not scheduled yet, a log not
served yet, a container waiting, a write refused): what was shown stays.
The Pods have no API credentials: everything is read here, with the
operator's.
"""

from __future__ import annotations

import asyncio
import logging
import time

from temporalio import activity

from activities import api, failures, job_lifecycle
from model.payloads import FollowJobInput, FollowJobResult, JobProgress
from model.phases import JobState, batch_job_state
from specs import job_progress

__all__ = ["CHECK_EVERY", "FOLLOW_FOR", "PROGRESS_EVERY", "FollowActivities"]

_log = logging.getLogger(__name__)

CHECK_EVERY = 5.0
"""Seconds between two reads of the Job: how late its end is seen at most."""
QUICK_CHECKS = 10
"""The first checks come every second: a short Job (or a test's) ends quickly."""
PROGRESS_EVERY = 10.0
"""Seconds between two reads of the running step's log (a Pod list and a log read)."""
FOLLOW_FOR = 3600.0
"""Seconds one follow lasts at most; the workflow then follows the Job again
(workflows.calls gives it two hours, start to close)."""

POD = api.Resource("v1", "pods")


class FollowActivities:
    """follow_job over `kube`; tests shorten `check_every` and `progress_every` (seconds)."""

    def __init__(
        self,
        kube: api.KubeApi,
        *,
        check_every: float = CHECK_EVERY,
        progress_every: float = PROGRESS_EVERY,
    ) -> None:
        self._kube = kube
        self._check_every = check_every
        self._progress_every = progress_every

    @activity.defn(name="follow_job", no_thread_cancel_exception=True)
    async def follow_job(self, input: FollowJobInput) -> FollowJobResult:
        started = time.monotonic()
        shown: JobProgress | None = None
        progress_due = started
        checks = 0
        while True:
            with failures.boundary():
                job = await asyncio.to_thread(
                    self._kube.find, api.JOB, input.ref.namespace, input.job_name
                )
            if batch_job_state(job)[0] is not JobState.ACTIVE:
                return FollowJobResult(ended=True, progress=shown)
            now = time.monotonic()
            if now >= progress_due:
                progress_due = now + self._progress_every
                read = await asyncio.to_thread(self._progress, input)
                if read is not None and read != shown:
                    shown = read
                    await asyncio.to_thread(self._show, input, shown)
            activity.heartbeat(*_details(shown))
            if now - started >= FOLLOW_FOR:
                return FollowJobResult(ended=False, progress=shown)
            checks += 1
            quick = checks <= QUICK_CHECKS
            await asyncio.sleep(min(1.0, self._check_every) if quick else self._check_every)

    def _progress(self, input: FollowJobInput) -> JobProgress | None:
        """The step that runs and how far it came; None when it cannot be told now."""
        namespace = input.ref.namespace
        try:
            pods = self._kube.list_of(POD, namespace, label_selector=f"job-name={input.job_name}")
            pod = job_progress.newest(pods)
            step = job_progress.running_container(pod) if pod is not None else None
            if pod is None or step is None:
                return None
            log = self._kube.log(
                namespace,
                pod["metadata"]["name"],
                step,
                tail_lines=job_progress.LOG_TAIL_LINES,
            )
        except failures.ApiError as err:
            # Not yet (a container starting) or not allowed: the Job is followed all
            # the same; its end matters, its progress is for people.
            _log.debug("progress of Job %s/%s: %s", namespace, input.job_name, err)
            return None
        return job_progress.progress(step, log)

    def _show(self, input: FollowJobInput, shown: JobProgress) -> None:
        try:
            job_lifecycle.show_progress(
                self._kube, input.ref, input.kind, input.name, input.job_name, shown
            )
        except failures.ApiError as err:  # shown next time, or in the heartbeat only
            _log.debug("progress of %s %s: %s", input.kind.resource_kind, input.name, err)


def _details(shown: JobProgress | None) -> tuple[str, ...] | tuple[str, JobProgress]:
    """The heartbeat details: the progress in words first (what the UI shows), then as data."""
    if shown is None:
        return ("waiting for the Job's Pod",)
    return (shown.describe(), shown)
