"""What a running batch Job says of its progress (specs.job_progress, model JobProgress).

Covers: the step is the container that runs (an init container before the
containers; none before the first starts or after the last ended); how far
it came is the last progress line of the step scripts in its log tail
(bytes, tables; with or without a total), or Odoo's `Loading module x (i/n)`
for init and `-u`; a step that said nothing yet shows its name alone; the
words status.progress and the heartbeat show (`upload, 38 MB of 120 MB`);
the newest Pod of a Job is the one read.
"""

from __future__ import annotations

from typing import Any

import pytest

from model.payloads import JobProgress
from specs import job_progress


def _pod(init: dict[str, str], main: dict[str, str], created: str = "") -> dict[str, Any]:
    def statuses(states: dict[str, str]) -> list[dict[str, Any]]:
        return [{"name": name, "state": {state: {}}} for name, state in states.items()]

    return {
        "metadata": {"name": f"pod-{created}", "creationTimestamp": created},
        "status": {
            "initContainerStatuses": statuses(init),
            "containerStatuses": statuses(main),
        },
    }


@pytest.mark.parametrize(
    ("init", "main", "step"),
    [
        ({"dump": "running", "package": "waiting"}, {"upload": "waiting"}, "dump"),
        ({"dump": "terminated", "package": "running"}, {"upload": "waiting"}, "package"),
        ({"dump": "terminated", "package": "terminated"}, {"upload": "running"}, "upload"),
        ({"dump": "waiting"}, {"upload": "waiting"}, None),
        ({"dump": "terminated"}, {"upload": "terminated"}, None),
    ],
    ids=["first init container", "second", "the container", "not started", "ended"],
)
def test_step_is_the_container_that_runs_when_a_pod_goes_through_its_steps(
    init: dict[str, str], main: dict[str, str], step: str | None
) -> None:
    assert job_progress.running_container(_pod(init, main)) == step


def test_progress_is_the_last_line_the_step_printed_when_it_reports_bytes() -> None:
    log = "\n".join(
        [
            "backup-upload: uploading 120000000 bytes to s3://b/k",
            "progress: step=backup-upload bytes=0 total=120000000",
            "progress: step=backup-upload bytes=38000000 total=120000000",
            "some aws warning",
        ]
    )

    shown = job_progress.progress("upload", log)

    assert shown == JobProgress(step="upload", done=38_000_000, total=120_000_000)
    assert shown.describe() == "upload, 38 MB of 120 MB"


@pytest.mark.parametrize(
    ("line", "amount"),
    [
        ("progress: step=backup-dump bytes=950", "950 B"),
        ("progress: step=backup-dump bytes=2048", "2.0 kB"),
        ("progress: step=restore-load tables=3 total=87", "3 of 87 tables"),
        (
            "2026-12-06 INFO db odoo.modules.loading: Loading module sale (12/40)",
            "12 of 40 modules",
        ),
    ],
    ids=["bytes", "kilobytes", "tables", "odoo modules"],
)
def test_amount_reads_as_people_say_it_when_a_step_reports(line: str, amount: str) -> None:
    assert job_progress.progress("step", f"starting\n{line}\n").amount() == amount


def test_step_alone_shows_when_it_said_nothing_of_its_progress_yet() -> None:
    shown = job_progress.progress("extract", "restore-extract: unpacking the zip\n")

    assert shown == JobProgress(step="extract")
    assert shown.describe() == "extract"


def test_newest_pod_is_read_when_a_job_retried() -> None:
    old = _pod({}, {"upgrade": "terminated"}, created="2026-12-06T10:00:00Z")
    new = _pod({}, {"upgrade": "running"}, created="2026-12-06T10:05:00Z")

    assert job_progress.newest([new, old]) is new
    assert job_progress.newest([]) is None
