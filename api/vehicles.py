"""/api/vehicles: a driver's cars. Another driver's vehicle id answers 404, never 403."""

from __future__ import annotations

import re
from uuid import UUID

import asyncpg
from litestar import Controller, delete, get, patch, post
from litestar.params import JSONBody

from api.schemas.accounts import VehicleCreate, VehicleRead, VehicleUpdate
from api.security import CurrentUser
from wattsup.problems import Problem

PLATE = re.compile(r"^[A-Z]{2}-?\d{3}-?[A-Z]{2}$")
COLUMNS = (
    "id, name, plate, connectors, battery_kwh::float8 AS battery_kwh, "
    "max_ac_kw::float8 AS max_ac_kw, max_dc_kw::float8 AS max_dc_kw, created_at"
)


def normalise_plate(plate: str | None) -> str | None:
    """French SIV plates: AB-123-CD (dashes and spaces optional on input)."""
    if plate is None or not plate.strip():
        return None
    text = plate.strip().upper().replace(" ", "")
    if not PLATE.match(text):
        raise Problem(422, "invalid_plate", "Immatriculation invalide : format attendu AB-123-CD.")
    letters = text.replace("-", "")
    return f"{letters[:2]}-{letters[2:5]}-{letters[5:]}"


def _not_found() -> Problem:
    return Problem(404, "vehicle_not_found", "Véhicule introuvable.")


class VehicleController(Controller):
    path = "/api/vehicles"
    tags = ["vehicles"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/", summary="My vehicles")
    async def list_vehicles(
        self, db_connection: asyncpg.Connection, current_user: CurrentUser
    ) -> list[VehicleRead]:
        rows = await db_connection.fetch(
            f"SELECT {COLUMNS} FROM vehicles WHERE user_id = $1 ORDER BY created_at",
            current_user.id,
        )
        return [VehicleRead(**dict(r)) for r in rows]

    @post("/", summary="Add a vehicle")
    async def create(
        self,
        db_connection: asyncpg.Connection,
        current_user: CurrentUser,
        data: JSONBody[VehicleCreate],
    ) -> VehicleRead:
        row = await db_connection.fetchrow(
            "INSERT INTO vehicles (user_id, name, plate, connectors, battery_kwh, max_ac_kw, "
            f"max_dc_kw) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}",
            current_user.id,
            data.name.strip(),
            normalise_plate(data.plate),
            sorted(set(data.connectors)),
            data.battery_kwh,
            data.max_ac_kw,
            data.max_dc_kw,
        )
        assert row is not None
        return VehicleRead(**dict(row))

    @get("/{vehicle_id:uuid}", summary="One of my vehicles")
    async def read(
        self, db_connection: asyncpg.Connection, current_user: CurrentUser, vehicle_id: UUID
    ) -> VehicleRead:
        row = await db_connection.fetchrow(
            f"SELECT {COLUMNS} FROM vehicles WHERE id = $1 AND user_id = $2",
            vehicle_id,
            current_user.id,
        )
        if row is None:
            raise _not_found()
        return VehicleRead(**dict(row))

    @patch("/{vehicle_id:uuid}", summary="Edit one of my vehicles")
    async def update(
        self,
        db_connection: asyncpg.Connection,
        current_user: CurrentUser,
        vehicle_id: UUID,
        data: JSONBody[VehicleUpdate],
    ) -> VehicleRead:
        row = await db_connection.fetchrow(
            "UPDATE vehicles SET name = coalesce($3, name), "
            "plate = CASE WHEN $4::boolean THEN $5 ELSE plate END, "
            "connectors = coalesce($6, connectors), battery_kwh = coalesce($7, battery_kwh), "
            "max_ac_kw = coalesce($8, max_ac_kw), max_dc_kw = coalesce($9, max_dc_kw) "
            f"WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}",
            vehicle_id,
            current_user.id,
            data.name,
            data.plate is not None,
            normalise_plate(data.plate),
            sorted(set(data.connectors)) if data.connectors else None,
            data.battery_kwh,
            data.max_ac_kw,
            data.max_dc_kw,
        )
        if row is None:
            raise _not_found()
        return VehicleRead(**dict(row))

    @delete("/{vehicle_id:uuid}", summary="Remove one of my vehicles")
    async def remove(
        self, db_connection: asyncpg.Connection, current_user: CurrentUser, vehicle_id: UUID
    ) -> None:
        # Not the car of an open booking: its start draws the charge from it (0027) and checks
        # it still fits the point (0030); deleted, it would charge as a default car.
        row = await db_connection.fetchrow(
            "WITH gone AS (DELETE FROM vehicles v WHERE v.id = $1 AND v.user_id = $2 "
            "  AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.vehicle_id = v.id "
            "                  AND r.status IN ('reserved', 'charging')) RETURNING v.id) "
            "SELECT (SELECT count(*) FROM gone) AS deleted, "
            "       EXISTS (SELECT 1 FROM vehicles WHERE id = $1 AND user_id = $2) AS mine",
            vehicle_id,
            current_user.id,
        )
        assert row is not None  # an aggregate query: always one row
        if row["deleted"]:
            return
        if not row["mine"]:
            raise _not_found()
        raise Problem(
            409,
            "vehicle_in_use",
            "Ce véhicule a une réservation en cours : terminez-la ou annulez-la d'abord.",
        )
