"""/api/reservations: book a point for 30 minutes, start, stop, cancel, follow, history."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import msgspec
from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api import booking
from api.schemas.reservations import (
    ChargerEvent,
    ReservationCreate,
    ReservationPage,
    ReservationRead,
)
from api.security import CurrentUser, SessionClaims
from wattsup.problems import Problem

log = logging.getLogger("wattsup.reservations")

_COLUMNS = ", ".join(f"r.{c}" for c in booking.BOOKING_COLUMNS)
SELECT = f"""
SELECT {_COLUMNS}, cp.id_pdc_itinerance, cp.station_id, s.nom_station
FROM reservations r
JOIN charge_points cp ON cp.id = r.charge_point_id
JOIN stations s ON s.id = cp.station_id
"""
# The same with the charger's log as JSON text (`event_log`, decoded straight into its
# Structs): a booking read alone (GET /current, polled by every open page, and GET /{id}).
# booking_log() (sql/schema/0033_suspended_ev.sql) adds a running charge's MeterValues so far
# (and SuspendedEV once the car is full).
SELECT_WITH_EVENTS = f"""
SELECT {_COLUMNS}, cp.id_pdc_itinerance, cp.station_id, s.nom_station,
       booking_log(r) AS event_log
FROM reservations r
JOIN charge_points cp ON cp.id = r.charge_point_id
JOIN stations s ON s.id = cp.station_id
"""


def _read(row: asyncpg.Record) -> ReservationRead:
    """A booking as the API shows it, with its charger log when the row has one
    (SELECT_WITH_EVENTS and the transitions' answers; history pages leave it out)."""
    now = datetime.now(UTC)
    r = row
    evs = None
    if "event_log" in row:
        evs = _EVENTS.decode(row["event_log"])
    live = booking.live_state(r, now)
    return ReservationRead(
        id=r["id"],
        status=live["status"],
        charge_point_id=r["charge_point_id"],
        id_pdc_itinerance=row["id_pdc_itinerance"],
        station_id=row["station_id"],
        station_name=row["nom_station"],
        vehicle_id=r["vehicle_id"],
        created_at=r["created_at"],
        expires_at=r["expires_at"],
        started_at=r["started_at"],
        ended_at=r["ended_at"],
        end_reason=r["end_reason"],
        live=live,
        receipt=r["receipt"],
        events=evs,
    )


# The charger's log comes as JSON text, decoded straight into its Structs.
_EVENTS = msgspec.json.Decoder(list[ChargerEvent])


async def _catch_up(state: State, conn: asyncpg.Connection, row: asyncpg.Record) -> bool:
    """A booking read after its end (a hold run out, a charge at its planned end) but before
    the sweeper's next pass ends it now, as the sweeper would (tiles included), so the read
    shows it ended with its log and receipt, not "completed" with no receipt yet. Returns
    whether it did: the caller reads the booking again. A read on time costs nothing more."""
    if booking.true_status(row, datetime.now(UTC)) == row["status"]:
        return False
    await booking.sweep(state.redis, conn, point=row["charge_point_id"], user=row["user_id"])
    return True


class ReservationController(Controller):
    path = "/api/reservations"
    tags = ["reservations"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/terms", summary="Booking terms, shown before confirming")
    async def terms(self, state: State) -> dict[str, Any]:
        return booking.booking_terms(state.settings)

    @post("/", status_code=HTTP_201_CREATED, summary="Book a free point for 30 minutes")
    async def create(
        self, state: State, current_session: SessionClaims, data: JSONBody[ReservationCreate]
    ) -> ReservationRead:
        return await self._transition(
            state,
            lambda conn: booking.create_reservation(
                conn, state.settings, current_session, data.charge_point_id, data.vehicle_id
            ),
        )

    @get("/current", summary="My open reservation or charge, live")
    async def current(
        self, state: State, db_connection: asyncpg.Connection, current_user: CurrentUser
    ) -> ReservationRead | None:
        query = SELECT_WITH_EVENTS + " WHERE r.user_id = $1 ORDER BY r.created_at DESC LIMIT 1"
        row = await db_connection.fetchrow(query, current_user.id)
        if row is None:
            return None
        if await _catch_up(state, db_connection, row):
            row = await db_connection.fetchrow(query, current_user.id)
            assert row is not None
        read = _read(row)
        if read.status in ("reserved", "charging") or (
            read.ended_at is None and read.status in ("completed", "expired")
        ):
            return read
        # Just ended (by the sweeper or the driver): still "current" for a few minutes so
        # the page can show the receipt.
        if read.ended_at and (datetime.now(UTC) - read.ended_at).total_seconds() < 600:
            return read
        return None

    @get("/", summary="My reservations and charges (paged)")
    async def history(
        self,
        db_connection: asyncpg.Connection,
        current_user: CurrentUser,
        page: Annotated[int, Parameter(ge=1, le=10_000)] = 1,
        page_size: Annotated[int, Parameter(ge=1, le=100)] = 20,
    ) -> ReservationPage:
        rows = await db_connection.fetch(
            SELECT + " WHERE r.user_id = $1 ORDER BY r.created_at DESC LIMIT $2 OFFSET $3",
            current_user.id,
            page_size,
            (page - 1) * page_size,
        )
        total = await db_connection.fetchval(
            "SELECT count(*) FROM reservations WHERE user_id = $1", current_user.id
        )
        return ReservationPage(
            items=[_read(r) for r in rows],
            total=total,
            page=page,
            page_size=page_size,
        )

    @get("/{reservation_id:uuid}", summary="One of my reservations, with the charger log")
    async def read(
        self,
        state: State,
        db_connection: asyncpg.Connection,
        current_user: CurrentUser,
        reservation_id: UUID,
    ) -> ReservationRead:
        query = SELECT_WITH_EVENTS + " WHERE r.id = $1 AND r.user_id = $2"
        row = await db_connection.fetchrow(query, reservation_id, current_user.id)
        if row is None:
            raise Problem(404, "reservation_not_found", "Réservation introuvable.")
        if await _catch_up(state, db_connection, row):
            row = await db_connection.fetchrow(query, reservation_id, current_user.id)
            assert row is not None
        return _read(row)

    async def _transition(
        self, state: State, run: Callable[[asyncpg.Connection], Awaitable[asyncpg.Record]]
    ) -> ReservationRead:
        """A booking change: `run` sends its one statement (api/booking.py), outside any
        transaction so that it commits by itself, on a connection held for that statement
        only; then the cached tiles of the stations it changed are dropped (after the commit:
        before, a tile server could re-cache the old state in between) and the booking is
        answered as it is now. The connection goes back to the pool before the drop (a
        handler's `db_connection` is held until it returns): with 4 connections a process,
        holding them through the Redis call kept statements waiting for one."""
        conn: asyncpg.Connection
        async with state.pool.acquire() as conn:
            answer = await run(conn)
        await state.tile_drops.drop_points(answer["data_version"], answer["station_xy"])
        return _read(answer)

    @post("/{reservation_id:uuid}/start", status_code=HTTP_200_OK, summary="Start charging")
    async def start(
        self,
        state: State,
        current_session: SessionClaims,
        reservation_id: UUID,
    ) -> ReservationRead:
        return await self._transition(
            state, lambda conn: booking.start_charge(conn, current_session, reservation_id)
        )

    @post("/{reservation_id:uuid}/stop", status_code=HTTP_200_OK, summary="Stop charging")
    async def stop(
        self,
        state: State,
        current_session: SessionClaims,
        reservation_id: UUID,
    ) -> ReservationRead:
        return await self._transition(
            state, lambda conn: booking.stop_charge(conn, current_session, reservation_id)
        )

    @post("/{reservation_id:uuid}/cancel", status_code=HTTP_200_OK, summary="Cancel booking")
    async def cancel(
        self,
        state: State,
        current_session: SessionClaims,
        reservation_id: UUID,
    ) -> ReservationRead:
        return await self._transition(
            state, lambda conn: booking.cancel_reservation(conn, current_session, reservation_id)
        )
