"""The Redis tile cache, shared by every tile process and invalidated by the API.

Keys:  tile:v{data_version}:{z}:{x}:{y}:{filters}  → ETag + MVT bytes
       tileidx:v{data_version}:{z}:{x}:{y}          → set of the filter keys cached for that tile

An import bumps the data version, which makes every old key unreachable without a purge (they
expire by TTL). A booking changes one station's availability: `invalidate_stations` drops the
cached variants of exactly the tiles that contain that station, at every zoom.
Redis down or slow is never an error for the user: callers get None / 0 and go on."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from uuid import UUID

import asyncpg
import redis.asyncio as aioredis

from wattsup.cache import REDIS_ERRORS

log = logging.getLogger("wattsup.tile_cache")

TTL_SECONDS = 24 * 3600
MAX_ZOOM = 20


def tile_key(version: int, z: int, x: int, y: int, filters: str) -> str:
    return f"tile:v{version}:{z}:{x}:{y}:{filters}"


def index_key(version: int, z: int, x: int, y: int) -> str:
    return f"tileidx:v{version}:{z}:{x}:{y}"


async def get(redis: aioredis.Redis, key: str) -> bytes | None:
    try:
        value = await redis.get(key)
        return value if isinstance(value, bytes) else None
    except REDIS_ERRORS as exc:
        log.warning("tile cache read skipped (Redis unavailable): %r", exc)
        return None


async def put(
    redis: aioredis.Redis, version: int, z: int, x: int, y: int, filters: str, value: bytes
) -> bool:
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.set(tile_key(version, z, x, y, filters), value, ex=TTL_SECONDS)
            pipe.sadd(index_key(version, z, x, y), filters)
            pipe.expire(index_key(version, z, x, y), TTL_SECONDS)
            await pipe.execute()
        return True
    except REDIS_ERRORS as exc:
        log.warning("tile cache write skipped (Redis unavailable): %r", exc)
        return False


async def invalidate_stations(
    redis: aioredis.Redis, conn: asyncpg.Connection, station_ids: Sequence[UUID]
) -> int:
    """Drop every cached tile (all filter variants) containing one of these stations, at
    every zoom. Returns the number of keys deleted (0 when Redis is down)."""
    if not station_ids:
        return 0
    version = await conn.fetchval("SELECT data_version FROM app_meta")
    rows = await conn.fetch(
        "SELECT DISTINCT t.z, t.x, t.y FROM unnest($1::uuid[]) AS sid, "
        "LATERAL tiles.tiles_of_station(sid, $2) AS t",
        list(station_ids),
        MAX_ZOOM,
    )
    try:
        deleted = 0
        async with redis.pipeline(transaction=False) as pipe:
            for r in rows:
                pipe.smembers(index_key(version, r["z"], r["x"], r["y"]))
            members = await pipe.execute()
        keys: list[str] = []
        for r, filters in zip(rows, members, strict=True):
            if filters:
                keys += [tile_key(version, r["z"], r["x"], r["y"], f.decode()) for f in filters]
                keys.append(index_key(version, r["z"], r["x"], r["y"]))
        if keys:
            deleted = int(await redis.delete(*keys))
        return deleted
    except REDIS_ERRORS as exc:
        log.warning("tile invalidation skipped (Redis unavailable): %r", exc)
        return 0
