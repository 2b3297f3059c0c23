"""PostgreSQL plumbing shared by both apps and the CLI: one asyncpg pool per process.

Connections and pools come from wattsup.pg (no web framework: the CLI and the importer use
it directly); this module adds the Litestar dependency. The pool is created in the app's
lifespan and handed to handlers as `db_connection`; a handler for a state-changing request
runs inside one transaction (see `provide_connection`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import asyncpg
from litestar import Request
from litestar.datastructures import State

from wattsup.pg import SERVER_SETTINGS as SERVER_SETTINGS
from wattsup.pg import connect as connect
from wattsup.pg import create_pool as create_pool

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def provide_connection(
    state: State, request: Request[Any, Any, Any]
) -> AsyncGenerator[asyncpg.Connection, None]:
    """Litestar dependency `db_connection`: a pooled connection, transactional for writes."""
    pool: asyncpg.Pool = state.pool
    # The pool hands out a proxy that behaves as a Connection; typed as one for handlers.
    conn: asyncpg.Connection
    async with pool.acquire() as conn:  # type: ignore[assignment]
        # Handlers that commit on their own (opt "own_transactions") get a plain connection:
        # what they do after their commit (dropping cached tiles) must see it committed.
        if request.method in SAFE_METHODS or request.route_handler.opt.get("own_transactions"):
            yield conn
        else:
            async with conn.transaction():
                yield conn
