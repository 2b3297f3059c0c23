"""The one error shape for what the database client raises when the server goes away."""

from __future__ import annotations

import asyncpg
import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from wattsup.problems import exception_handlers


def _app(exc: Exception) -> Litestar:
    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise exc

    return Litestar([boom], exception_handlers=exception_handlers())


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        # A restart or failover seen mid-query, and the transaction's end on the dead socket.
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), 503),
        (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), 503),
        (
            asyncpg.InterfaceError(
                "cannot call Transaction.__aexit__(): the underlying connection is closed"
            ),
            503,
        ),
        # Any other client-side misuse is our bug, not an outage.
        (asyncpg.InterfaceError("cannot perform operation: another operation is in progress"), 500),
    ],
)
async def test_database_going_away_is_a_503(exc: Exception, status: int) -> None:
    async with AsyncTestClient(app=_app(exc)) as client:
        r = await client.get("/boom")
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    if status == 503:
        assert r.headers["retry-after"] and r.json()["code"]
