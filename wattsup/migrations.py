"""Helpers for Alembic revisions: they apply the SQL files of sql/ rather than re-describing
the schema in Python, so the SQL a reviewer reads is the SQL that runs."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import sqlalchemy as sa

try:  # SQLAlchemy 2.1
    from sqlalchemy.util.concurrency import await_
except ImportError:  # SQLAlchemy 2.0
    from sqlalchemy.util import await_only as await_
from alembic import op

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
DATA_DIR = Path(__file__).resolve().parent / "data"


def run_sql_file(relative: str) -> None:
    """Execute one file of sql/ (relative to sql/) as a single batch."""
    path = SQL_DIR / relative
    if not path.exists():
        path = SQL_DIR / "schema" / relative
    sql = path.read_text(encoding="utf-8")
    # A file holds many statements: send it over asyncpg's simple-query protocol, as psql
    # would, rather than as one prepared statement (which takes a single command).
    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    await_(driver.execute(sql))


def load_communes() -> None:
    rows = []
    with gzip.open(DATA_DIR / "communes.csv.gz", "rt", encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            rows.append(
                (
                    r["code_insee"],
                    r["nom"],
                    r["type"],
                    r["departement"] or None,
                    r["region"] or None,
                    r["codes_postaux"],
                )
            )
    # Several rows can share a code (a delegated commune keeps its former code); the file is
    # sorted so that the current commune comes first and wins.
    stmt = sa.text(
        "INSERT INTO communes (code_insee, nom, type, departement, region, codes_postaux) "
        "SELECT a, b, c, d, e, coalesce(string_to_array(NULLIF(f, ''), ' '), '{}') "
        "FROM unnest(CAST(:a AS text[]), CAST(:b AS text[]), CAST(:c AS text[]), "
        "CAST(:d AS text[]), CAST(:e AS text[]), CAST(:f AS text[])) AS u(a, b, c, d, e, f) "
        "ON CONFLICT DO NOTHING"
    )
    bind = op.get_bind()
    for i in range(0, len(rows), 5000):
        chunk = rows[i : i + 5000]
        bind.execute(stmt, {k: [c[n] for c in chunk] for n, k in enumerate("abcdef")})
