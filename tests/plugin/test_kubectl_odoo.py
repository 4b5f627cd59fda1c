"""Every `kubectl odoo` command as a user runs it, on the control plane with an operator running.

The installed console scripts run as subprocesses (tests/plugin/conftest.py):
`kubectl-odoo`, and `kubectl odoo` through the pinned kubectl to prove plugin
discovery. One Running instance `erp` is shared by the module. Covers:
- `kubectl odoo --help` found by kubectl (and listed by `kubectl plugin
  list`) names every command; kubectl's completion of `kubectl odoo <TAB>`
  runs kubectl_complete-odoo (commands, instance names), and the bash script
  of `completion bash` completes `kubectl-odoo`;
- `status`: phase, URL, replicas, database and role, workflow, transitions;
- `backup --to ... --wait`: accepted, the object in S3, Completed; `status`
  then lists it under the last backups; `logs` prints each step's log under
  its header, in order;
- a backup asked while another runs is answered queued behind it, and its
  OdooBackupJob exists at once (kubectl shows it); status lists both, the
  running one first;
- `restore` of that instance's backup into a second instance (the endpoint and
  credentials found from the OdooBackupJob that wrote it) `--wait`s until
  Completed, and the second instance runs on the restored database; one
  naming a credentials Secret that does not exist is refused at once, naming
  the field, and nothing is made;
- `upgrade --modules base --wait`: Completed;
- `history`: the phase changes and the operations, with how long each took;
- `psql`: a session as the instance's role on its database; the password is
  in psql's environment and never on its command line;
- `hold`: the Held condition and status say so, a backup is refused naming
  the hold (exit 1); `resume` ends it, and `history` then tells the hold
  and how long it lasted;
- a missing instance fails with exit 1, naming it; a backup without a
  destination (no spec.backup) is refused saying which flag gives one.
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from activities import api
from model import naming
from sandbox import kubelet, processes, s3
from tests.jobs import harness
from tests.plugin.conftest import Plugin, s3_flags

pytestmark = pytest.mark.timeout(300)
WAIT = "90"
"""--timeout of a command that waits for its job (seconds)."""
COMMANDS = (
    "status", "history", "backup", "restore", "upgrade", "hold", "resume", "logs", "psql",
    "completion",
)  # fmt: skip


def _field(line_start: str, text: str) -> str:
    """The rest of the first line of `text` starting with `line_start`."""
    line = next(line for line in text.splitlines() if line.startswith(line_start))
    return line.removeprefix(line_start).strip()


def _made(output: str, kind: str) -> str:
    """The job resource's name from an answer's first line (`accepted: Kind/name in ...`)."""
    first = output.splitlines()[0]
    return first.split(f"{kind}/", 1)[1].split()[0].rstrip(",")


async def test_kubectl_finds_the_plugin_and_completes_its_arguments(
    plugin: Plugin, erp: harness.Instance
) -> None:
    listed = await asyncio.to_thread(
        subprocess.run, [str(processes.find_binary("kubectl")), "plugin", "list"],
        capture_output=True, text=True, env=plugin.env, check=False,
    )  # fmt: skip
    assert "kubectl-odoo" in listed.stdout

    help_text = await asyncio.to_thread(plugin, "--help", via_kubectl=True)
    assert help_text.startswith("usage: kubectl odoo")
    for command in COMMANDS:
        assert f"\n    {command} " in help_text, command

    kubectl = str(processes.find_binary("kubectl"))
    commands = await asyncio.to_thread(
        subprocess.run, [kubectl, "__complete", "odoo", "st"],
        capture_output=True, text=True, env=plugin.env, check=True,
    )  # fmt: skip
    assert [line.split("\t")[0] for line in commands.stdout.splitlines()[:-1]] == ["status"]
    names = await asyncio.to_thread(
        subprocess.run, [kubectl, "__complete", "odoo", "-n", plugin.namespace, "status", ""],
        capture_output=True, text=True, env=plugin.env, check=True,
    )  # fmt: skip
    assert "erp" in names.stdout.splitlines()

    script = await asyncio.to_thread(plugin, "completion", "bash")
    bash = (
        f"{script}\n"
        f"COMP_WORDS=(kubectl-odoo -n {plugin.namespace} hist); COMP_CWORD=3; "
        '_kubectl_odoo; echo "${COMPREPLY[@]}"\n'
        f"COMP_WORDS=(kubectl-odoo -n {plugin.namespace} history e); COMP_CWORD=4; "
        '_kubectl_odoo; echo "${COMPREPLY[@]}"\n'
    )
    completed = await asyncio.to_thread(
        subprocess.run, ["bash", "-c", bash], capture_output=True, text=True, env=plugin.env,
        check=True,
    )  # fmt: skip
    assert completed.stdout.splitlines() == ["history", "erp"]


async def test_status_shows_what_the_instance_is_and_how_it_got_there(
    plugin: Plugin, erp: harness.Instance
) -> None:
    text = await asyncio.to_thread(plugin, "status", "erp")
    assert _field("Name:", text) == "erp"
    assert _field("Phase:", text).startswith("Running, since ")
    assert _field("URL:", text) == "https://erp.example.com"
    assert _field("Replicas:", text) == "web 1/1 ready, cron 1"
    role = naming.role_name(plugin.namespace, "erp")
    assert _field("Database:", text).startswith(f"{erp.database} on ")
    assert _field("Database:", text).endswith(f" as {role} (initialized)")
    assert _field("Workflow:", text) == f"odoo/{plugin.namespace}/erp (phase Running)"
    transitions = text.split("Recent transitions:\n", 1)[1]
    assert "Starting -> Running" in transitions
    assert "all_ready" in transitions


async def test_backup_waits_for_its_job_then_status_and_logs_show_it(
    plugin: Plugin, erp: harness.Instance, bucket: str, s3_server: s3.S3Server
) -> None:
    output = await asyncio.to_thread(
        plugin, "backup", "erp", "--to", f"s3://{bucket}/erp/first.zip", *s3_flags(s3_server),
        "--wait", "--timeout", WAIT,
    )  # fmt: skip
    assert output.startswith("accepted: OdooBackupJob/erp-backup-")
    name = _made(output, "OdooBackupJob")
    assert f"  to s3://{bucket}/erp/first.zip\n" in output
    assert output.rstrip().endswith(
        f"OdooBackupJob/{name} Completed: backup uploaded to s3://{bucket}/erp/first.zip"
    )
    assert s3_server.client().head_object(bucket, "erp/first.zip") is not None

    status = await asyncio.to_thread(plugin, "status", "erp")
    backups = status.split("Last backups:\n", 1)[1].split("Recent transitions:", 1)[0]
    first = backups.splitlines()[0].split()
    assert first[:2] == ["Completed", f"OdooBackupJob/{name}"]
    assert first[-1] == f"s3://{bucket}/erp/first.zip"

    logs = await asyncio.to_thread(plugin, "logs", f"backup/{name}")
    headers = [line for line in logs.splitlines() if line.startswith(("===", "---"))]
    assert headers[0].startswith(f"=== OdooBackupJob/{name}: Job {name}-backup, Pod {name}-backup-")
    assert headers[1:] == [
        "--- dump (step 1 of 3)",
        "--- package (step 2 of 3)",
        "--- upload (step 3 of 3)",
    ]
    assert f"upload: uploaded s3://{bucket}/erp/first.zip" in logs
    assert logs == await asyncio.to_thread(plugin, "logs", name)  # a bare name finds it too


async def test_backup_asked_while_another_runs_is_queued_behind_it(
    plugin: Plugin,
    erp: harness.Instance,
    bucket: str,
    s3_server: s3.S3Server,
    kube_kubelet: kubelet.KubeletThread,
) -> None:
    kube = erp.operator.kube
    kube_kubelet.hold(kubelet.pod_matcher(plugin.namespace))
    try:
        first = _made(
            await asyncio.to_thread(
                plugin, "backup", "erp", "--to", f"s3://{bucket}/erp/held.sql",
                "--format", "sql", *s3_flags(s3_server),
            ),
            "OdooBackupJob",
        )  # fmt: skip

        def running() -> bool:
            body = erp.operator.job("OdooBackupJob", first)
            return bool((body.get("status") or {}).get("jobName"))

        await harness.eventually(running, f"{first} running")
        output = await asyncio.to_thread(
            plugin, "backup", "erp", "--to", f"s3://{bucket}/erp/queued.sql",
            "--format", "sql", *s3_flags(s3_server),
        )  # fmt: skip
        second = _made(output, "OdooBackupJob")
        assert output.splitlines()[0] == (
            f"queued: OdooBackupJob/{second} in namespace {plugin.namespace}, "
            f"behind OdooBackupJob/{first}"
        )
        assert kube.find(api.job_resource("odoobackupjobs"), plugin.namespace, second)
        status = await asyncio.to_thread(plugin, "status", "erp")
        operations = status.split("Operations:\n", 1)[1].split("Last backups:", 1)[0]
        rows = [line.split()[:2] for line in operations.splitlines()]
        assert rows[0] == ["Running", f"OdooBackupJob/{first}"]
        assert rows[1][1] == f"OdooBackupJob/{second}"
    finally:
        kube_kubelet.release()
    for name in (first, second):
        done = await erp.operator.wait_job("OdooBackupJob", name)
        assert done["status"]["phase"] == "Completed"


async def test_restore_into_a_second_instance_from_a_backup_of_the_first(
    plugin: Plugin, erp: harness.Instance, bucket: str, s3_server: s3.S3Server
) -> None:
    staging = await erp.operator.create_instance("staging", init={"enabled": False})
    await staging.wait_phase("Uninitialized")
    key = f"erp/for-staging-{uuid.uuid4().hex[:6]}.dump"
    await asyncio.to_thread(
        plugin, "backup", "erp", "--to", f"s3://{bucket}/{key}", "--format", "dump",
        *s3_flags(s3_server), "--wait", "--timeout", WAIT,
    )  # fmt: skip

    # A request that could never run is refused at once, nothing made.
    refused = await asyncio.to_thread(
        plugin.run, "restore", "staging", "--from", f"s3://{bucket}/{key}",
        "--s3-secret", "nope", check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith(
        "restore request refused: source.s3CredentialsSecretRef: "
        f"Secret {plugin.namespace}/nope not found"
    )
    # So is a backup that is not there (the endpoint is the one the backup used).
    missing = await asyncio.to_thread(
        plugin.run, "restore", "staging", "--from", f"s3://{bucket}/erp/typo.dump",
        *s3_flags(s3_server), check=False,
    )  # fmt: skip
    assert missing.returncode == 1
    assert missing.stderr.strip().endswith(
        f"restore request refused: source: the backup s3://{bucket}/erp/typo.dump does not "
        f"exist at {s3_server.endpoint}"
    )
    restores = api.job_resource("odoorestorejobs")
    assert erp.operator.kube.list_of(restores, plugin.namespace) == []

    # No endpoint given: the OdooBackupJob that wrote the object says where it is.
    output = await asyncio.to_thread(
        plugin, "restore", "staging", "--from", f"s3://{bucket}/{key}", "--wait",
        "--timeout", WAIT,
    )  # fmt: skip
    assert output.startswith("accepted: OdooRestoreJob/staging-restore-")
    assert f"  from s3://{bucket}/{key} (dump)\n" in output
    assert output.rstrip().splitlines()[-1].split()[1].rstrip(":") == "Completed"
    await staging.wait_phase("Running")
    with staging.connect() as conn:
        assert conn.execute("SELECT count(*) FROM res_users").fetchone() is not None
    status = await asyncio.to_thread(plugin, "status", "staging")
    assert _field("Database:", status).endswith("(initialized)")


async def test_upgrade_waits_for_its_job(plugin: Plugin, erp: harness.Instance) -> None:
    output = await asyncio.to_thread(
        plugin, "upgrade", "erp", "--modules", "base", "--wait", "--timeout", WAIT
    )
    lines = output.rstrip().splitlines()
    assert lines[0].startswith("accepted: OdooUpgradeJob/erp-upgrade-")
    assert lines[1] == "  odoo -u base"
    assert lines[-1].split()[1].rstrip(":") == "Completed"
    await erp.wait_phase("Running")


async def test_history_tells_phase_changes_and_operations_with_their_durations(
    plugin: Plugin, erp: harness.Instance
) -> None:
    text = await asyncio.to_thread(plugin, "history", "erp")
    lines = text.splitlines()
    assert lines[0].split() == ["WHEN", "WHAT", "HOW", "LONG"]
    assert any(
        "phase Provisioning -> Uninitialized (db_not_initialized)" in line
        and "Uninitialized for " in line
        for line in lines
    )
    init = next(line for line in lines if "OdooInitJob/erp-auto-init Completed" in line)
    assert " ran " in init
    assert "(waited " in init
    last = next(line for line in reversed(lines) if " phase " in f" {line}")
    assert last.rstrip().endswith(", so far")


async def test_psql_opens_a_session_as_the_instance_role(
    plugin: Plugin, erp: harness.Instance, tmp_path: Path
) -> None:
    output = await asyncio.to_thread(
        plugin, "psql", "erp", "--", "-tAc", "SELECT current_user || ' ' || current_database()"
    )
    assert output.strip() == f"{naming.role_name(plugin.namespace, 'erp')} {erp.database}"

    # What psql is given: a stand-in in front of PATH prints it.
    standin = tmp_path / "psql"
    standin.write_text('#!/bin/sh\necho "argv: $*"\necho "password: $PGPASSWORD"\n')
    standin.chmod(0o755)
    shown = Plugin({**plugin.env, "PATH": f"{tmp_path}:{plugin.env['PATH']}"}, plugin.namespace)
    seen = await asyncio.to_thread(shown, "psql", "erp")
    password = _password(erp)
    assert _field("password:", seen) == password
    argv = _field("argv:", seen)
    assert password not in argv
    assert f"--username={naming.role_name(plugin.namespace, 'erp')}" in argv.split()


def _password(erp: harness.Instance) -> str:
    secret = erp.operator.kube.get(
        api.SECRET, erp.ref.namespace, naming.db_password_secret_name("erp")
    )
    return base64.b64decode(secret["data"]["password"]).decode()


async def test_hold_stops_requests_until_resume(
    plugin: Plugin, erp: harness.Instance, bucket: str, s3_server: s3.S3Server
) -> None:
    output = await asyncio.to_thread(plugin, "hold", "erp", "--reason", "incident 42")
    assert output.startswith(f"on hold: {plugin.namespace}/erp since ")

    def held() -> dict[str, Any] | None:
        conditions = {c["type"]: c for c in erp.status().get("conditions") or []}
        return conditions.get("Held")

    condition = await harness.eventually(held, "the Held condition")
    assert condition["reason"] == "OnHold"
    assert "incident 42" in condition["message"]
    status = await asyncio.to_thread(plugin, "status", "erp")
    assert "incident 42" in _field("Held:", status)
    assert "Message:" not in status  # status.message only says the hold: shown once
    assert _field("Workflow:", status).endswith(", on hold)")

    refused = await asyncio.to_thread(
        plugin.run, "backup", "erp", "--to", f"s3://{bucket}/erp/held-off.zip",
        *s3_flags(s3_server), check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "backup request refused: the instance is on hold since" in refused.stderr
    assert "(incident 42)" in refused.stderr

    resumed = await asyncio.to_thread(plugin, "resume", "erp")
    assert resumed.strip() == f"resumed: {plugin.namespace}/erp (the hold was: incident 42)"
    await harness.eventually(lambda: held() is None, "the Held condition gone")
    assert "Held:" not in await asyncio.to_thread(plugin, "status", "erp")
    history = await asyncio.to_thread(plugin, "history", "erp")
    [line] = [line for line in history.splitlines() if "on hold: incident 42" in line]
    assert "held " in line
    assert "so far" not in line


async def test_a_missing_instance_fails_naming_it(plugin: Plugin, erp: harness.Instance) -> None:
    for command in ("status", "history", "hold"):
        args = [command, "nope", *(["--reason", "x"] if command == "hold" else [])]
        result = await asyncio.to_thread(plugin.run, *args, check=False)
        assert result.returncode == 1, result
        assert f"no OdooInstance nope in namespace {plugin.namespace}" in result.stderr


async def test_backup_without_a_destination_is_refused_saying_how_to_give_one(
    plugin: Plugin, erp: harness.Instance
) -> None:
    result = await asyncio.to_thread(plugin.run, "backup", "erp", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().endswith(
        "destination: no destination given and the instance has no spec.backup: give one in "
        "the request, or set spec.backup on the instance (here: --to s3://BUCKET/KEY)"
    )
