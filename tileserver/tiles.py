"""GET /tiles/stations/{z}/{x}/{y}.pbf — a thin, caching pipe to `tiles.stations()`.

HTTP contract (Martin's, geolens'): strong ETag and 304; 204 for an empty tile; gzip when the
client accepts it; `Cache-Control: public, no-cache` on 200/204 only (clients and nginx may
store a tile but must revalidate it: a booking changes a tile's availability and the ETag
says whether it did); errors are problem+json and never cacheable.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import time
from typing import Any

import asyncpg
from litestar import Controller, Request, Response, get
from litestar.datastructures import State

from tileserver.filters import QUARTER_S, parse_filters, quarter_of
from wattsup import tile_cache
from wattsup.problems import Problem

log = logging.getLogger("wattsup.tiles")

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
MAX_ZOOM = 20
CACHE_CONTROL = "public, no-cache"
# The data version is read at most once a second per process: an import's new version is
# seen by every tile process within that second, without a query per tile.
VERSION_TTL_S = 1.0
# Cache lifetime of a tile filtered by the clock (open_now): its quarter-hour, plus slack for
# a request that started just before the quarter turned.
QUARTER_TTL_S = QUARTER_S + 60


async def data_version(state: State) -> int:
    cached = getattr(state, "tile_version", None)
    now = time.monotonic()
    if cached and now - cached[1] < VERSION_TTL_S:
        return int(cached[0])
    pool: asyncpg.Pool = state.pool
    version = int(await pool.fetchval("SELECT data_version FROM app_meta"))
    state.tile_version = (version, now)
    return version


def wall_clock() -> float:
    """Seconds since the epoch: the clock of clock-dependent filters (open_now), one name so
    that a test can set it."""
    return time.time()


def parse_tile(z: int, x: int, y_pbf: str) -> tuple[int, int, int]:
    if not y_pbf.endswith(".pbf") or not y_pbf[:-4].isdigit() or len(y_pbf) > 12:
        raise Problem(400, "invalid_tile", "Adresse de tuile invalide : …/{z}/{x}/{y}.pbf.")
    y = int(y_pbf[:-4])
    if not 0 <= z <= MAX_ZOOM:
        raise Problem(400, "invalid_tile", f"Zoom hors limites (0 à {MAX_ZOOM}).")
    if not (0 <= x < 2**z and 0 <= y < 2**z):
        raise Problem(400, "invalid_tile", f"Tuile {z}/{x}/{y} hors de la grille du zoom {z}.")
    return z, x, y


def _pack(raw: bytes) -> bytes:
    """Cache value: ETag line, then the gzipped tile (empty body for an empty tile)."""
    etag = hashlib.md5(raw, usedforsecurity=False).hexdigest()[:20]
    body = gzip.compress(raw, compresslevel=6, mtime=0) if raw else b""
    return etag.encode() + b"\n" + body


class TileController(Controller):
    path = "/tiles/stations"
    tags = ["tiles"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(
        "/{z:int}/{x:int}/{y_pbf:str}",
        summary="Vector tile (MVT) of stations and clusters",
        description=(
            "Layers `clusters` (zoom ≤ 12) and `stations` (zoom ≥ 13). Filters as query "
            "parameters: min_power, connectors (ef,type_2,combo_ccs,chademo,autre), free, "
            "pay_as_you_go, card, open_24_7, open_now (true: open at the current quarter-hour, "
            "false: closed; stations with unknown hours match neither), pmr, free_access, "
            "two_wheeler, t2_cable, available_now. 204 for an empty tile."
        ),
    )
    async def tile(
        self,
        request: Request[Any, Any, Any],
        state: State,
        z: int,
        x: int,
        y_pbf: str,
    ) -> Response[bytes]:
        z, x, y = parse_tile(z, x, y_pbf)
        filters = parse_filters(dict(request.query_params.dict()))
        quarter = quarter_of(wall_clock())
        fkey = filters.cache_key(quarter)
        version = await data_version(state)
        key = tile_cache.tile_key(version, z, x, y, fkey)
        packed, epoch = await tile_cache.get_with_epoch(state.redis, version, key)
        hit = packed is not None
        if packed is None:
            # A database connection on a miss only: a cache hit never waits for the pool.
            # The pool's jsonb codec encodes Python objects: pass the dict, not JSON text.
            pool: asyncpg.Pool = state.pool
            raw: bytes = await pool.fetchval(
                "SELECT tiles.stations($1, $2, $3, $4::jsonb)",
                z,
                x,
                y,
                filters.sql_params(quarter),
            )
            packed = _pack(raw or b"")
            if epoch is not None:  # None: Redis is down, do not wait for it twice
                # A tile keyed by its quarter-hour is unreachable once the quarter is over.
                ttl = QUARTER_TTL_S if filters.depends_on_time() else tile_cache.TTL_SECONDS
                await tile_cache.put(
                    state.redis, version, z, x, y, fkey, packed, epoch=epoch, ttl=ttl
                )
        etag_hex, _, body = packed.partition(b"\n")
        gz = "gzip" in request.headers.get("accept-encoding", "")
        etag = f'"{etag_hex.decode()}{"-gz" if gz and body else ""}"'
        headers = {
            "Cache-Control": CACHE_CONTROL,
            "ETag": etag,
            "Vary": "Accept-Encoding",
            "X-Cache": "HIT" if hit else "MISS",
            "Access-Control-Allow-Origin": "*",
        }
        if request.headers.get("if-none-match") == etag:
            return Response(b"", status_code=304, headers=headers)
        if not body:
            return Response(b"", status_code=204, headers=headers)
        if gz:
            headers["Content-Encoding"] = "gzip"
            content = body
        else:
            content = gzip.decompress(body)
        return Response(content, media_type=MVT_MEDIA_TYPE, headers=headers)
