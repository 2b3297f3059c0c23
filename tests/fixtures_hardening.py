"""Fixtures for the hardening tests: a database of their own (fuzzing writes junk, fault
injection kills connections: neither may touch the session's database or its pool), a Redis
database of their own, and a private redis-server that a test can stop and start."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import msgspec
import pytest
import redis

from tests.conftest import BASE_URL, DATA, ROOT, TEST_DB, TEST_REDIS, make_test_env
from tests.fixtures_network import SAMPLE_FILES
from wattsup.config import Settings

HARD_DB = f"{TEST_DB}_hard"
# Tile cache keys carry the data version, not the database: another database needs another
# Redis database, or two databases at the same version would share tiles.
HARD_REDIS = TEST_REDIS.rsplit("/", 1)[0] + "/14"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def hard_database(settings: Settings, migrated_database: str) -> Settings:
    """A freshly migrated database of the hardening tests' own, and its settings."""
    subprocess.run(
        [
            "psql",
            f"{BASE_URL}/postgres",
            "-q",
            "-c",
            f'DROP DATABASE IF EXISTS "{HARD_DB}" WITH (FORCE)',
        ],
        check=True,
    )
    env = {**make_test_env(), "DATABASE_URL": f"{BASE_URL}/{HARD_DB}"}
    subprocess.run(
        [sys.executable, "-m", "wattsup.cli", "migrate"],
        check=True,
        env=env,
        cwd=ROOT,
        capture_output=True,
    )
    redis.Redis.from_url(HARD_REDIS).flushdb()
    return msgspec.structs.replace(
        settings, database_url=f"{BASE_URL}/{HARD_DB}", redis_url=HARD_REDIS
    )


@pytest.fixture(scope="session")
async def hard_settings(hard_database: Settings) -> Settings:
    """The hardening database with the shipped sample imported, for fuzzing and faults."""
    from wattsup.importer.engine import import_file

    for name in SAMPLE_FILES:
        report = await import_file(hard_database, DATA / name)
        assert report.status == "succeeded", report
    return hard_database


@pytest.fixture(scope="session")
async def hard_pool(hard_settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """The tests' own pool on the hardening database. Its connections do not carry the
    application_name 'wattsup', so terminating the app's backends leaves them alone."""
    pool = await asyncpg.create_pool(hard_settings.database_url, min_size=1, max_size=4)
    assert pool is not None
    yield pool
    await pool.close()


class PrivateRedis:
    """A redis-server of our own on a free port, that a test may stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="wattsup-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.proc is None
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis(port=self.port, socket_timeout=0.5).ping():
                    return
            except redis.RedisError:
                pass
            assert time.monotonic() < deadline, "private redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGKILL, as a crash would: no goodbye to the clients."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


async def wait_for(predicate, within: float = 10.0, every: float = 0.05) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(every)
