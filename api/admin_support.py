"""/api/admin/reports and /api/admin/messages: the admins' queues of customer-service
tickets, one ticket with its answers, answering and closing. Both kinds go through
api/support_tickets.py; the routes differ only by kind and response type."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from litestar import Controller, get, post
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api import support_tickets as tickets
from api.schemas.backoffice import (
    AdminMessageRead,
    AdminReportRead,
    AnswerCreate,
    CloseTicket,
    MessagePage,
    ReportCategory,
    ReportPage,
)
from api.security import CurrentUser, require_admin
from api.support_tickets import Kind, QueueStatus

QUEUE_PAGE_MAX = 200


async def _answer(
    conn: asyncpg.Connection, kind: Kind, ticket_id: UUID, admin: UUID, data: AnswerCreate
) -> None:
    body = data.body.strip()
    await tickets.load(conn, kind, ticket_id, lock=True)
    await tickets.add_answer(conn, kind, ticket_id, admin, body)
    await tickets.set_status(conn, kind, ticket_id, admin, close=data.close, resolution=body)


async def _close(
    conn: asyncpg.Connection, kind: Kind, ticket_id: UUID, admin: UUID, data: CloseTicket
) -> None:
    resolution = (data.resolution or "").strip() or None
    await tickets.load(conn, kind, ticket_id, lock=True)
    if resolution and not tickets.KINDS[kind].has_resolution:
        # A message has no resolution field: the closing words are its last answer.
        await tickets.add_answer(conn, kind, ticket_id, admin, resolution)
    await tickets.set_status(conn, kind, ticket_id, admin, close=True, resolution=resolution)


class AdminSupportController(Controller):
    path = "/api/admin"
    tags = ["admin: support"]  # noqa: RUF012 - Litestar reads it as a class attribute
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
        rows, found, open_total = await tickets.queue(
            db_connection,
            "report",
            status,
            limit=limit,
            offset=offset,
            where=" AND ($1::text IS NULL OR r.category = $1)"
            " AND ($2::uuid IS NULL OR r.station_id = $2)",
            args=(category, station_id),
        )
        return ReportPage(
            items=[tickets.admin_report(r, found[r["id"]]) for r in rows],
            total=rows[0]["total"] if rows else 0,
            open_total=open_total,
        )

    @get("/reports/{report_id:uuid}", summary="One problem report")
    async def get_report(
        self, db_connection: asyncpg.Connection, report_id: UUID
    ) -> AdminReportRead:
        return tickets.admin_report(*await tickets.load(db_connection, "report", report_id))

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
        data: JSONBody[AnswerCreate],
    ) -> AdminReportRead:
        await _answer(db_connection, "report", report_id, current_user.id, data)
        return tickets.admin_report(*await tickets.load(db_connection, "report", report_id))

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
        data: JSONBody[CloseTicket],
    ) -> AdminReportRead:
        await _close(db_connection, "report", report_id, current_user.id, data)
        return tickets.admin_report(*await tickets.load(db_connection, "report", report_id))

    # Messages ---------------------------------------------------------------------------

    @get("/messages", summary="Queue of messages to customer service")
    async def list_messages(
        self,
        db_connection: asyncpg.Connection,
        status: QueueStatus = "active",
        limit: int = Parameter(default=50, ge=1, le=QUEUE_PAGE_MAX),
        offset: int = Parameter(default=0, ge=0),
    ) -> MessagePage:
        rows, found, open_total = await tickets.queue(
            db_connection, "message", status, limit=limit, offset=offset
        )
        return MessagePage(
            items=[tickets.admin_message(r, found[r["id"]]) for r in rows],
            total=rows[0]["total"] if rows else 0,
            open_total=open_total,
        )

    @get("/messages/{message_id:uuid}", summary="One message")
    async def get_message(
        self, db_connection: asyncpg.Connection, message_id: UUID
    ) -> AdminMessageRead:
        return tickets.admin_message(*await tickets.load(db_connection, "message", message_id))

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
        data: JSONBody[AnswerCreate],
    ) -> AdminMessageRead:
        await _answer(db_connection, "message", message_id, current_user.id, data)
        return tickets.admin_message(*await tickets.load(db_connection, "message", message_id))

    @post("/messages/{message_id:uuid}/close", status_code=HTTP_200_OK, summary="Close a message")
    async def close_message(
        self,
        db_connection: asyncpg.Connection,
        current_user: CurrentUser,
        message_id: UUID,
        data: JSONBody[CloseTicket],
    ) -> AdminMessageRead:
        await _close(db_connection, "message", message_id, current_user.id, data)
        return tickets.admin_message(*await tickets.load(db_connection, "message", message_id))
