"""Who is calling: JWT access cookie, the `current_user` dependency, guards, CSRF.

- Access token: a short-lived HS256 JWT in the HttpOnly cookie `wattsup_access` carrying the
  user id, role and `token_version`. Every request re-reads the user's `token_version` and
  `disabled_at` (one primary-key lookup), so "log out everywhere", a password change or an
  admin disabling the account cut every session at once, in every process. The booking
  transitions make that lookup inside their own statement (`current_session`).
- Refresh: an opaque random token (cookie `wattsup_refresh`, path /api/auth) stored hashed in
  `auth_sessions`, rotated on use, revocable.
- CSRF: double submit. The readable cookie `wattsup_csrf` must be echoed in `X-CSRF-Token` on
  every state-changing request that carries a session cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import bcrypt
import jwt
import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, State
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from wattsup.config import Settings
from wattsup.problems import Problem, problem_response

ACCESS_COOKIE = "wattsup_access"
REFRESH_COOKIE = "wattsup_refresh"
CSRF_COOKIE = "wattsup_csrf"
CSRF_HEADER = "x-csrf-token"
JWT_ALGORITHM = "HS256"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# A real hash to compare against when the email is unknown, so a wrong email costs the same
# time as a wrong password (no user enumeration by timing).
_DUMMY_HASHES: dict[int, bytes] = {}


class CurrentUser(msgspec.Struct):
    id: UUID
    email: str
    role: str
    first_name: str | None = None
    last_name: str | None = None


def hash_password(password: str, rounds: int) -> str:
    return bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(rounds)).decode()


def check_password(password: str, hashed: str | None, rounds: int) -> bool:
    # No account, or one with no password yet ('!': opened by an admin, its owner not yet
    # through the mailed link): the same bcrypt work, and no.
    if hashed is None or not hashed.startswith("$2"):
        dummy = _DUMMY_HASHES.get(rounds)
        if dummy is None:  # once per cost, not per call: the point is equal timing
            dummy = _DUMMY_HASHES[rounds] = bcrypt.hashpw(b"x", bcrypt.gensalt(rounds))
        bcrypt.checkpw(password.encode()[:72], dummy)
        return False
    return bcrypt.checkpw(password.encode()[:72], hashed.encode())


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def make_access_token(settings: Settings, user_id: UUID, role: str, version: int) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "role": role,
        "tv": version,
        "iat": now,
        "exp": now + timedelta(minutes=settings.access_token_minutes),
    }
    return jwt.encode(claims, settings.secret_key, algorithm=JWT_ALGORITHM)


def session_cookies(
    settings: Settings, access: str, refresh: str | None, csrf: str | None = None
) -> list[Cookie]:
    secure = settings.cookie_secure
    cookies = [
        Cookie(
            key=ACCESS_COOKIE,
            value=access,
            httponly=True,
            secure=secure,
            samesite="lax",
            path="/",
            max_age=settings.access_token_minutes * 60,
        ),
        Cookie(
            key=CSRF_COOKIE,
            value=csrf or secrets.token_urlsafe(24),
            httponly=False,
            secure=secure,
            samesite="lax",
            path="/",
        ),
    ]
    if refresh is not None:
        cookies.append(
            Cookie(
                key=REFRESH_COOKIE,
                value=refresh,
                httponly=True,
                secure=secure,
                samesite="lax",
                path="/api/auth",
                max_age=settings.refresh_token_days * 86400,
            )
        )
    return cookies


def clear_cookies(settings: Settings) -> list[Cookie]:
    return [
        Cookie(
            key=name,
            value="",
            max_age=0,
            path=path,
            httponly=name != CSRF_COOKIE,
            secure=settings.cookie_secure,
            samesite="lax",
        )
        for name, path in ((ACCESS_COOKIE, "/"), (REFRESH_COOKIE, "/api/auth"), (CSRF_COOKIE, "/"))
    ]


def not_signed_in() -> Problem:
    """The 401 of a request without a valid session, wherever that is found out."""
    return Problem(401, "not_authenticated", "Connexion requise.")


class SessionClaims(msgspec.Struct, frozen=True):
    """What a valid access token says: not yet checked against the database."""

    user_id: UUID
    token_version: int


# Access tokens already verified, with their claims and expiry: a driver's page sends the same
# token with every request for its whole life (15 minutes by default), and verifying it
# (base64, JSON, HMAC, claim checks) was ~6% of the API's CPU per booking request
# (bench/reservations.py). A memo of a pure function, not shared state: the same token string
# under the same key always verifies to the same claims, so a hit only re-checks the expiry.
# What ends a session early (log out everywhere, password change, disabled account) is the
# token_version check against the database, which every request still makes. Bounded: the
# oldest entries go first.
_VERIFIED: dict[tuple[str, str], tuple[SessionClaims, int]] = {}
_VERIFIED_MAX = 10_000
_now = time.time  # the memo's clock (PyJWT reads its own), replaceable in tests


def session_from_request(request: ASGIConnection[Any, Any, Any, Any]) -> SessionClaims | None:
    """The claims of the access cookie, if it is signed by us and not expired."""
    token = request.cookies.get(ACCESS_COOKIE)
    if not token:
        return None
    settings: Settings = request.app.state.settings
    memo = (settings.secret_key, token)
    hit = _VERIFIED.get(memo)
    if hit is not None:
        if _now() < hit[1]:
            return hit[0]
        del _VERIFIED[memo]
        return None
    try:
        claims = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["exp", "sub", "tv"]},
        )
        session = SessionClaims(user_id=UUID(claims["sub"]), token_version=int(claims["tv"]))
        expires = int(claims["exp"])
    except (jwt.PyJWTError, ValueError, KeyError, TypeError):
        return None
    if len(_VERIFIED) >= _VERIFIED_MAX:
        del _VERIFIED[next(iter(_VERIFIED))]
    _VERIFIED[memo] = (session, expires)
    return session


async def user_from_request(
    request: ASGIConnection[Any, Any, Any, Any], conn: asyncpg.Connection
) -> CurrentUser | None:
    session = session_from_request(request)
    if session is None:
        return None
    row = await conn.fetchrow(
        "SELECT id, email, role, first_name, last_name, token_version, disabled_at, deleted_at"
        " FROM users WHERE id = $1",
        session.user_id,
    )
    if (
        row is None
        or row["disabled_at"] is not None
        or row["deleted_at"] is not None
        or row["token_version"] != session.token_version
    ):
        return None
    return CurrentUser(
        id=row["id"],
        email=row["email"],
        role=row["role"],
        first_name=row["first_name"],
        last_name=row["last_name"],
    )


async def provide_current_user(
    request: Request[Any, Any, Any], db_connection: asyncpg.Connection
) -> CurrentUser:
    """Dependency `current_user`: the signed-in user, or 401."""
    user = await user_from_request(request, db_connection)
    if user is None:
        raise not_signed_in()
    return user


async def provide_current_session(request: Request[Any, Any, Any]) -> SessionClaims:
    """Dependency `current_session`: the access token's claims, or 401, for handlers whose
    own statement checks them against the database in the same round trip (the booking
    transitions: booking_session_user, sql/schema/0022_booking_session.sql) instead of the
    user lookup of `current_user`. The outcome is the same: a session ended by "log out
    everywhere", a password change or a disabled account gets the same 401.

    It takes no connection, and the handlers that use it declare none: they acquire one for
    their statement only (api/reservations.py `_transition`). A dependency beside
    `db_connection` must not raise: Litestar resolves independent dependencies side by side,
    and a 401 raised beside the connection's acquisition left that connection out of the
    request's clean-up, never released (seen in the tests)."""
    session = session_from_request(request)
    if session is None:
        raise not_signed_in()
    return session


async def _guard_user(connection: ASGIConnection[Any, Any, Any, Any]) -> CurrentUser:
    state: State = connection.app.state
    async with state.pool.acquire() as conn:
        user = await user_from_request(connection, conn)
    if user is None:
        raise not_signed_in()
    return user


async def require_user(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    await _guard_user(connection)


async def require_admin(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    user = await _guard_user(connection)
    if user.role != "admin":
        raise Problem(403, "forbidden", "Réservé aux administrateurs.")


async def _send_problem(send: Send, path: str) -> None:
    response = problem_response(
        403,
        "csrf_failed",
        "Jeton anti-CSRF manquant ou invalide : rechargez la page.",
        instance=path,
    )
    headers = [(k.encode(), v.encode()) for k, v in response.headers.items()]
    headers.append((b"content-type", b"application/problem+json"))
    start: Any = {"type": "http.response.start", "status": 403, "headers": headers}
    body: Any = {"type": "http.response.body", "body": response.content}
    await send(start)
    await send(body)


class CSRFMiddleware(ASGIMiddleware):
    """Double-submit check on state-changing requests that carry a session cookie. Requests
    without a session cookie (register, login) have nothing to forge."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:  # type: ignore[comparison-overlap,typeddict-item]
            request: Request[Any, Any, Any] = Request(scope)
            cookies = request.cookies
            if ACCESS_COOKIE in cookies or REFRESH_COOKIE in cookies:
                expected = cookies.get(CSRF_COOKIE, "")
                given = request.headers.get(CSRF_HEADER, "")
                if not expected or not hmac.compare_digest(expected, given):
                    await _send_problem(send, scope["path"])
                    return
        await next_app(scope, receive, send)
