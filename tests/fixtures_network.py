"""Fixtures for the IRVE network: the shipped real data imported once per session, and a
scratch database for tests that need the network tables to themselves."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator

import asyncpg
import msgspec
import pytest

from tests.conftest import BASE_URL, DATA, migrate_database
from wattsup.config import Settings
from wattsup.importer.engine import IMPORT_LOCK_KEY, ImportReport, import_file

SAMPLE_FILES = ("bornes-irve-2018-v1.csv", "exemple-valide-statique.csv", "irve-v2-defects.csv")


@pytest.fixture(scope="session")
async def imported_sample(settings: Settings, migrated_database: str) -> list[ImportReport]:
    """The real legacy v1 file, the official examples and the defects file, imported into the
    session's test database (in that order)."""
    reports = []
    for name in SAMPLE_FILES:
        report = await import_file(settings, DATA / name)
        assert report.status == "succeeded", report
        reports.append(report)
    return reports


@pytest.fixture(scope="session")
def scratch_settings(settings: Settings) -> Settings:
    """A second migrated database, for tests that withdraw or count the whole network."""
    name = settings.database_url.rsplit("/", 1)[1] + "_scratch"
    subprocess.run(
        [
            "psql",
            f"{BASE_URL}/postgres",
            "-q",
            "-c",
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        ],
        check=True,
    )
    migrate_database(f"{BASE_URL}/{name}")
    return msgspec.structs.replace(settings, database_url=f"{BASE_URL}/{name}")


@pytest.fixture
async def scratch(scratch_settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the scratch database, emptied of network data and jobs."""
    conn = await asyncpg.connect(scratch_settings.database_url)
    # An earlier test's import may still be finishing (its job row says "succeeded" while it
    # rebuilds the derived tile tables): truncating under it would deadlock that rebuild.
    await wait_import_idle(conn)
    await conn.execute(
        "TRUNCATE import_rejects, import_jobs, charge_points, stations, operators CASCADE"
    )
    yield conn
    await conn.close()


async def wait_import_idle(conn: asyncpg.Connection, within: float = 60) -> None:
    """Until no session of this database holds the import lock: every import, its tile
    rebuild after the commit included, has ended (a bigint advisory key shows in pg_locks as
    its high and low 32 bits, objsubid 1)."""
    deadline = time.monotonic() + within
    while await conn.fetchval(
        "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
        " AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
        IMPORT_LOCK_KEY,
    ):
        if time.monotonic() > deadline:
            raise AssertionError(f"an import still holds the lock after {within} s")
        await asyncio.sleep(0.05)
