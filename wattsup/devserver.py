"""`wattsup serve`: one process that answers like the production stack behind nginx.

Production runs the API and the tile server as separate processes behind nginx, which also
serves static/. For local use, this dispatcher gives the same URLs from one port: /tiles/* to
the tile app, /api/* and /health to the API, everything else from static/."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, Receive, Scope, Send

from api.app import create_app as create_api
from tileserver.app import create_app as create_tiles
from wattsup.config import Settings

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def create_static_app() -> Litestar:
    return Litestar(
        route_handlers=[
            create_static_files_router(path="/", directories=[STATIC_DIR], html_mode=True)
        ]
    )


class Dispatcher:
    def __init__(self, settings: Settings) -> None:
        self.api = create_api(settings)
        self.tiles = create_tiles(settings)
        self.static = create_static_app()
        self.apps: list[ASGIApp] = [self.api, self.tiles, self.static]

    def pick(self, path: str) -> ASGIApp:
        if path.startswith("/tiles"):
            return self.tiles
        if path.startswith("/api") or path == "/health":
            return self.api
        return self.static

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # type: ignore[comparison-overlap]
            await self._lifespan(receive, send)
            return
        await self.pick(scope["path"])(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        # Run both apps' lifespans (pools, Redis, schedulers) inside this one.
        message = await receive()
        if message["type"] != "lifespan.startup":  # type: ignore[comparison-overlap]
            return
        async with AsyncExitStack() as stack:
            try:
                for app in (self.api, self.tiles):
                    await stack.enter_async_context(app.lifespan())
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})


def create_dev_app(settings: Settings) -> Any:
    return Dispatcher(settings)
