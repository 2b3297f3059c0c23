"""asyncpg connections and pools with the project's session settings, and nothing of the web
framework: what the CLI and the importer need, so `wattsup import` does not pay for importing
Litestar (~0.2 s of its start-up). wattsup.db re-exports these next to the Litestar dependency.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from wattsup.config import Settings

# No JIT: our queries are short, and the planner's default row guesses for set-returning
# functions (1,000 rows each, e.g. generate_series in tiles.tiles_of_station) push small
# queries past jit_above_cost, where compiling costs ~300 ms for a query that runs in 1 ms.
SERVER_SETTINGS = {"application_name": "wattsup", "jit": "off"}


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb/json come back as Python objects and go in from them, everywhere.
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool reset: nothing beyond asyncpg's own (roll back an open transaction, drop Python-side
    listeners). The default also runs `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL` on every release, one more round trip per request; pooled connections never
    hold session state (LISTEN, session advisory locks and the like run on dedicated
    connections from `connect`, and nothing runs a session-level SET), so it has nothing to
    undo."""


async def create_pool(settings: Settings, **overrides: Any) -> asyncpg.Pool:
    options: dict[str, Any] = {
        "min_size": settings.db_pool_min,
        "max_size": settings.db_pool_max,
        "init": _init_connection,
        "reset": _keep_session,
        # Fail fast when the database is unreachable: a request should get a 503, not hang.
        "timeout": 5,
        "command_timeout": 30,
        "server_settings": dict(SERVER_SETTINGS),
    }
    options.update(overrides)
    pool: asyncpg.Pool = await asyncpg.create_pool(settings.database_url, **options)
    return pool


async def connect(settings: Settings) -> asyncpg.Connection:
    """A single connection, for the CLI and long-running jobs that hold locks."""
    conn: asyncpg.Connection = await asyncpg.connect(
        settings.database_url, timeout=10, server_settings=dict(SERVER_SETTINGS)
    )
    await _init_connection(conn)
    return conn
