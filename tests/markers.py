"""The marker table of the fault matrix: rows written before an operation, read after it.

`write_marker` creates `x_marker` with `rows` rows whose content depends on
`seed`, so two databases filled with different seeds are told apart;
`marker` reads (count, md5 checksum) back. The matrix asserts that the live
database's marker is exactly what it was before a failed operation.
"""

from __future__ import annotations

from typing import Any

import psycopg

Marker = tuple[int, str]


def write_marker(conn: psycopg.Connection[Any], rows: int = 200, seed: str = "live") -> Marker:
    conn.execute("CREATE TABLE IF NOT EXISTS x_marker (id int PRIMARY KEY, value text NOT NULL)")
    conn.execute(
        "INSERT INTO x_marker (id, value) SELECT g, md5(%s || g) FROM generate_series(1, %s) g",
        (seed, rows),
    )
    return marker(conn)


def marker(conn: psycopg.Connection[Any]) -> Marker:
    row = conn.execute(
        "SELECT count(*), coalesce(md5(string_agg(id || ':' || value, ',' ORDER BY id)), '')"
        " FROM x_marker"
    ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])
