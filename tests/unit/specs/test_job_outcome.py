"""What a finished batch Job says about itself (specs.job_outcome).

Covers: a failure message names the failing step first, with the cause line
the step script wrote, then its log tail; without a failed container, the
Job's Failed condition.
"""

from __future__ import annotations

from specs import job_outcome


def test_failure_message_names_the_failed_init_container_and_the_cause() -> None:
    pods = [
        {
            "metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {
                "initContainerStatuses": [
                    {"name": "download", "state": {"terminated": {"exitCode": 0}}},
                    {
                        "name": "extract",
                        "state": {
                            "terminated": {
                                "exitCode": 1,
                                "message": "unzip: bad\nrestore-extract: error: the artifact is "
                                "not a readable zip archive (truncated or corrupt)",
                            }
                        },
                    },
                ],
                "containerStatuses": [
                    {"name": "finalize", "state": {"waiting": {"reason": "PodInitializing"}}}
                ],
            },
        }
    ]
    message = job_outcome.failure_message({"status": {}}, pods)
    assert message.startswith(
        "step extract failed (exit code 1): restore-extract: error: the artifact is not a "
        "readable zip archive (truncated or corrupt)"
    )
    assert "unzip: bad" in message
    deadline = {
        "status": {
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "DeadlineExceeded",
                    "message": "too long",
                }
            ]
        }
    }
    assert job_outcome.failure_message(deadline, []) == "DeadlineExceeded: too long"


def test_a_deadline_names_its_seconds_and_the_step_that_was_running() -> None:
    job = {
        "spec": {
            "activeDeadlineSeconds": 420,
            "template": {"spec": {"activeDeadlineSeconds": 120}},
        },
        "status": {
            "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
        },
    }
    stopped = {
        "spec": {"activeDeadlineSeconds": 120},
        "status": {
            "reason": "DeadlineExceeded",
            "initContainerStatuses": [
                {"name": "download", "state": {"terminated": {"exitCode": 0}}},
                {"name": "load", "state": {"terminated": {"exitCode": 137, "message": "COPY 12"}}},
            ],
            "containerStatuses": [
                {"name": "filestore", "state": {"waiting": {"reason": "PodInitializing"}}}
            ],
        },
    }
    message = job_outcome.failure_message(job, [stopped])
    assert message.startswith("deadline of 120 s exceeded at step load")
    assert "COPY 12" in message  # the log tail follows
    never_ran = {
        **job,
        "status": {
            "conditions": [{**job["status"]["conditions"][0], "reason": "DeadlineExceeded"}]
        },
    }
    assert (
        job_outcome.failure_message(never_ran, [])
        == "deadline of 120 s exceeded before the Job's Pod ran"
    )
