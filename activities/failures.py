"""Errors of the activities, typed by what the caller should do.

The Kubernetes client's `ApiException` and urllib3's connection errors are
mapped once, in `activities.api`, onto this tree; activity code catches the
specific cases it expects (a 404 meaning "absent", a 409 meaning "already
there") and lets everything else reach `boundary()`, which turns it into the
`ApplicationError` a workflow's retry policy understands::

    ApiError                 any failed call to the API server
    ├── NotFound             404: the object is absent
    ├── Conflict             409: already exists, or a stale resourceVersion
    ├── Invalid              422: the server refused an object built from the spec
    ├── NamespaceTerminating 403: no new objects in a namespace being deleted
    └── Unavailable          connection refused/reset, timeouts, 429, 5xx

    boundary():  Invalid              -> ApplicationError(CONFIG_INVALID, non_retryable)
                 ConfigProblem        -> ApplicationError(CONFIG_INVALID, non_retryable)
                 InstanceGone         -> ApplicationError(INSTANCE_GONE, non_retryable)
                 permanent ApiError   -> ApplicationError(API_REJECTED, non_retryable)
                 other ApiError       -> ApplicationError(<class name>), retried with backoff

An ApiError is permanent (`is_permanent()`) when retrying the same request
cannot help: 400 (bad request), 403 (forbidden: RBAC, a StorageClass that
does not allow expansion, a namespace being terminated), a 404 that reached
the boundary (an object or namespace the call relied on is gone: callers
catch the 404s that mean "absent"), and a 409 about an immutable field. A
409 conflict on resourceVersion, 429 and 5xx stay retryable. The message of
a permanent error is `summary` ("<resource> <name>: <API message>"), so
status.message and Events name the object.

Nothing here swallows an exception: every error is re-raised, typed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from model import failures

__all__ = [
    "BENIGN",
    "ApiError",
    "ConfigProblem",
    "Conflict",
    "InstanceGone",
    "Invalid",
    "NamespaceTerminating",
    "NotFound",
    "Unavailable",
    "boundary",
]


class ApiError(Exception):
    """A call to the Kubernetes API failed. `status` is the HTTP status (0: no answer).

    `message` is the raw "<METHOD> <path>: <status> <API message>"; `summary`
    names the object for people ("persistentvolumeclaims shop-filestore-pvc in
    namespace shop: <API message>").
    """

    def __init__(
        self, message: str, *, status: int = 0, reason: str = "", summary: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.summary = summary or message

    def is_permanent(self) -> bool:
        """Whether retrying the same request can never succeed (see the module docstring)."""
        if self.status in (400, 403, 404):
            return True
        return self.status == 409 and "immutable" in self.message.lower()


class NotFound(ApiError):
    """404: the object (or its namespace) does not exist."""


class Conflict(ApiError):
    """409: AlreadyExists on create, or a resourceVersion/test-op conflict."""


class Invalid(ApiError):
    """422: the API server refused the object; retrying the same body cannot help."""


class NamespaceTerminating(ApiError):
    """403 from the NamespaceLifecycle admission: the namespace is being deleted, so
    nothing new may be created in it (what was to be created goes with it anyway)."""


class Unavailable(ApiError):
    """No usable answer (connection error, timeout, 429, 5xx): retry later."""


class ConfigProblem(Exception):
    """A permanent configuration problem; the message says which field to fix."""


class InstanceGone(Exception):
    """The OdooInstance no longer exists."""


BENIGN = ApplicationErrorCategory.BENIGN


@contextlib.contextmanager
def boundary() -> Iterator[None]:
    """Map the activity's errors onto `ApplicationError`s typed for retry policies.

    What the user wrote wrong (Invalid, ConfigProblem) and an instance gone are
    BENIGN (Temporal's category: the worker logs them at DEBUG, without a
    traceback): the workflow tells them in the status and an Event, where the
    user looks. API errors are not: a refusal the operator's RBAC caused is
    for its logs."""
    try:
        yield
    except Invalid as err:
        raise ApplicationError(
            err.summary, type=failures.CONFIG_INVALID, non_retryable=True, category=BENIGN
        ) from err
    except ApiError as err:
        if err.is_permanent():
            raise ApplicationError(
                err.summary, type=failures.API_REJECTED, non_retryable=True
            ) from err
        raise ApplicationError(err.message, type=type(err).__name__) from err
    except ConfigProblem as err:
        raise ApplicationError(
            str(err), type=failures.CONFIG_INVALID, non_retryable=True, category=BENIGN
        ) from err
    except InstanceGone as err:
        raise ApplicationError(
            str(err), type=failures.INSTANCE_GONE, non_retryable=True, category=BENIGN
        ) from err
