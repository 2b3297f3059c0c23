"""Admin dashboard: figures on the network and its use, read from the `analytics` views
(sql/schema/0005_backoffice.sql), and a CSV export of every view.

    GET /api/admin/dashboard?days=30         every figure the dashboard draws, in one call
    GET /api/admin/analytics                 the views, their documentation and columns
    GET /api/admin/analytics/{view}.csv      one view as CSV, streamed (geometry left out:
                                             lon/lat columns carry positions)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.response import Stream

from api.schemas.backoffice import (
    AnalyticsColumn,
    AnalyticsView,
    Breakdown,
    BusyStation,
    Dashboard,
    DayUse,
    MonthCount,
    NetworkSummary,
    UseSummary,
    to_float,
)
from api.security import require_admin
from wattsup.problems import Problem

TOP_OPERATORS = 12
TOP_STATIONS = 10
CSV_CHUNKS_BUFFERED = 8


async def _breakdowns(conn: asyncpg.Connection) -> dict[str, list[Breakdown]]:
    power = await conn.fetch("SELECT * FROM analytics.points_by_power_class")
    connectors = await conn.fetch("SELECT * FROM analytics.points_by_connector")
    regions = await conn.fetch("SELECT * FROM analytics.points_by_region")
    operators = await conn.fetch("SELECT * FROM analytics.points_by_operator")
    top = [
        Breakdown(
            label=r["operateur"],
            points=r["points"],
            stations=r["stations"],
            points_in_service=r["points_in_service"],
        )
        for r in operators[:TOP_OPERATORS]
    ]
    rest = operators[TOP_OPERATORS:]
    if rest:  # the long tail in one bar, so the chart stays readable and the total exact
        top.append(
            Breakdown(
                label=f"Autres ({len(rest)})",
                points=sum(r["points"] for r in rest),
                stations=sum(r["stations"] for r in rest),
                points_in_service=sum(r["points_in_service"] for r in rest),
            )
        )
    return {
        "power": [
            Breakdown(
                label=r["power_class"],
                points=r["points"],
                stations=r["stations"],
                points_in_service=r["points_in_service"],
            )
            for r in power
        ],
        "connector": [
            Breakdown(
                label=r["connector"], points=r["points"], points_in_service=r["points_in_service"]
            )
            for r in connectors
        ],
        "region": [
            Breakdown(
                label=r["region"],
                points=r["points"],
                stations=r["stations"],
                points_in_service=r["points_in_service"],
            )
            for r in regions
        ],
        "operator": top,
    }


class AdminDashboardController(Controller):
    path = "/api/admin"
    tags = ["admin: dashboard"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [require_admin]  # noqa: RUF012

    @get("/dashboard", summary="Figures on the network and its use")
    async def dashboard(
        self,
        db_connection: asyncpg.Connection,
        days: int = Parameter(default=30, ge=1, le=366, description="days of daily use"),
    ) -> Response[Dashboard]:
        # One snapshot for every figure: the totals add up even while an import commits.
        async with db_connection.transaction(isolation="repeatable_read", readonly=True):
            net = await db_connection.fetchrow("SELECT * FROM analytics.network_summary")
            use = await db_connection.fetchrow("SELECT * FROM analytics.use_summary")
            parts = await _breakdowns(db_connection)
            months = await db_connection.fetch("SELECT * FROM analytics.new_points_per_month")
            per_day = await db_connection.fetch(
                """
                SELECT d::date AS day, coalesce(u.reservations, 0) AS reservations,
                       coalesce(u.charges, 0) AS charges, coalesce(u.cancelled, 0) AS cancelled,
                       coalesce(u.expired, 0) AS expired, coalesce(u.energy_kwh, 0) AS energy_kwh
                FROM generate_series(current_date - ($1::integer - 1), current_date,
                                     interval '1 day') AS d
                LEFT JOIN analytics.use_per_day u ON u.day = d::date
                ORDER BY d
                """,
                days,
            )
            busiest = await db_connection.fetch(
                "SELECT * FROM analytics.busiest_stations LIMIT $1", TOP_STATIONS
            )
            open_reports = await db_connection.fetchval(
                "SELECT count(*) FROM problem_reports WHERE status = 'open'"
            )
            open_messages = await db_connection.fetchval(
                "SELECT count(*) FROM contact_messages WHERE status = 'open'"
            )
        assert net is not None and use is not None
        body = Dashboard(
            generated_at=datetime.now(UTC),
            network=NetworkSummary(
                stations=net["stations"],
                points=net["points"],
                points_in_service=net["points_in_service"],
                share_in_service=to_float(net["share_in_service"]),
                points_withdrawn=net["points_withdrawn"],
                installed_power_kw=to_float(net["installed_power_kw"]),
            ),
            by_power_class=parts["power"],
            by_connector=parts["connector"],
            by_region=parts["region"],
            by_operator=parts["operator"],
            new_points_per_month=[
                MonthCount(
                    month=r["month"], points=r["points"], cumulative_points=r["cumulative_points"]
                )
                for r in months
            ],
            use=UseSummary(
                reservations=use["reservations"],
                charges=use["charges"],
                cancelled=use["cancelled"],
                expired=use["expired"],
                energy_kwh=to_float(use["energy_kwh"]),
                cancellation_rate=to_float(use["cancellation_rate"]),
                expiry_rate=to_float(use["expiry_rate"]),
            ),
            use_per_day=[
                DayUse(
                    day=r["day"],
                    reservations=r["reservations"],
                    charges=r["charges"],
                    cancelled=r["cancelled"],
                    expired=r["expired"],
                    energy_kwh=to_float(r["energy_kwh"]),
                )
                for r in per_day
            ],
            busiest_stations=[
                BusyStation(
                    station_id=r["station_id"],
                    nom_station=r["nom_station"],
                    commune=r["commune"],
                    operateur=r["operateur"],
                    reservations=r["reservations"],
                    charges=r["charges"],
                    energy_kwh=to_float(r["energy_kwh"]),
                    lon=r["lon"],
                    lat=r["lat"],
                )
                for r in busiest
            ],
            open_reports=open_reports,
            open_messages=open_messages,
        )
        return Response(body, headers={"Cache-Control": "no-store"})

    @get("/analytics", summary="The analytics views, documented")
    async def views(self, db_connection: asyncpg.Connection) -> list[AnalyticsView]:
        rows = await db_connection.fetch(
            """
            SELECT c.relname AS name, obj_description(c.oid, 'pg_class') AS description,
                   json_agg(json_build_object(
                       'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
                       'description', col_description(c.oid, a.attnum))
                       ORDER BY a.attnum) AS columns
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'analytics'
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE c.relkind = 'v'
            GROUP BY c.oid, c.relname
            ORDER BY c.relname
            """
        )
        return [
            AnalyticsView(
                name=r["name"],
                description=r["description"],
                csv_url=f"/api/admin/analytics/{r['name']}.csv",
                columns=[AnalyticsColumn(**col) for col in r["columns"]],
            )
            for r in rows
        ]

    @get(
        "/analytics/{file_name:str}",
        summary="One analytics view as CSV (streamed)",
        media_type="text/csv",
    )
    async def export_csv(
        self, state: State, db_connection: asyncpg.Connection, file_name: str
    ) -> Stream:
        view = file_name.removesuffix(".csv")
        # The view must be one of the catalog's analytics views; its columns come from the
        # catalog too, quoted by PostgreSQL: nothing from the request is spliced into SQL.
        query = await db_connection.fetchval(
            """
            SELECT format('SELECT %s FROM analytics.%I',
                          string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum),
                          c.relname)
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'analytics'
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE c.relkind = 'v' AND c.relname = $1
              AND format_type(a.atttypid, NULL) NOT IN ('geometry', 'geography')
            GROUP BY c.relname
            """,
            view,
        )
        if not file_name.endswith(".csv") or query is None:
            raise Problem(404, "view_not_found", "Vue d'analyse inconnue.")
        return Stream(
            _copy_csv(state.pool, query),
            media_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="wattsup-{view}.csv"',
                "Cache-Control": "no-store",
            },
        )


async def _copy_csv(pool: asyncpg.Pool, query: str) -> AsyncIterator[bytes]:
    """COPY … TO STDOUT as CSV, chunk by chunk, through a small bounded queue: memory stays
    flat whatever the size of the view (the handler's own connection is gone by now, so the
    stream takes one of its own)."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=CSV_CHUNKS_BUFFERED)

    async def sink(chunk: bytes) -> None:
        await queue.put(bytes(chunk))

    async def produce() -> None:
        try:
            async with pool.acquire() as conn:
                await conn.copy_from_query(query, output=sink, format="csv", header=True)
        except asyncio.CancelledError:
            raise  # the reader is gone: nobody waits for the end marker
        except BaseException:
            await queue.put(None)
            raise
        await queue.put(None)

    yield "\ufeff".encode()  # BOM: Excel and Power BI then read the accents right
    task = asyncio.create_task(produce())
    try:
        while (chunk := await queue.get()) is not None:
            yield chunk
        await task  # surface a COPY error rather than end the file quietly short
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def controllers() -> list[type[Controller]]:
    return [AdminDashboardController]
