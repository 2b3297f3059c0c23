"""What both apps do at start and stop: open the database pool and the Redis client once per
process, put them on `app.state`, close them on shutdown."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from litestar import Litestar

from wattsup import tile_cache
from wattsup.cache import create_redis
from wattsup.config import Settings
from wattsup.db import create_pool

log = logging.getLogger("wattsup")


def resources_lifespan(settings: Settings):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        app.state.settings = settings
        app.state.pool = await create_pool(settings)
        app.state.redis = create_redis(settings)
        app.state.tile_drops = tile_cache.TileDrops(app.state.redis)
        try:
            yield
        finally:
            await app.state.redis.aclose()
            await app.state.pool.close()

    return lifespan
