"""Open CORS for the tile server. Tiles, TileJSON, style and their errors are
public data, read by web maps on any site (a MapLibre page elsewhere loading our style.json,
a notebook's fetch). No cookie is read here, so `*` opens nothing private; the API stays
closed (it has no such middleware: tests/test_hardening_security.py)."""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.response.base import ASGIResponse
from litestar.types import ASGIApp, Message, Receive, Scope, Send

_ALLOW_ORIGIN = (b"access-control-allow-origin", b"*")
# What a page may read besides the simple headers: revalidation and our cache verdict.
_EXPOSE = (b"access-control-expose-headers", b"ETag, X-Cache")
_METHODS = b"GET, HEAD, OPTIONS"


def open_cors(app: ASGIApp) -> ASGIApp:
    """Middleware: `Access-Control-Allow-Origin: *` on every answer of the tile app (its
    cache-hit fast path included: that is a route middleware, inside this one), and a 204 to
    every CORS preflight."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            preflight = ASGIResponse(
                status_code=204,
                encoded_headers=[
                    _ALLOW_ORIGIN,
                    (b"access-control-allow-methods", _METHODS),
                    (
                        b"access-control-allow-headers",
                        headers.get(b"access-control-request-headers", b""),
                    ),
                    (b"access-control-max-age", b"86400"),
                    (b"vary", b"Access-Control-Request-Headers"),
                ],
            )
            await preflight(scope, receive, send)
            return

        async def send_open(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), _ALLOW_ORIGIN, _EXPOSE]
            await send(message)

        await app(scope, receive, send_open)

    return middleware
