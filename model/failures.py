"""`ApplicationError` type names shared by activities and workflows.

Activities raise these (activities.failures maps library errors onto them);
workflows and retry policies refer to them by these constants only.
"""

from __future__ import annotations

__all__ = ["API_REJECTED", "CONFIG_INVALID", "INSTANCE_GONE", "NON_RETRYABLE", "PERMANENT"]

CONFIG_INVALID = "ConfigInvalid"
"""The spec or something it references is wrong; retrying will not help."""

INSTANCE_GONE = "InstanceGone"
"""The OdooInstance no longer exists in the API."""

API_REJECTED = "ApiRejected"
"""The API server refused a request for good (400, 403, 404 of an object we rely on,
409 on an immutable field): the same request can never succeed. The message names the
object and carries the API server's message."""

PERMANENT = (CONFIG_INVALID, API_REJECTED)
"""Failures the workflow shows as a problem (status.message, Error) instead of retrying;
stop and delete keep being served."""

NON_RETRYABLE = (CONFIG_INVALID, INSTANCE_GONE, API_REJECTED)
