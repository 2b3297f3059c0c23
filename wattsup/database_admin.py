"""Create the database if it is missing and bring its schema to head (the prestart step)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import asyncpg
from alembic import command
from alembic.config import Config

from wattsup.config import Settings

ROOT = Path(__file__).resolve().parent.parent


async def wait_for_database(url: str, wait_seconds: float = 60.0) -> None:
    """Wait until PostgreSQL accepts connections (compose starts us beside it)."""
    deadline = time.monotonic() + wait_seconds
    maintenance = urlunparse(urlparse(url)._replace(path="/postgres"))
    while True:
        try:
            conn = await asyncpg.connect(maintenance, timeout=5)
            await conn.close()
            return
        except (OSError, asyncpg.PostgresError) as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL not reachable at {maintenance}: {exc}") from exc
            await asyncio.sleep(1)


async def ensure_database(url: str) -> bool:
    """CREATE DATABASE if needed; returns True when it was created."""
    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    maintenance = urlunparse(parsed._replace(path="/postgres"))
    conn = await asyncpg.connect(maintenance, timeout=10)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        quoted = '"' + name.replace('"', '""') + '"'
        await conn.execute(f"CREATE DATABASE {quoted}")
        return True
    finally:
        await conn.close()


def alembic_config(database_url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = database_url
    return cfg


def migrate(settings: Settings, revision: str = "head") -> None:
    asyncio.run(wait_for_database(settings.database_url))
    asyncio.run(ensure_database(settings.database_url))
    command.upgrade(alembic_config(settings.database_url), revision)


def downgrade(settings: Settings, revision: str) -> None:
    command.downgrade(alembic_config(settings.database_url), revision)
