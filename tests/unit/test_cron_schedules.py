"""spec.backup.schedule: what a Temporal Schedule reads and fires at least once a year.

Covers model.cron and where it is enforced: every expression the grammar
accepts (numbers, names in any case, *, ranges, steps, lists, the macros)
passes both the CRD's pattern and `schedule_problem`; out-of-range fields,
Temporal's unsupported `L`, `W`, `#` and `?`, a reversed range and a wrong
field count are refused naming the field; an expression that never fires
("0 0 31 2 *", and "0 2 30 2 1" under Temporal's AND of day-of-month and
day-of-week) or leaves more than 366 days without a fire time
("0 0 29 2 *") is refused saying so; the pattern never accepts what
`schedule_problem` refuses for its syntax; the model refuses the same at
spec.backup.schedule, and the admission rule names the field.
"""

from __future__ import annotations

import re
from typing import Any

import pydantic
import pytest

from model import cron
from model.crds import ScheduledBackups
from watcher import admission

ACCEPTED = [
    "0 2 * * *",
    "*/15 * * * *",
    "0/5 * * * *",
    "1-59/5 * * * *",
    "05 02 * * *",
    "0 2 1,15 * *",
    "0 2 */2 * *",
    "0 2 * * MON-FRI",
    "0 2 * * mon",
    "0 2 * * Sun",
    "0 2 * * 7",
    "0 2 * * 0-7",
    "0 2 * * 1-5/2",
    "0 2 * jan-mar *",
    "0 2 * JAN,JUL *",
    "0 2 1-7 * 1",  # the first Monday of each month (Temporal ANDs the two)
    "0 0 31 * *",
    "0 0 1 1 *",
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@hourly",
]

# (expression, what the refusal says)
REFUSED = [
    ("61 2 * * *", "the minute field '61' is not 0-59"),
    ("0 24 * * *", "the hour field '24' is not 0-23"),
    ("0 0 0 * *", "the day-of-month field '0' is not 1-31"),
    ("0 0 * 13 *", "the month field '13' is not 1-12 or JAN-DEC"),
    ("0 0 * * 8", "the day-of-week field '8' is not 0-7 or SUN-SAT"),
    ("0 2 L * *", "the day-of-month field 'L'"),
    ("0 2 LW * *", "the day-of-month field 'LW'"),
    ("0 2 ? * *", "the day-of-month field '?'"),
    ("0 2 * * 5L", "the day-of-week field '5L'"),
    ("0 2 * * 1#2", "the day-of-week field '1#2'"),
    ("5/0 * * * *", "the minute field '5/0'"),
    ("0 2 * * FOO", "the day-of-week field 'FOO'"),
    ("0 2 5-1 * *", "Bad day-of-month: a range a-b must not end before it starts"),
    ("0 2 * * sat-mon", "Bad day-of-week: a range a-b must not end before it starts"),
    ("0 2 * *", "is not a cron expression: five fields"),
    ("0 0 2 * * *", "is not a cron expression: five fields"),
    ("@every 1h", "is not a cron expression: five fields"),
    (" 0 2 * * *", "leading or trailing white space"),
    ("0 0 31 2 *", "never fires (no fire time in the next 366 days"),
    ("0 0 30 2 *", "never fires"),
    ("0 2 31 4,6,9,11 *", "never fires"),
    ("0 2 30 2 1", "never fires"),
    ("0 0 29 2 *", "leaves 1461 days without a backup (after Feb 29 of some years)"),
    ("0 0 1-7 1 1", "leaves 371 days without a backup"),
]


@pytest.mark.parametrize("expression", ACCEPTED)
def test_schedule_accepted_by_pattern_and_rules_when_temporal_reads_it(expression: str) -> None:
    assert re.fullmatch(cron.CRON_PATTERN, expression)
    assert cron.schedule_problem(expression) is None


@pytest.mark.parametrize(("expression", "says"), REFUSED)
def test_schedule_refused_naming_the_fault_when_it_cannot_schedule_backups(
    expression: str, says: str
) -> None:
    problem = cron.schedule_problem(expression)
    assert problem is not None
    assert says in problem
    assert problem.startswith(repr(expression))


@pytest.mark.parametrize(("expression", "says"), REFUSED)
def test_pattern_accepts_only_what_the_rules_read_when_given_a_refused_expression(
    expression: str, says: str
) -> None:
    # The CRD refuses the syntax; what it lets through, schedule_problem refuses
    # for what a pattern cannot see (a reversed range, a date that never comes).
    if re.fullmatch(cron.CRON_PATTERN, expression):
        assert "Bad " in says or "never fires" in says or "without a backup" in says


def _backup(schedule: str) -> dict[str, Any]:
    return {"schedule": schedule, "destination": {"bucket": "b", "endpoint": "http://s3:9000"}}


@pytest.mark.parametrize("expression", ["61 2 * * *", "0 0 31 2 *"])
def test_model_refuses_at_spec_backup_schedule_when_the_schedule_cannot_work(
    expression: str,
) -> None:
    with pytest.raises(pydantic.ValidationError) as refused:
        ScheduledBackups.model_validate(_backup(expression))
    (error,) = refused.value.errors()
    assert error["loc"] == ("schedule",)
    assert cron.schedule_problem(expression) in error["msg"]


@pytest.mark.parametrize("expression", ["61 2 * * *", "0 0 31 2 *", "0 0 29 2 *"])
def test_admission_refuses_naming_spec_backup_schedule_when_the_schedule_cannot_work(
    expression: str,
) -> None:
    body = {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooInstance",
        "metadata": {"name": "shop", "namespace": "ns"},
        "spec": {
            "adminPassword": "x",
            "ingress": {"hosts": ["a.example.com"]},
            "backup": _backup(expression),
        },
    }
    problems = admission.review_instance("CREATE", None, body)
    assert problems == [f"spec.backup.schedule: {cron.schedule_problem(expression)}"]
