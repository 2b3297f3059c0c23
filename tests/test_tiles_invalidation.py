"""Exactness of the tiles a station invalidates: the SQL `tiles.tiles_of_station` against an
independent computation with mercantile (buffered tile envelopes, cluster cells)."""

from __future__ import annotations

import mercantile
import pytest

pytestmark = pytest.mark.usefixtures("imported_sample")

EXTENT, BUFFER, CLUSTER_MAX_ZOOM = 4096, 64, 12


def expected_tiles(x3857: float, y3857: float, z: int) -> set[tuple[int, int, int]]:
    """Tiles that draw a station: its own tile at cluster zooms (a cluster sits on a member
    inside a cell of that tile), plus every tile whose buffered envelope holds it after."""
    lon, lat = mercantile.lnglat(x3857, y3857)
    own = mercantile.tile(lon, lat, z)
    if z <= CLUSTER_MAX_ZOOM:
        return {(z, own.x, own.y)}
    found = set()
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            t = mercantile.Tile(own.x + dx, own.y + dy, z)
            b = mercantile.xy_bounds(t)
            margin = (b.right - b.left) * BUFFER / EXTENT
            if (
                b.left - margin <= x3857 <= b.right + margin
                and b.bottom - margin <= y3857 <= b.top + margin
            ):
                found.add((z, t.x, t.y))
    return found


async def test_tiles_of_station_are_exactly_the_tiles_that_draw_it(pool) -> None:  # type: ignore[no-untyped-def]
    stations = await pool.fetch(
        "SELECT id, ST_X(geom) AS x, ST_Y(geom) AS y FROM stations "
        "WHERE withdrawn_at IS NULL ORDER BY id LIMIT 80"
    )
    near_edges = 0
    for s in stations:
        rows = await pool.fetch("SELECT z, x, y FROM tiles.tiles_of_station($1, 20)", s["id"])
        got = {(r["z"], r["x"], r["y"]) for r in rows}
        want = set().union(*(expected_tiles(s["x"], s["y"], z) for z in range(21)))
        assert got == want, s["id"]
        near_edges += len(want) > 21
    assert near_edges > 0, "the sample must include stations drawn by a neighbour's buffer"


async def test_the_api_computes_the_same_tiles_as_the_database(pool) -> None:  # type: ignore[no-untyped-def]
    """tile_cache.tiles_of_point (the booking path, 0026) against tiles.tiles_of_station on
    every station of the sample data, and against the independent reference above on points
    a millimetre from a tile's corner and just within or beyond buffer distance of its edges."""
    from wattsup import tile_cache

    stations = await pool.fetch("SELECT id, ST_X(geom) AS x, ST_Y(geom) AS y FROM stations")
    assert len(stations) > 200
    for s in stations:
        rows = await pool.fetch("SELECT z, x, y FROM tiles.tiles_of_station($1, 20)", s["id"])
        got = tile_cache.tiles_of_point(s["x"], s["y"])
        assert len(got) == len(set(got)) == len(rows), s["id"]
        assert set(got) == {(r["z"], r["x"], r["y"]) for r in rows}, s["id"]
    edge = mercantile.xy_bounds(mercantile.Tile(16_600, 11_270, 15))  # Paris, zoom 15
    margin = (edge.right - edge.left) * BUFFER / EXTENT
    for x, y, at_15 in [  # and how many zoom-15 tiles draw the point
        (edge.left + 0.001, edge.top - 0.001, 4),
        (edge.left - margin * 0.999, (edge.top + edge.bottom) / 2, 2),
        (edge.left - margin * 1.001, (edge.top + edge.bottom) / 2, 1),
        (edge.right + margin * 0.999, edge.bottom - margin * 1.001, 2),
    ]:
        want = set().union(*(expected_tiles(x, y, z) for z in range(21)))
        got = tile_cache.tiles_of_point(x, y)
        assert set(got) == want and len([t for t in got if t[0] == 15]) == at_15, (x, y)
    corner = [edge.left + 0.001, edge.top - 0.001]
    paths = tile_cache.paths_of_point(*corner)  # what TileDrops sends: each tile once
    assert len(set(paths)) == len(paths)
    assert set(paths) == {f"{z}:{x}:{y}" for z, x, y in tile_cache.tiles_of_point(*corner)}


async def test_a_tile_rendered_before_an_invalidation_is_not_cached_after_it(  # type: ignore[no-untyped-def]
    pool, redis_client
) -> None:
    from wattsup import tile_cache

    station = await pool.fetchrow(
        "SELECT id, ST_X(geom_4326) lon, ST_Y(geom_4326) lat FROM stations "
        "WHERE withdrawn_at IS NULL ORDER BY id LIMIT 1"
    )
    t = mercantile.tile(station["lon"], station["lat"], 15)
    version = await pool.fetchval("SELECT data_version FROM app_meta")
    key = tile_cache.tile_key(version, t.z, t.x, t.y, "race")
    value, epoch = await tile_cache.get_with_epoch(redis_client, version, key)
    assert value is None and epoch is not None
    # ... the tile is being rendered from the old data when a booking invalidates it ...
    async with pool.acquire() as conn:
        await tile_cache.invalidate_stations(redis_client, conn, [station["id"]])
    assert not await tile_cache.put(
        redis_client, version, t.z, t.x, t.y, "race", b"stale", epoch=epoch
    )
    assert not await redis_client.exists(key)
    # A miss that starts after the invalidation caches normally.
    _, fresh = await tile_cache.get_with_epoch(redis_client, version, key)
    assert await tile_cache.put(redis_client, version, t.z, t.x, t.y, "race", b"new", epoch=fresh)
    assert await redis_client.get(key) == b"new"


async def test_concurrent_booking_drops_share_one_call_and_each_waits_for_its_tiles(  # type: ignore[no-untyped-def]
    redis_client,
) -> None:
    """tile_cache.TileDrops: the drops of requests that finish together go in one script
    call, each request returns only once its own tiles are gone, a drop asked while a call is
    on its way goes with the next one, and versions are kept apart."""
    import asyncio

    import redis.asyncio as aioredis

    from wattsup import tile_cache

    version = 987_654
    # 20 stations 1 km apart along a line through Paris (EPSG:3857), and one elsewhere.
    points = [(261_000.0 + 1_000 * i, 6_250_000.0) for i in range(20)]
    late = (-170_000.0, 6_120_000.0)

    async def cache(x: float, y: float, v: int = version) -> str:
        z, tx, ty = tile_cache.tiles_of_point(x, y)[-1]  # its zoom-20 tile
        assert await tile_cache.put(redis_client, v, z, tx, ty, "power=22", b"old")
        return tile_cache.tile_key(v, z, tx, ty, "power=22")

    keys = [await cache(x, y) for x, y in points]
    late_key = await cache(*late)
    other_version = await cache(*points[0], v=version + 1)
    drops = tile_cache.TileDrops(redis_client)

    async def drop(p: tuple[float, float]) -> bool:
        await drops.drop_points(version, [p])
        return not await redis_client.exists(keys[points.index(p)])

    first = asyncio.gather(*[drop(p) for p in points])
    for _ in range(100):  # until the call is on its way: a drop now waits for the next
        if drops.calls:
            break
        await asyncio.sleep(0)
    await drops.drop_points(version, [late])
    assert await first == [True] * len(points), "each returns once its tile is dropped"
    assert drops.calls == 2, "20 drops together in one call, the late one in the next"
    assert not await redis_client.exists(late_key)
    assert await redis_client.get(other_version) == b"old", "another version is kept"

    down = aioredis.Redis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.2)
    try:  # Redis unreachable: the request goes on (nothing can be cached either)
        await asyncio.wait_for(tile_cache.TileDrops(down).drop_points(version, [late]), 5)
    finally:
        await down.aclose()
