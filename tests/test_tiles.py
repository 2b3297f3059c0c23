"""Vector tiles on a real PostGIS with the real sample: decoded as a map client would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import mapbox_vector_tile
import mercantile
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import ROOT
from tests.fixtures_reservations import hold_points, release_points
from tileserver import tiles as tile_module
from wattsup import tile_cache
from wattsup.config import Settings

pytestmark = pytest.mark.usefixtures("imported_sample")


async def station_positions(pool, where: str = "true") -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    rows = await pool.fetch(
        "SELECT ST_X(geom_4326) AS lon, ST_Y(geom_4326) AS lat FROM stations s "
        f"WHERE withdrawn_at IS NULL AND {where}"
    )
    return [(r["lon"], r["lat"]) for r in rows]


async def fetch(client, z: int, x: int, y: int, query: str = "") -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = await client.get(f"/tiles/stations/{z}/{x}/{y}.pbf{query}")
    assert r.status_code in (200, 204), r.text
    if r.status_code == 204:
        return {}
    decoded: dict[str, Any] = mapbox_vector_tile.decode(r.content)
    return decoded


async def sum_clusters(client, positions, z: int, query: str = "") -> int:  # type: ignore[no-untyped-def]
    tiles = {mercantile.tile(lon, lat, z) for lon, lat in positions}
    total = 0
    for t in tiles:
        layer = (await fetch(client, t.z, t.x, t.y, query)).get("clusters")
        if layer:
            total += sum(f["properties"]["point_count"] for f in layer["features"])
    return total


@pytest.mark.parametrize("z", [0, 4, 7, 10, 12])
async def test_cluster_counts_add_up_to_the_stations(tile_client, pool, z: int) -> None:  # type: ignore[no-untyped-def]
    positions = await station_positions(pool)
    assert await sum_clusters(tile_client, positions, z) == len(positions)


@pytest.mark.parametrize(
    ("query", "where"),
    [
        (
            "?min_power=40",
            "EXISTS (SELECT 1 FROM charge_points p WHERE p.station_id = s.id "
            "AND p.withdrawn_at IS NULL AND p.puissance_nominale >= 40)",
        ),
        (
            "?connectors=autre,chademo",
            "EXISTS (SELECT 1 FROM charge_points p WHERE "
            "p.station_id = s.id AND p.withdrawn_at IS NULL AND (p.prise_type_autre OR "
            "p.prise_type_chademo))",
        ),
        (
            "?free=true",
            "EXISTS (SELECT 1 FROM charge_points p WHERE p.station_id = s.id "
            "AND p.withdrawn_at IS NULL AND p.gratuit)",
        ),
        (
            "?open_24_7=false&card=true",
            "NOT s.is_24_7 AND EXISTS (SELECT 1 FROM charge_points p"
            " WHERE p.station_id = s.id AND p.withdrawn_at IS NULL AND p.paiement_cb)",
        ),
    ],
)
async def test_filtered_cluster_counts_respect_the_filters(  # type: ignore[no-untyped-def]
    tile_client, pool, query: str, where: str
) -> None:
    expected = await station_positions(pool, where)
    everything = await station_positions(pool)
    assert 0 < len(expected) < len(everything), "the filter must select a real subset"
    for z in (3, 9):
        assert await sum_clusters(tile_client, everything, z, query) == len(expected)


FILTER_QUERIES = (
    "?min_power=22",
    "?connectors=combo_ccs,chademo&min_power=50",
    "?free=false&card=true",
    "?pay_as_you_go=true&open_24_7=false",
    "?pmr=true",
    "?free_access=true",
    "?two_wheeler=false&t2_cable=true",
    "?available_now=true&connectors=type_2",
    "?open_now=true&connectors=type_2",
    "?open_now=false",
)
# open_now is decided at an instant: the tile server's clock and the reference's are pinned
# to Monday 2 March 2026 08:30 UTC (09:30 in Paris, 12:30 in Réunion: a station of the sample
# with the schema's example hours is open in one and closed in the other).
OPEN_NOW_AT = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def as_filter(query: str) -> dict[str, Any]:
    """The jsonb tiles.stations() receives for a query string (as tileserver/filters.py)."""
    out: dict[str, Any] = {}
    for part in query.lstrip("?").split("&"):
        name, _, value = part.partition("=")
        if name == "min_power":
            out[name] = float(value)
        elif name == "connectors":
            out[name] = sorted(value.split(","))
        elif value == "unknown":
            out[name] = value
        else:
            out[name] = value == "true"
    if "open_now" in out:
        out["at"] = OPEN_NOW_AT.isoformat()
    return out


@pytest.mark.parametrize("query", FILTER_QUERIES)
async def test_filtered_clusters_follow_the_point_rules(  # type: ignore[no-untyped-def]
    tile_client, pool, monkeypatch, query: str
) -> None:
    """The precomputed facets (migration 0012, opening classes 0013) give exactly what the
    per-point rule tiles.point_matches gives: stations, points and points available now, per
    zoom."""
    monkeypatch.setattr(tile_module, "wall_clock", OPEN_NOW_AT.timestamp)
    # One point booked, one out of service: availability must come out live, not from facets.
    # (Points free now: other tests, browser and API, leave bookings open.)
    taken = await pool.fetch(
        "SELECT id FROM charge_points cp WHERE withdrawn_at IS NULL AND prise_type_2 "
        "AND tiles.point_available(cp) ORDER BY id_pdc_itinerance LIMIT 2"
    )
    async with pool.acquire() as conn:
        held = await hold_points(conn, [taken[0]["id"]])
    await pool.execute(
        "UPDATE charge_points SET operational_status = 'out_of_service' WHERE id = $1",
        taken[1]["id"],
    )
    try:
        expected = await pool.fetchrow(
            "SELECT count(DISTINCT s.id) AS stations, count(*) AS points, "
            "count(*) FILTER (WHERE tiles.point_available(cp)) AS available "
            "FROM stations s JOIN charge_points cp ON cp.station_id = s.id "
            "WHERE s.withdrawn_at IS NULL "
            "AND tiles.point_matches(cp, s, tiles.parse_filter($1::jsonb))",
            as_filter(query),
        )
        assert expected["stations"] > 0, "the filter must select something"
        everything = await station_positions(pool)
        for z in (2, 6, 11):
            got = {"stations": 0, "points": 0, "available": 0}
            for t in {mercantile.tile(lon, lat, z) for lon, lat in everything}:
                for f in (await fetch(tile_client, t.z, t.x, t.y, query)).get(
                    "clusters", {"features": []}
                )["features"]:
                    got["stations"] += f["properties"]["stations"]
                    got["points"] += f["properties"]["charge_points"]
                    got["available"] += f["properties"]["available"]
            assert got == dict(expected), (z, query)
    finally:
        async with pool.acquire() as conn:
            await release_points(conn, held)
        await pool.execute(
            "UPDATE charge_points SET operational_status = 'in_service' WHERE id = $1",
            taken[1]["id"],
        )


async def test_unknown_price_filter_follows_the_point_rule(tile_client, pool) -> None:  # type: ignore[no-untyped-def]
    """free=unknown keeps exactly the points whose IRVE `gratuit` is empty: in the filtered
    clusters (facet masks, migration 0014) as in the stations layer (tiles.point_matches)."""
    blank = await pool.fetch(
        "SELECT DISTINCT ON (station_id) id, station_id, gratuit FROM charge_points "
        "WHERE withdrawn_at IS NULL AND gratuit IS NOT NULL ORDER BY station_id, id LIMIT 3"
    )
    assert len(blank) == 3
    stations = [r["station_id"] for r in blank]

    async def set_prices(values: list[bool | None]) -> None:
        for r, value in zip(blank, values, strict=True):
            await pool.execute(
                "UPDATE charge_points SET gratuit = $2 WHERE id = $1", r["id"], value
            )
            await pool.execute("SELECT tiles.refresh_cells_of_station($1)", r["station_id"])

    await set_prices([None, None, None])
    try:
        positions = await station_positions(pool)
        for z in (3, 9):
            assert await sum_clusters(tile_client, positions, z, "?free=unknown") == 3
        seen: set[str] = set()
        for t in {mercantile.tile(lon, lat, 15) for lon, lat in positions}:
            layer = (await fetch(tile_client, t.z, t.x, t.y, "?free=unknown")).get("stations")
            for f in layer["features"] if layer else []:
                assert f["properties"]["pricing"] in ("unknown", "mixed")
                seen.add(f["properties"]["id"])
        assert seen == {str(s) for s in stations}
    finally:
        await set_prices([r["gratuit"] for r in blank])


async def test_facets_follow_an_edited_station(pool) -> None:  # type: ignore[no-untyped-def]
    """An admin edit refreshes the station's facets (tiles.refresh_cells_of_station)."""
    point = await pool.fetchrow(
        "SELECT id, station_id, puissance_nominale FROM charge_points "
        "WHERE withdrawn_at IS NULL ORDER BY id_pdc_itinerance LIMIT 1"
    )
    facet = "SELECT power_kw FROM tiles.point_facets WHERE point_id = $1"
    assert await pool.fetchval(facet, point["id"]) == float(point["puissance_nominale"])
    await pool.execute(
        "UPDATE charge_points SET puissance_nominale = 349 WHERE id = $1", point["id"]
    )
    await pool.execute("SELECT tiles.refresh_cells_of_station($1)", point["station_id"])
    assert await pool.fetchval(facet, point["id"]) == 349.0
    await pool.execute(
        "UPDATE charge_points SET puissance_nominale = $2 WHERE id = $1",
        point["id"],
        point["puissance_nominale"],
    )
    await pool.execute("SELECT tiles.refresh_cells_of_station($1)", point["station_id"])
    assert await pool.fetchval(facet, point["id"]) == float(point["puissance_nominale"])


DERIVED_ROWS = """
SELECT (SELECT array_agg(c ORDER BY zoom, cell_x, cell_y) FROM tiles.clusters c)::text,
       (SELECT array_agg(f ORDER BY point_id) FROM tiles.point_facets f)::text,
       (SELECT array_agg(o ORDER BY id) FROM tiles.opening_classes o)::text
"""


async def test_derived_rebuilds_give_the_rows_of_their_first_rules(pool) -> None:  # type: ignore[no-untyped-def]
    """The whole rebuilds of migration 0023 (clusters zoom by zoom from the zoom below,
    facets through tiles.facet_rows) store exactly what the rules they replaced (0010, 0013:
    its downgrade file puts them back) store, on the real sample; and the facets of one
    station refreshed through the view are that station's rows of the whole rebuild."""
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute("SELECT tiles.refresh_clusters(); SELECT tiles.refresh_facets()")
            new = await conn.fetchrow(DERIVED_ROWS)
            assert new[0].count("(") > 100 and new[1].count("(") > 200, "rows to compare"
            station = await conn.fetchval("SELECT station_id FROM tiles.point_facets LIMIT 1")
            await conn.execute("SELECT tiles.refresh_facets($1)", station)
            assert await conn.fetchrow(DERIVED_ROWS) == new
            down = ROOT / "sql/schema/0023_derived_refresh_down.sql"
            await conn.execute(down.read_text(encoding="utf-8"))
            await conn.execute("SELECT tiles.refresh_clusters(); SELECT tiles.refresh_facets()")
            assert await conn.fetchrow(DERIVED_ROWS) == new
        finally:
            await tx.rollback()  # the functions of 0023 stay, for the other tests


async def test_cluster_features_carry_what_maplibre_needs(tile_client) -> None:  # type: ignore[no-untyped-def]
    t = mercantile.tile(2.35, 46.6, 2)
    layer = (await fetch(tile_client, t.z, t.x, t.y))["clusters"]
    props = layer["features"][0]["properties"]
    for key in (
        "cluster_id",
        "point_count",
        "point_count_abbreviated",
        "expansion_zoom",
        "stations",
        "charge_points",
        "available",
        "max_power_kw",
    ):
        assert key in props
    assert props["expansion_zoom"] > 2
    assert layer["extent"] == 4096


# A station of the sample with a Type 2 point free now (other tests, browser and API, leave
# bookings open on the first ones).
FREE_TYPE_2_STATION = (
    "SELECT s.id, s.nom_station, ST_X(geom_4326) lon, ST_Y(geom_4326) lat, "
    "(SELECT cp.id FROM charge_points cp WHERE cp.station_id = s.id AND cp.prise_type_2 "
    " AND tiles.point_available(cp) ORDER BY cp.id LIMIT 1) AS point "
    "FROM stations s WHERE s.withdrawn_at IS NULL AND EXISTS (SELECT 1 FROM charge_points cp "
    "WHERE cp.station_id = s.id AND cp.prise_type_2 AND tiles.point_available(cp)) "
    "ORDER BY s.id_station_itinerance LIMIT 1"
)


async def test_station_layer_at_high_zoom(tile_client, pool) -> None:  # type: ignore[no-untyped-def]
    row = await pool.fetchrow(FREE_TYPE_2_STATION)
    t = mercantile.tile(row["lon"], row["lat"], 15)
    features = (await fetch(tile_client, t.z, t.x, t.y))["stations"]["features"]
    mine = next(f for f in features if f["properties"]["id"] == str(row["id"]))
    p = mine["properties"]
    assert p["name"] == row["nom_station"]
    assert p["points"] >= 1 and p["status"] == "available" and "type_2" in p["connectors"]
    oldest = await pool.fetchval(
        "SELECT min(greatest(status_changed_at, connector_status_at)) FROM charge_points "
        "WHERE station_id = $1 AND withdrawn_at IS NULL",
        row["id"],
    )
    assert p["status_at"] == int(oldest.timestamp()), "the oldest point status, epoch seconds"
    x, y = mine["geometry"]["coordinates"]
    assert 0 <= x <= 4096 and 0 <= y <= 4096, "inside the tile, in tile coordinates"


def station_features(mvt: bytes | None) -> dict[str, Any]:
    """The stations layer of a raw MVT, by station id: (position, attributes)."""
    if not mvt:
        return {}
    layer = mapbox_vector_tile.decode(mvt)["stations"]
    return {
        f["properties"]["id"]: (f["geometry"]["coordinates"], f["properties"])
        for f in layer["features"]
    }


async def test_unfiltered_station_tiles_follow_the_point_rule(pool) -> None:  # type: ignore[no-untyped-def]
    """An unfiltered station tile comes from the precomputed cards plus the live part
    (migration 0015): the same features and attributes as the per-point rule
    (tiles.stations_filtered with no condition), whatever the points' statuses."""
    positions = await station_positions(pool)
    async with pool.acquire() as conn:
        tr = conn.transaction()
        await tr.start()
        try:
            # Every status case: some points unavailable, whole stations out of service,
            # unknown or occupied, statuses of different ages (and fractions of a second).
            # Only a booking makes a connector busy (0028).
            ordered = (
                "WITH p AS (SELECT id, connector_status, "
                "           row_number() OVER (ORDER BY id_pdc_itinerance) AS n "
                "           FROM charge_points WHERE withdrawn_at IS NULL) "
            )
            await hold_points(
                conn,
                [
                    r["id"]
                    for r in await conn.fetch(
                        ordered + "SELECT id FROM p WHERE n % 5 = 2 "
                        "AND connector_status = 'Available'"
                    )
                ],
            )
            await conn.execute(
                ordered + "UPDATE charge_points cp SET "
                "operational_status = CASE p.n % 5 WHEN 0 THEN 'out_of_service' "
                "                     WHEN 1 THEN 'unknown' ELSE cp.operational_status END, "
                "connector_status_at = now() - p.n * interval '1 minute 0.7 second' "
                "FROM p WHERE p.id = cp.id"
            )
            for status in ("out_of_service", "unknown", "in_service"):
                station = await conn.fetchval(
                    "SELECT station_id FROM charge_points "
                    "WHERE withdrawn_at IS NULL AND operational_status = 'in_service' "
                    "AND connector_status = 'Available' ORDER BY id_pdc_itinerance LIMIT 1"
                )
                await hold_points(
                    conn,
                    [
                        r["id"]
                        for r in await conn.fetch(
                            "SELECT id FROM charge_points WHERE station_id = $1 "
                            "AND withdrawn_at IS NULL AND connector_status = 'Available'",
                            station,
                        )
                    ],
                )
                await conn.execute(
                    "UPDATE charge_points SET operational_status = $1 WHERE station_id = $2",
                    status,
                    station,
                )
            compared = 0
            seen: set[str] = set()
            for z in (13, 16):
                for t in {mercantile.tile(lon, lat, z) for lon, lat in positions}:
                    cards = await conn.fetchval(
                        "SELECT tiles.stations($1, $2, $3, '{}'::jsonb)", t.z, t.x, t.y
                    )
                    rule = await conn.fetchval(
                        "SELECT tiles.stations_filtered($1, $2, $3, tiles.parse_filter('{}'))",
                        t.z,
                        t.x,
                        t.y,
                    )
                    drawn = station_features(cards)
                    assert drawn == station_features(rule), t
                    compared += len(drawn)
                    seen |= {props["status"] for _, props in drawn.values()}
            assert seen == {"available", "out_of_service", "unknown", "occupied"}
            assert compared >= 2 * len(positions)
        finally:
            await tr.rollback()


async def test_station_cards_follow_an_edited_station(pool) -> None:  # type: ignore[no-untyped-def]
    """An admin edit (tiles.refresh_cells_of_station) redraws the station's card (name,
    power and its class) in the unfiltered station tile; availability needs no refresh."""
    row = await pool.fetchrow(FREE_TYPE_2_STATION)
    assert row["point"] is not None, "the station has an available point to take"
    t = mercantile.tile(row["lon"], row["lat"], 16)

    async def drawn() -> dict[str, Any]:
        mvt = await pool.fetchval("SELECT tiles.stations($1, $2, $3, '{}')", t.z, t.x, t.y)
        return dict(station_features(mvt)[str(row["id"])][1])

    before = await drawn()
    point = await pool.fetchrow(
        "SELECT puissance_nominale FROM charge_points WHERE id = $1",
        row["point"],
    )

    async def edit(name: str, power: object) -> None:
        await pool.execute("UPDATE stations SET nom_station = $2 WHERE id = $1", row["id"], name)
        await pool.execute(
            "UPDATE charge_points SET puissance_nominale = $2 WHERE id = $1", row["point"], power
        )
        await pool.execute("SELECT tiles.refresh_cells_of_station($1)", row["id"])

    await edit("Renamed by an admin", 349)
    held: list[UUID] = []
    try:
        after = await drawn()
        assert after["name"] == "Renamed by an admin"
        assert after["max_power_kw"] == 349.0 and after["power_class"] == "ultra"
        async with pool.acquire() as conn:
            held = await hold_points(conn, [row["point"]])
        assert (await drawn())["available"] == before["available"] - 1
    finally:
        async with pool.acquire() as conn:
            await release_points(conn, held)
        await edit(row["nom_station"], point["puissance_nominale"])
    # All back, but the point's status time: the booking and its release moved it.
    back = await drawn()
    assert back.pop("status_at") >= before.pop("status_at")
    assert back == before


async def test_http_contract(tile_client) -> None:  # type: ignore[no-untyped-def]
    t = mercantile.tile(2.35, 46.6, 5)
    r = await tile_client.get(
        f"/tiles/stations/{t.z}/{t.x}/{t.y}.pbf", headers={"Accept-Encoding": "gzip"}
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert r.headers["cache-control"] == "public, no-cache"
    etag = r.headers["etag"]
    again = await tile_client.get(
        f"/tiles/stations/{t.z}/{t.x}/{t.y}.pbf",
        headers={"Accept-Encoding": "gzip", "If-None-Match": etag},
    )
    assert again.status_code == 304 and again.content == b""
    ocean = mercantile.tile(-30.0, 40.0, 8)
    empty = await tile_client.get(f"/tiles/stations/8/{ocean.x}/{ocean.y}.pbf")
    assert empty.status_code == 204 and empty.headers["cache-control"] == "public, no-cache"
    for bad in (
        "/tiles/stations/21/0/0.pbf",
        "/tiles/stations/3/8/0.pbf",
        "/tiles/stations/3/-1/0.pbf",
        "/tiles/stations/3/0/0.png",
        "/tiles/stations/3/0/0.pbf?min_power=lots",
        "/tiles/stations/3/0/0.pbf?zoom=2",
        "/tiles/stations/3/0/0.pbf?connectors=tesla",
        "/tiles/stations/3/0/0.pbf?min_power=" + "9" * 10_000,
    ):
        r = await tile_client.get(bad)
        assert r.status_code in (400, 404), bad
        assert r.headers["content-type"].startswith("application/problem+json"), bad
        assert "public" not in r.headers.get("cache-control", ""), bad


async def test_a_cached_tile_is_answered_as_it_was_rendered(tile_client, pool) -> None:  # type: ignore[no-untyped-def]
    """A hit (answered by the route's middleware) and the miss before it (the handler): same
    status, headers and body, but X-Cache; for a tile gzipped or not, and an empty one."""
    lon, lat = (await station_positions(pool))[0]
    full = mercantile.tile(lon, lat, 14)
    ocean = mercantile.tile(-30.0, 40.0, 14)
    # A filter of its own per case: each starts with a miss (the sample has no point < 1 kW).
    cases = [(full, "gzip", 0.1), (full, "identity", 0.2), (ocean, "gzip", 0.3)]
    for t, encoding, power in cases:
        url = f"/tiles/stations/{t.z}/{t.x}/{t.y}.pbf?min_power={power}"
        answers = []
        for _ in range(2):
            r = await tile_client.get(url, headers={"Accept-Encoding": encoding})
            headers = {k: v for k, v in r.headers.items() if k not in ("date", "x-cache")}
            answers.append((r.status_code, headers, r.content, r.headers["x-cache"]))
        assert [a[3] for a in answers] == ["MISS", "HIT"], url
        assert answers[0][:3] == answers[1][:3], url
        assert answers[0][0] == (204 if t == ocean else 200)


async def test_every_tile_stays_small(tile_client, pool) -> None:  # type: ignore[no-untyped-def]
    positions = await station_positions(pool)
    for z in (0, 3, 6, 9, 12, 13, 16):
        for t in {mercantile.tile(lon, lat, z) for lon, lat in positions}:
            r = await tile_client.get(f"/tiles/stations/{t.z}/{t.x}/{t.y}.pbf")
            assert len(r.content) <= 100_000


async def test_tilejson_and_style(tile_client) -> None:  # type: ignore[no-untyped-def]
    r = await tile_client.get(
        "/tiles/stations.json",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "maps.example.org"},
    )
    tj = r.json()
    assert tj["tilejson"] == "3.0.0"
    assert tj["tiles"] == ["https://maps.example.org/tiles/stations/{z}/{x}/{y}.pbf"]
    assert {layer["id"] for layer in tj["vector_layers"]} == {"clusters", "stations"}
    assert "Licence Ouverte" in tj["attribution"]
    style = (await tile_client.get("/tiles/style.json")).json()
    assert style["version"] == 8
    assert style["sources"]["stations"]["url"].endswith("/tiles/stations.json")
    # The network reaches overseas (La Réunion, the Antilles, ...): a client asks for no
    # tile outside `bounds`, which are the whole world, not a mainland box.
    assert tj["bounds"] == [-180.0, -85.0511, 180.0, 85.0511]
    # Filters are checked as the tiles check them, and carried by a filtered style.
    r = await tile_client.get("/tiles/stations.json?min_power=50&bogus=1")
    assert r.status_code == 400 and r.json()["code"] == "unknown_filter"
    filtered = (await tile_client.get("/tiles/style.json?min_power=50")).json()
    assert filtered["sources"]["stations"]["url"].endswith("/tiles/stations.json?min_power=50")
    r = await tile_client.get("/tiles/style.json?min_power=lots")
    assert r.status_code == 400 and r.json()["code"] == "invalid_filter"


async def test_tiles_tilejson_style_and_errors_are_open_to_web_maps_elsewhere(  # type: ignore[no-untyped-def]
    tile_client,
) -> None:
    """A MapLibre page on another site loads our style, TileJSON and tiles (and can read an
    error's code); no credentials are involved, so the answer is `*`, once."""
    site = {"Origin": "https://map.example"}
    t = mercantile.tile(2.35, 46.6, 5)
    for url in (
        "/tiles/style.json",
        "/tiles/stations.json",
        f"/tiles/stations/{t.z}/{t.x}/{t.y}.pbf",
        f"/tiles/stations/{t.z}/{t.x}/{t.y}.pbf",  # the cache hit's own fast path
        "/tiles/stations/3/8/0.pbf",  # a 400 problem
    ):
        r = await tile_client.get(url, headers=site)
        assert r.headers.get_list("access-control-allow-origin") == ["*"], url
    preflight = await tile_client.options(
        f"/tiles/stations/{t.z}/{t.x}/{t.y}.pbf",
        headers={
            **site,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-map-key",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "x-map-key"
    # HEAD, as RFC 9110 asks of a general-purpose server: GET's status and headers, no body.
    for url in ("/tiles/stations.json", f"/tiles/stations/{t.z}/{t.x}/{t.y}.pbf"):
        got, head = await tile_client.get(url), await tile_client.head(url)
        assert (head.status_code, head.content) == (got.status_code, b""), url
        assert head.headers["content-type"] == got.headers["content-type"], url


async def test_revalidation_compares_weakly_and_gzip_can_be_refused(tile_client) -> None:  # type: ignore[no-untyped-def]
    """If-None-Match as RFC 9110 13.1.2 reads it (a list, W/ from a CDN, *), and a client
    saying gzip;q=0 gets the tile uncompressed."""
    t = mercantile.tile(2.35, 46.6, 5)
    url = f"/tiles/stations/{t.z}/{t.x}/{t.y}.pbf"
    gz = {"Accept-Encoding": "gzip"}
    etag = (await tile_client.get(url, headers=gz)).headers["etag"]
    for given in (etag, f"W/{etag}", f'"zzz", {etag}', "*"):
        r = await tile_client.get(url, headers={**gz, "If-None-Match": given})
        assert r.status_code == 304, given
    r = await tile_client.get(url, headers={**gz, "If-None-Match": '"zzz"'})
    assert r.status_code == 200
    plain = await tile_client.get(url, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    assert plain.headers["etag"] != etag


async def test_booking_invalidates_exactly_the_tiles_of_that_station(  # type: ignore[no-untyped-def]
    tile_client, pool, redis_client
) -> None:
    station = await pool.fetchrow(
        "SELECT s.id, ST_X(geom_4326) lon, ST_Y(geom_4326) lat FROM stations s "
        "WHERE id_station_itinerance = 'FR*A06*P13047*B'"
    )
    far = (7.26, 43.70)  # Nice, far from Istres
    mine = [mercantile.tile(station["lon"], station["lat"], z) for z in (4, 9, 14)]
    other = mercantile.tile(*far, 14)
    for t in [*mine, other]:
        await fetch(tile_client, t.z, t.x, t.y)
        await fetch(tile_client, t.z, t.x, t.y, "?min_power=3")
    version = await pool.fetchval("SELECT data_version FROM app_meta")
    for t in [*mine, other]:
        assert await redis_client.exists(tile_cache.tile_key(version, t.z, t.x, t.y, "all"))
    async with pool.acquire() as conn:
        deleted = await tile_cache.invalidate_stations(redis_client, conn, [station["id"]])
    assert deleted >= 6
    for t in mine:
        assert not await redis_client.exists(tile_cache.tile_key(version, t.z, t.x, t.y, "all"))
    assert await redis_client.exists(tile_cache.tile_key(version, other.z, other.x, other.y, "all"))


async def test_availability_follows_bookings_in_precomputed_clusters(  # type: ignore[no-untyped-def]
    tile_client, pool, redis_client
) -> None:
    point = await pool.fetchrow(
        "SELECT cp.id, cp.station_id, ST_X(s.geom_4326) lon, ST_Y(s.geom_4326) lat "
        "FROM charge_points cp JOIN stations s ON s.id = cp.station_id "
        "WHERE tiles.point_available(cp) ORDER BY cp.id_pdc_itinerance LIMIT 1"
    )
    t = mercantile.tile(point["lon"], point["lat"], 6)

    async def available() -> int:
        layer = (await fetch(tile_client, t.z, t.x, t.y))["clusters"]
        return int(sum(f["properties"]["available"] for f in layer["features"]))

    before = await available()
    async with pool.acquire() as conn:
        held = await hold_points(conn, [point["id"]])
        await tile_cache.invalidate_stations(redis_client, conn, [point["station_id"]])
    assert await available() == before - 1
    async with pool.acquire() as conn:
        await release_points(conn, held)
        await tile_cache.invalidate_stations(redis_client, conn, [point["station_id"]])
    assert await available() == before


@pytest.fixture
async def tiles_without_redis(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    from tileserver.app import create_app

    broken = msgspec.structs.replace(settings, redis_url="redis://127.0.0.1:1/0")
    async with AsyncTestClient(app=create_app(broken)) as client:
        yield client


async def test_tiles_are_served_when_redis_is_down(tiles_without_redis) -> None:  # type: ignore[no-untyped-def]
    t = mercantile.tile(2.35, 46.6, 5)
    r = await tiles_without_redis.get(f"/tiles/stations/{t.z}/{t.x}/{t.y}.pbf")
    assert r.status_code == 200 and r.headers["x-cache"] == "MISS"
    assert mapbox_vector_tile.decode(r.content)["clusters"]["features"]
    health = await tiles_without_redis.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["checks"]["redis"]["ok"] is False
