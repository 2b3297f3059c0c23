"""Redis client shared by both apps. Redis is an accelerator and a coordination point, never
the only copy of anything: every caller must cope with it being down (see `RedisUnavailable`)."""

from __future__ import annotations

import redis.asyncio as aioredis

from wattsup.config import Settings


def create_redis(settings: Settings) -> aioredis.Redis:
    # Short timeouts: a slow Redis must not make a tile slower than PostGIS alone.
    client: aioredis.Redis = aioredis.Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout,
        socket_connect_timeout=settings.redis_timeout,
        health_check_interval=10,
        retry_on_timeout=False,
    )
    return client


REDIS_ERRORS: tuple[type[Exception], ...] = (
    aioredis.ConnectionError,
    aioredis.TimeoutError,
    ConnectionError,
    TimeoutError,
    OSError,
)
