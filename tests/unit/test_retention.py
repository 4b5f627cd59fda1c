"""spec.backup.retention as a pure rule (model.retention).

Covers: keepLast alone; daily, weekly (ISO weeks) and monthly keep the newest
backup of each of the last N periods that have one (empty periods do not
count); the union of the rules; several backups a day; the Odoo.sh policy
(7 daily, 4 weekly, 3 monthly) over 100 days of daily backups, checked
against a hand-written expectation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from model.retention import Backup, Policy, retained


def daily_backups(first: datetime, days: int) -> list[Backup]:
    return [
        Backup(f"b{(first + timedelta(days=n)):%Y%m%d}", first + timedelta(days=n))
        for n in range(days)
    ]


def test_keep_last_keeps_the_newest_n_whatever_their_age() -> None:
    backups = daily_backups(datetime(2026, 3, 1, 2, tzinfo=UTC), 10)
    assert retained(backups, Policy(keep_last=3)) == {"b20260308", "b20260309", "b20260310"}
    assert retained(backups, Policy(keep_last=0)) == set()


def test_daily_counts_days_that_have_a_backup_and_keeps_the_newest_of_each() -> None:
    day = datetime(2026, 3, 2, tzinfo=UTC)
    backups = [
        Backup("mon-early", day + timedelta(hours=1)),
        Backup("mon-late", day + timedelta(hours=23)),
        # no backup on Tuesday
        Backup("wed", day + timedelta(days=2, hours=3)),
        Backup("thu", day + timedelta(days=3, hours=3)),
    ]
    assert retained(backups, Policy(keep_last=0, daily=3)) == {"thu", "wed", "mon-late"}


def test_weekly_and_monthly_keep_the_newest_of_each_period() -> None:
    backups = daily_backups(datetime(2026, 1, 1, 2, tzinfo=UTC), 70)  # Jan 1 .. Mar 11
    # ISO weeks: 2026-03-09 is a Monday, 2026-03-08 a Sunday.
    assert retained(backups, Policy(keep_last=0, weekly=3)) == {
        "b20260311",
        "b20260308",
        "b20260301",
    }
    assert retained(backups, Policy(keep_last=0, monthly=3)) == {
        "b20260311",
        "b20260228",
        "b20260131",
    }


def test_odoo_sh_policy_over_100_days() -> None:
    backups = daily_backups(datetime(2026, 1, 1, 2, tzinfo=UTC), 100)  # Jan 1 .. Apr 10
    kept = retained(backups, Policy(keep_last=0, daily=7, weekly=4, monthly=3))
    assert kept == {
        # 7 daily: Apr 4 .. Apr 10
        *(f"b202604{d:02d}" for d in range(4, 11)),
        # 4 weekly (Sundays end ISO weeks): Apr 10 (week 15), Apr 5, Mar 29, Mar 22
        "b20260329",
        "b20260322",
        # 3 monthly: Apr 10, Mar 31, Feb 28
        "b20260331",
        "b20260228",
    }


def test_rules_add_up_and_naive_times_are_utc() -> None:
    backups = [Backup(f"n{n}", datetime(2026, 5, 1) + timedelta(days=n)) for n in range(40)]
    kept = retained(backups, Policy(keep_last=2, daily=3, monthly=2))
    assert kept == {"n39", "n38", "n37", "n30"}
