"""Read-only network API for drivers: a station with its points, stations in view, search."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import asyncpg
from litestar import Controller, get
from litestar.params import Parameter

from api.schemas.stations import PointGroup, PointRead, SearchHit, StationRead, StationSummary
from wattsup.problems import Problem

CONNECTOR_LABELS = {
    "ef": "E/F",
    "type_2": "Type 2",
    "combo_ccs": "Combo CCS",
    "chademo": "CHAdeMO",
    "autre": "Autre",
}
STATUS_OF = {  # OCPP connector status → what a driver is told
    "Available": "available",
    "Reserved": "reserved",
    "Preparing": "in_use",
    "Charging": "in_use",
    "SuspendedEV": "in_use",
    "Finishing": "in_use",
    "Unavailable": "out_of_order",
    "Faulted": "out_of_order",
}


def driver_status(operational: str, connector: str, withdrawn: bool) -> str:
    if withdrawn or operational == "out_of_service":
        return "out_of_order"
    if operational == "unknown":
        return "unknown"
    return STATUS_OF.get(connector, "unknown")


def power_label(kw: float) -> str:
    return f"{kw:g} kW"


POINTS_SQL = """
SELECT id, id_pdc_itinerance, puissance_nominale::float8 AS power_kw,
       point_sockets(charge_points) AS connectors,  -- migration 0034
       gratuit, paiement_acte, paiement_cb, tarification, reservation, cable_t2_attache,
       operational_status, connector_status, withdrawn_at IS NOT NULL AS withdrawn,
       greatest(status_changed_at, connector_status_at) AS status_updated_at
FROM charge_points WHERE station_id = $1 AND withdrawn_at IS NULL
ORDER BY puissance_nominale DESC, id_pdc_itinerance
"""


class StationController(Controller):
    path = "/api"
    tags = ["stations"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/stations/{station_id:uuid}", summary="A station with its points, aggregated")
    async def station(self, db_connection: asyncpg.Connection, station_id: UUID) -> StationRead:
        s = await db_connection.fetchrow(
            "SELECT s.*, ST_X(geom_4326) AS lon, ST_Y(geom_4326) AS lat, o.nom_operateur, "
            "o.nom_enseigne, o.nom_amenageur, "
            "tiles.open_at(s.opening_week, s.time_zone, tiles.now()) AS open_now FROM stations s "
            "LEFT JOIN operators o ON o.id = s.operator_id WHERE s.id = $1",
            station_id,
        )
        if s is None:
            raise Problem(404, "station_not_found", "Station introuvable.")
        points = []
        groups: dict[tuple[float, tuple[str, ...]], list[int]] = {}
        for p in await db_connection.fetch(POINTS_SQL, station_id):
            status = driver_status(p["operational_status"], p["connector_status"], p["withdrawn"])
            points.append(
                PointRead(
                    id=p["id"],
                    id_pdc_itinerance=p["id_pdc_itinerance"],
                    power_kw=p["power_kw"],
                    connectors=list(p["connectors"]),
                    free=p["gratuit"],
                    pay_as_you_go=p["paiement_acte"],
                    card=p["paiement_cb"],
                    pricing=p["tarification"],
                    reservable=p["reservation"],
                    t2_cable=p["cable_t2_attache"],
                    operational_status=p["operational_status"],
                    connector_status=p["connector_status"],
                    status=status,
                    status_updated_at=p["status_updated_at"],
                    status_source="wattsup",
                )
            )
            g = groups.setdefault((p["power_kw"], tuple(p["connectors"])), [0, 0])
            g[0] += 1
            g[1] += status == "available"
        return StationRead(
            id=s["id"],
            id_station_itinerance=s["id_station_itinerance"],
            name=s["nom_station"],
            address=s["adresse_station"],
            commune=s["commune"],
            postcode=s["code_postal"],
            operator=s["nom_operateur"] or s["nom_amenageur"],
            network=s["nom_enseigne"],
            lon=s["lon"],
            lat=s["lat"],
            access=s["condition_acces"],
            opening_hours=s["horaires"],
            open_24_7=s["is_24_7"],
            open_now=s["open_now"],
            pmr=s["accessibilite_pmr"],
            height_limit=s["restriction_gabarit"],
            two_wheeler=s["station_deux_roues"],
            commissioned=s["date_mise_en_service"],
            updated=s["date_maj"],
            groups=[
                PointGroup(
                    label=f"{power_label(kw)} · "
                    f"{' + '.join(CONNECTOR_LABELS[c] for c in conns) or '?'} · "
                    f"{avail}/{total} libre{'s' if avail > 1 else ''}",
                    power_kw=kw,
                    connectors=list(conns),
                    total=total,
                    available=avail,
                )
                for (kw, conns), (total, avail) in groups.items()
            ],
            points=points,
            directions_url=(f"https://www.openstreetmap.org/directions?to={s['lat']}%2C{s['lon']}"),
        )

    @get("/stations", summary="Stations in a bounding box (the list view of the map)")
    async def stations_in_view(
        self,
        db_connection: asyncpg.Connection,
        bbox: Annotated[
            str, Parameter(description="west,south,east,north in degrees", max_length=100)
        ],
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[StationSummary]:
        try:
            w, s, e, n = (float(v) for v in bbox.split(","))
        except ValueError:
            raise Problem(
                400, "invalid_bbox", "bbox attendu : ouest,sud,est,nord en degrés."
            ) from None
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise Problem(400, "invalid_bbox", "bbox hors limites ou inversée.")
        rows = await db_connection.fetch(
            "SELECT s.id, s.nom_station AS name, s.adresse_station AS address, s.commune, "
            "ST_X(s.geom_4326) AS lon, ST_Y(s.geom_4326) AS lat, count(cp.id) AS points, "
            "count(cp.id) FILTER (WHERE cp.operational_status = 'in_service' AND "
            "cp.connector_status = 'Available') AS available, "
            "max(cp.puissance_nominale)::float8 AS max_power_kw "
            "FROM stations s JOIN charge_points cp ON cp.station_id = s.id "
            "AND cp.withdrawn_at IS NULL "
            "WHERE s.geom && ST_Transform(ST_MakeEnvelope($1, $2, $3, $4, 4326), 3857) "
            "AND s.withdrawn_at IS NULL GROUP BY s.id ORDER BY s.nom_station LIMIT $5",
            w,
            s,
            e,
            n,
            limit,
        )
        return [StationSummary(**dict(r)) for r in rows]

    @get("/search", summary="Search communes, postcodes, addresses and stations")
    async def search(
        self,
        db_connection: asyncpg.Connection,
        q: Annotated[str, Parameter(min_length=2, max_length=100)],
    ) -> list[SearchHit]:
        text = q.strip()
        if len(text) < 2:
            raise Problem(400, "query_too_short", "Tapez au moins deux caractères.")
        # Accent-insensitive (unaccent) and typo-tolerant (trigram similarity), server side.
        rows = await db_connection.fetch(
            """
            WITH q AS (SELECT lower(unaccent($1)) AS t)
            SELECT * FROM (
                SELECT 'commune' AS kind, s.commune AS label,
                       min(s.code_postal) AS detail,
                       avg(ST_X(s.geom_4326)) AS lon, avg(ST_Y(s.geom_4326)) AS lat,
                       NULL::uuid AS station_id,
                       max(similarity(lower(unaccent(s.commune)), q.t)) AS score
                FROM stations s, q
                WHERE s.withdrawn_at IS NULL AND s.commune IS NOT NULL
                  AND (similarity(lower(unaccent(s.commune)), q.t) > 0.2
                       OR lower(unaccent(s.commune)) LIKE q.t || '%'
                       OR s.code_postal LIKE q.t || '%')
                GROUP BY s.commune
                UNION ALL
                SELECT 'station', s.nom_station, s.adresse_station, ST_X(s.geom_4326),
                       ST_Y(s.geom_4326), s.id,
                       greatest(similarity(lower(unaccent(s.nom_station)), q.t),
                                similarity(lower(unaccent(coalesce(s.adresse_station, ''))),
                                           q.t)) AS score
                FROM stations s, q
                WHERE s.withdrawn_at IS NULL
                  AND (similarity(lower(unaccent(s.nom_station)), q.t) > 0.3
                       OR lower(unaccent(coalesce(s.adresse_station, ''))) LIKE '%' || q.t || '%')
            ) hits
            ORDER BY score DESC, label LIMIT 10
            """,
            text,
        )
        return [
            SearchHit(
                kind=r["kind"],
                label=r["label"],
                detail=r["detail"],
                lon=r["lon"],
                lat=r["lat"],
                station_id=r["station_id"],
            )
            for r in rows
        ]
