"""Cron expressions as a Temporal Schedule reads them, and which ones may schedule backups.

Owns the grammar spec.backup.schedule accepts (`CRON_PATTERN`, written into
the CRD so the API server refuses out-of-range fields even without the
webhook) and `schedule_problem`, which the model, the admission webhook and
nothing else call: five fields (minute hour day-of-month month day-of-week)
of numbers in range, three-letter names (any case), `*`, ranges `a-b`, steps
`/n` and lists, or one of the macros; parsed by cronsim (a well-kept
parser); then the expression must fire at least once in every 366 days.

Temporal ANDs day-of-month and day-of-week when both are restricted (its
CalendarSpec; Vixie cron ORs them) and has no `L`, `W`, `#` or `?`
(it refuses `L` and `?`, and silently drops `#n`): the grammar leaves them
out, and the fire days are computed with Temporal's AND. Whether an
expression fires often enough is decided on a fixed 28-year cycle of the
Gregorian calendar (every weekday and leap-year alignment), never on the
wall clock, so the same spec is valid in a workflow replayed years later.

Must not: import anything but the standard library and cronsim, or read the
clock.
"""

from __future__ import annotations

import calendar
import functools
import itertools
import re
from collections.abc import Iterator
from datetime import date, datetime

from cronsim import CronSim, CronSimError

__all__ = ["CRON_PATTERN", "MAX_GAP_DAYS", "schedule_problem"]

MAX_GAP_DAYS = 366
"""A backup schedule fires at least once in any this many days ("0 0 31 2 *" and
"0 0 29 2 *" would leave the customer believing backups run)."""

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@hourly": "0 * * * *",
}
"""The macros Temporal accepts, as the five fields they stand for."""

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


def _any_case(name: str) -> str:
    return "".join(f"[{c}{c.lower()}]" for c in name)


def _field(values: str) -> str:
    item = rf"(\*|({values})(-({values}))?)(/0*[1-9][0-9]*)?"
    return rf"{item}(,{item})*"


# (name, values as a regex, what the message says they are)
_FIELDS = (
    ("minute", "0?[0-9]|[1-5][0-9]", "0-59"),
    ("hour", "0?[0-9]|1[0-9]|2[0-3]", "0-23"),
    ("day-of-month", "0?[1-9]|[12][0-9]|3[01]", "1-31"),
    ("month", "0?[1-9]|1[0-2]|" + "|".join(map(_any_case, _MONTHS)), "1-12 or JAN-DEC"),
    ("day-of-week", "0?[0-7]|" + "|".join(map(_any_case, _DAYS)), "0-7 or SUN-SAT"),
)
_FIELD_PATTERNS = tuple(re.compile(_field(values)) for _, values, _ in _FIELDS)

CRON_PATTERN = (
    r"^(@("
    + "|".join(m[1:] for m in MACROS)
    + r")|"
    + r"\s+".join(f"({_field(values)})" for _, values, _ in _FIELDS)
    + r")$"
)
"""spec.backup.schedule's syntax with each field's range (Go RE2, Rust regex and
Python re agree on it); schedule_problem says the rest."""

# 2001-2028 is a whole cycle of the Gregorian calendar between 1901 and 2099;
# one more year covers the gap across its end.
_CYCLE_START = date(2001, 1, 1)
_CYCLE_END = date(2030, 1, 1)
_MIDNIGHT = datetime(2001, 1, 1)


def schedule_problem(expression: str) -> str | None:
    """Why `expression` cannot schedule backups (None: it can). No field path:
    the caller names the field."""
    if expression != expression.strip():
        return f"{expression!r} has leading or trailing white space"
    fields = MACROS.get(expression, expression).split()
    if len(fields) != len(_FIELDS):
        return (
            f"{expression!r} is not a cron expression: five fields (minute hour "
            "day-of-month month day-of-week) or one of " + ", ".join(MACROS)
        )
    for text, (name, _, values), pattern in zip(fields, _FIELDS, _FIELD_PATTERNS, strict=True):
        if not pattern.fullmatch(text):
            return (
                f"{expression!r}: the {name} field {text!r} is not {values}, *, a range a-b, "
                "a step /n or a list of them"
            )
    minute, hour, days, months, weekdays = fields
    try:
        # One field at a time, the others '*': cronsim then says which one is wrong.
        CronSim(f"{minute} * * * *", _MIDNIGHT)
        CronSim(f"* {hour} * * *", _MIDNIGHT)
        day_set = CronSim(f"* * {days} * *", _MIDNIGHT).days
        month_set = CronSim(f"* * * {months} *", _MIDNIGHT).months
        weekday_set = CronSim(f"* * * * {weekdays}", _MIDNIGHT).weekdays
    except CronSimError as err:
        return f"{expression!r}: {err}: a range a-b must not end before it starts"
    gap = _longest_gap(frozenset(day_set), frozenset(month_set), frozenset(weekday_set))
    if gap is None:
        return (
            f"{expression!r} never fires (no fire time in the next {MAX_GAP_DAYS} days, nor "
            "ever: no date has its day-of-month, month and day-of-week, which Temporal "
            "requires together), so no backup would ever run"
        )
    days_without, after = gap
    if days_without > MAX_GAP_DAYS:
        return (
            f"{expression!r} leaves {days_without} days without a backup (after "
            f"{after.strftime('%b %d')} of some years): a backup schedule must fire at "
            f"least once every {MAX_GAP_DAYS} days"
        )
    return None


@functools.lru_cache(maxsize=256)
def _longest_gap(
    days: frozenset[object], months: frozenset[object], weekdays: frozenset[object]
) -> tuple[int, date] | None:
    """The longest run of days between two fire days, and the fire day it
    follows; None when no day fires. Without a day-of-week restriction only
    leap years matter: seven years (two of them leap) show every gap."""
    every_weekday = set(range(7)) <= (weekdays | ({0} if 7 in weekdays else set()))
    years = range(2026, 2033) if every_weekday else range(_CYCLE_START.year, _CYCLE_END.year)
    fired = list(_fire_days(years, days, months, weekdays))
    if not fired:
        return None
    if len(fired) == 1:
        return (date(years.stop, 1, 1) - date(years.start, 1, 1)).days, date.fromordinal(fired[0])
    gap, after = max((b - a, a) for a, b in itertools.pairwise(fired))
    return gap, date.fromordinal(after)


def _fire_days(
    years: range, days: frozenset[object], months: frozenset[object], weekdays: frozenset[object]
) -> Iterator[int]:
    """The ordinals of the days of `years` matching all three fields (Temporal's AND)."""
    month_list = sorted(m for m in months if isinstance(m, int))
    day_list = sorted(d for d in days if isinstance(d, int))
    for year in years:
        for month in month_list:
            first_weekday, length = calendar.monthrange(year, month)  # Monday = 0
            first = date(year, month, 1).toordinal()
            for day in day_list:
                if day > length:
                    break
                weekday = (first_weekday + day) % 7  # cron's: Sunday = 0 (or 7)
                if weekday in weekdays or (weekday == 0 and 7 in weekdays):
                    yield first + day - 1
