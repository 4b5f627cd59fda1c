"""`ApplicationError` type names shared by activities and workflows.

Activities raise these (activities.failures maps library errors onto them);
workflows and retry policies refer to them by these constants only.
"""

from __future__ import annotations

__all__ = ["CONFIG_INVALID", "INSTANCE_GONE", "NON_RETRYABLE"]

CONFIG_INVALID = "ConfigInvalid"
"""The spec or something it references is wrong; retrying will not help."""

INSTANCE_GONE = "InstanceGone"
"""The OdooInstance no longer exists in the API."""

NON_RETRYABLE = (CONFIG_INVALID, INSTANCE_GONE)
