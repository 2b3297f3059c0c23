"""The foundation: configuration validation, migrations both ways, health, error shape."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, make_test_env, migrate_database
from wattsup.config import ConfigError, load_settings


def test_defaults_are_the_documented_ones() -> None:
    s = load_settings({})
    assert s.database_url == "postgresql://postgres@127.0.0.1:5432/wattsup"
    assert s.redis_url == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"PORT": "eighty"}, "PORT"),
        ({"WATTSUP_COOKIE_SECURE": "maybe"}, "WATTSUP_COOKIE_SECURE"),
        ({"WATTSUP_ENV": "production"}, "WATTSUP_SECRET_KEY"),
        ({"WATTSUP_ENV": "production", "WATTSUP_SECRET_KEY": "changeme"}, "WATTSUP_SECRET_KEY"),
    ],
)
def test_bad_configuration_is_refused_with_the_variable_named(
    env: dict[str, str], needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_settings(env)


def test_cli_reports_configuration_errors_clearly() -> None:
    env = {**make_test_env(), "DATABASE_URL": "nope"}
    out = subprocess.run(
        [sys.executable, "-m", "wattsup.cli", "stats"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "DATABASE_URL" in out.stderr


async def test_schema_has_postgis_and_a_gist_index(pool) -> None:  # type: ignore[no-untyped-def]
    assert await pool.fetchval("SELECT extversion FROM pg_extension WHERE extname='postgis'")
    idx = await pool.fetchval(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'stations_geom_gist'"
    )
    assert "gist" in idx.lower()
    assert await pool.fetchval("SELECT count(*) FROM communes") > 35000


async def test_only_one_running_import_is_possible(pool) -> None:  # type: ignore[no-untyped-def]
    import asyncpg

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback):
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO import_jobs (file_name) VALUES ('a.csv')")
            with pytest.raises(asyncpg.UniqueViolationError):
                async with conn.transaction():
                    await conn.execute("INSERT INTO import_jobs (file_name) VALUES ('b.csv')")
            raise Rollback


async def test_health_reports_database_and_redis(api_client, tile_client) -> None:  # type: ignore[no-untyped-def]
    for client in (api_client, tile_client):
        r = await client.get("/health")
        assert r.status_code == 200
        body = r.json()
        assert body["checks"]["database"]["ok"] is True
        assert body["checks"]["redis"]["ok"] is True


async def test_unknown_route_answers_problem_json(api_client) -> None:  # type: ignore[no-untyped-def]
    r = await api_client.get("/api/nope")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "not_found"


def test_migrations_downgrade_to_base_and_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Every migration has a working downgrade: run them all down and up on a scratch DB."""
    env = make_test_env()
    env["DATABASE_URL"] = env["DATABASE_URL"] + "_updown"
    base = env["DATABASE_URL"].rsplit("/", 1)[0]
    name = env["DATABASE_URL"].rsplit("/", 1)[1]
    subprocess.run(
        ["psql", f"{base}/postgres", "-q", "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
        check=True,
    )
    migrate_database(env["DATABASE_URL"])
    migrate_database(env["DATABASE_URL"], "--downgrade", "base")
    migrate_database(env["DATABASE_URL"])
    subprocess.run(
        ["psql", f"{base}/postgres", "-q", "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
        check=True,
    )
