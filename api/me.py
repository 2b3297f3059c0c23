"""/api/me: my profile, password, data export, account deletion (GDPR)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from litestar import Controller, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import JSONBody

from api.admin_users import erase_user
from api.auth import check_password_policy
from api.schemas.accounts import Message, PasswordChangeIn, ProfileUpdate, UserRead
from api.security import CurrentUser, check_password, clear_cookies, hash_password
from wattsup import tile_cache
from wattsup.problems import Problem


async def _read(conn: asyncpg.Connection, user: CurrentUser) -> UserRead:
    row = await conn.fetchrow(
        "SELECT id, email, first_name, last_name, role, created_at FROM users WHERE id = $1",
        user.id,
    )
    assert row is not None
    return UserRead(**dict(row))


class MeController(Controller):
    path = "/api/me"
    tags = ["me"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/", summary="My profile")
    async def me(self, db_connection: asyncpg.Connection, current_user: CurrentUser) -> UserRead:
        return await _read(db_connection, current_user)

    @patch("/", summary="Edit my names")
    async def update(
        self,
        db_connection: asyncpg.Connection,
        current_user: CurrentUser,
        data: JSONBody[ProfileUpdate],
    ) -> UserRead:
        await db_connection.execute(
            "UPDATE users SET first_name = coalesce($2, first_name), "
            "last_name = coalesce($3, last_name), updated_at = now() WHERE id = $1",
            current_user.id,
            data.first_name,
            data.last_name,
        )
        return await _read(db_connection, current_user)

    @post("/password", status_code=200, summary="Change my password (asks the old one)")
    async def change_password(
        self,
        state: State,
        db_connection: asyncpg.Connection,
        current_user: CurrentUser,
        data: JSONBody[PasswordChangeIn],
    ) -> Response[Message]:
        rounds = state.settings.bcrypt_rounds
        hashed = await db_connection.fetchval(
            "SELECT password_hash FROM users WHERE id = $1", current_user.id
        )
        if not await asyncio.to_thread(check_password, data.old_password, hashed, rounds):
            raise Problem(422, "wrong_password", "Ancien mot de passe incorrect.")
        check_password_policy(data.new_password, current_user.email)
        new_hash = await asyncio.to_thread(hash_password, data.new_password, rounds)
        # Every other session ends: a password change is what one does after a leak.
        await db_connection.execute(
            "UPDATE users SET password_hash = $2, token_version = token_version + 1, "
            "updated_at = now() WHERE id = $1",
            current_user.id,
            new_hash,
        )
        await db_connection.execute(
            "UPDATE auth_sessions SET revoked_at = now() WHERE user_id = $1", current_user.id
        )
        return Response(
            Message(detail="Mot de passe modifié : reconnectez-vous."),
            cookies=clear_cookies(state.settings),
        )

    @get("/export", summary="Export my data (JSON)")
    async def export(
        self, db_connection: asyncpg.Connection, current_user: CurrentUser
    ) -> Response[dict[str, Any]]:
        profile = await _read(db_connection, current_user)
        vehicles = [
            dict(r)
            for r in await db_connection.fetch(
                "SELECT id, name, plate, connectors, battery_kwh::float8 AS battery_kwh, "
                "max_ac_kw::float8 AS max_ac_kw, max_dc_kw::float8 AS max_dc_kw, created_at "
                "FROM vehicles WHERE user_id = $1 ORDER BY created_at",
                current_user.id,
            )
        ]
        reservations: list[dict[str, Any]] = []
        if await db_connection.fetchval("SELECT to_regclass('reservations') IS NOT NULL"):
            reservations = [
                dict(r)
                for r in await db_connection.fetch(
                    "SELECT * FROM reservations WHERE user_id = $1 ORDER BY created_at",
                    current_user.id,
                )
            ]
        body = {"profile": profile, "vehicles": vehicles, "reservations": reservations}
        return Response(
            body, headers={"Content-Disposition": 'attachment; filename="wattsup-mes-donnees.json"'}
        )

    @delete(
        "/",
        status_code=200,
        summary="Delete my account (personal data erased)",
        opt={"own_transactions": True},
    )
    async def remove(
        self, state: State, db_connection: asyncpg.Connection, current_user: CurrentUser
    ) -> Response[Message]:
        # GDPR: personal data goes; the booking history stays, attached to an anonymous row.
        async with db_connection.transaction():
            stations = await erase_user(db_connection, current_user.id)
        await tile_cache.invalidate_stations(state.redis, db_connection, stations)
        return Response(Message(detail="Compte supprimé."), cookies=clear_cookies(state.settings))
