"""Customer service: drivers report problems on stations and write to us; admins answer and
close; the map shows a station's open problems; the reporter sees the resolution.

    POST /api/reports                      driver: report on a station
    POST /api/messages                     driver: "contact us" (optionally about a station)
    GET  /api/me/reports, /api/me/messages driver: mine, with answers and status
    GET  /api/stations/{id}/reports        public: open problems of a station
    GET  /api/reports/open                 public: stations with open problems (map layer)

The admins' side (/api/admin/reports, /api/admin/messages: queue, answer, close) is
api/admin_support.py; both sides read tickets through api/support_tickets.py. A second open
report from the same driver on the same station and category is refused by a unique index
(sql/schema/0005_backoffice.sql).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_201_CREATED

from api import support_tickets as tickets
from api.rate_limit import hit
from api.schemas.backoffice import (
    MessageCreate,
    MessageRead,
    OpenReportPlace,
    PublicReport,
    ReportCreate,
    ReportRead,
    StationReports,
)
from api.security import CurrentUser, require_user
from wattsup.problems import Problem

# A driver may file this many reports and messages an hour (spam guard, per account).
TICKETS_PER_HOUR = 30
OPEN_PLACES_MAX = 5000

# --- shared -------------------------------------------------------------------------------


async def _station_exists(conn: asyncpg.Connection, station_id: UUID) -> None:
    found = await conn.fetchval(
        "SELECT true FROM stations WHERE id = $1 AND withdrawn_at IS NULL", station_id
    )
    if not found:
        raise Problem(404, "station_not_found", "Station introuvable ou retirée du réseau.")


# --- drivers ------------------------------------------------------------------------------


class DriverSupportController(Controller):
    path = "/api"
    tags = ["support"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [require_user]  # noqa: RUF012

    @post("/reports", status_code=HTTP_201_CREATED, summary="Report a problem on a station")
    async def create_report(
        self,
        request: Request[Any, Any, Any],
        db_connection: asyncpg.Connection,
        current_user: CurrentUser,
        data: JSONBody[ReportCreate],
    ) -> ReportRead:
        await hit(request, f"tickets:user:{current_user.id}", TICKETS_PER_HOUR, 3600)
        await _station_exists(db_connection, data.station_id)
        try:
            row = await db_connection.fetchrow(
                "INSERT INTO problem_reports (station_id, user_id, category, message)"
                " VALUES ($1, $2, $3, $4) RETURNING id",
                data.station_id,
                current_user.id,
                data.category,
                data.message.strip(),
            )
        except asyncpg.UniqueViolationError:
            raise Problem(
                409,
                "report_already_open",
                "Vous avez déjà signalé ce problème sur cette station ; il est en cours de "
                "traitement.",
            ) from None
        assert row is not None
        return tickets.report_read(*await tickets.load(db_connection, "report", row["id"]))

    @post("/messages", status_code=HTTP_201_CREATED, summary="Write to customer service")
    async def create_message(
        self,
        request: Request[Any, Any, Any],
        db_connection: asyncpg.Connection,
        current_user: CurrentUser,
        data: JSONBody[MessageCreate],
    ) -> MessageRead:
        await hit(request, f"tickets:user:{current_user.id}", TICKETS_PER_HOUR, 3600)
        subject, message = data.subject.strip(), data.message.strip()
        if not subject or not message:
            raise Problem(422, "empty_message", "L'objet et le message sont obligatoires.")
        if data.station_id is not None:
            await _station_exists(db_connection, data.station_id)
        row = await db_connection.fetchrow(
            "INSERT INTO contact_messages (user_id, station_id, subject, message)"
            " VALUES ($1, $2, $3, $4) RETURNING id",
            current_user.id,
            data.station_id,
            subject,
            message,
        )
        assert row is not None
        return tickets.message_read(*await tickets.load(db_connection, "message", row["id"]))

    @get("/me/reports", summary="My problem reports, with their answers and status")
    async def my_reports(
        self, db_connection: asyncpg.Connection, current_user: CurrentUser
    ) -> list[ReportRead]:
        rows, found = await tickets.of_user(db_connection, "report", current_user.id)
        return [tickets.report_read(r, found[r["id"]]) for r in rows]

    @get("/me/messages", summary="My messages to customer service, with the answers")
    async def my_messages(
        self, db_connection: asyncpg.Connection, current_user: CurrentUser
    ) -> list[MessageRead]:
        rows, found = await tickets.of_user(db_connection, "message", current_user.id)
        return [tickets.message_read(r, found[r["id"]]) for r in rows]


# --- public -------------------------------------------------------------------------------


class PublicReportsController(Controller):
    path = "/api"
    tags = ["support"]  # noqa: RUF012

    @get(
        "/stations/{station_id:uuid}/reports",
        summary="Open problems reported on a station (what and since when)",
    )
    async def station_reports(
        self, db_connection: asyncpg.Connection, station_id: UUID
    ) -> Response[StationReports]:
        exists = await db_connection.fetchval("SELECT true FROM stations WHERE id = $1", station_id)
        if not exists:
            raise Problem(404, "station_not_found", "Station introuvable.")
        rows = await db_connection.fetch(
            "SELECT id, category, status, created_at FROM problem_reports"
            " WHERE station_id = $1 AND status <> 'closed' ORDER BY created_at DESC LIMIT 50",
            station_id,
        )
        body = StationReports(
            station_id=station_id,
            open=[
                PublicReport(
                    id=r["id"],
                    category=r["category"],
                    status=r["status"],
                    created_at=r["created_at"],
                )
                for r in rows
            ],
        )
        # Short shared cache: a new report shows within a minute, a busy map costs little.
        return Response(body, headers={"Cache-Control": "public, max-age=30"})

    @get("/reports/open", summary="Stations with open problem reports (a map layer)")
    async def open_places(
        self,
        db_connection: asyncpg.Connection,
        bbox: str | None = Parameter(
            default=None,
            description="west,south,east,north in degrees (EPSG:4326)",
            pattern=r"^-?\d+(\.\d+)?(,-?\d+(\.\d+)?){3}$",
        ),
    ) -> Response[list[OpenReportPlace]]:
        box: list[float | None] = [None, None, None, None]
        if bbox is not None:
            w, so, e, n = (float(v) for v in bbox.split(","))
            if not (w < e and so < n):
                raise Problem(400, "invalid_bbox", "bbox : ouest,sud,est,nord attendus.")
            box = [w, so, e, n]
        rows = await db_connection.fetch(
            """
            SELECT s.id, ST_X(s.geom_4326) AS lon, ST_Y(s.geom_4326) AS lat,
                   count(*)::integer AS n, array_agg(DISTINCT r.category) AS categories,
                   min(r.created_at) AS since
            FROM problem_reports r
            JOIN stations s ON s.id = r.station_id AND s.withdrawn_at IS NULL
            WHERE r.status <> 'closed'
              AND ($1::float8 IS NULL
                   OR s.geom_4326 && ST_MakeEnvelope($1, $2, $3, $4, 4326))
            GROUP BY s.id
            ORDER BY since DESC
            LIMIT $5
            """,
            *box,
            OPEN_PLACES_MAX,
        )
        body = [
            OpenReportPlace(
                station_id=r["id"],
                lon=r["lon"],
                lat=r["lat"],
                open_reports=r["n"],
                categories=sorted(r["categories"]),
                since=r["since"],
            )
            for r in rows
        ]
        return Response(body, headers={"Cache-Control": "public, max-age=30"})


def controllers() -> list[type[Controller]]:
    return [DriverSupportController, PublicReportsController]
