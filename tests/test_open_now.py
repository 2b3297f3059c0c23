"""The open_now filter (migration 0013): the opening-hours parser, the time zones, the filter in
cluster and station tiles at a fixed instant, the cache key per quarter-hour, the migration."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime

import mercantile
import pytest

from tests.conftest import DATA, make_test_env, migrate_database
from tests.test_tiles import fetch, station_positions
from tileserver import tiles as tile_module
from tileserver.filters import QUARTER_S, TileFilters, parse_filters, quarter_of
from wattsup import tile_cache
from wattsup.config import load_settings
from wattsup.importer.engine import import_file
from wattsup.problems import Problem

DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
SCHEMA_EXAMPLE = "Mo-Fr 08:00-12:00,Mo-Fr 14:00-18:00,Th 08:00-18:00"
# Monday 2 March 2026 (winter time): 08:30 UTC is 09:30 in Paris, 12:30 in Réunion (UTC+4).
MONDAY_0830Z = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
# Same Monday, 10:30 UTC: 11:30 in Paris, 14:30 in Réunion.
MONDAY_1030Z = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
# Sunday 1 March 2026, 12:00 UTC: the schema example is closed everywhere.
SUNDAY_1200Z = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("imported_sample")


def quarter(day: str, hhmm: str) -> int:
    h, m = (int(v) for v in hhmm.split(":"))
    return DAYS.index(day) * 96 + h * 4 + m // 15


async def week(pool, horaires: str | None, always: bool = False) -> str | None:  # type: ignore[no-untyped-def]
    value: str | None = await pool.fetchval(
        "SELECT parse_opening_hours($1, $2)::text", horaires, always
    )
    return value


@pytest.mark.parametrize(
    ("horaires", "open_at", "closed_at"),
    [
        ("24/7", [("Mo", "00:00"), ("We", "13:37"), ("Su", "23:45")], []),
        (
            "Mo-Sa 08:00-20:00",
            [("Mo", "08:00"), ("We", "12:00"), ("Sa", "19:45")],
            [("Mo", "07:45"), ("Sa", "20:00"), ("Su", "12:00")],
        ),
        (  # several time ranges with commas, rules with ';'
            "Mo-Fr 08:00-12:00,14:00-18:00; Sa 09:00-12:00",
            [("Tu", "08:00"), ("Tu", "14:00"), ("Fr", "17:45"), ("Sa", "09:00")],
            [("Tu", "12:00"), ("Tu", "13:45"), ("Fr", "18:00"), ("Sa", "08:45"), ("Su", "10:00")],
        ),
        (  # the schema's own example: ',' before a day adds a rule
            SCHEMA_EXAMPLE,
            [("Mo", "09:00"), ("Mo", "15:00"), ("Th", "13:00")],
            [("Mo", "13:00"), ("Fr", "13:00"), ("Sa", "09:00")],
        ),
        (  # off days, and a later rule overriding a day of an earlier one
            "Mo-Fr 08:00-18:00; We 08:00-12:00; Sa,Su off",
            [("Mo", "17:00"), ("We", "11:45")],
            [("We", "12:00"), ("We", "17:00"), ("Sa", "10:00"), ("Su", "10:00")],
        ),
        (  # past midnight: into the next morning, Sunday's into Monday
            "Fr-Su 22:00-02:00",
            [("Fr", "23:00"), ("Sa", "01:45"), ("Mo", "01:00")],
            [("Fr", "01:00"), ("Fr", "02:00"), ("Mo", "22:00")],
        ),
        (  # no days = every day; lower case; minutes not on a quarter; PH rules ignored
            "08:05-19:50; PH off",
            [("Su", "08:15"), ("Su", "19:45")],
            [("Su", "08:00"), ("Su", "20:00")],
        ),
        ("Mo-Su 00:00-24:00", [("Mo", "00:00"), ("Su", "23:45")], []),
        ("mo-fr 9:00-17:00", [("Mo", "09:00")], [("Sa", "09:00")]),
    ],
)
async def test_parser_reads_the_schema_forms(  # type: ignore[no-untyped-def]
    pool, horaires: str, open_at: list[tuple[str, str]], closed_at: list[tuple[str, str]]
) -> None:
    bits = await week(pool, horaires)
    assert bits is not None and len(bits) == 672
    for day, hhmm in open_at:
        assert bits[quarter(day, hhmm)] == "1", (horaires, day, hhmm, "should be open")
    for day, hhmm in closed_at:
        assert bits[quarter(day, hhmm)] == "0", (horaires, day, hhmm, "should be closed")


async def test_parser_counts_whole_weeks(pool) -> None:  # type: ignore[no-untyped-def]
    assert await week(pool, "24/7") == "1" * 672
    assert await week(pool, "off") == "0" * 672
    # Mo-Sa 12 h a day = 48 quarters x 6 days.
    assert (await week(pool, "Mo-Sa 08:00-20:00") or "").count("1") == 48 * 6
    # The schema example: Mo-Fr 8 h, plus Th 12:00-14:00.
    assert (await week(pool, SCHEMA_EXAMPLE) or "").count("1") == 32 * 5 + 8
    # stations.is_24_7 (which also reads "24h/24") wins: such a station is always open.
    assert await week(pool, "24h/24 7j/7", True) == "1" * 672


@pytest.mark.parametrize(
    "horaires",
    [
        None,
        "",
        "   ",
        "Accès libre",
        "8h-18h",
        "lundi au vendredi 08:00-18:00",
        "Mo-Fr 25:00-26:00",
        "Mo-Fr 08:60-09:00",
        "Mo-Fr 08:00-",
        "Mo-Fr 08:00-24:30",
        "Mo-Xx 08:00-12:00",
        "Jan-Mar 08:00-10:00",
        "Mo-Fr sunrise-sunset",
        "Mo-Fr 08:00-12:00 | Sa 09:00-12:00",
        ";",
        "PH off",
    ],
)
async def test_unparseable_hours_are_unknown(pool, horaires: str | None) -> None:  # type: ignore[no-untyped-def]
    assert await week(pool, horaires) is None


async def test_time_zone_from_the_insee_code(pool) -> None:  # type: ignore[no-untyped-def]
    zones = {
        "75056": "Europe/Paris",
        "2A004": "Europe/Paris",
        "97105": "America/Guadeloupe",
        "97209": "America/Martinique",
        "97302": "America/Cayenne",
        "97411": "Indian/Reunion",
        "97502": "America/Miquelon",
        "97611": "Indian/Mayotte",
    }
    for code, zone in zones.items():
        assert await pool.fetchval("SELECT irve_time_zone($1)", code) == zone
    assert await pool.fetchval("SELECT irve_time_zone(NULL)") == "Europe/Paris"
    # Local time, daylight saving included: 08:30 UTC is 09:30 in Paris in March, 10:30 in
    # July; 12:30 in Réunion (no DST).
    q = "SELECT tiles.week_quarter($1, $2)"
    assert await pool.fetchval(q, MONDAY_0830Z, "Europe/Paris") == quarter("Mo", "09:30")
    july = datetime(2026, 7, 6, 8, 30, tzinfo=UTC)  # a Monday
    assert await pool.fetchval(q, july, "Europe/Paris") == quarter("Mo", "10:30")
    assert await pool.fetchval(q, MONDAY_0830Z, "Indian/Reunion") == quarter("Mo", "12:30")
    # The generated column follows the station's commune.
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM stations WHERE code_insee_commune LIKE '974%' "
            "AND time_zone <> 'Indian/Reunion'"
        )
        == 0
    )


async def reference(pool, at: datetime, open_now: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Stations, points and available points passing open_now at `at`, by the per-point rule."""
    row = await pool.fetchrow(
        "SELECT count(DISTINCT s.id) AS stations, count(*) AS points, "
        "count(*) FILTER (WHERE tiles.point_available(cp)) AS available "
        "FROM stations s JOIN charge_points cp ON cp.station_id = s.id "
        "WHERE s.withdrawn_at IS NULL "
        "AND tiles.point_matches(cp, s, tiles.parse_filter($1::jsonb))",
        {"open_now": open_now, "at": at.isoformat()},
    )
    return dict(row)


def set_clock(monkeypatch: pytest.MonkeyPatch, at: datetime) -> None:
    monkeypatch.setattr(tile_module, "wall_clock", lambda: at.timestamp())


async def cluster_totals(tile_client, pool, z: int, query: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    got = {"stations": 0, "points": 0, "available": 0}
    for t in {mercantile.tile(lon, lat, z) for lon, lat in await station_positions(pool)}:
        for f in (await fetch(tile_client, t.z, t.x, t.y, query)).get("clusters", {"features": []})[
            "features"
        ]:
            got["stations"] += f["properties"]["stations"]
            got["points"] += f["properties"]["charge_points"]
            got["available"] += f["properties"]["available"]
    return got


@pytest.mark.parametrize(
    ("at", "open_now", "who"),
    [
        # Paris open (09:30), Réunion closed (12:30, between its two ranges).
        (MONDAY_0830Z, True, "is_24_7 OR (horaires = $1 AND time_zone = 'Europe/Paris')"),
        (MONDAY_0830Z, False, "horaires = $1 AND time_zone = 'Indian/Reunion'"),
        # Paris open (11:30) and Réunion open (14:30).
        (MONDAY_1030Z, True, "is_24_7 OR horaires = $1"),
        (SUNDAY_1200Z, False, "horaires = $1"),
    ],
)
async def test_open_now_in_cluster_tiles(  # type: ignore[no-untyped-def]
    tile_client, pool, monkeypatch, at: datetime, open_now: bool, who: str
) -> None:
    """Filtered clusters (the facets of 0012 + opening classes of 0013) give what the per-point
    rule gives at the same instant, and that is the stations a person would name."""
    expected = await reference(pool, at, open_now)
    named = await pool.fetchval(
        f"SELECT count(*) FROM stations WHERE withdrawn_at IS NULL AND ({who})", SCHEMA_EXAMPLE
    )
    everything = await pool.fetchval("SELECT count(*) FROM stations WHERE withdrawn_at IS NULL")
    assert 0 < expected["stations"] == named < everything
    set_clock(monkeypatch, at)
    query = f"?open_now={'true' if open_now else 'false'}"
    for z in (4, 11):
        assert await cluster_totals(tile_client, pool, z, query) == expected, (z, at)


async def test_unknown_hours_match_neither_true_nor_false(pool) -> None:  # type: ignore[no-untyped-def]
    unknown = await pool.fetchval(
        "SELECT count(*) FROM stations WHERE withdrawn_at IS NULL AND opening_week IS NULL"
    )
    everything = await pool.fetchval("SELECT count(*) FROM stations WHERE withdrawn_at IS NULL")
    assert unknown > 0, "the sample has hours nobody can read ('Accès libre')"
    opened = await reference(pool, MONDAY_0830Z, True)
    closed = await reference(pool, MONDAY_0830Z, False)
    assert opened["stations"] + closed["stations"] + unknown == everything


async def station_ids_in_tile(tile_client, lon: float, lat: float, query: str) -> set[str]:  # type: ignore[no-untyped-def]
    t = mercantile.tile(lon, lat, 14)
    layer = (await fetch(tile_client, t.z, t.x, t.y, query)).get("stations")
    return {f["properties"]["id"] for f in (layer or {"features": []})["features"]}


async def test_open_now_in_station_tiles(tile_client, pool, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """z >= 13 (tiles.point_matches): the Réunion station follows its own clock."""
    rows = await pool.fetch(
        "SELECT DISTINCT ON (time_zone, opening_week IS NULL, is_24_7) id::text AS id, "
        "time_zone, opening_week IS NULL AS unknown, is_24_7, "
        "ST_X(geom_4326) AS lon, ST_Y(geom_4326) AS lat FROM stations "
        "WHERE withdrawn_at IS NULL ORDER BY time_zone, opening_week IS NULL, is_24_7, id"
    )
    reunion = next(r for r in rows if r["time_zone"] == "Indian/Reunion")
    paris = next(
        r
        for r in rows
        if r["time_zone"] == "Europe/Paris" and not r["unknown"] and not r["is_24_7"]
    )
    unknown = next(r for r in rows if r["unknown"])
    cases = [
        (MONDAY_0830Z, "true", {paris["id"]}, {reunion["id"], unknown["id"]}),
        (MONDAY_0830Z, "false", {reunion["id"]}, {paris["id"], unknown["id"]}),
        (MONDAY_1030Z, "true", {paris["id"], reunion["id"]}, {unknown["id"]}),
        (SUNDAY_1200Z, "true", set(), {paris["id"], reunion["id"], unknown["id"]}),
    ]
    for at, value, present, absent in cases:
        set_clock(monkeypatch, at)
        seen: set[str] = set()
        for r in (reunion, paris, unknown):
            seen |= await station_ids_in_tile(tile_client, r["lon"], r["lat"], f"?open_now={value}")
        assert present <= seen, (at, value)
        assert not (absent & seen), (at, value)
        # Every station drawn passes the per-point rule at that instant.
        for sid in seen:
            assert await pool.fetchval(
                "SELECT tiles.open_at(opening_week, time_zone, $2) = $3 FROM stations "
                "WHERE id = $1::uuid",
                sid,
                at,
                value == "true",
            )


async def test_the_sql_clock_can_be_set(pool) -> None:  # type: ignore[no-untyped-def]
    """Without `at`, the SQL decides at tiles.now(): the setting wattsup.now, else now()."""
    t = mercantile.Tile(0, 0, 0)  # the whole network
    async with pool.acquire() as conn:
        await conn.execute("SELECT set_config('wattsup.now', $1, false)", MONDAY_0830Z.isoformat())
        try:
            assert await conn.fetchval("SELECT tiles.now()") == MONDAY_0830Z
            for open_now in (True, False):
                by_clock = await conn.fetchval(
                    "SELECT tiles.stations($1, $2, $3, $4::jsonb)",
                    t.z,
                    t.x,
                    t.y,
                    {"open_now": open_now},
                )
                by_at = await conn.fetchval(
                    "SELECT tiles.stations($1, $2, $3, $4::jsonb)",
                    t.z,
                    t.x,
                    t.y,
                    {"open_now": open_now, "at": MONDAY_0830Z.isoformat()},
                )
                assert by_clock == by_at and by_clock
            other = await conn.fetchval(
                "SELECT tiles.stations($1, $2, $3, $4::jsonb)",
                t.z,
                t.x,
                t.y,
                {"open_now": True, "at": SUNDAY_1200Z.isoformat()},
            )
            assert other != by_at
        finally:
            await conn.execute("SELECT set_config('wattsup.now', '', false)")
        assert abs((await conn.fetchval("SELECT tiles.now() - now()")).total_seconds()) == 0


def test_cache_key_changes_with_the_quarter_hour() -> None:
    f = parse_filters({"open_now": ["true"], "min_power": ["22"]})
    q = quarter_of(MONDAY_0830Z.timestamp())
    assert q == quarter_of(MONDAY_0830Z.timestamp() + QUARTER_S - 1)
    assert quarter_of(MONDAY_0830Z.timestamp() + QUARTER_S) == q + 1
    assert f.cache_key(q) != f.cache_key(q + 1)
    assert f.cache_key(q).endswith(f"-q{q}")
    assert f.sql_params(q) == {"min_power": 22.0, "open_now": True, "at": MONDAY_0830Z.isoformat()}
    # Filters that do not depend on the clock keep one key.
    g = parse_filters({"min_power": ["22"]})
    assert g.cache_key(q) == g.cache_key(q + 1) and "at" not in g.sql_params(q)
    assert TileFilters().cache_key(q) == "all"
    assert parse_filters({"open_now": ["false"]}).open_now is False
    with pytest.raises(Problem):
        parse_filters({"open_now": ["maybe"]})


async def test_cached_tile_is_per_quarter_hour(
    tile_client, redis_client, pool, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    t = mercantile.Tile(0, 0, 0)  # the whole network
    url = f"/tiles/stations/{t.z}/{t.x}/{t.y}.pbf?open_now=true"
    version = await pool.fetchval("SELECT data_version FROM app_meta")
    f = parse_filters({"open_now": ["true"]})
    for at in (MONDAY_0830Z, MONDAY_0830Z.replace(minute=45), SUNDAY_1200Z):
        set_clock(monkeypatch, at)
        q = quarter_of(at.timestamp())
        await redis_client.delete(tile_cache.tile_key(version, t.z, t.x, t.y, f.cache_key(q)))
        first = await tile_client.get(url)
        second = await tile_client.get(url)
        assert first.headers["x-cache"] == "MISS" and second.headers["x-cache"] == "HIT", at
        assert first.content == second.content
        key = tile_cache.tile_key(version, t.z, t.x, t.y, f.cache_key(q))
        assert await redis_client.exists(key)
        # Kept for its quarter-hour only (unreachable after it), while the tile's index of
        # variants keeps the full lifetime so invalidation still finds every other variant.
        assert 0 < await redis_client.ttl(key) <= 16 * 60
        index = tile_cache.index_key(version, t.z, t.x, t.y)
        assert await redis_client.ttl(index) > 16 * 60
    # Sunday noon and Monday morning are different maps.
    set_clock(monkeypatch, MONDAY_0830Z)
    monday = await tile_client.get(url)
    set_clock(monkeypatch, SUNDAY_1200Z)
    sunday = await tile_client.get(url)
    assert monday.headers["etag"] != sunday.headers["etag"]


async def test_station_sheet_says_open_now(api_client, pool) -> None:  # type: ignore[no-untyped-def]
    always = await pool.fetchval("SELECT id FROM stations WHERE is_24_7 LIMIT 1")
    unknown = await pool.fetchval("SELECT id FROM stations WHERE opening_week IS NULL LIMIT 1")
    hours = await pool.fetchval(
        "SELECT id FROM stations WHERE horaires = $1 LIMIT 1", SCHEMA_EXAMPLE
    )
    assert (await api_client.get(f"/api/stations/{always}")).json()["open_now"] is True
    assert (await api_client.get(f"/api/stations/{unknown}")).json()["open_now"] is None
    assert (await api_client.get(f"/api/stations/{hours}")).json()["open_now"] in (True, False)


def test_migration_0013_up_and_down_with_data(settings) -> None:  # type: ignore[no-untyped-def]
    """0012 with imported stations → 0013 derives every station's week and the facets' classes;
    back to 0012 the columns, the type's attributes and the functions are gone and the 0012
    tiles still work; 0013 again."""
    env = make_test_env()
    base, name = env["DATABASE_URL"].rsplit("/", 1)
    env["DATABASE_URL"] = f"{base}/{name}_open_updown"
    admin = f"{base}/postgres"
    drop = f'DROP DATABASE IF EXISTS "{name}_open_updown" WITH (FORCE)'
    subprocess.run(["psql", admin, "-q", "-c", drop], check=True)

    def migrate(*args: str) -> None:
        migrate_database(env["DATABASE_URL"], *args)

    def psql(sql: str) -> str:
        out = subprocess.run(
            ["psql", env["DATABASE_URL"], "-XAtq", "-c", sql],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    try:
        migrate("0012")
        report = asyncio.run(import_file(load_settings(env), DATA / "exemple-valide-statique.csv"))
        assert report.status == "succeeded"
        migrate("0013")
        assert psql("SELECT version_num FROM alembic_version") == "0013"
        assert psql("SELECT count(*) FROM stations WHERE opening_week IS NULL") == "0", (
            "every station of the example has readable hours"
        )
        assert psql("SELECT count(*) FROM tiles.point_facets WHERE opening IS NULL") == "0"
        assert psql("SELECT count(*) FROM tiles.opening_classes") == psql(
            "SELECT count(DISTINCT (opening_week, time_zone)) FROM stations"
        )
        tile = 'SELECT length(tiles.stations(0, 0, 0, \'{"open_now": true, "at": "%s"}\'))'
        assert int(psql(tile % MONDAY_1030Z.isoformat())) > 0
        assert int(psql(tile % SUNDAY_1200Z.isoformat())) == 0

        migrate("--downgrade", "0012")
        assert psql("SELECT version_num FROM alembic_version") == "0012"
        assert (
            psql(
                "SELECT count(*) FROM information_schema.columns WHERE table_name = 'stations' "
                "AND column_name IN ('opening_week', 'time_zone')"
            )
            == "0"
        )
        assert (
            psql(
                "SELECT count(*) FROM pg_attribute WHERE attrelid = 'tiles.filter'::regclass "
                "AND attname IN ('open_now', 'at') AND NOT attisdropped"
            )
            == "0"
        )
        assert psql("SELECT to_regproc('parse_opening_hours') IS NULL") == "t"
        assert int(psql("SELECT length(tiles.stations(0, 0, 0, '{\"min_power\": 3}'))")) > 0
        migrate()
        assert psql("SELECT count(*) FROM stations WHERE opening_week IS NOT NULL") != "0"
    finally:
        subprocess.run(["psql", admin, "-q", "-c", drop], check=True)


async def test_an_edited_station_gets_its_new_hours_in_the_facets(pool) -> None:  # type: ignore[no-untyped-def]
    """An admin edit writes `horaires`; the generated week follows, and
    tiles.refresh_cells_of_station gives the station's points the class of the new week."""
    station = await pool.fetchrow(
        "SELECT id, horaires FROM stations WHERE horaires = $1 LIMIT 1", SCHEMA_EXAMPLE
    )
    facet_week = (
        "SELECT DISTINCT oc.week::text FROM tiles.point_facets f "
        "JOIN tiles.opening_classes oc ON oc.id = f.opening WHERE f.station_id = $1"
    )
    try:
        await pool.execute(
            "UPDATE stations SET horaires = 'Su 10:00-11:00' WHERE id = $1", station["id"]
        )
        await pool.execute("SELECT tiles.refresh_cells_of_station($1)", station["id"])
        rows = await pool.fetch(facet_week, station["id"])
        assert [r["week"] for r in rows] == [await week(pool, "Su 10:00-11:00")]
        await pool.execute("UPDATE stations SET horaires = 'fermé' WHERE id = $1", station["id"])
        await pool.execute("SELECT tiles.refresh_cells_of_station($1)", station["id"])
        assert await pool.fetch(facet_week, station["id"]) == []
        assert (
            await pool.fetchval(
                "SELECT count(*) FROM tiles.point_facets WHERE station_id = $1 AND opening IS NULL",
                station["id"],
            )
            > 0
        )
    finally:
        await pool.execute(
            "UPDATE stations SET horaires = $2 WHERE id = $1", station["id"], station["horaires"]
        )
        await pool.execute("SELECT tiles.refresh_cells_of_station($1)", station["id"])
