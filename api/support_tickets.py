"""The two kinds of customer-service ticket, problem reports and messages, read and moved
along one path: what differs between them (table, SELECT, answer column, 404 code, whether
closing records a resolution) is data in `KINDS`, not a second copy of each query.

Status rules (open → answered → closed, closed is final) also live in the database
(sql/schema/0005_backoffice.sql); `set_status` turns "already closed" into a 409 first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import asyncpg
import msgspec

from api.schemas.backoffice import (
    AdminMessageRead,
    AdminReportRead,
    AnswerRead,
    MessageRead,
    Reporter,
    ReportRead,
)
from wattsup.problems import Problem

Kind = Literal["report", "message"]
QueueStatus = Literal["open", "answered", "closed", "active", "all"]


@dataclass(frozen=True)
class TicketKind:
    table: str
    alias: str
    select: str  # every column the reads need, and the page's total (window count)
    answer_column: str  # support_answers' column pointing to this kind
    not_found: tuple[str, str]  # problem code and French detail
    has_resolution: bool  # closing a report records its resolution on the report itself


# Fixed SQL fragments chosen by a Literal: nothing from the request reaches the SQL text.
KINDS: dict[Kind, TicketKind] = {
    "report": TicketKind(
        table="problem_reports",
        alias="r",
        select="""
            SELECT r.*, s.nom_station, s.commune, u.email, u.first_name, u.last_name,
                   count(*) OVER () AS total
            FROM problem_reports r
            JOIN stations s ON s.id = r.station_id
            LEFT JOIN users u ON u.id = r.user_id
        """,
        answer_column="report_id",
        not_found=("report_not_found", "Signalement introuvable."),
        has_resolution=True,
    ),
    "message": TicketKind(
        table="contact_messages",
        alias="m",
        select="""
            SELECT m.*, s.nom_station, u.email, u.first_name, u.last_name,
                   count(*) OVER () AS total
            FROM contact_messages m
            LEFT JOIN stations s ON s.id = m.station_id
            LEFT JOIN users u ON u.id = m.user_id
        """,
        answer_column="message_id",
        not_found=("message_not_found", "Message introuvable."),
        has_resolution=False,
    ),
}


def status_clause(status: QueueStatus, alias: str) -> str:
    return {
        "open": f"{alias}.status = 'open'",
        "answered": f"{alias}.status = 'answered'",
        "closed": f"{alias}.status = 'closed'",
        "active": f"{alias}.status <> 'closed'",
        "all": "true",
    }[status]


async def answers(
    conn: asyncpg.Connection, kind: Kind, ids: list[UUID]
) -> dict[UUID, list[AnswerRead]]:
    """The answers of these tickets, oldest first, by ticket."""
    if not ids:
        return {}
    column = KINDS[kind].answer_column
    rows = await conn.fetch(
        f"SELECT a.id, a.{column} AS ticket, a.body, a.created_at, u.first_name "
        "FROM support_answers a LEFT JOIN users u ON u.id = a.author_id "
        f"WHERE a.{column} = ANY($1::uuid[]) ORDER BY a.created_at, a.id",
        ids,
    )
    out: dict[UUID, list[AnswerRead]] = {i: [] for i in ids}
    for r in rows:
        out[r["ticket"]].append(
            AnswerRead(
                id=r["id"], body=r["body"], created_at=r["created_at"], author=r["first_name"]
            )
        )
    return out


async def queue(
    conn: asyncpg.Connection,
    kind: Kind,
    status: QueueStatus,
    *,
    limit: int,
    offset: int,
    where: str = "",
    args: tuple[object, ...] = (),
) -> tuple[list[asyncpg.Record], dict[UUID, list[AnswerRead]], int]:
    """A page of the admins' queue: the rows, their answers and how many tickets are open.
    `where` is a fixed fragment of the caller's using $1..$n for `args`."""
    k = KINDS[kind]
    a = k.alias
    n = len(args)
    rows = await conn.fetch(
        k.select
        + f" WHERE {status_clause(status, a)}{where}"
        # Oldest waiting first while a ticket is active; newest first in the archive.
        + f" ORDER BY ({a}.status = 'closed'), CASE WHEN {a}.status <> 'closed'"
        f" THEN {a}.created_at END, {a}.created_at DESC LIMIT ${n + 1} OFFSET ${n + 2}",
        *args,
        limit,
        offset,
    )
    found = await answers(conn, kind, [r["id"] for r in rows])
    open_total = await conn.fetchval(f"SELECT count(*) FROM {k.table} WHERE status = 'open'")
    return rows, found, open_total


async def of_user(
    conn: asyncpg.Connection, kind: Kind, user_id: UUID, *, limit: int = 200
) -> tuple[list[asyncpg.Record], dict[UUID, list[AnswerRead]]]:
    """A driver's own tickets, newest first, and their answers."""
    k = KINDS[kind]
    rows = await conn.fetch(
        k.select + f" WHERE {k.alias}.user_id = $1 ORDER BY {k.alias}.created_at DESC LIMIT $2",
        user_id,
        limit,
    )
    return rows, await answers(conn, kind, [r["id"] for r in rows])


async def load(
    conn: asyncpg.Connection, kind: Kind, ticket_id: UUID, *, lock: bool = False
) -> tuple[asyncpg.Record, list[AnswerRead]]:
    """One ticket and its answers, or 404. `lock`: answers and closes of one ticket happen
    one at a time (the caller is in a transaction)."""
    k = KINDS[kind]
    if lock:
        await conn.execute(f"SELECT 1 FROM {k.table} WHERE id = $1 FOR UPDATE", ticket_id)
    rows = await conn.fetch(k.select + f" WHERE {k.alias}.id = $1", ticket_id)
    if not rows:
        raise Problem(404, *k.not_found)
    return rows[0], (await answers(conn, kind, [ticket_id]))[ticket_id]


async def add_answer(
    conn: asyncpg.Connection, kind: Kind, ticket_id: UUID, author_id: UUID, body: str
) -> None:
    await conn.execute(
        f"INSERT INTO support_answers ({KINDS[kind].answer_column}, author_id, body)"
        " VALUES ($1, $2, $3)",
        ticket_id,
        author_id,
        body,
    )


async def set_status(
    conn: asyncpg.Connection,
    kind: Kind,
    ticket_id: UUID,
    admin_id: UUID,
    *,
    close: bool,
    resolution: str | None = None,
) -> None:
    """Answered, or closed; closing twice or answering a closed ticket is a 409."""
    k = KINDS[kind]
    current = await conn.fetchval(f"SELECT status FROM {k.table} WHERE id = $1", ticket_id)
    if current == "closed":
        raise Problem(409, "ticket_closed", "Ce dossier est déjà clos.")
    # A report keeps its resolution on the report; a message's is its last answer.
    keep = (
        ", resolution = CASE WHEN $2 THEN coalesce($4, resolution) ELSE resolution END"
        if k.has_resolution
        else ""
    )
    await conn.execute(
        f"UPDATE {k.table} SET status = CASE WHEN $2 THEN 'closed' ELSE 'answered' END,"
        " closed_at = CASE WHEN $2 THEN now() END, closed_by = CASE WHEN $2 THEN $3::uuid END"
        f"{keep} WHERE id = $1",
        ticket_id,
        close,
        admin_id,
        *((resolution,) if k.has_resolution else ()),
    )


# --- what each reader sees ----------------------------------------------------------------


def reporter(r: asyncpg.Record) -> Reporter:
    name = " ".join(p for p in (r["first_name"], r["last_name"]) if p) or None
    return Reporter(id=r["user_id"], email=r["email"], name=name)


def report_read(r: asyncpg.Record, found: list[AnswerRead]) -> ReportRead:
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
        answers=found,
    )


def message_read(r: asyncpg.Record, found: list[AnswerRead]) -> MessageRead:
    return MessageRead(
        id=r["id"],
        subject=r["subject"],
        message=r["message"],
        station_id=r["station_id"],
        station_name=r["nom_station"],
        status=r["status"],
        created_at=r["created_at"],
        closed_at=r["closed_at"],
        answers=found,
    )


def admin_report(r: asyncpg.Record, found: list[AnswerRead]) -> AdminReportRead:
    """The driver's view of the report, plus where it is and who filed it."""
    base = msgspec.structs.asdict(report_read(r, found))
    return AdminReportRead(**base, commune=r["commune"], reporter=reporter(r))


def admin_message(r: asyncpg.Record, found: list[AnswerRead]) -> AdminMessageRead:
    """The driver's view of the message, plus who wrote it."""
    base = msgspec.structs.asdict(message_read(r, found))
    return AdminMessageRead(**base, reporter=reporter(r))
