"""The live state of every point in the official IRVE dynamic schema (etalab/schema-irve,
dynamique), as CSV and JSON, so other apps can consume what Watts Up knows."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncGenerator
from typing import Any

import asyncpg
from litestar import Controller, Request, Response, route
from litestar.datastructures import State
from litestar.enums import HttpMethod
from litestar.response import Stream

FIELDS = (
    "id_pdc_itinerance",
    "etat_pdc",
    "occupation_pdc",
    "horodatage",
    "etat_prise_type_2",
    "etat_prise_type_combo_ccs",
    "etat_prise_type_chademo",
    "etat_prise_type_ef",
)

SQL = """
SELECT id_pdc_itinerance,
       CASE WHEN operational_status = 'out_of_service'
                 OR connector_status IN ('Unavailable', 'Faulted') THEN 'hors_service'
            WHEN operational_status = 'unknown' THEN 'inconnu'
            ELSE 'en_service' END AS etat_pdc,
       CASE connector_status WHEN 'Available' THEN 'libre' WHEN 'Reserved' THEN 'reserve'
            WHEN 'Unavailable' THEN 'inconnu' WHEN 'Faulted' THEN 'inconnu'
            ELSE 'occupe' END AS occupation_pdc,
       to_char(greatest(status_changed_at, connector_status_at) AT TIME ZONE 'UTC',
               'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS horodatage,
       prise_type_2, prise_type_combo_ccs, prise_type_chademo, prise_type_ef
FROM charge_points WHERE withdrawn_at IS NULL ORDER BY id_pdc_itinerance
"""


def _row(r: asyncpg.Record) -> dict[str, Any]:
    ok = r["etat_pdc"] == "en_service"
    state = (
        "fonctionnel" if ok else ("hors_service" if r["etat_pdc"] == "hors_service" else "inconnu")
    )

    def prise(flag: bool) -> str | None:
        return state if flag else None

    return {
        "id_pdc_itinerance": r["id_pdc_itinerance"],
        "etat_pdc": r["etat_pdc"],
        "occupation_pdc": r["occupation_pdc"],
        "horodatage": r["horodatage"],
        "etat_prise_type_2": prise(r["prise_type_2"]),
        "etat_prise_type_combo_ccs": prise(r["prise_type_combo_ccs"]),
        "etat_prise_type_chademo": prise(r["prise_type_chademo"]),
        "etat_prise_type_ef": prise(r["prise_type_ef"]),
    }


class IrveDynamicController(Controller):
    path = "/api/irve"
    tags = ["open data"]  # noqa: RUF012 - Litestar reads it as a class attribute

    # GET and HEAD: a consumer (a harvester, a link checker) may ask for the headers only.
    # HEAD answers them without a connection or a read of the network (every point: ~150k
    # rows), and so without a Content-Length (RFC 9110 lets HEAD leave it out; the CSV's
    # streamed GET has none either).
    @route(
        "/dynamique.json",
        http_method=[HttpMethod.GET, HttpMethod.HEAD],
        summary="Live state of every point (IRVE dynamic schema), JSON",
    )
    async def as_json(
        self, request: Request[Any, Any, Any], state: State
    ) -> Response[list[dict[str, Any]]]:
        if request.method == HttpMethod.HEAD:
            return _headers_only("application/json")  # type: ignore[return-value]
        pool: asyncpg.Pool = state.pool
        return Response([_row(r) for r in await pool.fetch(SQL)])

    @route(
        "/dynamique.csv",
        http_method=[HttpMethod.GET, HttpMethod.HEAD],
        summary="Live state of every point (IRVE dynamic schema), CSV",
        media_type="text/csv",
    )
    async def as_csv(self, request: Request[Any, Any, Any], state: State) -> Response[Any]:
        if request.method == HttpMethod.HEAD:
            return _headers_only("text/csv", CSV_HEADERS)
        pool: asyncpg.Pool = state.pool

        async def rows() -> AsyncGenerator[bytes, None]:
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=FIELDS)
            writer.writeheader()
            async with pool.acquire() as conn, conn.transaction():
                async for r in conn.cursor(SQL, prefetch=2000):
                    writer.writerow(_row(r))
                    if buf.tell() > 65536:
                        yield buf.getvalue().encode()
                        buf.seek(0)
                        buf.truncate()
            yield buf.getvalue().encode()

        return Stream(
            rows(),
            # Litestar appends "; charset=utf-8" to text types itself.
            media_type="text/csv",
            headers=CSV_HEADERS,
        )


CSV_HEADERS = {"Content-Disposition": 'attachment; filename="irve-dynamique-wattsup.csv"'}


def _headers_only(media_type: str, headers: dict[str, str] | None = None) -> Stream:
    """GET's headers with an empty stream: no Content-Length, as GET's streamed answer."""
    empty: tuple[bytes, ...] = ()
    return Stream(empty, media_type=media_type, headers=headers)
