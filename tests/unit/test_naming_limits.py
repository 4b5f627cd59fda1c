"""Every name derived from an instance fits where it goes.

Covers, table-driven, each derived name at its limit (unchanged) and one past
it (shortened deterministically to the limit, or refused with a message
naming the derived object): the PostgreSQL role `odoo.<ns>.<name>` (63
bytes), the cron Deployment `<name>-cron` (63, its app label), a batch Job
`<resource>-<kind>` (63, the job-name label), the instance name itself (its
Service: a DNS-1035 label of 63) and spec.database.name (63 bytes); plus the
shortening rule (stable, distinct for distinct inputs, still a DNS label).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from model import naming
from watcher import admission

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

# (derived name, builder of the derived name from a length n, limit)
SHORTENED: list[tuple[str, Callable[[int], str], int, int]] = [
    # name, build(n) -> derived, the n that lands exactly on the limit, limit
    ("role odoo.<ns>.<name>", lambda n: naming.role_name("longname", "x" * n), 63 - 14, 63),
    ("cron Deployment <name>-cron", lambda n: naming.cron_deployment_name("c" * n), 58, 63),
    ("batch Job <resource>-init", lambda n: naming.batch_job_name("j" * n, "init"), 58, 63),
    (
        "auto-init batch Job",
        lambda n: naming.batch_job_name(naming.auto_init_job_name("a" * n), "init"),
        63 - len("-auto-init-init"),
        63,
    ),
]


@pytest.mark.parametrize(
    ("build", "at_limit", "limit"),
    [pytest.param(b, n, lim, id=what) for what, b, n, lim in SHORTENED],
)
def test_derived_name_kept_at_limit_and_shortened_one_past(
    build: Callable[[int], str], at_limit: int, limit: int
) -> None:
    exact = build(at_limit)
    assert len(exact.encode()) == limit
    assert "-" not in exact[-9:] or not re.search(r"-[0-9a-f]{8}$", exact[-9:])
    past = build(at_limit + 1)
    assert len(past.encode()) == limit
    assert re.search(r"-[0-9a-f]{8}$", past)
    assert build(at_limit + 1) == past  # deterministic
    assert build(at_limit + 2) != past  # distinct inputs stay distinct


def test_role_of_fifty_character_name_in_namespace_longname_fits_postgres() -> None:
    role = naming.role_name("longname", "x" * 50)
    assert len(role.encode()) <= naming.POSTGRES_IDENTIFIER_MAX
    assert role.startswith("odoo.longname.xxxx")


def test_shortened_name_stays_a_dns_label_when_cut_at_a_dash() -> None:
    value = "a" * 53 + "-" * 10 + "b"
    short = naming.shorten(value, 63)
    assert _DNS_LABEL.match(short)
    assert len(short) <= 63


def test_name_unchanged_when_it_fits() -> None:
    assert naming.cron_deployment_name("shop") == "shop-cron"
    assert naming.role_name("ns", "shop") == "odoo.ns.shop"
    assert naming.batch_job_name("shop-auto-init", "init") == "shop-auto-init-init"


@pytest.mark.parametrize(
    ("name", "refused"),
    [
        ("n" * 63, False),
        ("n" * 64, True),
        ("shop", False),
        ("shop.eu", True),
        ("1shop", True),
        ("shop-", True),
    ],
    ids=["63-at-limit", "64-past-limit", "plain", "dot", "leading-digit", "trailing-dash"],
)
def test_instance_name_refused_naming_its_service_when_it_cannot_name_one(
    name: str, refused: bool
) -> None:
    problems = naming.instance_name_problems(name)
    assert bool(problems) is refused
    if refused:
        assert "Service" in problems[0]


@pytest.mark.parametrize(
    ("database", "refused"),
    [("d" * 63, False), ("d" * 64, True), ("é" * 31, False), ("é" * 32, True)],
    ids=["63-bytes", "64-bytes", "62-bytes-utf8", "64-bytes-utf8"],
)
def test_database_name_refused_at_admission_when_over_63_bytes(
    database: str, refused: bool
) -> None:
    body = {
        "kind": "OdooInstance",
        "metadata": {"name": "shop", "namespace": "ns"},
        "spec": {"database": {"name": database}},
    }
    problems = admission.review_instance("CREATE", None, body)
    assert any("PostgreSQL names are at most 63 bytes" in p for p in problems) is refused
