"""Reservations on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec


class ReservationCreate(msgspec.Struct, forbid_unknown_fields=True):
    charge_point_id: UUID
    vehicle_id: UUID


class ChargerEvent(msgspec.Struct):
    at: datetime
    message: str
    payload: dict[str, Any]


class ReservationRead(msgspec.Struct):
    id: UUID
    status: str
    charge_point_id: UUID
    id_pdc_itinerance: str
    station_id: UUID
    station_name: str
    vehicle_id: UUID | None
    created_at: datetime
    expires_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    live: dict[str, Any]
    receipt: dict[str, Any] | None
    events: list[ChargerEvent] | None = None


class ReservationPage(msgspec.Struct):
    items: list[ReservationRead]
    total: int
    page: int
    page_size: int
