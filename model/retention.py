"""Which scheduled backups to keep: grandfather-father-son retention, as a pure function.

Owns the rule of spec.backup.retention: keep the newest `keep_last`
backups, plus the newest backup of each of the last `daily` days, `weekly`
ISO weeks and `monthly` calendar months that have one (UTC), and nothing
else. Periods without a backup do not count (as restic's --keep-daily and
Odoo.sh's 7 daily / 4 weekly / 3 monthly). No clock: the times are the
backups' own, so the same list always gives the same answer.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["Backup", "Policy", "retained"]


@dataclass(frozen=True)
class Backup:
    name: str
    taken_at: datetime


@dataclass(frozen=True)
class Policy:
    keep_last: int = 7
    daily: int = 0
    weekly: int = 0
    monthly: int = 0


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _newest_per_period(
    newest_first: Sequence[Backup], count: int, period: Callable[[datetime], Hashable]
) -> set[str]:
    kept: set[str] = set()
    seen: set[Hashable] = set()
    for backup in newest_first:
        if len(seen) >= count:
            break
        key = period(_utc(backup.taken_at))
        if key not in seen:
            seen.add(key)
            kept.add(backup.name)
    return kept


def retained(backups: Iterable[Backup], policy: Policy) -> set[str]:
    """The names to keep; every other backup may be deleted."""
    newest_first = sorted(backups, key=lambda b: (_utc(b.taken_at), b.name), reverse=True)
    kept = {b.name for b in newest_first[: max(policy.keep_last, 0)]}
    kept |= _newest_per_period(newest_first, policy.daily, lambda t: t.date())
    kept |= _newest_per_period(newest_first, policy.weekly, lambda t: t.isocalendar()[:2])
    kept |= _newest_per_period(newest_first, policy.monthly, lambda t: (t.year, t.month))
    return kept
