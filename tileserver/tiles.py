"""GET /tiles/stations/{z}/{x}/{y}.pbf — a thin, caching pipe to `tiles.stations()`.

HTTP contract (Martin's, geolens'): strong ETag and 304; 204 for an empty tile; gzip when the
client accepts it; `Cache-Control: public, no-cache` on 200/204 only (clients and nginx may
store a tile but must revalidate it: a booking changes a tile's availability and the ETag
says whether it did); errors are problem+json and never cacheable.

A cache hit, the common case, is answered by `CachedTiles`, the route's middleware, before
Litestar resolves the handler's parameters: that machinery cost ~40 us of the ~100 us a hit
takes in the process. A miss (with the lookup already done, handed over in the scope) and
every error go on to the handler. Both answer through `tile_response()`.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import asyncpg
from litestar import Controller, HttpMethod, Request, route
from litestar.datastructures import State
from litestar.response.base import ASGIResponse
from litestar.types import ASGIApp, Receive, Scope, Send

from tileserver.filters import QUARTER_S, TileFilters, parse_filters, quarter_of
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


class TileLookup(NamedTuple):
    """A tile request, validated and looked up in the cache (`cached` None: a miss)."""

    z: int
    x: int
    y: int
    filters: TileFilters
    quarter: int
    fkey: str
    version: int
    cached: bytes | None
    epoch: bytes | None  # None: Redis is unavailable


# Where the middleware hands a miss's lookup over to the handler (a key of the request's own
# scope["state"]), so that the handler does not read the cache a second time.
LOOKUP_STATE_KEY = "wattsup.tile_lookup"


async def lookup(
    state: State, z: int, x: int, y_pbf: str, query: Mapping[str, list[str]]
) -> TileLookup:
    """Validate the request (a Problem when it is not) and read the cache: one round trip."""
    z, x, y = parse_tile(z, x, y_pbf)
    filters = parse_filters(query)
    quarter = quarter_of(wall_clock())
    fkey = filters.cache_key(quarter)
    version = await data_version(state)
    key = tile_cache.tile_key(version, z, x, y, fkey)
    cached, epoch = await tile_cache.get_with_epoch(state.redis, version, key)
    return TileLookup(z, x, y, filters, quarter, fkey, version, cached, epoch)


async def render(state: State, t: TileLookup) -> bytes:
    """A missed tile from the database, cached unless an invalidation ran since the lookup."""
    # A database connection on a miss only: a cache hit never waits for the pool.
    # The pool's jsonb codec encodes Python objects: pass the dict, not JSON text.
    pool: asyncpg.Pool = state.pool
    raw: bytes = await pool.fetchval(
        "SELECT tiles.stations($1, $2, $3, $4::jsonb)",
        t.z,
        t.x,
        t.y,
        t.filters.sql_params(t.quarter),
    )
    packed = _pack(raw or b"")
    if t.epoch is not None:  # None: Redis is down, do not wait for it twice
        # A tile keyed by its quarter-hour is unreachable once the quarter is over.
        ttl = QUARTER_TTL_S if t.filters.depends_on_time() else tile_cache.TTL_SECONDS
        await tile_cache.put(
            state.redis, t.version, t.z, t.x, t.y, t.fkey, packed, epoch=t.epoch, ttl=ttl
        )
    return packed


_MVT_TYPE = MVT_MEDIA_TYPE.encode()
_CACHE_CONTROL = CACHE_CONTROL.encode()


def _accepts_gzip(accept_encoding: bytes) -> bool:
    """Whether the client takes gzip (RFC 9110 12.5.3): listed, and not with q=0."""
    for part in accept_encoding.lower().split(b","):
        coding, *params = part.split(b";")
        if coding.strip() in (b"gzip", b"x-gzip", b"*"):
            for param in params:
                name, _, value = param.strip().partition(b"=")
                if name.strip() == b"q":
                    try:
                        return float(value) > 0
                    except ValueError:  # a malformed weight: gzip is still listed
                        return True
            return True
    return False


def _matches(if_none_match: bytes, etag: bytes) -> bool:
    """If-None-Match against our ETag with the weak comparison RFC 9110 13.1.2 asks for:
    a list, W/ prefixes (a CDN weakens the ETag of what it compresses) and *."""
    if if_none_match.strip() == b"*":
        return True
    return any(tag.strip().removeprefix(b"W/") == etag for tag in if_none_match.split(b","))


def tile_response(packed: bytes, *, hit: bool, scope: Scope) -> ASGIResponse:
    """The answer for a packed tile (see `_pack`): 200 (gzipped when accepted), 204 for an
    empty tile, 304 when the client's ETag matches."""
    accept_encoding = if_none_match = b""
    for name, value in scope["headers"]:
        if name == b"accept-encoding":
            accept_encoding = value
        elif name == b"if-none-match":
            if_none_match = value
    etag_hex, _, body = packed.partition(b"\n")
    gz = _accepts_gzip(accept_encoding)
    etag = b'"' + etag_hex + (b'-gz"' if gz and body else b'"')
    headers = [
        (b"cache-control", _CACHE_CONTROL),
        (b"etag", etag),
        (b"vary", b"Accept-Encoding"),
        (b"x-cache", b"HIT" if hit else b"MISS"),
    ]  # Access-Control-Allow-Origin: tileserver/cors.py, on every answer of this app
    if if_none_match and _matches(if_none_match, etag):
        return ASGIResponse(status_code=304, encoded_headers=headers)
    if not body:
        return ASGIResponse(status_code=204, encoded_headers=headers)
    if gz:
        headers.append((b"content-encoding", b"gzip"))
    else:
        body = gzip.decompress(body)
    headers.append((b"content-type", _MVT_TYPE))
    return ASGIResponse(body=body, status_code=200, encoded_headers=headers)


class CachedTiles:
    """The tile route's middleware: answers a cache hit itself; hands anything else to the
    handler (a miss with its lookup, an invalid request untouched: the handler raises the
    same Problem as its answer)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request: Request[Any, Any, Any] = Request(scope)
        params = scope["path_params"]
        try:
            found = await lookup(
                request.app.state,
                int(params["z"]),  # already ints (the route's {z:int}); typed as str
                int(params["x"]),
                str(params["y_pbf"]),
                request.query_params.dict(),
            )
        except Problem:
            await self.app(scope, receive, send)
            return
        if found.cached is None:
            scope["state"][LOOKUP_STATE_KEY] = found
            await self.app(scope, receive, send)
            return
        await tile_response(found.cached, hit=True, scope=scope)(scope, receive, send)


class TileController(Controller):
    path = "/tiles/stations"
    tags = ["tiles"]  # noqa: RUF012 - Litestar reads it as a class attribute

    # GET and HEAD (RFC 9110 9.3.2: a general-purpose server supports HEAD; the ASGI
    # server sends no body for it): a tile client checking a URL gets GET's headers.
    @route(
        "/{z:int}/{x:int}/{y_pbf:str}",
        http_method=[HttpMethod.GET, HttpMethod.HEAD],
        summary="Vector tile (MVT) of stations and clusters",
        description=(
            "Layers `clusters` (zoom ≤ 12) and `stations` (zoom ≥ 13). Filters as query "
            "parameters: min_power, connectors (ef,type_2,combo_ccs,chademo,autre), free, "
            "pay_as_you_go, card, open_24_7, open_now (true: open at the current quarter-hour, "
            "false: closed; stations with unknown hours match neither), pmr, free_access, "
            "two_wheeler, t2_cable, available_now. 204 for an empty tile."
        ),
        response_description=f"A Mapbox Vector Tile ({MVT_MEDIA_TYPE}), gzipped when accepted",
        middleware=[CachedTiles],
        media_type=MVT_MEDIA_TYPE,
    )
    async def tile(
        self,
        request: Request[Any, Any, Any],
        state: State,
        z: int,
        x: int,
        y_pbf: str,
    ) -> ASGIResponse:
        found: TileLookup | None = request.scope["state"].pop(LOOKUP_STATE_KEY, None)
        if found is None:  # an invalid request (raises here), or the middleware was skipped
            found = await lookup(state, z, x, y_pbf, request.query_params.dict())
        if found.cached is not None:
            return tile_response(found.cached, hit=True, scope=request.scope)
        return tile_response(await render(state, found), hit=False, scope=request.scope)
