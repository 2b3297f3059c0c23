"""Litestar factory for the tile process (`uvicorn tileserver.app:create_app --factory`)."""

from __future__ import annotations

import logging

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from tileserver.cors import open_cors
from tileserver.tilejson import TileJSONController
from tileserver.tiles import TileController
from wattsup.config import Settings, get_settings
from wattsup.db import provide_connection
from wattsup.health import health_route
from wattsup.lifespan import resources_lifespan
from wattsup.problems import exception_handlers


def route_handlers() -> list[object]:
    return [health_route("tileserver"), TileController, TileJSONController]


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    logging.basicConfig(level=settings.log_level)
    return Litestar(
        route_handlers=route_handlers(),  # type: ignore[arg-type]
        lifespan=[resources_lifespan(settings)],
        dependencies={"db_connection": Provide(provide_connection)},
        middleware=[open_cors],
        exception_handlers=exception_handlers(),
        openapi_config=OpenAPIConfig(title="Watts Up tiles", version="0.1.0", path="/tiles/schema"),
        debug=False,
    )
