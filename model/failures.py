"""`ApplicationError` type names shared by activities and workflows: their only home.

Activities raise these (activities.failures maps library errors onto them);
workflows and retry policies refer to them by these constants only. The
ApiError classes of activities.failures that stay retryable reach a workflow
typed by their class name (`Unavailable`, `Conflict`, ...); nothing matches
on those. tests/unit/test_failure_types.py fails when a `type="..."` literal
appears anywhere else in the shipped packages.
"""

from __future__ import annotations

__all__ = [
    "API_REJECTED",
    "BACKUP_REQUEST_INVALID",
    "CLEANUP_FAILED",
    "CONFIG_INVALID",
    "INSTANCE_GONE",
    "INSTANCE_HELD",
    "NON_RETRYABLE",
    "PERMANENT",
    "POSTGRES_ERROR",
    "POSTGRES_UNAVAILABLE",
    "REQUEST_INVALID",
    "S3_ERROR",
    "S3_UNAVAILABLE",
    "SWAP_CONFLICT",
]

CONFIG_INVALID = "ConfigInvalid"
"""The spec or something it references is wrong; retrying will not help."""

INSTANCE_GONE = "InstanceGone"
"""The OdooInstance no longer exists in the API."""

API_REJECTED = "ApiRejected"
"""The API server refused a request for good (400, 403, 404 of an object we rely on,
409 on an immutable field): the same request can never succeed. The message names the
object and carries the API server's message."""

BACKUP_REQUEST_INVALID = "BackupRequestInvalid"
"""A backup request without a destination on an instance without spec.backup: refused
for good (the workflow posts a BackupRequestRefused Event instead)."""

REQUEST_INVALID = "RequestInvalid"
"""A restore, upgrade or hold request (an Update) that does not parse or could never run
(an S3 credentials Secret missing, the instance being deleted): the Update fails at once,
for good, naming the field; nothing is made."""

INSTANCE_HELD = "InstanceHeld"
"""A backup, restore or upgrade Update refused because the instance is on hold (the
`hold` Update): nothing is made until `resume`."""

CLEANUP_FAILED = "CleanupFailed"
"""A deletion step that must be retried (retryable whatever the cause: the finalizer
holds the instance until someone fixes it)."""

POSTGRES_UNAVAILABLE = "PostgresUnavailable"
"""A PostgreSQL cluster cannot serve right now (refused, timed out): retried."""

POSTGRES_ERROR = "PostgresError"
"""Any other PostgreSQL error: retried."""

SWAP_CONFLICT = "SwapConflict"
"""The databases of a saga's swap are in no state a swap or its undo leaves (the incoming
database is missing, or a name it needs is taken): not retried; the saga undoes and fails
the operation with the message."""

S3_ERROR = "S3Error"
"""An S3 server answered with an error (pruning a backup's object): retried."""

S3_UNAVAILABLE = "S3Unavailable"
"""An S3 server could not be reached: retried."""

PERMANENT = (CONFIG_INVALID, API_REJECTED)
"""Failures the workflow shows as a problem (status.message, Error) instead of retrying;
stop and delete keep being served."""

NON_RETRYABLE = (CONFIG_INVALID, INSTANCE_GONE, API_REJECTED)
