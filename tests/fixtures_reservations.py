"""Fixtures for reservations: points held by open bookings, taken straight in SQL."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

import asyncpg


async def hold_points(conn: asyncpg.Connection, points: Iterable[UUID]) -> list[UUID]:
    """Each point held by an open booking (status reserved) of a driver of its own (0004: one
    open booking per point and per driver). A booking is the only thing that moves a
    connector off Available (the guard of migration 0028), so this is how a test makes a
    point busy. Returns the bookings, for release_points."""
    held = []
    for point in points:
        user = await conn.fetchval(
            "INSERT INTO users (email, password_hash) "
            "VALUES ('hold-' || gen_random_uuid() || '@example.org', 'x') RETURNING id"
        )
        held.append(
            await conn.fetchval(
                "INSERT INTO reservations (user_id, charge_point_id, expires_at, sim_speed) "
                "VALUES ($1, $2, now() + interval '30 minutes', 1) RETURNING id",
                user,
                point,
            )
        )
    return held


async def release_points(conn: asyncpg.Connection, bookings: list[UUID]) -> None:
    """The bookings of hold_points cancelled (their points Available again), then gone with
    their drivers, so that no other test counts them."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE reservations SET status = 'cancelled', ended_at = now() "
            "WHERE id = ANY($1::uuid[]) AND status = 'reserved'",
            bookings,
        )
        users = await conn.fetch(
            "DELETE FROM reservations WHERE id = ANY($1::uuid[]) RETURNING user_id", bookings
        )
        await conn.execute(
            "DELETE FROM users WHERE id = ANY($1::uuid[])", [u["user_id"] for u in users]
        )
