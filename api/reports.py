"""Customer service: drivers report problems on stations and write to us; admins answer and
close; the map shows a station's open problems; the reporter sees the resolution.

    POST /api/reports                      driver: report on a station
    POST /api/messages                     driver: "contact us" (optionally about a station)
    GET  /api/me/reports, /api/me/messages driver: mine, with answers and status
    GET  /api/stations/{id}/reports        public: open problems of a station
    GET  /api/reports/open                 public: stations with open problems (map layer)
    /api/admin/reports, /api/admin/messages  admin: queue, detail, answer, close

Status rules (open → answered → closed, closed is final) live in the database
(sql/schema/0005_backoffice.sql); a second open report from the same driver on the same
station and category is refused by a unique index.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

import asyncpg
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.rate_limit import hit
from api.schemas.backoffice import (
    AdminMessageRead,
    AdminReportRead,
    AnswerCreate,
    AnswerRead,
    CloseTicket,
    MessageCreate,
    MessagePage,
    MessageRead,
    OpenReportPlace,
    PublicReport,
    ReportCategory,
    ReportCreate,
    Reporter,
    ReportPage,
    ReportRead,
    StationReports,
)
from api.security import CurrentUser, require_admin, require_user
from wattsup.problems import Problem

# A driver may file this many reports and messages an hour (spam guard, per account).
TICKETS_PER_HOUR = 30
QUEUE_PAGE_MAX = 200
OPEN_PLACES_MAX = 5000

Kind = Literal["report", "message"]
QueueStatus = Literal["open", "answered", "closed", "active", "all"]

# --- shared reads -------------------------------------------------------------------------


async def _answers(
    conn: asyncpg.Connection, kind: Kind, ids: list[UUID]
) -> dict[UUID, list[AnswerRead]]:
    if not ids:
        return {}
    column = "report_id" if kind == "report" else "message_id"
    # Two fixed statements, chosen by kind: never a column name from the request.
    sql = {
        "report_id": "SELECT a.id, a.report_id AS ticket, a.body, a.created_at, u.first_name "
        "FROM support_answers a LEFT JOIN users u ON u.id = a.author_id "
        "WHERE a.report_id = ANY($1::uuid[]) ORDER BY a.created_at, a.id",
        "message_id": "SELECT a.id, a.message_id AS ticket, a.body, a.created_at, u.first_name "
        "FROM support_answers a LEFT JOIN users u ON u.id = a.author_id "
        "WHERE a.message_id = ANY($1::uuid[]) ORDER BY a.created_at, a.id",
    }[column]
    out: dict[UUID, list[AnswerRead]] = {i: [] for i in ids}
    for r in await conn.fetch(sql, ids):
        out[r["ticket"]].append(
            AnswerRead(
                id=r["id"], body=r["body"], created_at=r["created_at"], author=r["first_name"]
            )
        )
    return out


_REPORT_SELECT = """
    SELECT r.*, s.nom_station, s.commune, u.email, u.first_name, u.last_name,
           count(*) OVER () AS total
    FROM problem_reports r
    JOIN stations s ON s.id = r.station_id
    LEFT JOIN users u ON u.id = r.user_id
"""
_MESSAGE_SELECT = """
    SELECT m.*, s.nom_station, u.email, u.first_name, u.last_name, count(*) OVER () AS total
    FROM contact_messages m
    LEFT JOIN stations s ON s.id = m.station_id
    LEFT JOIN users u ON u.id = m.user_id
"""


def _reporter(r: asyncpg.Record) -> Reporter:
    name = " ".join(p for p in (r["first_name"], r["last_name"]) if p) or None
    return Reporter(id=r["user_id"], email=r["email"], name=name)


def _report_read(r: asyncpg.Record, answers: list[AnswerRead]) -> ReportRead:
    return ReportRead(
        id=r["id"],
        station_id=r["station_id"],
        station_name=r["nom_station"],
        category=r["category"],
        message=r["message"],
        status=r["status"],
        resolution=r["resolution"],
        created_at=r["created_at"],
        closed_at=r["closed_at"],
        answers=answers,
    )


def _message_read(r: asyncpg.Record, answers: list[AnswerRead]) -> MessageRead:
    return MessageRead(
        id=r["id"],
        subject=r["subject"],
        message=r["message"],
        station_id=r["station_id"],
        station_name=r["nom_station"],
        status=r["status"],
        created_at=r["created_at"],
        closed_at=r["closed_at"],
        answers=answers,
    )


def _admin_report(r: asyncpg.Record, answers: list[AnswerRead]) -> AdminReportRead:
    return AdminReportRead(
        id=r["id"],
        station_id=r["station_id"],
        station_name=r["nom_station"],
        commune=r["commune"],
        category=r["category"],
        message=r["message"],
        status=r["status"],
        resolution=r["resolution"],
        created_at=r["created_at"],
        closed_at=r["closed_at"],
        reporter=_reporter(r),
        answers=answers,
    )


def _admin_message(r: asyncpg.Record, answers: list[AnswerRead]) -> AdminMessageRead:
    return AdminMessageRead(
        id=r["id"],
        subject=r["subject"],
        message=r["message"],
        station_id=r["station_id"],
        station_name=r["nom_station"],
        status=r["status"],
        created_at=r["created_at"],
        closed_at=r["closed_at"],
        reporter=_reporter(r),
        answers=answers,
    )


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
        data: ReportCreate,
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
        return await self._mine_one(db_connection, row["id"])

    @post("/messages", status_code=HTTP_201_CREATED, summary="Write to customer service")
    async def create_message(
        self,
        request: Request[Any, Any, Any],
        db_connection: asyncpg.Connection,
        current_user: CurrentUser,
        data: MessageCreate,
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
        rows = await db_connection.fetch(_MESSAGE_SELECT + " WHERE m.id = $1", row["id"])
        return _message_read(rows[0], [])

    @get("/me/reports", summary="My problem reports, with their answers and status")
    async def my_reports(
        self, db_connection: asyncpg.Connection, current_user: CurrentUser
    ) -> list[ReportRead]:
        rows = await db_connection.fetch(
            _REPORT_SELECT + " WHERE r.user_id = $1 ORDER BY r.created_at DESC LIMIT 200",
            current_user.id,
        )
        answers = await _answers(db_connection, "report", [r["id"] for r in rows])
        return [_report_read(r, answers[r["id"]]) for r in rows]

    @get("/me/messages", summary="My messages to customer service, with the answers")
    async def my_messages(
        self, db_connection: asyncpg.Connection, current_user: CurrentUser
    ) -> list[MessageRead]:
        rows = await db_connection.fetch(
            _MESSAGE_SELECT + " WHERE m.user_id = $1 ORDER BY m.created_at DESC LIMIT 200",
            current_user.id,
        )
        answers = await _answers(db_connection, "message", [r["id"] for r in rows])
        return [_message_read(r, answers[r["id"]]) for r in rows]

    async def _mine_one(self, conn: asyncpg.Connection, report_id: UUID) -> ReportRead:
        rows = await conn.fetch(_REPORT_SELECT + " WHERE r.id = $1", report_id)
        return _report_read(rows[0], [])


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


# --- admins -------------------------------------------------------------------------------


def _status_clause(status: QueueStatus, alias: str) -> str:
    # Fixed fragments chosen from a Literal: the request never reaches the SQL text.
    return {
        "open": f"{alias}.status = 'open'",
        "answered": f"{alias}.status = 'answered'",
        "closed": f"{alias}.status = 'closed'",
        "active": f"{alias}.status <> 'closed'",
        "all": "true",
    }[status]


class AdminSupportController(Controller):
    path = "/api/admin"
    tags = ["admin: support"]  # noqa: RUF012
    guards = [require_admin]  # noqa: RUF012

    # Reports ----------------------------------------------------------------------------

    @get("/reports", summary="Queue of problem reports")
    async def list_reports(
        self,
        db_connection: asyncpg.Connection,
        status: QueueStatus = "active",
        category: ReportCategory | None = None,
        station_id: UUID | None = None,
        limit: int = Parameter(default=50, ge=1, le=QUEUE_PAGE_MAX),
        offset: int = Parameter(default=0, ge=0),
    ) -> ReportPage:
        rows = await db_connection.fetch(
            _REPORT_SELECT
            + f" WHERE {_status_clause(status, 'r')}"
            + " AND ($1::text IS NULL OR r.category = $1)"
            + " AND ($2::uuid IS NULL OR r.station_id = $2)"
            # Oldest waiting first while a ticket is active; newest first in the archive.
            + " ORDER BY (r.status = 'closed'), CASE WHEN r.status <> 'closed'"
            " THEN r.created_at END, r.created_at DESC LIMIT $3 OFFSET $4",
            category,
            station_id,
            limit,
            offset,
        )
        answers = await _answers(db_connection, "report", [r["id"] for r in rows])
        open_total = await db_connection.fetchval(
            "SELECT count(*) FROM problem_reports WHERE status = 'open'"
        )
        return ReportPage(
            items=[_admin_report(r, answers[r["id"]]) for r in rows],
            total=rows[0]["total"] if rows else 0,
            open_total=open_total,
        )

    @get("/reports/{report_id:uuid}", summary="One problem report")
    async def get_report(
        self, db_connection: asyncpg.Connection, report_id: UUID
    ) -> AdminReportRead:
        return await self._report(db_connection, report_id)

    @post(
        "/reports/{report_id:uuid}/answers",
        status_code=HTTP_201_CREATED,
        summary="Answer a report (and optionally close it)",
    )
    async def answer_report(
        self,
        db_connection: asyncpg.Connection,
        current_user: CurrentUser,
        report_id: UUID,
        data: AnswerCreate,
    ) -> AdminReportRead:
        await self._report(db_connection, report_id, lock=True)
        await db_connection.execute(
            "INSERT INTO support_answers (report_id, author_id, body) VALUES ($1, $2, $3)",
            report_id,
            current_user.id,
            data.body.strip(),
        )
        await _set_status(
            db_connection,
            "report",
            report_id,
            current_user.id,
            close=data.close,
            resolution=data.body.strip(),
        )
        return await self._report(db_connection, report_id)

    @post(
        "/reports/{report_id:uuid}/close",
        status_code=HTTP_200_OK,
        summary="Close a report (the reporter sees it resolved)",
    )
    async def close_report(
        self,
        db_connection: asyncpg.Connection,
        current_user: CurrentUser,
        report_id: UUID,
        data: CloseTicket,
    ) -> AdminReportRead:
        await self._report(db_connection, report_id, lock=True)
        await _set_status(
            db_connection,
            "report",
            report_id,
            current_user.id,
            close=True,
            resolution=(data.resolution or "").strip() or None,
        )
        return await self._report(db_connection, report_id)

    async def _report(
        self, conn: asyncpg.Connection, report_id: UUID, *, lock: bool = False
    ) -> AdminReportRead:
        if lock:  # answers and closes of one ticket happen one at a time
            await conn.execute("SELECT 1 FROM problem_reports WHERE id = $1 FOR UPDATE", report_id)
        rows = await conn.fetch(_REPORT_SELECT + " WHERE r.id = $1", report_id)
        if not rows:
            raise Problem(404, "report_not_found", "Signalement introuvable.")
        answers = await _answers(conn, "report", [report_id])
        return _admin_report(rows[0], answers[report_id])

    # Messages ---------------------------------------------------------------------------

    @get("/messages", summary="Queue of messages to customer service")
    async def list_messages(
        self,
        db_connection: asyncpg.Connection,
        status: QueueStatus = "active",
        limit: int = Parameter(default=50, ge=1, le=QUEUE_PAGE_MAX),
        offset: int = Parameter(default=0, ge=0),
    ) -> MessagePage:
        rows = await db_connection.fetch(
            _MESSAGE_SELECT
            + f" WHERE {_status_clause(status, 'm')}"
            + " ORDER BY (m.status = 'closed'), CASE WHEN m.status <> 'closed'"
            " THEN m.created_at END, m.created_at DESC LIMIT $1 OFFSET $2",
            limit,
            offset,
        )
        answers = await _answers(db_connection, "message", [r["id"] for r in rows])
        open_total = await db_connection.fetchval(
            "SELECT count(*) FROM contact_messages WHERE status = 'open'"
        )
        return MessagePage(
            items=[_admin_message(r, answers[r["id"]]) for r in rows],
            total=rows[0]["total"] if rows else 0,
            open_total=open_total,
        )

    @get("/messages/{message_id:uuid}", summary="One message")
    async def get_message(
        self, db_connection: asyncpg.Connection, message_id: UUID
    ) -> AdminMessageRead:
        return await self._message(db_connection, message_id)

    @post(
        "/messages/{message_id:uuid}/answers",
        status_code=HTTP_201_CREATED,
        summary="Answer a message (and optionally close it)",
    )
    async def answer_message(
        self,
        db_connection: asyncpg.Connection,
        current_user: CurrentUser,
        message_id: UUID,
        data: AnswerCreate,
    ) -> AdminMessageRead:
        await self._message(db_connection, message_id, lock=True)
        await db_connection.execute(
            "INSERT INTO support_answers (message_id, author_id, body) VALUES ($1, $2, $3)",
            message_id,
            current_user.id,
            data.body.strip(),
        )
        await _set_status(db_connection, "message", message_id, current_user.id, close=data.close)
        return await self._message(db_connection, message_id)

    @post("/messages/{message_id:uuid}/close", status_code=HTTP_200_OK, summary="Close a message")
    async def close_message(
        self,
        db_connection: asyncpg.Connection,
        current_user: CurrentUser,
        message_id: UUID,
        data: CloseTicket,
    ) -> AdminMessageRead:
        await self._message(db_connection, message_id, lock=True)
        if data.resolution and data.resolution.strip():
            await db_connection.execute(
                "INSERT INTO support_answers (message_id, author_id, body) VALUES ($1, $2, $3)",
                message_id,
                current_user.id,
                data.resolution.strip(),
            )
        await _set_status(db_connection, "message", message_id, current_user.id, close=True)
        return await self._message(db_connection, message_id)

    async def _message(
        self, conn: asyncpg.Connection, message_id: UUID, *, lock: bool = False
    ) -> AdminMessageRead:
        if lock:
            await conn.execute(
                "SELECT 1 FROM contact_messages WHERE id = $1 FOR UPDATE", message_id
            )
        rows = await conn.fetch(_MESSAGE_SELECT + " WHERE m.id = $1", message_id)
        if not rows:
            raise Problem(404, "message_not_found", "Message introuvable.")
        answers = await _answers(conn, "message", [message_id])
        return _admin_message(rows[0], answers[message_id])


async def _set_status(
    conn: asyncpg.Connection,
    kind: Kind,
    ticket_id: UUID,
    admin_id: UUID,
    *,
    close: bool,
    resolution: str | None = None,
) -> None:
    """Answered, or closed; closing twice or answering a closed ticket is a 409."""
    current = await conn.fetchval(
        "SELECT status FROM problem_reports WHERE id = $1"
        if kind == "report"
        else "SELECT status FROM contact_messages WHERE id = $1",
        ticket_id,
    )
    if current == "closed":
        raise Problem(409, "ticket_closed", "Ce dossier est déjà clos.")
    if kind == "report":
        await conn.execute(
            "UPDATE problem_reports SET status = CASE WHEN $2 THEN 'closed' ELSE 'answered' END,"
            " closed_at = CASE WHEN $2 THEN now() END, closed_by = CASE WHEN $2 THEN $3::uuid END,"
            " resolution = CASE WHEN $2 THEN coalesce($4, resolution) ELSE resolution END"
            " WHERE id = $1",
            ticket_id,
            close,
            admin_id,
            resolution,
        )
    else:
        await conn.execute(
            "UPDATE contact_messages SET status = CASE WHEN $2 THEN 'closed' ELSE 'answered' END,"
            " closed_at = CASE WHEN $2 THEN now() END, closed_by = CASE WHEN $2 THEN $3::uuid END"
            " WHERE id = $1",
            ticket_id,
            close,
            admin_id,
        )


def controllers() -> list[type[Controller]]:
    return [DriverSupportController, PublicReportsController, AdminSupportController]
