"""Security promises as tests: the access table of every API route, CSRF on every
state-changing route, IDOR on bookings and profiles, forged JWTs, CORS closed on the API,
passwords never returned nor logged, bcrypt cost, login timing; production start-up: Secure
cookies, and a refusal to start with an insecure setting.

Already covered elsewhere and not repeated: admin routes refuse anonymous and drivers
(tests/test_admin_api.py), vehicles IDOR, tampered/expired tokens, disabled users, log out
everywhere, cookie flags in development, one CSRF example (tests/test_accounts.py)."""

from __future__ import annotations

import contextlib
import logging
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import bcrypt
import httpx
import jwt
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.fixtures_accounts import PASSWORD, create_user, sign_in
from wattsup.config import Settings

PUBLIC, USER, ADMIN = "public", "user", "admin"
# Every route of the API and who may call it. A new route fails
# test_every_route_is_in_the_access_table until someone decides and writes it here.
ACCESS: dict[tuple[str, str], str] = {
    ("GET", "/health"): PUBLIC,
    ("POST", "/api/auth/register"): PUBLIC,
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/logout"): PUBLIC,
    ("POST", "/api/auth/refresh"): PUBLIC,  # needs the refresh cookie, not a session
    ("POST", "/api/auth/password-reset"): PUBLIC,
    ("POST", "/api/auth/password-reset/confirm"): PUBLIC,
    ("POST", "/api/auth/logout-all"): USER,
    ("GET", "/api/me"): USER,
    ("PATCH", "/api/me"): USER,
    ("DELETE", "/api/me"): USER,
    ("POST", "/api/me/password"): USER,
    ("GET", "/api/me/export"): USER,
    ("GET", "/api/me/filter-profiles"): USER,
    ("POST", "/api/me/filter-profiles"): USER,
    ("DELETE", "/api/me/filter-profiles/{profile_id:uuid}"): USER,
    ("GET", "/api/vehicles"): USER,
    ("POST", "/api/vehicles"): USER,
    ("GET", "/api/vehicles/{vehicle_id:uuid}"): USER,
    ("PATCH", "/api/vehicles/{vehicle_id:uuid}"): USER,
    ("DELETE", "/api/vehicles/{vehicle_id:uuid}"): USER,
    ("GET", "/api/search"): PUBLIC,
    ("GET", "/api/stations"): PUBLIC,
    ("GET", "/api/stations/{station_id:uuid}"): PUBLIC,
    ("GET", "/api/stations/{station_id:uuid}/reports"): PUBLIC,
    ("GET", "/api/reservations/terms"): PUBLIC,
    ("GET", "/api/reservations"): USER,
    ("POST", "/api/reservations"): USER,
    ("GET", "/api/reservations/current"): USER,
    ("GET", "/api/reservations/{reservation_id:uuid}"): USER,
    ("POST", "/api/reservations/{reservation_id:uuid}/cancel"): USER,
    ("POST", "/api/reservations/{reservation_id:uuid}/start"): USER,
    ("POST", "/api/reservations/{reservation_id:uuid}/stop"): USER,
    ("GET", "/api/irve/dynamique.csv"): PUBLIC,
    ("GET", "/api/irve/dynamique.json"): PUBLIC,
    ("POST", "/api/messages"): USER,
    ("POST", "/api/reports"): USER,
    ("GET", "/api/me/messages"): USER,
    ("GET", "/api/me/reports"): USER,
    ("GET", "/api/reports/open"): PUBLIC,
    ("GET", "/api/admin/messages"): ADMIN,
    ("GET", "/api/admin/messages/{message_id:uuid}"): ADMIN,
    ("POST", "/api/admin/messages/{message_id:uuid}/answers"): ADMIN,
    ("POST", "/api/admin/messages/{message_id:uuid}/close"): ADMIN,
    ("GET", "/api/admin/reports"): ADMIN,
    ("GET", "/api/admin/reports/{report_id:uuid}"): ADMIN,
    ("POST", "/api/admin/reports/{report_id:uuid}/answers"): ADMIN,
    ("POST", "/api/admin/reports/{report_id:uuid}/close"): ADMIN,
    ("GET", "/api/admin/dashboard"): ADMIN,
    ("GET", "/api/admin/analytics"): ADMIN,
    ("GET", "/api/admin/analytics/{file_name:str}"): ADMIN,
    ("GET", "/api/admin/users"): ADMIN,
    ("POST", "/api/admin/users"): ADMIN,
    ("GET", "/api/admin/users/{user_id:uuid}"): ADMIN,
    ("PATCH", "/api/admin/users/{user_id:uuid}"): ADMIN,
    ("DELETE", "/api/admin/users/{user_id:uuid}"): ADMIN,
    ("GET", "/api/admin/stations"): ADMIN,
    ("POST", "/api/admin/stations"): ADMIN,
    ("GET", "/api/admin/stations/{station_id:uuid}"): ADMIN,
    ("PATCH", "/api/admin/stations/{station_id:uuid}"): ADMIN,
    ("DELETE", "/api/admin/stations/{station_id:uuid}"): ADMIN,
    ("POST", "/api/admin/stations/{station_id:uuid}/points"): ADMIN,
    ("PATCH", "/api/admin/points/{point_id:uuid}"): ADMIN,
    ("DELETE", "/api/admin/points/{point_id:uuid}"): ADMIN,
    ("GET", "/api/admin/imports"): ADMIN,
    ("POST", "/api/admin/imports"): ADMIN,
    ("GET", "/api/admin/imports/{job_id:uuid}"): ADMIN,
    ("GET", "/api/admin/imports/{job_id:uuid}/events"): ADMIN,
    ("GET", "/api/admin/imports/{job_id:uuid}/rejects"): ADMIN,
    ("GET", "/api/admin/imports/{job_id:uuid}/rejects.csv"): ADMIN,
}
# The OpenAPI document and its viewers: public by design (the API is documented openly).
SCHEMA_PREFIX = "/api/schema"
OUTBOX_SQL = "SELECT body FROM email_outbox WHERE to_address = $1 ORDER BY id DESC LIMIT 1"
SAFE = {"GET", "HEAD", "OPTIONS"}


def walk_routes(app: Litestar) -> set[tuple[str, str]]:
    routes = set()
    for route in app.routes:
        for method in getattr(route, "methods", ()):
            if method not in {"HEAD", "OPTIONS"}:
                routes.add((method, route.path))
    return routes


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: str(uuid.uuid4()) if "uuid" in m.group() else "x", path)


@pytest.fixture(scope="module")
def app_routes(settings: Settings) -> set[tuple[str, str]]:
    from api.app import create_app

    return walk_routes(create_app(settings))


def test_every_route_is_in_the_access_table(app_routes: set[tuple[str, str]]) -> None:
    served = {r for r in app_routes if not r[1].startswith(SCHEMA_PREFIX)}
    missing = served - ACCESS.keys()
    assert not missing, f"routes with no access decision in ACCESS: {sorted(missing)}"
    gone = ACCESS.keys() - served
    assert not gone, f"ACCESS lists routes the app no longer serves: {sorted(gone)}"


async def test_each_route_enforces_its_access(
    api_client: AsyncTestClient[Litestar], driver_client: AsyncTestClient[Litestar]
) -> None:
    checked = 0
    for (method, path), access in sorted(ACCESS.items()):
        url = concrete(path)
        body = None if method in SAFE else {}
        if access == PUBLIC:
            r = await api_client.request(method, url, json=body)
            if path != "/api/auth/refresh":  # no refresh cookie: 401 is its normal answer
                assert r.status_code not in (401, 403), (method, path, r.status_code)
        else:
            r = await api_client.request(method, url, json=body)
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.json()["code"] == "not_authenticated", (method, path)
        if access == ADMIN:
            r = await driver_client.request(method, url, json=body)
            assert r.status_code == 403, (method, path, r.status_code)
            assert r.json()["code"] == "forbidden", (method, path)
        checked += 1
    assert checked == len(ACCESS)
    assert (await driver_client.get("/api/me")).status_code == 200, "nothing ended the session"


# ---------------------------------------------------------------------------------- CSRF


async def test_csrf_on_every_state_changing_route(
    driver_client: AsyncTestClient[Litestar], admin_client: AsyncTestClient[Litestar]
) -> None:
    """With the session cookie but no (or a forged) X-CSRF-Token, every state-changing route
    answers 403 csrf_failed before its handler runs (DELETE /api/me, logout-all included)."""
    unsafe = [(m, p) for (m, p) in ACCESS if m not in SAFE]
    assert len(unsafe) >= 25
    for client in (driver_client, admin_client):
        token = client.headers.pop("X-CSRF-Token")
        try:
            for method, path in unsafe:
                for header in ({}, {"X-CSRF-Token": "forged-" + token[7:]}):
                    r = await client.request(method, concrete(path), json={}, headers=header)
                    assert r.status_code == 403, (method, path, header, r.status_code)
                    assert r.headers["content-type"].startswith("application/problem+json")
                    assert r.json()["code"] == "csrf_failed", (method, path)
        finally:
            client.headers["X-CSRF-Token"] = token
        assert (await client.get("/api/me")).status_code == 200, "no forged request went through"


# ---------------------------------------------------------------------------------- IDOR


@pytest.mark.usefixtures("imported_sample")
async def test_another_drivers_bookings_profiles_and_messages_are_404(
    settings: Settings, pool: Any
) -> None:
    from api.app import create_app

    a_user, b_user = await create_user(pool), await create_user(pool)
    async with (
        AsyncTestClient(app=create_app(settings)) as a,
        AsyncTestClient(app=create_app(settings)) as b,
    ):
        await sign_in(a, a_user["email"], PASSWORD)
        await sign_in(b, b_user["email"], PASSWORD)
        vehicle = (
            await a.post("/api/vehicles", json={"name": "Zoé", "connectors": ["type_2"]})
        ).json()["id"]
        b_vehicle = (
            await b.post("/api/vehicles", json={"name": "Kona", "connectors": ["type_2"]})
        ).json()["id"]
        point = await pool.fetchval(
            "SELECT cp.id FROM charge_points cp WHERE cp.withdrawn_at IS NULL "
            "AND cp.operational_status = 'in_service' AND cp.connector_status = 'Available' "
            "AND cp.prise_type_2 AND cp.reservation IS DISTINCT FROM false AND NOT EXISTS "
            "(SELECT 1 FROM reservations r WHERE r.charge_point_id = cp.id "
            "AND r.status IN ('reserved', 'charging')) ORDER BY cp.id_pdc_itinerance DESC LIMIT 1"
        )
        booked = await a.post(
            "/api/reservations", json={"charge_point_id": str(point), "vehicle_id": vehicle}
        )
        assert booked.status_code == 201, booked.text
        rid = booked.json()["id"]
        try:
            for method, url in (
                ("GET", f"/api/reservations/{rid}"),
                ("POST", f"/api/reservations/{rid}/start"),
                ("POST", f"/api/reservations/{rid}/stop"),
                ("POST", f"/api/reservations/{rid}/cancel"),
            ):
                r = await b.request(method, url)
                assert r.status_code == 404, (method, url, r.status_code, r.text)
                assert r.headers["content-type"].startswith("application/problem+json")
            assert rid not in (await b.get("/api/reservations")).text
            assert (await b.get("/api/reservations/current")).json() in (None, {}, [])
            # Booking with someone else's vehicle is refused as if it did not exist.
            r = await b.post(
                "/api/reservations", json={"charge_point_id": str(point), "vehicle_id": vehicle}
            )
            assert r.status_code in (404, 409), r.text
            status = await pool.fetchval("SELECT status FROM reservations WHERE id = $1", rid)
            assert status == "reserved", "B's attempts changed nothing"
        finally:
            assert (await a.post(f"/api/reservations/{rid}/cancel")).status_code == 200

        profile = await a.post(
            "/api/me/filter-profiles", json={"name": "Rapide", "filters": {"min_power": "50"}}
        )
        assert profile.status_code == 201, profile.text
        pid = profile.json()["id"]
        r = await b.delete(f"/api/me/filter-profiles/{pid}")
        assert r.status_code == 404, r.text
        assert pid not in (await b.get("/api/me/filter-profiles")).text
        assert pid in (await a.get("/api/me/filter-profiles")).text

        msg = await a.post(
            "/api/messages", json={"subject": "Question privée", "body": "Mon badge ne marche pas"}
        )
        if msg.status_code == 201:
            assert "Question privée" not in (await b.get("/api/me/messages")).text
        assert b_vehicle not in (await a.get("/api/vehicles")).text


# ----------------------------------------------------------------------------------- JWT


async def test_forged_tokens_alg_none_and_bad_claims_are_refused(
    api_client: AsyncTestClient[Litestar], pool: Any, settings: Settings
) -> None:
    """tests/test_accounts.py covers a foreign key, a tampered signature and an expired token;
    here a real `alg: none` token (its `none` case there keeps the HS256 header) and claims
    that are signed right but wrong."""
    user = await create_user(pool)
    await sign_in(api_client, user["email"], PASSWORD)
    good = api_client.cookies["wattsup_access"]
    claims = jwt.decode(good, settings.secret_key, algorithms=["HS256"])
    key = settings.secret_key
    deleted = await create_user(pool)
    await pool.execute(
        "UPDATE users SET deleted_at = now(), email = 'deleted-' || id || '@x' WHERE id = $1",
        deleted["id"],
    )
    forged = {
        "alg none": jwt.encode({**claims, "role": "admin"}, None, algorithm="none"),
        "alg none, no dot": jwt.encode(claims, None, algorithm="none").rstrip("."),
        "HS512 with the key": jwt.encode(claims, key, algorithm="HS512"),
        "old token version": jwt.encode({**claims, "tv": claims["tv"] - 1}, key, "HS256"),
        "no exp": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, key, "HS256"),
        "no tv": jwt.encode({k: v for k, v in claims.items() if k != "tv"}, key, "HS256"),
        "sub not a uuid": jwt.encode({**claims, "sub": "admin"}, key, "HS256"),
        "unknown user": jwt.encode({**claims, "sub": str(uuid.uuid4())}, key, "HS256"),
        "deleted user": jwt.encode({**claims, "sub": str(deleted["id"]), "tv": 0}, key, "HS256"),
        "empty": "",
        "garbage": "not.a.jwt",
    }
    for name, token in forged.items():
        api_client.cookies.set("wattsup_access", token)
        r = await api_client.get("/api/me")
        assert r.status_code == 401, (name, r.status_code)
        assert r.json()["code"] == "not_authenticated", name
    api_client.cookies.set("wattsup_access", good)
    assert (await api_client.get("/api/me")).status_code == 200


async def test_the_old_access_token_is_dead_after_log_out_everywhere(
    driver_client: AsyncTestClient[Litestar],
) -> None:
    """Replayed by someone who copied it before: refused, though its exp is still ahead."""
    old = driver_client.cookies["wattsup_access"]
    assert (await driver_client.post("/api/auth/logout-all")).status_code == 200
    driver_client.cookies.set("wattsup_access", old)
    driver_client.cookies.set("wattsup_csrf", driver_client.headers["X-CSRF-Token"])
    assert (await driver_client.get("/api/me")).status_code == 401


# ---------------------------------------------------------------------------------- CORS


async def test_cors_is_closed_on_the_api(api_client: AsyncTestClient[Litestar]) -> None:
    evil = {"Origin": "https://evil.example"}
    for method, url in (("GET", "/api/stations?bbox=4,43,6,44"), ("GET", "/api/me")):
        r = await api_client.request(method, url, headers=evil)
        assert "access-control-allow-origin" not in r.headers, url
        assert "access-control-allow-credentials" not in r.headers, url
    preflight = await api_client.options(
        "/api/vehicles",
        headers={
            **evil,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-csrf-token, content-type",
        },
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-headers" not in preflight.headers


# ----------------------------------------------------------------------------- passwords


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def captured_logs() -> Iterator[_Capture]:
    """Every log line of every logger at DEBUG. Entered after the app is created: Litestar's
    logging set-up replaces the root logger's handlers (pytest's capture may be off, too)."""
    handler = _Capture()
    handler.setFormatter(logging.Formatter("%(name)s %(message)s %(exc_text)s"))
    loggers = [logging.getLogger(name) for name in ("", "wattsup", "litestar", "httpx", "asyncpg")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


async def test_passwords_are_never_returned_nor_logged(
    settings: Settings,
    pool: Any,
    admin_client: AsyncTestClient[Litestar],
) -> None:
    from api.app import create_app

    first = f"Premier-{uuid.uuid4().hex[:8]} mot de passe"
    second = f"Second-{uuid.uuid4().hex[:8]} mot de passe"
    third = f"Troisieme-{uuid.uuid4().hex[:8]} mot de passe"
    wrong = f"Faux-{uuid.uuid4().hex[:8]} mot de passe"
    email = f"secret-{uuid.uuid4().hex[:8]}@example.org"
    bodies: list[str] = []
    app = create_app(settings)
    with captured_logs() as logs:
        async with AsyncTestClient(app=app) as c:

            async def call(method: str, url: str, **kw: Any) -> Any:
                r = await c.request(method, url, **kw)
                bodies.append(r.text + " " + " ".join(r.headers.get_list("set-cookie")))
                return r

            r = await call(
                "POST",
                "/api/auth/register",
                json={"email": email, "password": first, "first_name": "S", "last_name": "P"},
            )
            assert r.status_code == 201, r.text
            c.headers["X-CSRF-Token"] = c.cookies["wattsup_csrf"]
            await call("POST", "/api/auth/login", json={"email": email, "password": wrong})
            await call(
                "POST", "/api/auth/login", json={"email": "nobody@example.org", "password": wrong}
            )
            r = await call("POST", "/api/auth/login", json={"email": email, "password": first})
            assert r.status_code == 200
            c.headers["X-CSRF-Token"] = c.cookies["wattsup_csrf"]
            r = await call(
                "POST", "/api/me/password", json={"old_password": wrong, "new_password": second}
            )
            assert r.status_code == 422
            r = await call(
                "POST", "/api/me/password", json={"old_password": first, "new_password": second}
            )
            assert r.status_code == 200, r.text
            await call("POST", "/api/auth/login", json={"email": email, "password": second})
            c.headers["X-CSRF-Token"] = c.cookies["wattsup_csrf"]
            await call("POST", "/api/auth/password-reset", json={"email": email})
            token = (
                (
                    await pool.fetchval(
                        OUTBOX_SQL,
                        email,
                    )
                )
                .split("token=")[1]
                .split(" ")[0]
            )
            r = await call(
                "POST", "/api/auth/password-reset/confirm", json={"token": token, "password": third}
            )
            assert r.status_code == 200, r.text
            await call("POST", "/api/auth/login", json={"email": email, "password": third})
            c.headers["X-CSRF-Token"] = c.cookies["wattsup_csrf"]
            for url in ("/api/me", "/api/me/export"):
                await call("GET", url)
        uid = await pool.fetchval("SELECT id FROM users WHERE email = $1", email)
        for url in (f"/api/admin/users/{uid}", f"/api/admin/users?q={email}"):
            r = await admin_client.get(url)
            assert r.status_code == 200
            bodies.append(r.text)
    stored = await pool.fetchval("SELECT password_hash FROM users WHERE id = $1", uid)
    secrets = (first, second, third, wrong, stored)
    for text in bodies:
        for secret in secrets:
            assert secret not in text, "a password or its hash was returned"
        assert "password_hash" not in text and "$2b$" not in text
    logged = "\n".join(logs.lines)
    assert "password reset mail queued" in logged, "the capture sees the app's log lines"
    for secret in secrets:
        assert secret not in logged, "a password or its hash was logged"


# -------------------------------------------------------------------------------- bcrypt


def test_bcrypt_cost_is_at_least_12_by_default() -> None:
    from api.security import hash_password
    from wattsup.config import ConfigError, load_settings

    default = Settings()
    assert default.bcrypt_rounds >= 12
    assert hash_password("x" * 12, default.bcrypt_rounds).startswith("$2b$12$")
    for env in ("dev", "production"):
        with pytest.raises(ConfigError, match="BCRYPT_ROUNDS"):
            load_settings(
                {
                    "WATTSUP_ENV": env,
                    "WATTSUP_BCRYPT_ROUNDS": "10",
                    "WATTSUP_SECRET_KEY": "k" * 40,
                    "WATTSUP_COOKIE_SECURE": "true",
                }
            )


async def test_login_timing_unknown_email_within_20_percent_of_wrong_password(
    settings: Settings, pool: Any
) -> None:
    """With the production cost (12) on this app instance, an unknown email costs what a
    known one with a wrong password costs: no account discovery by timing.

    Measured as CPU time of this process (the app runs in it, bcrypt included), not wall
    time: the work is what must be equal, and wall time on a shared 2-core machine swings
    by 2x with whatever else runs (seen: 0.43-0.88 s for the same request in one run)."""
    from api.app import create_app

    email = f"timing-{uuid.uuid4().hex[:8]}@example.org"
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(12)).decode()
    await pool.execute(
        "INSERT INTO users (email, password_hash, first_name, last_name) VALUES ($1, $2, 'T', 'T')",
        email,
        hashed,
    )
    slow = msgspec.structs.replace(settings, bcrypt_rounds=12)
    known: list[float] = []
    unknown: list[float] = []
    async with AsyncTestClient(app=create_app(slow)) as c:
        # Warm-up: the first unknown email builds the dummy hash once per process.
        await c.post("/api/auth/login", json={"email": "warm@example.org", "password": "x" * 12})
        for i in range(5):  # the per-account limit is 8 attempts per 5 minutes
            for samples, who in ((known, email), (unknown, f"nobody-{i}-{email}")):
                started = time.process_time()
                r = await c.post(
                    "/api/auth/login", json={"email": who, "password": f"wrong password {i}"}
                )
                samples.append(time.process_time() - started)
                assert r.status_code == 401, r.text
    k, u = statistics.median(known), statistics.median(unknown)
    print(f"\nlogin timing: wrong password {k * 1000:.0f} ms, unknown email {u * 1000:.0f} ms")
    assert k > 0.05, "cost 12 really used"
    assert abs(u - k) / k < 0.20, (known, unknown)


# ------------------------------------------------------------------------------ production

# The variables a production deployment sets (compose.yaml: WATTSUP_ENV=production), with a
# real secret; each refusal case below breaks one of them.
PRODUCTION_SECRET = "9f1c2ab4e0d35c7a86b1f04e2d9c3a7b5e8f6d1c0a2b4c6d8e0f1a3b5c7d9e1f"
PRODUCTION_REFUSALS = [
    pytest.param({"WATTSUP_SECRET_KEY": None}, "WATTSUP_SECRET_KEY", id="no-secret"),
    pytest.param({"WATTSUP_SECRET_KEY": "changeme"}, "WATTSUP_SECRET_KEY", id="weak-secret"),
    pytest.param({"WATTSUP_SECRET_KEY": "a" * 31}, "WATTSUP_SECRET_KEY", id="short-secret"),
    pytest.param(
        {"WATTSUP_SECRET_KEY": "dev-only-insecure-secret-do-not-use-in-production"},
        "WATTSUP_SECRET_KEY",
        id="dev-secret",
    ),
    pytest.param({"WATTSUP_COOKIE_SECURE": None}, "WATTSUP_COOKIE_SECURE", id="cookies-default"),
    pytest.param(
        {"WATTSUP_COOKIE_SECURE": "false"}, "WATTSUP_COOKIE_SECURE", id="cookies-not-secure"
    ),
    pytest.param({"WATTSUP_BCRYPT_ROUNDS": "4"}, "WATTSUP_BCRYPT_ROUNDS", id="cheap-bcrypt"),
]


def _production_env(settings: Settings, **changes: str | None) -> dict[str, str]:
    from tests.conftest import make_test_env

    env = {
        **make_test_env(),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "WATTSUP_ENV": "production",
        "WATTSUP_SECRET_KEY": PRODUCTION_SECRET,
        "WATTSUP_COOKIE_SECURE": "true",
    }
    env.pop("WATTSUP_BCRYPT_ROUNDS")  # the production default (12), not the tests' 4
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _uvicorn(app: str, env: dict[str, str], port: int) -> subprocess.Popen[str]:
    """The production start command of compose.yaml, on a local port."""
    from tests.conftest import ROOT

    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, "--factory", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize(("changes", "variable"), PRODUCTION_REFUSALS)
def test_production_refuses_to_start_with_insecure_settings(
    hard_settings: Settings, changes: dict[str, str | None], variable: str
) -> None:
    """Each insecure setting stops both apps at start-up (never a server that listens),
    with an error that names the variable to fix."""
    from tests.fixtures_hardening import free_port

    env = _production_env(hard_settings, **changes)
    ports = {app: free_port() for app in ("api.app:create_app", "tileserver.app:create_app")}
    procs = {app: _uvicorn(app, env, port) for app, port in ports.items()}
    for app, proc in procs.items():
        try:
            output, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        assert proc.returncode != 0, f"{app} started with {changes}"
        assert "Uvicorn running" not in output, app
        last = output.strip().splitlines()[-1]
        assert last.startswith("wattsup.config.ConfigError:") and variable in last, output[-800:]
    # The CLI (`wattsup serve`, migrate, import) says it in one line, exit code 2.
    out = subprocess.run(
        [sys.executable, "-m", "wattsup.cli", "stats"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and variable in out.stderr, out.stderr
    assert out.stderr.startswith("wattsup: configuration error:"), out.stderr


@pytest.fixture
def production_api(hard_settings: Settings) -> Iterator[str]:
    """The API process as production starts it (uvicorn, WATTSUP_ENV=production)."""
    from tests.fixtures_hardening import free_port

    port = free_port()
    proc = _uvicorn("api.app:create_app", _production_env(hard_settings), port)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            assert proc.poll() is None, proc.communicate()[0][-2000:]
            assert time.monotonic() < deadline, "the production API did not start"
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _set_cookies(r: httpx.Response) -> dict[str, str]:
    cookies = {}
    for header in r.headers.get_list("set-cookie"):
        name = header.split("=", 1)[0].strip()
        cookies[name] = header
    return cookies


def _flags(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(";")[1:]}


async def test_production_cookies_are_secure_httponly_and_samesite(
    production_api: str, hard_pool: Any
) -> None:
    user = await create_user(hard_pool)
    login = {"email": user["email"], "password": user["password"]}
    async with httpx.AsyncClient(base_url=production_api, timeout=30) as client:
        r = await client.post("/api/auth/login", json=login, headers={"X-Real-IP": "198.51.100.40"})
        assert r.status_code == 200, r.text
        given = _set_cookies(r)
        assert set(given) == {"wattsup_access", "wattsup_refresh", "wattsup_csrf"}, given
        for name, header in given.items():
            flags = _flags(header)
            assert "secure" in flags, header
            assert "samesite=lax" in flags, header
            # The CSRF cookie is read by the page and echoed in X-CSRF-Token; the session
            # cookies are out of the page's reach.
            assert ("httponly" in flags) == (name != "wattsup_csrf"), header
        assert "path=/api/auth" in _flags(given["wattsup_refresh"])

        # Refreshing and logging out set cookies the same way. Secure cookies are not sent
        # back over plain HTTP by a client: send them by hand, as a browser over TLS would.
        jar = {n: h.split(";", 1)[0].split("=", 1)[1] for n, h in given.items()}
        sent = "; ".join(f"{n}={v}" for n, v in jar.items())
        headers = {"Cookie": sent, "X-CSRF-Token": jar["wattsup_csrf"]}
        for path in ("/api/auth/refresh", "/api/auth/logout"):
            r = await client.post(path, headers=headers)
            assert r.status_code in (200, 204), (path, r.text)
            again = _set_cookies(r)
            assert again, path
            for name, header in again.items():
                flags = _flags(header)
                assert "secure" in flags and "samesite=lax" in flags, (path, header)
                assert ("httponly" in flags) == (name != "wattsup_csrf"), (path, header)
            if path.endswith("refresh"):
                jar.update({n: h.split(";", 1)[0].split("=", 1)[1] for n, h in again.items()})
                sent = "; ".join(f"{n}={v}" for n, v in jar.items())
                headers = {"Cookie": sent, "X-CSRF-Token": jar["wattsup_csrf"]}
