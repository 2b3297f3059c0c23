"""Fixtures for accounts: users created in SQL, clients signed in over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import bcrypt
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

PASSWORD = "correct horse battery staple"
_HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


async def create_user(  # type: ignore[no-untyped-def]
    pool, *, role: str = "driver", email: str | None = None, password: str = PASSWORD
) -> dict[str, Any]:
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.org"
    hashed = (
        _HASH
        if password == PASSWORD
        else bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    )
    user_id = await pool.fetchval(
        "INSERT INTO users (email, password_hash, role, first_name, last_name) "
        "VALUES ($1, $2, $3, 'Test', 'User') RETURNING id",
        email,
        hashed,
        role,
    )
    return {"id": user_id, "email": email, "password": password, "role": role}


async def sign_in(client: AsyncTestClient[Litestar], email: str, password: str) -> None:
    """Log in, then send the CSRF header on every later request, as the pages do."""
    r = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = client.cookies["wattsup_csrf"]


async def _signed_in(
    settings: Any, pool: Any, role: str
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    from api.app import create_app

    user = await create_user(pool, role=role)
    # An app per client: each test client runs the app's lifespan (its own pool) in its own
    # event loop, so two clients must not share one app.
    async with AsyncTestClient(app=create_app(settings)) as client:
        await sign_in(client, user["email"], user["password"])
        client.user = user  # type: ignore[attr-defined]
        yield client


@pytest.fixture
async def driver_client(settings, pool) -> AsyncIterator[AsyncTestClient[Litestar]]:  # type: ignore[no-untyped-def]
    async for client in _signed_in(settings, pool, "driver"):
        yield client


@pytest.fixture
async def admin_client(settings, pool) -> AsyncIterator[AsyncTestClient[Litestar]]:  # type: ignore[no-untyped-def]
    async for client in _signed_in(settings, pool, "admin"):
        yield client
