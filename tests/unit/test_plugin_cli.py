"""The `kubectl odoo` command line without a cluster: its parser, completion and words.

Covers: the backup formats the parser offers are the model's; completion
answers commands (with their help), a command's flags, and a flag's choices
without reaching any API, and offers nothing where a value is free text;
`s3://bucket/key` parses and anything else is refused naming the form;
durations read in their two largest units; the history of a job that never
ran and of one still running says so, each on one line; a restore finds the
endpoint of the backup that wrote its object, in its spec or its status.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from model.crds import BackupFormat
from model.payloads import JobKind
from odoo_operator.plugin import cli, completion, reads, render, requests


def test_formats_offered_are_the_models_when_the_model_changes() -> None:
    assert tuple(f.value for f in BackupFormat) == cli.FORMATS


def _offline(given: dict[str, str]) -> Any:
    raise AssertionError("completion reached for the API")


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["re"], ["restore", "resume"]),
        (["backup", "--f"], ["--format"]),
        (["-n", "shop", "backup", "erp", "--format", ""], ["zip", "sql", "dump"]),
        (["restore", "erp", "--from", ""], []),
        (["completion", ""], ["bash", "zsh"]),
        (["status", "erp", ""], []),
    ],
)
def test_completion_answers_without_the_api_when_no_name_is_asked(
    words: list[str], expected: list[str]
) -> None:
    found = completion.candidates(cli.build_parser(), words, _offline)
    assert [line.split("\t")[0] for line in found] == expected


def test_command_completions_carry_their_help() -> None:
    [status] = completion.candidates(cli.build_parser(), ["stat"], _offline)
    assert status.startswith("status\tan instance's phase")


def test_s3_location_parses_when_it_has_a_bucket_and_a_key() -> None:
    where = requests.parse_location("s3://backups/erp/2026.zip")
    assert (where.bucket, where.key, str(where)) == (
        "backups",
        "erp/2026.zip",
        "s3://backups/erp/2026.zip",
    )
    for wrong in ("backups/erp.zip", "s3://backups", "s3:///erp.zip"):
        with pytest.raises(ValueError, match="is not s3://BUCKET/KEY"):
            requests.parse_location(wrong)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (9, "9s"), (252, "4m12s"), (3600, "1h0m"), (7500, "2h5m"), (273600, "3d4h")],
)
def test_duration_reads_in_two_units(seconds: int, text: str) -> None:
    assert render.duration(timedelta(seconds=seconds)) == text


def _job(**status: Any) -> reads.JobView:
    body = {
        "metadata": {"name": "erp-backup-1", "creationTimestamp": "2026-12-06T09:00:00Z"},
        "spec": {"destination": {"bucket": "b", "objectKey": "erp/1.zip"}},
        "status": status,
    }
    return reads.job_view(JobKind.BACKUP, body)


def test_history_says_a_job_never_ran_or_still_runs() -> None:
    now = datetime(2026, 12, 6, 9, 10, tzinfo=UTC)
    view = reads.InstanceView(
        "erp", "shop", {}, {}, (
            _job(phase="Failed", message="not started:\n  destination: no Secret\n"),
            _job(phase="Running", jobName="j", startTime="2026-12-06T09:01:00Z"),
        ), reads.WorkflowView(problem="no workflow"),
    )  # fmt: skip
    text = render.history(view, now)
    assert "OdooBackupJob/erp-backup-1 Failed: not started: | destination: no Secret" in text
    assert "never ran" in text
    assert "running 9m0s so far (waited 1m0s)" in text
    assert "(phase changes unknown: no workflow)" in text
    assert len(text.splitlines()) == 4  # the heading, two jobs, the note
    assert view.jobs[0].location == "s3://b/erp/1.zip"


class _Kube:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def list_of(self, resource: Any, namespace: str) -> list[dict[str, Any]]:
        return self.items


class _Session:
    namespace = "shop"

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.kube = _Kube(items)


def test_restore_finds_the_endpoint_of_a_backup_whose_destination_the_operator_chose() -> None:
    chosen = {
        "bucket": "nightly",
        "objectKey": "auto/shop/erp/erp-20261206093005-by-yaml.zip",
        "endpoint": "https://s3.example",
        "s3CredentialsSecretRef": {"name": "s3"},
    }
    written = {"metadata": {"name": "by-yaml"}, "spec": {}, "status": {"destination": chosen}}
    where = requests.parse_location(f"s3://nightly/{chosen['objectKey']}")
    config = requests._s3_config(_Session([written]), {}, where, requests.S3Options())  # type: ignore[arg-type]
    assert config.endpoint == "https://s3.example"
    assert config.s3_credentials_secret_ref is not None
    assert config.s3_credentials_secret_ref.name == "s3"
