"""The workflow spec.backup's Temporal Schedule starts: ask the instance for a backup.

One short run per scheduled time: it signals `backup` (scheduled) to the
instance workflow `odoo/<namespace>/<name>`, which makes the OdooBackupJob,
runs it when its phase allows, and applies the retention afterwards. It
does no I/O of its own; the Schedule (activities.backup_resources) decides when it
runs, and `temporal schedule list` shows it.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from model import naming
    from model.payloads import BackupRequest, ScheduledBackupInput

__all__ = ["ScheduledBackupWorkflow"]


@workflow.defn(name="OdooScheduledBackup")
class ScheduledBackupWorkflow:
    @workflow.run
    async def run(self, input: ScheduledBackupInput) -> None:
        instance = workflow.get_external_workflow_handle(
            naming.workflow_id(input.namespace, input.name)
        )
        await instance.signal("backup", BackupRequest(scheduled=True))
