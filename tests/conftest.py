"""Shared fixtures: a real PostGIS database migrated once per session, a real Redis, and the
two apps under Litestar's AsyncTestClient. Area-specific fixtures live in tests/fixtures_*.py
(listed in `pytest_plugins` below) so that each area can grow its own factories."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from litestar import Litestar
from litestar.testing import AsyncTestClient

from wattsup.config import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"

TEST_DB = os.environ.get("WATTSUP_TEST_DB", "wattsup_test")
BASE_URL = os.environ.get("WATTSUP_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
TEST_REDIS = os.environ.get("WATTSUP_TEST_REDIS", "redis://127.0.0.1:6379/15")

pytest_plugins = [
    "tests.fixtures_network",
    "tests.fixtures_accounts",
    "tests.fixtures_tiles",
    "tests.fixtures_reservations",
    "tests.fixtures_hardening",
]


def make_test_env() -> dict[str, str]:
    """Environment for the test processes and any server a test starts."""
    return {
        **os.environ,
        "DATABASE_URL": f"{BASE_URL}/{TEST_DB}",
        "REDIS_URL": TEST_REDIS,
        "WATTSUP_ENV": "test",
        "WATTSUP_BCRYPT_ROUNDS": "4",
        # Every test client comes from one address: per-IP limits would trip across tests.
        "WATTSUP_RATE_LIMIT_LOGIN_IP": "100000",
        "WATTSUP_RATE_LIMIT_REGISTER_IP": "100000",
        "WATTSUP_SIM_SPEED": os.environ.get("WATTSUP_SIM_SPEED", "600"),
        # Production gives up on a Redis call after 0.25 s (the rate limiter then fails
        # closed). This VM stalls for longer now and then under the suite's load, which made a
        # login 503 at random; the tests of a Redis outage kill it (refused at once), they
        # never rely on the timeout.
        "WATTSUP_REDIS_TIMEOUT": "2",
    }


def migrate_database(database_url: str, *args: str) -> None:
    """`wattsup migrate [args]` on that database, as a user runs it (a child process)."""
    subprocess.run(
        [sys.executable, "-m", "wattsup.cli", "migrate", *args],
        check=True,
        env={**make_test_env(), "DATABASE_URL": database_url},
        cwd=ROOT,
        capture_output=True,
    )


@pytest.fixture(scope="session")
def settings() -> Settings:
    env = make_test_env()
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "WATTSUP_ENV")})
    return load_settings(env)


@pytest.fixture(scope="session", autouse=True)
def migrated_database(settings: Settings) -> Iterator[str]:
    """Drop and re-create the test database, then `wattsup migrate` it, as a user would."""
    subprocess.run(
        [
            "psql",
            f"{BASE_URL}/postgres",
            "-q",
            "-c",
            f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)',
        ],
        check=True,
    )
    migrate_database(settings.database_url)
    # A fresh database restarts data versions at 1: drop the cache entries of earlier runs.
    import redis

    redis.Redis.from_url(TEST_REDIS).flushdb()
    yield settings.database_url


@pytest.fixture(scope="session")
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    from wattsup.db import create_pool

    p = await create_pool(settings)
    yield p
    await p.close()


@pytest.fixture(scope="session")
async def redis_client(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(settings.redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def api_app(settings: Settings) -> Litestar:
    from api.app import create_app

    return create_app(settings)


@pytest.fixture(scope="session")
def tile_app(settings: Settings) -> Litestar:
    from tileserver.app import create_app

    return create_app(settings)


# Each test client runs the app's lifespan (its pool) in its own event loop: one app per client.
@pytest.fixture
async def api_client(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    from api.app import create_app

    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


@pytest.fixture
async def tile_client(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    from tileserver.app import create_app

    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client
