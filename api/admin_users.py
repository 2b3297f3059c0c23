"""/api/admin/users: find, inspect, promote, disable and delete accounts."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from litestar import Controller, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from api.auth import new_account_email, queue_password_link
from api.schemas.accounts import VehicleRead
from api.schemas.admin import (
    AdminUser,
    AdminUserDetail,
    UserCreate,
    UserPage,
    UserReservation,
    UserUpdate,
)
from api.security import CurrentUser, require_admin
from api.vehicles import COLUMNS as VEHICLE_COLUMNS
from wattsup import tile_cache
from wattsup.problems import Problem

USER_COLUMNS = (
    "id, email, first_name, last_name, role, disabled_at IS NOT NULL AS disabled, "
    "deleted_at IS NOT NULL AS deleted, created_at"
)


def _not_found() -> Problem:
    return Problem(404, "user_not_found", "Utilisateur introuvable.")


async def _lock_other_user(
    conn: asyncpg.Connection, current_user: CurrentUser, user_id: UUID, verb: str
) -> None:
    """Lock a live account that is not the caller's (an admin cannot lock themself out)."""
    if user_id == current_user.id:
        raise Problem(
            409, "cannot_modify_self", f"Vous ne pouvez pas {verb} votre propre compte ici."
        )
    exists = await conn.fetchval(
        "SELECT deleted_at IS NULL FROM users WHERE id = $1 FOR UPDATE", user_id
    )
    if not exists:
        raise _not_found()


async def erase_user(conn: asyncpg.Connection, user_id: UUID) -> list[UUID]:
    """GDPR erasure: personal data goes, the booking history stays on an anonymous row, and
    every session dies (token_version bump + refresh sessions deleted). An open booking would
    outlive its driver: it is cancelled (the point is free again). Returns the stations whose
    availability changed, for the caller to drop their cached tiles after its commit."""
    cancelled = await conn.fetch(
        "SELECT cp.station_id, cancel_reservations_for_point(cp.id, 'account_deleted') "
        "FROM reservations r JOIN charge_points cp ON cp.id = r.charge_point_id "
        "WHERE r.user_id = $1 AND r.status = 'reserved'",
        user_id,
    )
    await conn.execute("DELETE FROM filter_profiles WHERE user_id = $1", user_id)
    await conn.execute("DELETE FROM vehicles WHERE user_id = $1", user_id)
    await conn.execute(
        "UPDATE users SET email = 'deleted-' || id || '@invalid', first_name = NULL, "
        "last_name = NULL, password_hash = '!', deleted_at = now(), "
        "token_version = token_version + 1 WHERE id = $1",
        user_id,
    )
    await conn.execute("DELETE FROM auth_sessions WHERE user_id = $1", user_id)
    return [r["station_id"] for r in cancelled]


class AdminUserController(Controller):
    path = "/api/admin/users"
    tags = ["admin: users"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [require_admin]  # noqa: RUF012

    @get("/", summary="Users (paged, searchable by email or name)")
    async def list_users(
        self,
        db_connection: asyncpg.Connection,
        q: str | None = Parameter(default=None, max_length=200),
        role: str | None = Parameter(default=None, pattern="^(driver|admin)$"),
        disabled: bool | None = None,
        page: int = Parameter(default=1, ge=1, le=100_000),
        per_page: int = Parameter(default=50, ge=1, le=200),
    ) -> UserPage:
        where = ["deleted_at IS NULL"]
        args: list[Any] = []
        if q and q.strip():
            args.append(f"%{q.strip()}%")
            n = len(args)
            where.append(
                f"(email ILIKE ${n} OR unaccent(coalesce(first_name, '') || ' ' || "
                f"coalesce(last_name, '')) ILIKE unaccent(${n}))"
            )
        if role:
            args.append(role)
            where.append(f"role = ${len(args)}")
        if disabled is not None:
            where.append("disabled_at IS NOT NULL" if disabled else "disabled_at IS NULL")
        clause = " AND ".join(where)
        total = await db_connection.fetchval(f"SELECT count(*) FROM users WHERE {clause}", *args)
        rows = await db_connection.fetch(
            f"SELECT {USER_COLUMNS} FROM users WHERE {clause} ORDER BY created_at DESC, id "
            f"LIMIT {per_page} OFFSET {(page - 1) * per_page}",
            *args,
        )
        return UserPage(
            items=[AdminUser(**dict(r)) for r in rows], total=total, page=page, per_page=per_page
        )

    @post(
        "/", status_code=HTTP_201_CREATED, summary="Open an account (its owner sets the password)"
    )
    async def create_user(
        self, db_connection: asyncpg.Connection, data: JSONBody[UserCreate]
    ) -> AdminUser:
        email = new_account_email(data.email)
        async with db_connection.transaction():
            try:
                # '!' is no bcrypt hash (as an erased account's, erase_user above): nobody can
                # sign in until the owner sets a password through the link mailed below.
                row = await db_connection.fetchrow(
                    "INSERT INTO users (email, password_hash, first_name, last_name, role) "
                    f"VALUES ($1, '!', $2, $3, $4) RETURNING {USER_COLUMNS}",
                    email,
                    (data.first_name or "").strip() or None,
                    (data.last_name or "").strip() or None,
                    data.role,
                )
            except asyncpg.UniqueViolationError:
                raise Problem(
                    409,
                    "email_taken",
                    "Un compte existe déjà avec cette adresse.",
                    errors=[{"field": "email", "reason": "un compte existe déjà"}],
                ) from None
            assert row is not None
            await queue_password_link(db_connection, row["id"], email, invitation=True)
        return AdminUser(**dict(row))

    @get("/{user_id:uuid}", summary="One user, with their vehicles and latest reservations")
    async def read_user(self, db_connection: asyncpg.Connection, user_id: UUID) -> AdminUserDetail:
        row = await db_connection.fetchrow(
            f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id
        )
        if row is None:
            raise _not_found()
        vehicles = await db_connection.fetch(
            f"SELECT {VEHICLE_COLUMNS} FROM vehicles WHERE user_id = $1 ORDER BY created_at",
            user_id,
        )
        reservations = await db_connection.fetch(
            """
            SELECT r.id, r.status, s.id AS station_id, s.nom_station AS station_name,
                   cp.id_pdc_itinerance, r.created_at, r.ended_at,
                   (r.receipt->>'energy_kwh')::float8 AS energy_kwh
            FROM reservations r
            JOIN charge_points cp ON cp.id = r.charge_point_id
            JOIN stations s ON s.id = cp.station_id
            WHERE r.user_id = $1
            ORDER BY r.created_at DESC
            LIMIT 50
            """,
            user_id,
        )
        return AdminUserDetail(
            user=AdminUser(**dict(row)),
            vehicles=[VehicleRead(**dict(v)) for v in vehicles],
            reservations=[UserReservation(**dict(r)) for r in reservations],
        )

    @patch("/{user_id:uuid}", summary="Change a user's role, disable or enable them")
    async def update_user(
        self,
        db_connection: asyncpg.Connection,
        current_user: CurrentUser,
        user_id: UUID,
        data: JSONBody[UserUpdate],
    ) -> AdminUser:
        await _lock_other_user(db_connection, current_user, user_id, "modifier")
        if isinstance(data.role, str):
            # A role change re-issues tokens: the role travels in the access token.
            await db_connection.execute(
                "UPDATE users SET role = $2, token_version = token_version + 1, "
                "updated_at = now() WHERE id = $1 AND role <> $2",
                user_id,
                data.role,
            )
        if isinstance(data.disabled, bool):
            if data.disabled:
                # Cut every session at once: outstanding access tokens carry token_version,
                # refresh sessions are revoked.
                await db_connection.execute(
                    "UPDATE users SET disabled_at = coalesce(disabled_at, now()), "
                    "token_version = token_version + 1, updated_at = now() WHERE id = $1",
                    user_id,
                )
                await db_connection.execute(
                    "UPDATE auth_sessions SET revoked_at = now() "
                    "WHERE user_id = $1 AND revoked_at IS NULL",
                    user_id,
                )
            else:
                await db_connection.execute(
                    "UPDATE users SET disabled_at = NULL, updated_at = now() WHERE id = $1",
                    user_id,
                )
        row = await db_connection.fetchrow(
            f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id
        )
        assert row is not None
        return AdminUser(**dict(row))

    @delete(
        "/{user_id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a user (personal data erased, history kept anonymised)",
        opt={"own_transactions": True},
    )
    async def delete_user(
        self,
        state: State,
        db_connection: asyncpg.Connection,
        current_user: CurrentUser,
        user_id: UUID,
    ) -> None:
        async with db_connection.transaction():
            await _lock_other_user(db_connection, current_user, user_id, "supprimer")
            stations = await erase_user(db_connection, user_id)
        await tile_cache.invalidate_stations(state.redis, db_connection, stations)
