"""Scheduled backups and their retention in the instance workflow, over five weeks.

Time-skipping server, the World's fake activities (create_backup_job,
sync_backup_schedule and post_event among them); its run_edge_actions
applies the real retention rule (model.retention) to the completed scheduled
backups, by the time in their names, when the workflow asks for a
PruneScheduledBackups. The schedule's workflow is played by
the test: one `backup` signal (scheduled) per day, as OdooScheduledBackup
sends. Covers:
- each signal becomes exactly one OdooBackupJob, named from workflow time
  (`<instance>-backup-<YYYYmmddHHMMSS>-<hex>`), with an object key under
  spec.backup's prefix; it runs (Running -> BackingUp -> Running) and, once
  completed, the retention prunes;
- after 35 daily backups exactly the retained set of spec.backup.retention
  (keepLast 2, daily 7, weekly 4, monthly 3) is left, every other one pruned
  once, and the retained set is what each rule asks for;
- a backup signal without a destination while spec.backup is unset is
  refused with a BackupRequestRefused Event instead of failing the workflow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio.testing import WorkflowEnvironment

from model import retention
from model.crds import OdooInstanceSpec
from model.payloads import (
    BackupRequest,
    JobKind,
    PruneScheduledBackups,
    QueuedBackup,
    Replicas,
    Snapshot,
    WorkflowSettings,
)
from model.phases import JobPhase, Phase
from tests.workflows.conftest import eventually, running_worker, start_instance, wait_phase
from tests.workflows.world import World
from workflows.instance import OdooInstanceWorkflow

SLOW_RESYNC = WorkflowSettings(
    resync_interval=timedelta(days=2), job_poll_interval=timedelta(minutes=10)
)
POLICY = {"keepLast": 2, "daily": 7, "weekly": 4, "monthly": 3}


@dataclass
class BackupWorld(World):
    """The World, plus the time of each scheduled backup and the retention rule."""

    scheduled: dict[str, datetime] = field(default_factory=dict)
    pruned: list[str] = field(default_factory=list)

    def snapshot(self) -> Snapshot:
        snap = super().snapshot()
        if snap.backup is not None and snap.backup.name in self.scheduled:
            snap = snap.model_copy(
                update={"backup": snap.backup.model_copy(update={"scheduled": True})}
            )
        return snap

    def completed_scheduled(self) -> list[str]:
        with self.lock:
            return sorted(
                j.name
                for j in self.jobs
                if j.name in self.scheduled and j.phase is JobPhase.COMPLETED
            )

    def create_backup(self, queued: QueuedBackup) -> None:
        """The World's, remembering when a scheduled one was asked for (lock held)."""
        super().create_backup(queued)
        if queued.request.scheduled:
            stamp = queued.name.split("-")[-2]
            taken = datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
            self.scheduled[queued.name] = taken

    def prune(self, action: PruneScheduledBackups) -> None:
        """The real retention rule over the completed scheduled backups (lock held)."""
        policy = retention.Policy(
            keep_last=action.retention.keep_last,
            daily=action.retention.daily,
            weekly=action.retention.weekly,
            monthly=action.retention.monthly,
        )
        done = [
            retention.Backup(j.name, self.scheduled[j.name])
            for j in self.jobs
            if j.name in self.scheduled and j.phase is JobPhase.COMPLETED
        ]
        keep = retention.retained(done, policy)
        gone = [b.name for b in done if b.name not in keep]
        self.jobs = [j for j in self.jobs if j.name not in gone]
        self.pruned.extend(gone)


def running_world() -> BackupWorld:
    serving = Replicas(desired=1, ready=1, exists=True)
    return BackupWorld(web=serving, cron=serving, db_initialized=True)


def spec_with_backup() -> OdooInstanceSpec:
    return OdooInstanceSpec.model_validate(
        {
            "adminPassword": "",
            "ingress": {"hosts": ["shop.example.com"]},
            "backup": {
                "schedule": "0 2 * * *",
                "destination": {"bucket": "b", "endpoint": "http://s3", "prefix": "nightly/"},
                "retention": POLICY,
            },
        }
    )


async def test_five_weeks_of_daily_backups_leave_exactly_the_retained_set(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, world = time_skipping_env, running_world()
    async with running_worker(env.client, world, task_queue):
        handle = await start_instance(
            env.client, task_queue, spec_with_backup(), settings=SLOW_RESYNC
        )
        await wait_phase(handle, Phase.RUNNING)
        assert world.calls["sync_backup_schedule"] == 1
        for day in range(35):
            await handle.signal(OdooInstanceWorkflow.backup, BackupRequest(scheduled=True))
            count = day + 1
            await until(lambda n=count: len(world.created) == n, "the OdooBackupJob made")
            await until(lambda: _started(world), "its batch Job started")
            world.finish_batch_job(JobKind.BACKUP, succeeded=True)
            await until(
                lambda: world.created[-1] in world.completed_scheduled(), f"day {day} completed"
            )
            await wait_phase(handle, Phase.RUNNING)
            await env.sleep(timedelta(days=1))
        await handle.terminate()

    assert len(world.created) == 35
    assert all(key.startswith("nightly/") for key in world.keys.values())
    everything = [retention.Backup(name, world.scheduled[name]) for name in world.created]
    expected = retention.retained(everything, retention.Policy(2, 7, 4, 3))
    assert set(world.completed_scheduled()) == expected
    assert sorted(world.pruned) == sorted(set(world.created) - expected)
    assert len(world.pruned) == len(set(world.pruned))
    # What each rule asks for, checked without the rule's code.
    by_time = sorted(world.created, key=lambda n: world.scheduled[n])
    assert set(by_time[-7:]) <= expected  # daily 7 covers keepLast 2
    weeks: dict[tuple[int, int], str] = {}
    months: dict[tuple[int, int], str] = {}
    for name in by_time:
        taken = world.scheduled[name]
        weeks[taken.isocalendar()[:2]] = name
        months[(taken.year, taken.month)] = name
    assert set(list(weeks.values())[-4:]) <= expected
    assert set(list(months.values())[-3:]) <= expected
    assert len(expected) == len(
        set(by_time[-7:]) | set(list(weeks.values())[-4:]) | set(list(months.values())[-3:])
    )


async def test_backup_signal_without_destination_is_refused_with_an_event(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env, world = time_skipping_env, running_world()
    spec = spec_with_backup().model_copy(update={"backup": None})
    async with running_worker(env.client, world, task_queue):
        handle = await start_instance(env.client, task_queue, spec, settings=SLOW_RESYNC)
        await wait_phase(handle, Phase.RUNNING)
        await handle.signal(OdooInstanceWorkflow.backup, BackupRequest())
        await until(lambda: len(world.events) == 1, "the refusal Event")
        assert world.events[0].reason == "BackupRequestRefused"
        assert world.created == []
        assert await handle.query(OdooInstanceWorkflow.phase) is Phase.RUNNING
        await handle.terminate()


async def until(check: Callable[[], bool], what: str) -> None:
    async def probe() -> bool:
        return check()

    await eventually(probe, bool, what=what)


def _started(world: World) -> bool:
    active = world.snapshot().backup
    return active is not None and active.job_name is not None
