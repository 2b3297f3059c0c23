"""The Redis tile cache, shared by every tile process and invalidated by the API.

Keys:  tile:v{data_version}:{z}:{x}:{y}:{filters}  → ETag + MVT bytes
       tileidx:v{data_version}:{z}:{x}:{y}          → set of the filter keys cached for that tile
       tileepoch:v{data_version}                     → invalidation counter (see below)

An import bumps the data version, which makes every old key unreachable without a purge (they
expire by TTL). A booking changes one station's availability: `invalidate_stations` drops the
cached variants of exactly the tiles that contain that station, at every zoom.
Redis down or slow is never an error for the user: callers get None / 0 and go on.

A tile rendered from data read before an invalidation must not be cached after it (it would
stay stale until the TTL): a miss reads the epoch with the tile key, and `put` writes only if
the epoch has not moved since (one Lua script, atomic); `invalidate_stations` bumps it.
Call `invalidate_stations` after the commit that changed the data."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import math
from collections.abc import Iterable, Sequence
from uuid import UUID

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from wattsup.cache import REDIS_ERRORS

log = logging.getLogger("wattsup.tile_cache")

TTL_SECONDS = 24 * 3600
MAX_ZOOM = 20


def tile_key(version: int, z: int, x: int, y: int, filters: str) -> str:
    return f"{_tile_prefix(version)}{_tile_path(z, x, y)}:{filters}"


def index_key(version: int, z: int, x: int, y: int) -> str:
    return f"{_index_prefix(version)}{_tile_path(z, x, y)}"


def _tile_path(z: int, x: int, y: int) -> str:
    return f"{z}:{x}:{y}"


def _tile_prefix(version: int) -> str:
    return f"tile:v{version}:"


def _index_prefix(version: int) -> str:
    return f"tileidx:v{version}:"


def epoch_key(version: int) -> str:
    return f"tileepoch:v{version}"


class _Script:
    """A Lua script returning an integer, run by its SHA-1 (EVALSHA; an identifier, not
    security): the text itself is sent only after a Redis restart or SCRIPT FLUSH, when the
    server no longer knows it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()

    async def run(
        self, redis: aioredis.Redis, keys: Sequence[str], args: Sequence[bytes | str | int]
    ) -> int:
        try:
            return int(await redis.evalsha(self.sha, len(keys), *keys, *args))
        except NoScriptError:
            return int(await redis.eval(self.text, len(keys), *keys, *args))


# KEYS: tile, index, epoch; ARGV: epoch seen at the miss, value, filters key, tile ttl,
# index ttl (always the longest: the index must outlive every variant it lists, or an
# invalidation would miss one).
_PUT_IF_SAME_EPOCH = _Script("""
if (redis.call('GET', KEYS[3]) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[4])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
""")


async def get_with_epoch(
    redis: aioredis.Redis, version: int, key: str
) -> tuple[bytes | None, bytes | None]:
    """The cached value (None on a miss) and the invalidation epoch, in one round trip.
    The epoch is None when Redis is unavailable (then `put` is pointless).
    One MGET, not a pipeline of two GETs: the same round trip, ~30 us less of redis-py per
    tile (a cache hit is nothing else)."""
    try:
        value, epoch = await redis.mget(key, epoch_key(version))
        return (value if isinstance(value, bytes) else None), (
            epoch if isinstance(epoch, bytes) else b""
        )
    except REDIS_ERRORS as exc:
        log.warning("tile cache read skipped (Redis unavailable): %r", exc)
        return None, None


async def get(redis: aioredis.Redis, key: str) -> bytes | None:
    try:
        value = await redis.get(key)
        return value if isinstance(value, bytes) else None
    except REDIS_ERRORS as exc:
        log.warning("tile cache read skipped (Redis unavailable): %r", exc)
        return None


async def put(
    redis: aioredis.Redis,
    version: int,
    z: int,
    x: int,
    y: int,
    filters: str,
    value: bytes,
    *,
    epoch: bytes | None = None,
    ttl: int = TTL_SECONDS,
) -> bool:
    """Cache a tile; with `epoch` (from `get_with_epoch`), only if no invalidation ran since.
    `ttl`: shorter for a tile that is only right for a while (a clock-dependent filter)."""
    ttl = min(ttl, TTL_SECONDS)
    try:
        if epoch is not None:
            keys = [tile_key(version, z, x, y, filters), index_key(version, z, x, y)]
            args: list[bytes | str | int] = [epoch, value, filters, ttl, TTL_SECONDS]
            done = await _PUT_IF_SAME_EPOCH.run(redis, [*keys, epoch_key(version)], args)
            return bool(done)
        async with redis.pipeline(transaction=False) as pipe:
            pipe.set(tile_key(version, z, x, y, filters), value, ex=ttl)
            pipe.sadd(index_key(version, z, x, y), filters)
            pipe.expire(index_key(version, z, x, y), TTL_SECONDS)
            await pipe.execute()
        return True
    except REDIS_ERRORS as exc:
        log.warning("tile cache write skipped (Redis unavailable): %r", exc)
        return False


Tile = tuple[int, int, int]


# tiles.tiles_of_station() (sql/schema/0002_tiles.sql) in Python, for the booking path: the
# API gets the changed stations' positions with a transition's answer and computes their tiles
# here rather than PostgreSQL computing them in the transaction (0026). Same constants (0002:
# tiles.extent(), tiles.buffer(), tiles.cluster_max_zoom()), same operations in the same order
# on doubles, so the same tiles: tests/test_tiles_invalidation.py compares the two on every
# station of the sample data.
_ORIGIN = 20037508.342789244  # half the Web Mercator world, metres
_WORLD = 40075016.685578488
_EXTENT, _BUFFER, _CLUSTER_MAX_ZOOM = 4096, 64, 12


@functools.lru_cache(maxsize=1024)
def tiles_of_point(x: float, y: float, max_zoom: int = MAX_ZOOM) -> tuple[Tile, ...]:
    """Every tile, zooms 0 to `max_zoom`, drawing a station at (x, y) (EPSG:3857): the tile
    that holds it and, above the cluster zooms, those whose buffer reaches it. Cached (~15 us
    to compute, ~2.5 KB to keep): a booking, its start and its stop change one station."""
    px, py = x + _ORIGIN, _ORIGIN - y
    out: list[Tile] = []
    for z in range(max_zoom + 1):
        ts = _WORLD / 2.0**z
        b = ts * _BUFFER / _EXTENT if z > _CLUSTER_MAX_ZOOM else 0.0
        for tx in range(math.floor((px - b) / ts), math.floor((px + b) / ts) + 1):
            for ty in range(math.floor((py - b) / ts), math.floor((py + b) / ts) + 1):
                out.append((z, tx, ty))
    return tuple(out)


@functools.lru_cache(maxsize=1024)
def paths_of_point(x: float, y: float) -> tuple[str, ...]:
    """The tiles of `tiles_of_point` as the paths `drop_tiles` sends ("z:x:y"), cached too."""
    return tuple(_tile_path(z, tx, ty) for z, tx, ty in tiles_of_point(x, y))


async def _station_tiles(
    conn: asyncpg.Connection, station_ids: Sequence[UUID]
) -> tuple[set[Tile], int | None]:
    """The tiles of `tiles_of_stations` and the data version, in one round trip (this runs
    after every booking change). The version is None when no tile was found."""
    if not station_ids:
        return set(), None
    rows = await conn.fetch(
        "SELECT t.z, t.x, t.y, (SELECT data_version FROM app_meta) AS version "
        "FROM (SELECT DISTINCT t.z, t.x, t.y FROM unnest($1::uuid[]) AS sid, "
        "LATERAL tiles.tiles_of_station(sid, $2) AS t) t",
        list(station_ids),
        MAX_ZOOM,
    )
    tiles = {(r["z"], r["x"], r["y"]) for r in rows}
    return tiles, (rows[0]["version"] if rows else None)


async def tiles_of_stations(conn: asyncpg.Connection, station_ids: Sequence[UUID]) -> set[Tile]:
    """Every tile, at every zoom, whose content depends on one of these stations (where they
    are now: call it before a move too, to drop the tiles of the old position)."""
    return (await _station_tiles(conn, station_ids))[0]


async def invalidate_stations(
    redis: aioredis.Redis, conn: asyncpg.Connection, station_ids: Sequence[UUID]
) -> int:
    """Drop every cached tile (all filter variants) containing one of these stations, at
    every zoom. Returns the number of keys deleted (0 when Redis is down)."""
    tiles, version = await _station_tiles(conn, station_ids)
    return await invalidate_tiles(redis, conn, tiles, version=version)


async def invalidate_tiles(
    redis: aioredis.Redis, conn: asyncpg.Connection, tiles: set[Tile], version: int | None = None
) -> int:
    """Drop every cached filter variant of these tiles (see `invalidate_stations`)."""
    if not tiles:
        return 0
    if version is None:
        version = await conn.fetchval("SELECT data_version FROM app_meta")
    return await drop_tiles(redis, version, tiles)


# KEYS: the epoch; ARGV: the epoch's ttl, the prefix of the index keys, the prefix of the tile
# keys, then the tiles' paths (_tile_path) as one string "z:x:y z:x:y …". The script composes
# each index key (prefix .. path) and each variant's key (prefix .. path .. ":" .. filters) as
# index_key and tile_key do. The keys are built here rather than passed one by one because
# redis-py spent ~0.25 ms of the API's CPU packing the ~100 keys of a station's tiles, a
# quarter of a booking's whole cost (bench/reservations.py); one Redis, not a cluster, holds
# the cache, so undeclared keys are fine.
# The epoch is bumped first (tiles rendered before this point may no longer be cached, see
# `put`), then each index is read and its variants and itself deleted; one script, so one
# round trip whatever the number of tiles, and atomic (no put can slip in between).
_DROP_TILES = _Script("""
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
local deleted = 0
for tile in string.gmatch(ARGV[4], '%S+') do
    local index = ARGV[2] .. tile
    local filters = redis.call('SMEMBERS', index)
    if #filters > 0 then
        local batch = {index}
        for _, f in ipairs(filters) do
            batch[#batch + 1] = ARGV[3] .. tile .. ':' .. f
            if #batch >= 500 then
                deleted = deleted + redis.call('DEL', unpack(batch))
                batch = {}
            end
        end
        if #batch > 0 then
            deleted = deleted + redis.call('DEL', unpack(batch))
        end
    end
end
return deleted
""")


async def drop_tiles(redis: aioredis.Redis, version: int, tiles: Iterable[Sequence[int]]) -> int:
    """Drop every cached filter variant of these (z, x, y) tiles of data version `version`,
    in one round trip; returns the number of keys deleted (0 when Redis is down)."""
    return await _drop_paths(redis, version, {_tile_path(z, x, y) for z, x, y in tiles})


async def _drop_paths(redis: aioredis.Redis, version: int, paths: Iterable[str]) -> int:
    joined = " ".join(paths)
    if not joined:
        return 0
    args: list[str | int] = [TTL_SECONDS, _index_prefix(version), _tile_prefix(version), joined]
    try:
        return await _DROP_TILES.run(redis, [epoch_key(version)], args)
    except REDIS_ERRORS as exc:
        log.warning("tile invalidation skipped (Redis unavailable): %r", exc)
        return 0


class TileDrops:
    """The tile drops of one process's booking requests, sent together (group commit).

    Each booking transition drops the cached tiles of its station once it has committed, and
    returns only then. One Redis call per request was a quarter of the API's CPU per booking
    and a wake-up of Redis each time (bench/reservations.py: without the call, the API spent
    0.30 ms per request instead of 0.41). Here a drop asked while another is on its way waits
    for it and leaves with every drop asked meanwhile, in one script call: alone, a request
    waits for its own call as before; under load, one call serves many (~1.5 to 2 requests a
    call in that bench, whose API then spent 0.32–0.33 ms per request, with the connection
    released before the drop: api/reservations.py `_transition`). Nothing outlives the
    requests waiting on it, so any number of processes can run, each with its own.
    """

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._pending: dict[int, set[str]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._sender: asyncio.Task[None] | None = None
        self.calls = 0  # script calls made, for tests and the curious

    async def drop_points(self, version: int, points: Iterable[Sequence[float]]) -> None:
        """Drop the tiles of these stations' positions ([x, y] in EPSG:3857, as a booking
        answer has them) in data version `version`; return once they are dropped (or Redis
        has failed: then nothing is cached either way, see `drop_tiles`)."""
        paths = self._pending.setdefault(version, set())
        for x, y in points:
            paths.update(paths_of_point(x, y))
        done = asyncio.get_running_loop().create_future()
        self._waiters.append(done)
        if self._sender is None or self._sender.done():
            # Kept: the loop holds its tasks only weakly (asyncio.create_task's documentation).
            self._sender = asyncio.get_running_loop().create_task(self._send())
        await done

    async def _send(self) -> None:
        # Ends when no drop waits: between that check and the task's end nothing else runs, so
        # a drop asked later finds the task done and starts another.
        while self._waiters:
            pending, waiters = self._pending, self._waiters
            self._pending, self._waiters = {}, []
            try:
                for version, paths in pending.items():
                    self.calls += 1
                    await _drop_paths(self.redis, version, paths)
            except Exception:  # not Redis failing (_drop_paths says so and goes on): a bug
                log.exception("tile invalidation failed")
            finally:
                for w in waiters:
                    if not w.done():
                        w.set_result(None)
