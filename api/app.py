"""Litestar factory for the API process (`uvicorn api.app:create_app --factory`)."""

from __future__ import annotations

import logging

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components

from api import admin_dashboard, reports
from api.admin_imports import AdminImportController
from api.admin_network import AdminNetworkController
from api.admin_support import AdminSupportController
from api.admin_users import AdminUserController
from api.auth import AuthController
from api.filter_profiles import FilterProfileController
from api.irve_dynamic import IrveDynamicController
from api.me import MeController
from api.openapi_errors import document_errors
from api.reservations import ReservationController
from api.scheduler import scheduler_health, sweeper_lifespan
from api.security import CSRFMiddleware, provide_current_session, provide_current_user
from api.stations import StationController
from api.vehicles import VehicleController
from wattsup.config import Settings, get_settings
from wattsup.db import provide_connection
from wattsup.health import health_route
from wattsup.lifespan import resources_lifespan
from wattsup.problems import exception_handlers


def route_handlers() -> list[object]:
    """Every controller of the API, in one list (tests walk it to check the guards)."""
    handlers: list[object] = [
        health_route("api", {"scheduler": scheduler_health}),
        AuthController,
        MeController,
        FilterProfileController,
        VehicleController,
        StationController,
        ReservationController,
        IrveDynamicController,
        *reports.controllers(),
        *admin_dashboard.controllers(),
        AdminUserController,
        AdminNetworkController,
        AdminImportController,
        AdminSupportController,
    ]
    return handlers


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    logging.basicConfig(level=settings.log_level)
    app = Litestar(
        route_handlers=route_handlers(),  # type: ignore[arg-type]
        lifespan=[resources_lifespan(settings), sweeper_lifespan(settings.sweep_interval_s)],
        dependencies={
            "db_connection": Provide(provide_connection),
            "current_user": Provide(provide_current_user),
            "current_session": Provide(provide_current_session),
        },
        middleware=[CSRFMiddleware()],
        exception_handlers=exception_handlers(),
        openapi_config=OpenAPIConfig(
            title="Watts Up API",
            version="0.1.0",
            path="/api/schema",
            components=Components(),
        ),
        debug=False,
    )
    document_errors(app)
    return app
