"""How an activity's errors reach Temporal (activities.failures.boundary).

Covers: what the user wrote wrong (a ConfigProblem, a 422) and an instance gone
are non-retryable and BENIGN (the worker logs them at DEBUG, without a
traceback: the status and an Event tell the user); a permanent API refusal
(403) is non-retryable and logged as an error; a passing outage is retryable.
"""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities import failures
from model import failures as failure_types

BENIGN = ApplicationErrorCategory.BENIGN
LOGGED = ApplicationErrorCategory.UNSPECIFIED


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            failures.ConfigProblem("spec.source.s3: no such key"),
            (failure_types.CONFIG_INVALID, True, BENIGN),
        ),
        (
            failures.Invalid("PATCH x: 422", status=422),
            (failure_types.CONFIG_INVALID, True, BENIGN),
        ),
        (failures.InstanceGone("gone"), (failure_types.INSTANCE_GONE, True, BENIGN)),
        (failures.ApiError("GET x: 403", status=403), (failure_types.API_REJECTED, True, LOGGED)),
        (failures.Unavailable("GET x: 503", status=503), ("Unavailable", False, LOGGED)),
    ],
)
def test_an_activity_error_is_typed_and_logged_as_it_deserves(
    error: Exception, expected: tuple[str, bool, ApplicationErrorCategory]
) -> None:
    with pytest.raises(ApplicationError) as raised, failures.boundary():
        raise error
    assert (raised.value.type, raised.value.non_retryable, raised.value.category) == expected
