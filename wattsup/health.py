"""`GET /health` for both apps: the database, Redis and (for the API) the scheduler.

Redis down is `degraded`, not down: tiles and the API still answer without it. The database
down is `down` with a 503, which is what a load balancer should take out of rotation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Response, get
from litestar.datastructures import State


class HealthCheck(msgspec.Struct):
    ok: bool
    latency_ms: float | None = None
    detail: str | None = None


class Health(msgspec.Struct):
    status: str  # ok | degraded | down
    app: str
    checks: dict[str, HealthCheck]


ExtraCheck = Callable[[State], Awaitable[HealthCheck]]


async def _timed(coro: Awaitable[Any]) -> HealthCheck:
    t0 = time.perf_counter()
    try:
        await asyncio.wait_for(coro, timeout=2)
    except Exception as exc:  # a health check reports failures, it never raises
        return HealthCheck(ok=False, detail=type(exc).__name__)
    return HealthCheck(ok=True, latency_ms=round((time.perf_counter() - t0) * 1000, 2))


def health_route(app_name: str, extra: dict[str, ExtraCheck] | None = None):  # type: ignore[no-untyped-def]
    @get("/health", cache=False, tags=["health"], summary="Health check")
    async def health(state: State) -> Response[Health]:
        checks = {
            "database": await _timed(state.pool.fetchval("SELECT 1")),
            "redis": await _timed(state.redis.ping()),
        }
        for name, check in (extra or {}).items():
            checks[name] = await check(state)
        if not checks["database"].ok:
            status, code = "down", 503
        elif all(c.ok for c in checks.values()):
            status, code = "ok", 200
        else:
            status, code = "degraded", 200
        return Response(
            Health(status=status, app=app_name, checks=checks),
            status_code=code,
            headers={"Cache-Control": "no-store"},
        )

    return health
