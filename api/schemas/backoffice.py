"""Customer service (problem reports, contact messages, answers) and dashboard figures on the
wire. Create / Update / Read shapes are separate; free text is bounded here and in the table."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

# "works": works in progress on the site (travaux), not "it works".
ReportCategory = Literal["not_working", "blocked", "payment_refused", "works", "other"]
TicketStatus = Literal["open", "answered", "closed"]
ReportText = Annotated[str, msgspec.Meta(max_length=2000)]
AnswerText = Annotated[str, msgspec.Meta(min_length=1, max_length=5000)]


# --- drivers ------------------------------------------------------------------------------


class ReportCreate(msgspec.Struct, forbid_unknown_fields=True):
    station_id: UUID
    category: ReportCategory
    message: ReportText = ""


class MessageCreate(msgspec.Struct, forbid_unknown_fields=True):
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    message: Annotated[str, msgspec.Meta(min_length=1, max_length=5000)]
    station_id: UUID | None = None


class AnswerRead(msgspec.Struct):
    id: int
    body: str
    created_at: datetime
    # An admin's first name only: drivers see who answered, never an address.
    author: str | None


class ReportRead(msgspec.Struct):
    id: UUID
    station_id: UUID
    station_name: str
    category: ReportCategory
    message: str
    status: TicketStatus
    resolution: str | None
    created_at: datetime
    closed_at: datetime | None
    answers: list[AnswerRead]


class MessageRead(msgspec.Struct):
    id: UUID
    subject: str
    message: str
    station_id: UUID | None
    station_name: str | None
    status: TicketStatus
    created_at: datetime
    closed_at: datetime | None
    answers: list[AnswerRead]


# --- public, for the map ------------------------------------------------------------------


class PublicReport(msgspec.Struct):
    """An open problem as anyone sees it on the map: what and since when, not who or why."""

    id: UUID
    category: ReportCategory
    status: TicketStatus
    created_at: datetime


class StationReports(msgspec.Struct):
    station_id: UUID
    open: list[PublicReport]


class OpenReportPlace(msgspec.Struct):
    station_id: UUID
    lon: float
    lat: float
    open_reports: int
    categories: list[ReportCategory]
    since: datetime


# --- admins -------------------------------------------------------------------------------


class AnswerCreate(msgspec.Struct, forbid_unknown_fields=True):
    body: AnswerText
    # Answer and close in one step: the answer becomes the resolution the reporter sees.
    close: bool = False


class CloseTicket(msgspec.Struct, forbid_unknown_fields=True):
    resolution: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class Reporter(msgspec.Struct):
    id: UUID | None
    email: str | None
    name: str | None


class AdminReportRead(msgspec.Struct):
    id: UUID
    station_id: UUID
    station_name: str
    commune: str | None
    category: ReportCategory
    message: str
    status: TicketStatus
    resolution: str | None
    created_at: datetime
    closed_at: datetime | None
    reporter: Reporter
    answers: list[AnswerRead]


class AdminMessageRead(msgspec.Struct):
    id: UUID
    subject: str
    message: str
    station_id: UUID | None
    station_name: str | None
    status: TicketStatus
    created_at: datetime
    closed_at: datetime | None
    reporter: Reporter
    answers: list[AnswerRead]


class ReportPage(msgspec.Struct):
    items: list[AdminReportRead]
    total: int
    open_total: int


class MessagePage(msgspec.Struct):
    items: list[AdminMessageRead]
    total: int
    open_total: int


# --- dashboard ----------------------------------------------------------------------------


class NetworkSummary(msgspec.Struct):
    stations: int
    points: int
    points_in_service: int
    share_in_service: float
    points_withdrawn: int
    installed_power_kw: float


class UseSummary(msgspec.Struct):
    reservations: int
    charges: int
    cancelled: int
    expired: int
    energy_kwh: float
    cancellation_rate: float
    expiry_rate: float


class Breakdown(msgspec.Struct):
    label: str
    points: int
    stations: int | None = None
    points_in_service: int | None = None


class MonthCount(msgspec.Struct):
    month: date
    points: int
    cumulative_points: int


class DayUse(msgspec.Struct):
    day: date
    reservations: int
    charges: int
    cancelled: int
    expired: int
    energy_kwh: float


class BusyStation(msgspec.Struct):
    station_id: UUID
    nom_station: str
    commune: str | None
    operateur: str
    reservations: int
    charges: int
    energy_kwh: float
    lon: float
    lat: float


class Dashboard(msgspec.Struct):
    generated_at: datetime
    network: NetworkSummary
    by_power_class: list[Breakdown]
    by_connector: list[Breakdown]
    by_region: list[Breakdown]
    by_operator: list[Breakdown]
    new_points_per_month: list[MonthCount]
    use: UseSummary
    use_per_day: list[DayUse]
    busiest_stations: list[BusyStation]
    open_reports: int
    open_messages: int


class AnalyticsColumn(msgspec.Struct):
    name: str
    type: str
    description: str | None


class AnalyticsView(msgspec.Struct):
    name: str
    description: str | None
    csv_url: str
    columns: list[AnalyticsColumn]


def to_float(value: Decimal | float | int | None) -> float:
    return float(value) if value is not None else 0.0


def jsonable(value: Any) -> Any:
    """Decimal → float for figures that come straight from a view."""
    return float(value) if isinstance(value, Decimal) else value
