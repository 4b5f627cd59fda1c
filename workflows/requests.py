"""Reading the raw payload of a request sent to the instance workflow.

The request signals and Updates (`backup`, `restore`, `upgrade`, `hold`,
`resume`) take the raw payload and parse it here, so what does not parse is
reported to the sender (the Update's non-retryable error, naming the fields
and never their values) instead of dropped by the SDK with a log line.

Must not decide anything about the request beyond its shape.
"""

from __future__ import annotations

from typing import TypeVar

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import pydantic

    from model import validation

__all__ = ["decoded", "refusal"]

_M = TypeVar("_M", bound=pydantic.BaseModel)


def decoded(raw: RawValue, model: type[_M], what: str, error_type: str) -> _M:
    """The `model` a request carries, or a non-retryable `error_type` saying
    `<what> refused: ...` and naming the fields that do not parse."""
    try:
        request = workflow.payload_converter().from_payload(raw.payload, model)
    except pydantic.ValidationError as err:
        raise refusal(f"{what} refused: {validation.describe(err)}", error_type) from None
    except (ValueError, RuntimeError) as err:  # not JSON, or an encoding we do not read
        raise refusal(f"{what} refused: not a {what} ({err})", error_type) from None
    assert isinstance(request, model)
    return request


def refusal(message: str, error_type: str) -> ApplicationError:
    """An Update's answer for a request refused for good."""
    return ApplicationError(message, type=error_type, non_retryable=True)
