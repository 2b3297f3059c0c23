"""Rate limits in Redis (fixed windows), shared by every API process.

Auth routes fail closed: if Redis cannot be reached, they answer 503 rather than let a
password-guessing run through unmetered (documented in the README)."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request

from wattsup.cache import REDIS_ERRORS
from wattsup.problems import Problem

log = logging.getLogger("wattsup.rate_limit")


def client_ip(request: Request[Any, Any, Any]) -> str:
    # nginx sets X-Real-IP from the connection (and only trusts X-Forwarded-For from its own
    # load balancer); without a proxy in front, the socket address is the client.
    return (
        request.headers.get("x-real-ip")
        or (request.client.host if request.client else None)
        or "unknown"
    )


async def hit(request: Request[Any, Any, Any], bucket: str, limit: int, window_s: int) -> None:
    """Count one attempt against `bucket`; raise 429 with Retry-After past `limit`."""
    redis = request.app.state.redis
    key = f"rl:{bucket}"
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window_s, nx=True)
            pipe.ttl(key)
            count, _, ttl = await pipe.execute()
    except REDIS_ERRORS as exc:
        log.error("rate limiter unavailable, refusing %s: %r", bucket, exc)
        raise Problem(
            503,
            "rate_limiter_unavailable",
            "Service de connexion momentanément indisponible, réessayez dans un instant.",
            headers={"Retry-After": "5"},
        ) from exc
    if int(count) > limit:
        retry = max(int(ttl), 1)
        raise Problem(
            429,
            "rate_limited",
            f"Trop de tentatives. Réessayez dans {retry} secondes.",
            headers={"Retry-After": str(retry)},
        )


async def refund(request: Request[Any, Any, Any], bucket: str) -> None:
    """Take back one attempt counted by `hit` (a login that succeeded: only failures should
    add up against an account, or a driver signing in on a few devices would be locked out).
    Best effort: with Redis gone, the attempt just stays counted until the window ends."""
    redis = request.app.state.redis
    try:
        await redis.decr(f"rl:{bucket}")
    except REDIS_ERRORS as exc:
        log.warning("rate limiter unavailable, %s not refunded: %r", bucket, exc)
