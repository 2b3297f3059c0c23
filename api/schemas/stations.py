"""Stations and their charging points as drivers see them."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import msgspec


class PointRead(msgspec.Struct):
    id: UUID
    id_pdc_itinerance: str
    power_kw: float
    connectors: list[str]
    free: bool | None
    pay_as_you_go: bool | None
    card: bool | None
    pricing: str | None
    reservable: bool | None
    t2_cable: bool | None
    operational_status: str
    connector_status: str
    status: str  # available | reserved | in_use | out_of_order | unknown
    status_updated_at: datetime
    status_source: str


class PointGroup(msgspec.Struct):
    label: str  # "22 kW · Type 2 · 3/8 libres"
    power_kw: float
    connectors: list[str]
    total: int
    available: int


class StationRead(msgspec.Struct):
    id: UUID
    id_station_itinerance: str
    name: str
    address: str | None
    commune: str | None
    postcode: str | None
    operator: str | None
    network: str | None
    lon: float
    lat: float
    access: str | None
    opening_hours: str | None
    open_24_7: bool
    open_now: bool | None  # from opening_hours at this instant; None: hours not understood
    pmr: str | None
    height_limit: str | None
    two_wheeler: bool | None
    commissioned: date | None
    updated: date | None
    groups: list[PointGroup]
    points: list[PointRead]
    directions_url: str


class StationSummary(msgspec.Struct):
    id: UUID
    name: str
    address: str | None
    commune: str | None
    lon: float
    lat: float
    points: int
    available: int
    max_power_kw: float


class SearchHit(msgspec.Struct):
    kind: str  # commune | station
    label: str
    detail: str | None
    lon: float
    lat: float
    station_id: UUID | None = None
