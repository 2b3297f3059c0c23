"""/api/admin/stations and /api/admin/points: maintain the network by hand.

Edits are checked with the importer's own rules (wattsup.importer.normalize / rows), so a
station typed in the back office is held to the same standard as a row of the national file.
Writes run in their own transaction and, once committed, drop exactly the cached tiles that
showed the station (before and after a move), after recomputing its cluster cells."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_201_CREATED

from api.schemas.admin import (
    AdminPoint,
    AdminStation,
    AdminStationRow,
    PointInput,
    StationInput,
    StationPage,
)
from api.security import require_admin
from wattsup import tile_cache
from wattsup.importer.normalize import (
    POWER_MAX_KW,
    fold,
    id_matches_schema,
    in_france,
    insee_pattern_ok,
    is_24_7,
)
from wattsup.importer.rows import CONNECTOR_FIELDS, ENUMS
from wattsup.problems import Problem

POSTCODE = re.compile(r"^\d{5}$")
OPERATOR_FIELDS = ("nom_amenageur", "nom_operateur", "nom_enseigne")
STATION_TEXT = (
    "nom_station",
    "adresse_station",
    "commune",
    "horaires",
    "restriction_gabarit",
)

POINT_COLUMNS = """
    cp.id, cp.station_id, cp.id_pdc_itinerance, cp.puissance_nominale::float8 AS puissance_nominale,
    cp.prise_type_ef, cp.prise_type_2, cp.prise_type_combo_ccs, cp.prise_type_chademo,
    cp.prise_type_autre, cp.gratuit, cp.paiement_acte, cp.paiement_cb, cp.tarification,
    cp.cable_t2_attache, cp.reservation, cp.operational_status, cp.connector_status,
    cp.withdrawn_at IS NOT NULL AS withdrawn, cp.updated_at
"""
STATION_COLUMNS = """
    s.id, s.id_station_itinerance, s.nom_station, s.implantation_station, s.adresse_station,
    s.code_insee_commune, s.commune, s.code_postal, s.condition_acces, s.horaires, s.is_24_7,
    s.accessibilite_pmr, s.restriction_gabarit, s.station_deux_roues, s.raccordement,
    s.date_mise_en_service, o.nom_amenageur, o.nom_operateur, o.nom_enseigne,
    ST_X(s.geom_4326) AS lon, ST_Y(s.geom_4326) AS lat, s.withdrawn_at IS NOT NULL AS withdrawn,
    s.created_at, s.updated_at
"""
# Names sort as a reader expects, whatever the database's collation ("C" sorts every capital
# before "a": "ANIANE" before "Abancourt"): case and accents folded.
SORTS = {
    "name": "lower(unaccent(s.nom_station))",
    "commune": "lower(unaccent(s.commune))",
    "operator": "lower(unaccent(coalesce(o.nom_enseigne, o.nom_operateur, o.nom_amenageur)))",
    "power": "max_power_kw",
    "points": "points",
    "updated": "s.updated_at",
    # Healthiest first: all points in service (0) .. all out of service (1), then a station
    # with no point (2), then withdrawn (3); `desc` puts what needs attention on top.
    "status": "CASE WHEN s.withdrawn_at IS NOT NULL THEN 3 WHEN count(cp.id) = 0 THEN 2"
    " ELSE 1 - (count(*) FILTER (WHERE cp.operational_status = 'in_service'))::float8"
    " / count(cp.id) END",
}


class FieldErrors:
    """Collects every bad field of a request, then answers 422 with all of them at once."""

    def __init__(self) -> None:
        self.errors: list[dict[str, Any]] = []

    def add(self, field: str, reason: str) -> None:
        self.errors.append({"field": field, "reason": reason})

    def raise_if_any(self) -> None:
        if self.errors:
            first = self.errors[0]
            raise Problem(
                422,
                "validation_failed",
                f"Champ « {first['field']} » invalide : {first['reason']}",
                errors=self.errors,
            )


def _set(data: msgspec.Struct) -> dict[str, Any]:
    """The fields the client sent (UNSET ones left out), blank strings read as null."""
    out: dict[str, Any] = {}
    for name in data.__struct_fields__:
        value = getattr(data, name)
        if value is msgspec.UNSET:
            continue
        if isinstance(value, str):
            value = value.strip() or None
        out[name] = value
    return out


def check_station(values: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """The import's rules for a station, on the fields being written. Returns column values."""
    err = FieldErrors()
    if creating:
        for required in ("id_station_itinerance", "nom_station", "lon", "lat"):
            if values.get(required) is None:
                err.add(required, "champ obligatoire")
    ident = values.get("id_station_itinerance")
    if ident is not None and not id_matches_schema(ident):
        err.add("id_station_itinerance", "identifiant IRVE attendu (ex. FRA01P12345)")
    if "nom_station" in values and values["nom_station"] is None:
        err.add("nom_station", "champ obligatoire")
    for field, matcher in ENUMS.items():
        raw = values.get(field)
        if raw is not None:
            canonical = matcher.get(fold(raw))
            if canonical is None:
                err.add(field, f"valeur attendue parmi : {', '.join(matcher.values())}")
            else:
                values[field] = canonical
    insee = values.get("code_insee_commune")
    if insee is not None and not insee_pattern_ok(insee):
        err.add("code_insee_commune", "code INSEE de commune attendu (5 caractères)")
    postcode = values.get("code_postal")
    if postcode is not None and not POSTCODE.match(postcode):
        err.add("code_postal", "code postal à 5 chiffres attendu")
    commissioned = values.get("date_mise_en_service")
    if isinstance(commissioned, date) and commissioned > date.today():
        err.add("date_mise_en_service", "date dans le futur")
    if ("lon" in values) != ("lat" in values):
        err.add("lon" if "lon" not in values else "lat", "longitude et latitude vont ensemble")
    lon, lat = values.get("lon"), values.get("lat")
    if (lon is not None and lat is not None) and (
        not (math.isfinite(lon) and math.isfinite(lat)) or not in_france(lon, lat)
    ):
        err.add("lon", "position hors de France (métropole et outre-mer)")
    err.raise_if_any()
    if "horaires" in values:
        values["is_24_7"] = is_24_7(values["horaires"])
    return values


def check_point(values: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    err = FieldErrors()
    if creating:
        for required in ("id_pdc_itinerance", "puissance_nominale"):
            if values.get(required) is None:
                err.add(required, "champ obligatoire")
        if not any(values.get(f) for f in CONNECTOR_FIELDS):
            err.add("prise_type_2", "au moins un type de prise")
    ident = values.get("id_pdc_itinerance")
    if ident is not None and not id_matches_schema(ident):
        err.add("id_pdc_itinerance", "identifiant IRVE attendu (ex. FRA01E12345)")
    power = values.get("puissance_nominale")
    if power is not None and not (0 < power <= POWER_MAX_KW and math.isfinite(power)):
        err.add(
            "puissance_nominale", f"puissance en kW attendue : plus de 0, au plus {POWER_MAX_KW:g}"
        )
    err.raise_if_any()
    return values


@asynccontextmanager
async def network_edit(state: State, *station_ids: UUID) -> AsyncIterator[NetworkEdit]:
    """One transaction for an edit; after commit, the cluster cells and cached tiles of the
    touched stations (where they were and where they are) are brought up to date."""
    async with state.pool.acquire() as conn:
        edit = NetworkEdit(conn)
        async with conn.transaction():
            for sid in station_ids:
                await edit.touch(sid)
            yield edit
            # Every cell the stations were in and have left (a move), and the cells they are
            # in now, unless the edit left the clusters' inputs alone (which points count,
            # their power, where the station is): recomputing a station's cells at every
            # zoom reads the whole of France at zoom 0, ~1 s on the national network, which
            # setting a point out of service does not need. The station's facets and card
            # (its availability, services) are always redone: a few ms.
            now_at = {
                (r["x"], r["y"])
                for r in await conn.fetch(
                    "SELECT ST_X(geom) AS x, ST_Y(geom) AS y FROM stations WHERE id = ANY($1)",
                    list(edit.stations),
                )
            }
            for x, y in edit.old_positions:
                if (x, y) not in now_at:
                    await conn.execute("SELECT tiles.refresh_cells_at($1, $2)", x, y)
            for sid in edit.stations:
                if edit.clusters:
                    await conn.execute("SELECT tiles.refresh_cells_of_station($1)", sid)
                else:
                    await conn.execute(
                        "SELECT tiles.refresh_facets($1), tiles.refresh_station_cards($1)", sid
                    )
            edit.tiles |= await tile_cache.tiles_of_stations(conn, list(edit.stations))
        await tile_cache.invalidate_tiles(state.redis, conn, edit.tiles)


class NetworkEdit:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.stations: set[UUID] = set()
        self.tiles: set[tile_cache.Tile] = set()
        self.old_positions: list[tuple[float, float]] = []
        # Whether the edit may change the cluster cells (see network_edit): set false by an
        # edit that changes no point's power or presence and moves no station.
        self.clusters = True

    async def touch(self, station_id: UUID) -> None:
        """Note a station about to change: its current cells and tiles are stale after."""
        if station_id in self.stations:
            return
        row = await self.conn.fetchrow(
            "SELECT ST_X(geom) AS x, ST_Y(geom) AS y FROM stations WHERE id = $1 FOR UPDATE",
            station_id,
        )
        if row is None:
            raise _station_not_found()
        self.stations.add(station_id)
        self.tiles |= await tile_cache.tiles_of_stations(self.conn, [station_id])
        self.old_positions.append((row["x"], row["y"]))


def _station_not_found() -> Problem:
    return Problem(404, "station_not_found", "Station introuvable.")


def _point_not_found() -> Problem:
    return Problem(404, "point_not_found", "Point de charge introuvable.")


async def _operator_id(
    conn: asyncpg.Connection, current: UUID | None, names: dict[str, Any]
) -> UUID | None:
    """The operator row for these names, keeping the current row's other fields."""
    base: dict[str, Any] = {
        "nom_amenageur": None,
        "siren_amenageur": None,
        "contact_amenageur": None,
        "nom_operateur": None,
        "contact_operateur": None,
        "telephone_operateur": None,
        "nom_enseigne": None,
    }
    if current is not None:
        row = await conn.fetchrow(
            "SELECT nom_amenageur, siren_amenageur, contact_amenageur, nom_operateur, "
            "contact_operateur, telephone_operateur, nom_enseigne FROM operators WHERE id = $1",
            current,
        )
        if row is not None:
            base.update(dict(row))
    base.update(names)
    if not any(base.values()):
        return None
    oid: UUID = await conn.fetchval(
        """
        INSERT INTO operators (nom_amenageur, siren_amenageur, contact_amenageur, nom_operateur,
                               contact_operateur, telephone_operateur, nom_enseigne)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (identity_key) DO UPDATE SET nom_amenageur = EXCLUDED.nom_amenageur
        RETURNING id
        """,
        *base.values(),
    )
    return oid


async def _read_station(conn: asyncpg.Connection, station_id: UUID) -> AdminStation:
    row = await conn.fetchrow(
        f"SELECT {STATION_COLUMNS} FROM stations s LEFT JOIN operators o ON o.id = s.operator_id "
        "WHERE s.id = $1",
        station_id,
    )
    if row is None:
        raise _station_not_found()
    points = await conn.fetch(
        f"SELECT {POINT_COLUMNS} FROM charge_points cp WHERE cp.station_id = $1 "
        "ORDER BY cp.withdrawn_at NULLS FIRST, cp.id_pdc_itinerance",
        station_id,
    )
    return AdminStation(**dict(row), points=[AdminPoint(**dict(p)) for p in points])


async def _read_point(conn: asyncpg.Connection, point_id: UUID) -> AdminPoint:
    row = await conn.fetchrow(
        f"SELECT {POINT_COLUMNS} FROM charge_points cp WHERE cp.id = $1", point_id
    )
    if row is None:
        raise _point_not_found()
    return AdminPoint(**dict(row))


async def _write_station(
    conn: asyncpg.Connection, station_id: UUID | None, values: dict[str, Any]
) -> UUID:
    names = {k: values.pop(k) for k in OPERATOR_FIELDS if k in values}
    lon, lat = values.pop("lon", None), values.pop("lat", None)
    current_operator = None
    if station_id is not None:
        current_operator = await conn.fetchval(
            "SELECT operator_id FROM stations WHERE id = $1", station_id
        )
    if names or station_id is None:
        values["operator_id"] = await _operator_id(conn, current_operator, names)
    columns = list(values)
    args = list(values.values())
    if station_id is None:
        placeholders = [f"${i}" for i in range(1, len(args) + 1)]
        args += [lon, lat]
        n = len(args)
        new_id: UUID = await conn.fetchval(
            f"INSERT INTO stations ({', '.join([*columns, 'geom_4326'])}) VALUES "
            f"({', '.join(placeholders)}, ST_SetSRID(ST_MakePoint(${n - 1}, ${n}), 4326)) "
            "RETURNING id",
            *args,
        )
        return new_id
    sets = [f"{c} = ${i}" for i, c in enumerate(columns, start=2)]
    if lon is not None and lat is not None:
        args += [lon, lat]
        n = len(args) + 1
        sets.append(f"geom_4326 = ST_SetSRID(ST_MakePoint(${n - 1}, ${n}), 4326)")
    sets.append("updated_at = now()")
    await conn.execute(f"UPDATE stations SET {', '.join(sets)} WHERE id = $1", station_id, *args)
    return station_id


class AdminNetworkController(Controller):
    path = "/api/admin"
    tags = ["admin: network"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [require_admin]  # noqa: RUF012

    @get("/stations", summary="Stations (filtered, sorted, paged)")
    async def list_stations(
        self,
        db_connection: asyncpg.Connection,
        q: str | None = Parameter(default=None, max_length=200),
        commune: str | None = Parameter(default=None, max_length=200),
        operator: str | None = Parameter(default=None, max_length=200),
        min_power: float | None = Parameter(default=None, ge=0, le=POWER_MAX_KW),
        status: str | None = Parameter(
            default=None, pattern="^(in_service|out_of_service|withdrawn)$"
        ),
        sort: str = Parameter(
            default="name", pattern="^(name|commune|operator|power|points|updated|status)$"
        ),
        order: str = Parameter(default="asc", pattern="^(asc|desc)$"),
        page: int = Parameter(default=1, ge=1, le=100_000),
        per_page: int = Parameter(default=50, ge=1, le=200),
    ) -> StationPage:
        where: list[str] = []
        having: list[str] = []
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if q and q.strip():
            p = arg(f"%{q.strip()}%")
            where.append(
                f"(unaccent(s.nom_station) ILIKE unaccent({p}) OR s.id_station_itinerance ILIKE {p}"
                f" OR unaccent(coalesce(s.adresse_station, '')) ILIKE unaccent({p}))"
            )
        if commune and commune.strip():
            p = arg(f"{commune.strip()}%")
            where.append(
                f"(unaccent(coalesce(s.commune, '')) ILIKE unaccent({p}) OR s.code_postal LIKE {p}"
                f" OR s.code_insee_commune LIKE {p})"
            )
        if operator and operator.strip():
            p = arg(f"%{operator.strip()}%")
            where.append(
                f"(o.nom_operateur ILIKE {p} OR o.nom_enseigne ILIKE {p} "
                f"OR o.nom_amenageur ILIKE {p})"
            )
        if status == "withdrawn":
            where.append("s.withdrawn_at IS NOT NULL")
        elif status is not None:
            where.append("s.withdrawn_at IS NULL")
            if status == "out_of_service":
                having.append(
                    "count(*) FILTER (WHERE cp.operational_status = 'out_of_service') > 0"
                )
            else:
                having.append("count(*) FILTER (WHERE cp.operational_status = 'in_service') > 0")
        if min_power is not None:
            having.append(f"max(cp.puissance_nominale) >= {arg(min_power)}")
        base = f"""
            SELECT s.id, s.id_station_itinerance, s.nom_station, s.commune, s.code_postal,
                   coalesce(o.nom_enseigne, o.nom_operateur, o.nom_amenageur) AS operator,
                   count(cp.id)::integer AS points,
                   (count(*) FILTER (WHERE cp.operational_status = 'in_service'))::integer
                       AS points_in_service,
                   max(cp.puissance_nominale)::float8 AS max_power_kw,
                   s.withdrawn_at IS NOT NULL AS withdrawn,
                   ST_X(s.geom_4326) AS lon, ST_Y(s.geom_4326) AS lat, s.updated_at
            FROM stations s
            LEFT JOIN operators o ON o.id = s.operator_id
            LEFT JOIN charge_points cp ON cp.station_id = s.id
                 AND (cp.withdrawn_at IS NULL OR s.withdrawn_at IS NOT NULL)
            {"WHERE " + " AND ".join(where) if where else ""}
            GROUP BY s.id, o.id
            {"HAVING " + " AND ".join(having) if having else ""}
        """
        total = await db_connection.fetchval(f"SELECT count(*) FROM ({base}) q", *args)
        direction = "DESC" if order == "desc" else "ASC"
        rows = await db_connection.fetch(
            f"{base} ORDER BY {SORTS[sort]} {direction} NULLS LAST, s.id "
            f"LIMIT {per_page} OFFSET {(page - 1) * per_page}",
            *args,
        )
        return StationPage(
            items=[AdminStationRow(**dict(r)) for r in rows],
            total=total,
            page=page,
            per_page=per_page,
        )

    @get("/stations/{station_id:uuid}", summary="One station with all its fields and points")
    async def read_station(
        self, db_connection: asyncpg.Connection, station_id: UUID
    ) -> AdminStation:
        return await _read_station(db_connection, station_id)

    @post("/stations", status_code=HTTP_201_CREATED, summary="Create a station")
    async def create_station(self, state: State, data: JSONBody[StationInput]) -> AdminStation:
        values = check_station(_set(data), creating=True)
        async with network_edit(state) as edit:
            station_id = await _write_station(edit.conn, None, values)
            edit.stations.add(station_id)
            return await _read_station(edit.conn, station_id)

    @patch("/stations/{station_id:uuid}", summary="Edit a station (position included)")
    async def update_station(
        self, state: State, station_id: UUID, data: JSONBody[StationInput]
    ) -> AdminStation:
        values = check_station(_set(data), creating=False)
        async with network_edit(state, station_id) as edit:
            if values:
                await _write_station(edit.conn, station_id, values)
            return await _read_station(edit.conn, station_id)

    @delete(
        "/stations/{station_id:uuid}",
        status_code=200,
        summary="Withdraw a station and its points (open bookings cancelled)",
    )
    async def withdraw_station(self, state: State, station_id: UUID) -> AdminStation:
        async with network_edit(state, station_id) as edit:
            # The bookings first, with this reason: withdrawing a point would end them as
            # 'point_withdrawn' (the trigger of migration 0035). A booking's row is taken
            # before its point's, as every writer of both does.
            await edit.conn.execute(
                "SELECT cancel_reservations_for_point(id, 'station_withdrawn') "
                "FROM charge_points WHERE station_id = $1 AND withdrawn_at IS NULL",
                station_id,
            )
            await edit.conn.execute(
                "UPDATE charge_points SET withdrawn_at = coalesce(withdrawn_at, now()), "
                "updated_at = now() WHERE station_id = $1",
                station_id,
            )
            await edit.conn.execute(
                "UPDATE stations SET withdrawn_at = coalesce(withdrawn_at, now()), "
                "updated_at = now() WHERE id = $1",
                station_id,
            )
            return await _read_station(edit.conn, station_id)

    @post(
        "/stations/{station_id:uuid}/points",
        status_code=HTTP_201_CREATED,
        summary="Add a charging point to a station",
    )
    async def create_point(
        self, state: State, station_id: UUID, data: JSONBody[PointInput]
    ) -> AdminPoint:
        values = check_point(_set(data), creating=True)
        async with network_edit(state, station_id) as edit:
            withdrawn = await edit.conn.fetchval(
                "SELECT withdrawn_at IS NOT NULL FROM stations WHERE id = $1", station_id
            )
            if withdrawn:
                raise Problem(409, "station_withdrawn", "Cette station est retirée du réseau.")
            values["station_id"] = station_id
            for f in CONNECTOR_FIELDS:
                values.setdefault(f, False)
            columns = list(values)
            placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
            point_id = await edit.conn.fetchval(
                f"INSERT INTO charge_points ({', '.join(columns)}) VALUES ({placeholders}) "
                "RETURNING id",
                *values.values(),
            )
            return await _read_point(edit.conn, point_id)

    @patch(
        "/points/{point_id:uuid}",
        summary="Edit a charging point, or set it in / out of service",
    )
    async def update_point(
        self, state: State, point_id: UUID, data: JSONBody[PointInput]
    ) -> AdminPoint:
        values = check_point(_set(data), creating=False)
        station_id = await _station_of_point(state, point_id)
        async with network_edit(state, station_id) as edit:
            # The clusters count the points and keep their highest power: nothing else here.
            edit.clusters = "puissance_nominale" in values
            sets = [f"{c} = ${i}" for i, c in enumerate(values, start=2)]
            if "operational_status" in values:
                sets.append("status_changed_at = now()")
                # Out of service cancels the point's booking (a trigger, 0004): its row is
                # locked first, in the order of every other writer of both (a booking
                # transition, the sweeper: the booking, then its point), not the reverse.
                await edit.conn.execute(
                    "SELECT 1 FROM reservations WHERE charge_point_id = $1 "
                    "AND status IN ('reserved', 'charging') FOR UPDATE",
                    point_id,
                )
            if values:
                sets.append("updated_at = now()")
                await edit.conn.execute(
                    f"UPDATE charge_points SET {', '.join(sets)} WHERE id = $1",
                    point_id,
                    *values.values(),
                )
                if not any(await _connectors(edit.conn, point_id)):
                    raise Problem(
                        422,
                        "validation_failed",
                        "Un point de charge doit avoir au moins un type de prise.",
                        errors=[{"field": "prise_type_2", "reason": "au moins un type de prise"}],
                    )
            return await _read_point(edit.conn, point_id)

    @delete("/points/{point_id:uuid}", status_code=200, summary="Withdraw a charging point")
    async def withdraw_point(self, state: State, point_id: UUID) -> AdminPoint:
        station_id = await _station_of_point(state, point_id)
        async with network_edit(state, station_id) as edit:
            await edit.conn.execute(
                "SELECT cancel_reservations_for_point($1, 'point_withdrawn')", point_id
            )
            await edit.conn.execute(
                "UPDATE charge_points SET withdrawn_at = coalesce(withdrawn_at, now()), "
                "updated_at = now() WHERE id = $1",
                point_id,
            )
            return await _read_point(edit.conn, point_id)


async def _station_of_point(state: State, point_id: UUID) -> UUID:
    async with state.pool.acquire() as conn:
        station_id: UUID | None = await conn.fetchval(
            "SELECT station_id FROM charge_points WHERE id = $1", point_id
        )
    if station_id is None:
        raise _point_not_found()
    return station_id


async def _connectors(conn: asyncpg.Connection, point_id: UUID) -> tuple[bool, ...]:
    row = await conn.fetchrow(
        f"SELECT {', '.join(CONNECTOR_FIELDS)} FROM charge_points WHERE id = $1", point_id
    )
    assert row is not None
    return tuple(row.values())
