"""/api/me/filter-profiles: a driver's named map filters, saved with their account.

The filters are stored exactly as the tile server reads them, and checked by the tile
server's own parser, so a saved profile can always be turned back into a working tile URL."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import asyncpg
import msgspec
from litestar import Controller, delete, get, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from api.security import CurrentUser
from tileserver.filters import TileFilters, parse_filters
from wattsup.problems import Problem

MAX_PROFILES = 20


class FilterProfileIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
    # The tile URL's query parameters, e.g. {"min_power": "50", "connectors": "combo_ccs"}.
    filters: dict[
        Annotated[str, msgspec.Meta(max_length=40)], Annotated[str, msgspec.Meta(max_length=200)]
    ]
    vehicle_id: UUID | None = None


class FilterProfile(msgspec.Struct):
    id: UUID
    name: str
    filters: TileFilters
    vehicle_id: UUID | None
    created_at: datetime


def _read(row: asyncpg.Record) -> FilterProfile:
    return FilterProfile(
        id=row["id"],
        name=row["name"],
        filters=msgspec.convert(row["filters"], TileFilters),
        vehicle_id=row["vehicle_id"],
        created_at=row["created_at"],
    )


class FilterProfileController(Controller):
    path = "/api/me/filter-profiles"
    tags = ["me"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/", summary="My saved map filters")
    async def list_profiles(
        self, db_connection: asyncpg.Connection, current_user: CurrentUser
    ) -> list[FilterProfile]:
        rows = await db_connection.fetch(
            "SELECT id, name, filters, vehicle_id, created_at FROM filter_profiles "
            "WHERE user_id = $1 ORDER BY name",
            current_user.id,
        )
        return [_read(r) for r in rows]

    @post("/", status_code=HTTP_201_CREATED, summary="Save map filters under a name")
    async def create_profile(
        self,
        db_connection: asyncpg.Connection,
        current_user: CurrentUser,
        data: JSONBody[FilterProfileIn],
    ) -> FilterProfile:
        filters = parse_filters({k: [v] for k, v in data.filters.items()})  # 400 when invalid
        if data.vehicle_id is not None:
            owned = await db_connection.fetchval(
                "SELECT 1 FROM vehicles WHERE id = $1 AND user_id = $2",
                data.vehicle_id,
                current_user.id,
            )
            if not owned:
                raise Problem(404, "vehicle_not_found", "Véhicule introuvable.")
        count = await db_connection.fetchval(
            "SELECT count(*) FROM filter_profiles WHERE user_id = $1", current_user.id
        )
        if count >= MAX_PROFILES:
            raise Problem(409, "too_many_profiles", f"{MAX_PROFILES} profils de filtres au plus.")
        try:
            row = await db_connection.fetchrow(
                "INSERT INTO filter_profiles (user_id, name, filters, vehicle_id) "
                "VALUES ($1, $2, $3, $4) RETURNING id, name, filters, vehicle_id, created_at",
                current_user.id,
                data.name.strip(),
                msgspec.to_builtins(filters),
                data.vehicle_id,
            )
        except asyncpg.UniqueViolationError:
            raise Problem(
                409, "profile_name_taken", "Un profil porte déjà ce nom : choisissez-en un autre."
            ) from None
        assert row is not None
        return _read(row)

    @delete("/{profile_id:uuid}", status_code=HTTP_204_NO_CONTENT, summary="Delete a saved filter")
    async def delete_profile(
        self, db_connection: asyncpg.Connection, current_user: CurrentUser, profile_id: UUID
    ) -> None:
        deleted = await db_connection.fetchval(
            "DELETE FROM filter_profiles WHERE id = $1 AND user_id = $2 RETURNING 1",
            profile_id,
            current_user.id,
        )
        if not deleted:
            raise Problem(404, "profile_not_found", "Profil introuvable.")
