"""Fault injection: Redis killed and restarted under the apps, PostgreSQL connections
terminated mid-traffic, PostgreSQL "restarted" behind a proxy (connections reset, new ones
refused, then refused as starting up), import processes SIGKILLed in each phase (ten
kills), the sweeper's process killed while reservations fall due. Each test prints how many
requests failed during and after the fault (the figures of the hardening note)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import mercantile
import msgspec
from litestar.testing import AsyncTestClient

from tests.conftest import BASE_URL, DATA, ROOT, make_test_env
from tests.fixtures_accounts import create_user, sign_in
from tests.fixtures_hardening import PgProxy, PrivateRedis, free_port, wait_for
from wattsup.config import Settings
from wattsup.importer.engine import repair_pending_derived

STATION_BBOX = {"bbox": "4.0,43.0,6.0,44.5"}
# A request on a pooled connection whose backend was just terminated used to get a 500
# (asyncpg InternalClientError); it is a 503 now, and the mid-traffic test insists on it.
KNOWN_500_ON_DEAD_CONNECTION = False


class Outcomes:
    """Status codes per phase, and the slowest answer, for the report and the asserts."""

    def __init__(self) -> None:
        self.codes: dict[str, collections.Counter[int]] = collections.defaultdict(
            collections.Counter
        )
        self.slowest: dict[str, float] = collections.defaultdict(float)
        self.bad: list[str] = []
        # 500s of the known bug held by test_a_request_right_after_its_connection_died_is_a_503
        self.known: list[str] = []

    def add(self, phase: str, what: str, r: httpx.Response, elapsed: float) -> None:
        self.codes[phase][r.status_code] += 1
        self.slowest[phase] = max(self.slowest[phase], elapsed)
        if r.status_code >= 400 and not r.headers.get("content-type", "").startswith(
            "application/problem+json"
        ):
            self.bad.append(f"{phase} {what}: {r.status_code} not problem+json")
        if r.status_code >= 500 and r.status_code != 503:
            if KNOWN_500_ON_DEAD_CONNECTION and phase == "during" and r.status_code == 500:
                self.known.append(f"{phase} {what}")
            else:
                self.bad.append(f"{phase} {what}: {r.status_code} {r.text[:200]}")

    def failed(self, phase: str) -> int:
        return sum(n for code, n in self.codes[phase].items() if code >= 500)

    def total(self, phase: str) -> int:
        return sum(self.codes[phase].values())

    def report(self, name: str) -> None:
        for phase, codes in self.codes.items():
            print(
                f"\n[{name}] {phase}: {self.total(phase)} requests, {self.failed(phase)} failed, "
                f"codes {dict(sorted(codes.items()))}, slowest {self.slowest[phase]:.2f} s"
            )
        if self.known:
            print(f"[{name}] known-bug 500s: {len(self.known)}")


async def timed(
    outcomes: Outcomes, phase: str, what: str, call: Callable[[], Awaitable[httpx.Response]]
) -> httpx.Response:
    started = time.monotonic()
    r = await call()
    outcomes.add(phase, what, r, time.monotonic() - started)
    return r


# ---------------------------------------------------------------------------------- Redis


async def test_redis_killed_then_back_tiles_served_auth_fails_closed_and_recovers(
    hard_settings: Settings, hard_pool: Any, private_redis: PrivateRedis
) -> None:
    from api.app import create_app as create_api
    from tileserver.app import create_app as create_tiles

    on_private = msgspec.structs.replace(hard_settings, redis_url=private_redis.url)
    user = await create_user(hard_pool)
    t = mercantile.tile(5.0, 43.5, 9)
    tile_url = f"/tiles/stations/{t.z}/{t.x}/{t.y}.pbf"
    out = Outcomes()
    login = {"email": user["email"], "password": user["password"]}

    async with (
        AsyncTestClient(app=create_api(on_private)) as api,
        AsyncTestClient(app=create_tiles(on_private)) as tiles,
    ):

        async def round_of(phase: str) -> dict[str, httpx.Response]:
            answers = {
                "tile": await timed(out, phase, "tile", lambda: tiles.get(tile_url)),
                "stations": await timed(
                    out, phase, "stations", lambda: api.get("/api/stations", params=STATION_BBOX)
                ),
                "login": await timed(
                    out, phase, "login", lambda: api.post("/api/auth/login", json=login)
                ),
            }
            if answers["login"].status_code == 200:  # new session, new CSRF token
                api.headers["X-CSRF-Token"] = api.cookies["wattsup_csrf"]
            answers["me"] = await timed(out, phase, "me", lambda: api.get("/api/me"))
            return answers

        before = await round_of("before")
        assert {k: r.status_code for k, r in before.items()} == {
            "tile": 200,
            "stations": 200,
            "login": 200,
            "me": 200,
        }
        assert (await tiles.get(tile_url)).headers["x-cache"] == "HIT"

        private_redis.stop()
        for _ in range(5):
            during = await round_of("during")
            # Tiles bypass the cache; reads that need no Redis keep answering.
            assert during["tile"].status_code == 200, during["tile"].text
            assert during["tile"].headers["x-cache"] == "MISS"
            assert during["stations"].status_code == 200
            assert during["me"].status_code == 200, "an open session does not need Redis"
            # Log-in fails closed: no unmetered password guessing, a clear, documented 503.
            assert during["login"].status_code == 503, during["login"].text
            problem = during["login"].json()
            assert problem["code"] == "rate_limiter_unavailable" and problem["detail"]
            assert during["login"].headers["retry-after"]
        for path, body in (
            ("/api/auth/register", {**login, "first_name": "A", "last_name": "B"}),
            ("/api/auth/password-reset", {"email": user["email"]}),
        ):
            r = await timed(out, "during", path, lambda p=path, b=body: api.post(p, json=b))  # type: ignore[misc]
            assert r.status_code == 503 and r.json()["code"] == "rate_limiter_unavailable", path

        # Redis comes back on the same address: no restart of either app.
        private_redis.start()
        deadline = time.monotonic() + 15
        while True:
            after = await round_of("after")
            if all(r.status_code == 200 for r in after.values()):
                break
            assert time.monotonic() < deadline, {k: r.status_code for k, r in after.items()}
            await asyncio.sleep(0.2)
        recovered = [await round_of("recovered") for _ in range(3)]
        assert all(r.status_code == 200 for rnd in recovered for r in rnd.values())
        assert (await tiles.get(tile_url)).headers["x-cache"] == "HIT", "the cache is used again"
    out.report("redis")
    assert not out.bad, out.bad
    assert out.failed("recovered") == 0


# ----------------------------------------------------------------------------- PostgreSQL


TERMINATE_SQL = (
    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE application_name = 'wattsup' AND datname = $1 AND pid <> pg_backend_pid()"
)


async def _terminate_app_backends(pool: Any, database: str) -> int:
    killed: int = await pool.fetchval(TERMINATE_SQL, database)
    return killed


async def _free_point(pool: Any) -> Any:
    return await pool.fetchval(
        "SELECT cp.id FROM charge_points cp WHERE cp.withdrawn_at IS NULL "
        "AND cp.operational_status = 'in_service' AND cp.connector_status = 'Available' "
        "AND cp.prise_type_2 AND cp.reservation IS DISTINCT FROM false AND NOT EXISTS "
        "(SELECT 1 FROM reservations r WHERE r.charge_point_id = cp.id "
        "AND r.status IN ('reserved', 'charging')) ORDER BY random() LIMIT 1"
    )


async def test_database_connections_killed_mid_traffic_fail_fast_and_the_pool_recovers(
    hard_settings: Settings, hard_pool: Any
) -> None:
    from api.app import create_app

    database = hard_settings.database_url.rsplit("/", 1)[1]
    user = await create_user(hard_pool)
    out = Outcomes()
    kills = 0
    async with AsyncTestClient(app=create_app(hard_settings)) as api:
        await sign_in(api, user["email"], user["password"])
        r = await api.post("/api/vehicles", json={"name": "Zoé", "connectors": ["type_2"]})
        vehicle = r.json()["id"]

        async def one_round(phase: str) -> None:
            point = await _free_point(hard_pool)
            await timed(
                out, phase, "stations", lambda: api.get("/api/stations", params=STATION_BBOX)
            )
            await timed(out, phase, "me", lambda: api.get("/api/me"))
            booked = await timed(
                out,
                phase,
                "book",
                lambda: api.post(
                    "/api/reservations",
                    json={"charge_point_id": str(point), "vehicle_id": vehicle},
                ),
            )
            current = await timed(
                out, phase, "current", lambda: api.get("/api/reservations/current")
            )
            rid = booked.json()["id"] if booked.status_code == 201 else None
            if rid is None and current.status_code == 200 and current.json():
                rid = current.json()["id"]  # booked, but the answer was lost
            if rid is not None:
                await timed(
                    out, phase, "cancel", lambda: api.post(f"/api/reservations/{rid}/cancel")
                )

        for _ in range(3):
            await one_round("before")

        async def killer() -> None:
            nonlocal kills
            for _ in range(8):
                await asyncio.sleep(random.uniform(0.01, 0.15))
                kills += await _terminate_app_backends(hard_pool, database)

        random.seed(9)
        kill_task = asyncio.create_task(killer())
        while not kill_task.done():
            await one_round("during")
        await kill_task
        for _ in range(10):
            await one_round("after")
    out.report(f"postgres, {kills} backends terminated")
    assert kills >= 4
    assert not out.bad, "\n".join(out.bad)
    assert out.failed("after") == 0, out.codes["after"]
    assert out.slowest["during"] < 6, "fail fast: no request waits on a dead connection"
    # No half-written reservation: every reservation of the driver is whole and none is
    # left holding a point.
    rows = await hard_pool.fetch(
        "SELECT status, charge_point_id, vehicle_id, created_at FROM reservations "
        "WHERE user_id = $1",
        user["id"],
    )
    assert rows, "bookings went through"
    assert all(r["charge_point_id"] and r["vehicle_id"] and r["created_at"] for r in rows)
    held = [r for r in rows if r["status"] in ("reserved", "charging")]
    assert not held, "every booking was cancelled or never written"
    # The connector status follows the booking in the same transaction: none is left taken.
    statuses = await hard_pool.fetch(
        "SELECT DISTINCT connector_status FROM charge_points WHERE id = ANY($1::uuid[])",
        [r["charge_point_id"] for r in rows],
    )
    assert [s["connector_status"] for s in statuses] == ["Available"], statuses


async def test_a_request_right_after_its_connection_died_is_a_503(
    hard_settings: Settings, hard_pool: Any
) -> None:
    from api.app import create_app

    database = hard_settings.database_url.rsplit("/", 1)[1]
    codes = []
    async with AsyncTestClient(app=create_app(hard_settings)) as api:
        for _ in range(6):
            assert (await api.get("/api/stations", params=STATION_BBOX)).status_code == 200
            # Blocking on purpose: the next request goes out before the app's event loop has
            # read the server's goodbye on the pooled connection, as when the kill and a
            # request cross on the wire.
            subprocess.run(  # noqa: ASYNC221
                [
                    "psql",
                    f"{BASE_URL}/postgres",
                    "-qAtc",
                    TERMINATE_SQL.replace("$1", f"'{database}'"),
                ],
                check=True,
                capture_output=True,
            )
            r = await api.get("/api/stations", params=STATION_BBOX)
            codes.append(r.status_code)
            if r.status_code >= 500:
                assert r.json()["code"] == "service_unavailable", r.text
    assert all(code in (200, 503) for code in codes), codes


# ------------------------------------------------------------ PostgreSQL restart (proxy)

RESTART_DOWN_S = 2.0  # connections reset, new ones refused (the server is stopped)
RESTART_STARTING_S = 1.0  # new connections answered FATAL 57P03 (the server replays its WAL)


class Sample(msgspec.Struct):
    who: str
    what: str
    t0: float
    t1: float
    status: int  # 0: no answer (the client gave up after 15 s)
    code: str | None
    problem: bool


async def test_postgres_restart_behind_a_proxy_fails_fast_with_503_and_the_pool_recovers(
    hard_settings: Settings, hard_pool: Any, pg_proxy: PgProxy, tmp_path: Path
) -> None:
    """A restart as the app sees it, without touching the shared server: the proxy between
    the API process and PostgreSQL resets every open connection and refuses new ones for
    2 s, answers new ones "the database system is starting up" (57P03) for 1 s, then
    proxies again. Three signed-in drivers book, start, stop and cancel while an anonymous
    visitor reads stations and searches; the API process is never restarted."""
    on_proxy = msgspec.structs.replace(
        hard_settings, database_url=pg_proxy.url(hard_settings.database_url)
    )
    stations = [
        r["id"]
        for r in await hard_pool.fetch(
            "SELECT id FROM stations WHERE withdrawn_at IS NULL ORDER BY id LIMIT 20"
        )
    ]
    drivers = [await create_user(hard_pool) for _ in range(3)]
    points = [
        r["id"]
        for r in await hard_pool.fetch(
            "SELECT cp.id FROM charge_points cp WHERE cp.withdrawn_at IS NULL "
            "AND cp.operational_status = 'in_service' AND cp.connector_status = 'Available' "
            "AND cp.prise_type_2 AND cp.reservation IS DISTINCT FROM false AND NOT EXISTS "
            "(SELECT 1 FROM reservations r WHERE r.charge_point_id = cp.id "
            "AND r.status IN ('reserved', 'charging')) ORDER BY cp.id LIMIT 60"
        )
    ]
    assert len(points) >= 30
    port = free_port()
    log = tmp_path / "api.log"
    proc = await asyncio.to_thread(_start_api_process, on_proxy, port, log)
    samples: list[Sample] = []
    stop = asyncio.Event()
    rng = random.Random(9)
    clients: list[httpx.AsyncClient] = []
    writing: set[object] = set()  # bookings, starts, stops and cancels under way

    async def call(
        client: httpx.AsyncClient, who: str, what: str, method: str, url: str, **kw: Any
    ) -> httpx.Response | None:
        t0 = time.monotonic()
        token = object()
        if method == "POST":
            writing.add(token)
        try:
            r = await client.request(method, url, **kw)
        except httpx.TimeoutException:
            samples.append(Sample(who, what, t0, time.monotonic(), 0, None, False))
            return None
        finally:
            writing.discard(token)
        problem = r.headers.get("content-type", "").startswith("application/problem+json")
        code = r.json().get("code") if problem else None
        samples.append(Sample(who, what, t0, time.monotonic(), r.status_code, code, problem))
        await asyncio.sleep(0.03)  # a breath between requests: two cores, a few clients
        return r

    async def visitor(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            await call(client, "visitor", "stations", "GET", "/api/stations", params=STATION_BBOX)
            sid = rng.choice(stations)
            await call(client, "visitor", "station", "GET", f"/api/stations/{sid}")
            q = rng.choice(["Mars", "Nîmes", "Avignon", "13001", "Toulon"])
            await call(client, "visitor", "search", "GET", "/api/search", params={"q": q})

    async def driver(n: int, client: httpx.AsyncClient, vehicle: str) -> None:
        """Reads, then the next step of the booking it believes it has: it acts on what it
        last saw even when the database is away, so writes are in flight during the outage."""
        who = f"driver{n}"
        mine = points[n::3]
        known: dict[str, Any] | None = None
        while not stop.is_set():
            sid = rng.choice(stations)
            await call(client, who, "station", "GET", f"/api/stations/{sid}")
            await call(client, who, "search", "GET", "/api/search", params={"q": "Mars"})
            current = await call(client, who, "current", "GET", "/api/reservations/current")
            if current is not None and current.status_code == 200:
                known = current.json()
            if known and known["status"] == "reserved":
                action = rng.choice(["start", "cancel"])
                url = f"/api/reservations/{known['id']}/{action}"
                r = await call(client, who, action, "POST", url)
            elif known and known["status"] == "charging":
                url = f"/api/reservations/{known['id']}/stop"
                r = await call(client, who, "stop", "POST", url)
            else:
                body = {"charge_point_id": str(rng.choice(mine)), "vehicle_id": vehicle}
                r = await call(client, who, "book", "POST", "/api/reservations", json=body)
            if r is not None and r.status_code in (200, 201):
                known = r.json()

    try:
        base = f"http://127.0.0.1:{port}"
        vehicles = []
        for user in drivers:
            client = httpx.AsyncClient(base_url=base, timeout=15)
            clients.append(client)
            r = await client.post(
                "/api/auth/login", json={"email": user["email"], "password": user["password"]}
            )
            assert r.status_code == 200, r.text
            client.headers["X-CSRF-Token"] = client.cookies["wattsup_csrf"]
            r = await client.post("/api/vehicles", json={"name": "Zoé", "connectors": ["type_2"]})
            assert r.status_code == 201, r.text
            vehicles.append(r.json()["id"])
        anonymous = httpx.AsyncClient(base_url=base, timeout=15)
        clients.append(anonymous)

        traffic = [asyncio.create_task(visitor(anonymous))] + [
            asyncio.create_task(driver(n, clients[n], vehicles[n])) for n in range(3)
        ]
        await asyncio.sleep(1.5)
        # Crash while a write is under way, so a transaction is cut, not only idle sessions.
        for _ in range(1000):
            if writing:
                break
            await asyncio.sleep(0.002)
        cut = len(writing)
        t_crash = time.monotonic()
        reset = await pg_proxy.crash()
        await asyncio.sleep(RESTART_DOWN_S)
        t_starting = time.monotonic()
        await pg_proxy.starting_up()
        await asyncio.sleep(RESTART_STARTING_S)
        await pg_proxy.up()
        t_up = time.monotonic()

        def since_last_failure() -> list[Sample]:
            after = [s for s in samples if s.t0 >= t_up]
            failed = [i for i, s in enumerate(after) if s.status >= 500 or s.status == 0]
            return after[failed[-1] + 1 :] if failed else after

        for _ in range(150):  # at most 15 s for 50 successes in a row
            if len(since_last_failure()) >= 50:
                break
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.gather(*traffic)
        assert proc.poll() is None, "the API process was never restarted"

        # Leave no booking open for the other tests (after the audit below has its state).
        audit_ids = [d["id"] for d in drivers]
        # A stop writes its log and receipt in its own statement (0027): nothing is left for
        # the sweeper to finish, and the audit below reads the state as the crash left it.
        rows = await hard_pool.fetch(
            "SELECT r.id, r.status, r.started_at, r.receipt IS NOT NULL AS receipted, "
            "r.charge_point_id, cp.connector_status, "
            "count(*) FILTER (WHERE e.message = 'ReserveNow') AS reserve_now, "
            "count(*) FILTER (WHERE e.message = 'StartTransaction') AS start_tx, "
            "count(*) FILTER (WHERE e.message = 'StopTransaction') AS stop_tx, "
            "count(*) FILTER (WHERE e.message = 'CancelReservation') AS cancel_ev "
            "FROM reservations r JOIN charge_points cp ON cp.id = r.charge_point_id "
            "LEFT JOIN reservation_events e ON e.reservation_id = r.id "
            "WHERE r.user_id = ANY($1::uuid[]) GROUP BY r.id, cp.connector_status",
            audit_ids,
        )
        for client in clients[:3]:
            r = await client.get("/api/reservations/current")
            booking = r.json()
            if booking and booking["status"] in ("reserved", "charging"):
                action = "cancel" if booking["status"] == "reserved" else "stop"
                r = await client.post(f"/api/reservations/{booking['id']}/{action}")
                assert r.status_code == 200, r.text
    finally:
        stop.set()
        for client in clients:
            await client.aclose()
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)

    def phase(s: Sample) -> str:
        if s.t1 < t_crash:
            return "before"
        if s.t0 >= t_crash and s.t1 <= t_up:
            return "during"
        if s.t0 >= t_up:
            return "after"
        return "edge"  # under way when the server went away or came back

    by_phase: dict[str, list[Sample]] = collections.defaultdict(list)
    for s in samples:
        by_phase[phase(s)].append(s)
    during, after = by_phase["during"], by_phase["after"]
    tail = since_last_failure()
    failed_after = [s for s in after if s.status >= 500 or s.status == 0]
    recovered_in = max((s.t1 for s in failed_after), default=t_up) - t_up
    slowest = max((s.t1 - s.t0 for s in during), default=0.0)
    print(
        f"\n[postgres restart] {reset} connections reset with {cut} write(s) under way; "
        f"down {RESTART_DOWN_S} s, starting up {RESTART_STARTING_S} s "
        f"({pg_proxy.refused_starting} connections refused 57P03)"
    )
    for name in ("before", "during", "edge", "after"):
        rows_ = by_phase[name]
        codes = collections.Counter(s.status for s in rows_)
        fails = sum(1 for s in rows_ if s.status >= 500 or s.status == 0)
        print(
            f"[postgres restart] {name}: {len(rows_)} requests, {fails} failed, "
            f"codes {dict(sorted(codes.items()))}"
        )
    writes = collections.Counter(
        (s.what, s.status)
        for s in samples
        if s.what in ("book", "start", "stop", "cancel") and s.status < 300
    )
    print(f"[postgres restart] writes that went through: {dict(sorted(writes.items()))}")
    print(
        f"[postgres restart] slowest answer during: {slowest:.2f} s; recovered "
        f"{recovered_in:.2f} s after listening again; then {len(tail)} requests, 0 failed; "
        f"{len(rows)} bookings audited"
    )
    logged = log.read_text(errors="replace")
    bad = [
        f"{phase(s)} {s.who} {s.what}: {s.status} {s.code}"
        for s in samples
        if s.status == 0
        or (s.status >= 500 and s.status != 503)
        or (s.status >= 400 and not s.problem)
    ]
    assert not bad, "\n".join(bad) + "\n" + logged[-3000:]
    assert "unhandled error" not in logged, logged[-3000:]
    assert all(s.status < 500 for s in by_phase["before"]), "the proxy alone changes nothing"
    # During the outage: every answer is a fast 503 problem (the database is unavailable).
    assert len(during) >= 20, len(during)
    assert all(s.status == 503 and s.code == "service_unavailable" for s in during), [
        (s.what, s.status, s.code) for s in during if s.status != 503
    ]
    assert slowest < 6, "fail fast: no request waits on a server that is not there"
    refused = [s for s in during if s.t1 <= t_starting]
    starting = [s for s in during if s.t0 >= t_starting]
    assert refused and starting, (len(refused), len(starting))
    assert pg_proxy.refused_starting > 0, "the pool met a server starting up"
    # After: the same process recovers by itself, within a few seconds, and stays well.
    assert recovered_in < 5, recovered_in
    assert len(tail) >= 50, len(tail)
    assert any(s.what == "book" and s.status == 201 for s in after), "bookings work again"
    # No booking half-written: each transition's log is whole, one open booking at most per
    # point and per driver, and the connector says what the booking says.
    assert rows, "bookings went through"
    wrong = []
    for r in rows:
        whole = r["reserve_now"] == 1
        if r["started_at"] is not None or r["status"] in ("charging", "completed"):
            whole &= r["start_tx"] == 1 and r["started_at"] is not None
        if r["status"] == "reserved":
            whole &= r["start_tx"] == 0 and r["cancel_ev"] == 0
        if r["status"] == "completed":
            whole &= r["receipted"] and r["stop_tx"] == 1
        if r["status"] == "cancelled":
            whole &= r["cancel_ev"] == 1 and r["start_tx"] == 0
        if r["status"] != "completed":
            whole &= not r["receipted"] and r["stop_tx"] == 0
        expected = {"reserved": "Reserved", "charging": "Charging"}.get(r["status"])
        if expected is not None:
            whole &= r["connector_status"] == expected
        if not whole:
            wrong.append(dict(r))
    assert not wrong, wrong
    open_ = [r for r in rows if r["status"] in ("reserved", "charging")]
    assert len(open_) <= len(drivers)
    assert len({r["charge_point_id"] for r in open_}) == len(open_)
    taken = {r["charge_point_id"] for r in open_}
    left = {r["charge_point_id"] for r in rows} - taken
    statuses = await hard_pool.fetch(
        "SELECT connector_status, count(*) FROM charge_points WHERE id = ANY($1::uuid[]) "
        "GROUP BY 1",
        list(left),
    )
    assert {s["connector_status"] for s in statuses} <= {"Available"}, statuses
    assert not await hard_pool.fetchval(
        "SELECT count(*) FROM reservations WHERE user_id = ANY($1::uuid[]) "
        "AND status IN ('reserved', 'charging')",
        audit_ids,
    ), "every booking was closed at the end"


# ---------------------------------------------------------------------------------- imports


async def _network_fingerprint(conn: Any) -> tuple[Any, ...]:
    """What a map or a booking sees of the network: live stations, live points with their
    power, and the precomputed clusters. A mix of two imports would show in one of them."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM stations WHERE withdrawn_at IS NULL) AS stations,"
        " (SELECT count(*) FROM charge_points WHERE withdrawn_at IS NULL) AS points,"
        " (SELECT md5(string_agg(id_pdc_itinerance || ':' || puissance_nominale, ','"
        "   ORDER BY id_pdc_itinerance)) FROM charge_points WHERE withdrawn_at IS NULL) AS ids,"
        " (SELECT sum(stations) FROM tiles.clusters WHERE zoom = 5) AS clusters"
    )
    return tuple(row)


# Ten SIGKILLs per run (the issue asks for 10), aimed at every phase of an import: the
# process start-up (before it claims the job), reading + COPY to staging, the merge (with the
# cluster refresh), the commit. The moment inside the phase is random. The job row says
# "queued" from the claim until the first progress report (every 0.5 s), so a kill aimed at
# "queued" lands while the file is being read.
PHASES = ("queued", "reading", "merging", "committing", "refreshing", "done", "failed")
KILL_TARGETS = (
    "start-up",
    "start-up",
    "queued",
    "queued",
    "queued",
    "merging",
    "merging",
    "merging",
    "committing",
    "refreshing",
)
# Seconds after the phase shows in the job row (for start-up: after the process starts).
KILL_WINDOW_S = {
    "start-up": 0.06,
    "queued": 0.3,
    "merging": 1.0,
    "committing": 0.02,
    "refreshing": 0.1,
}


def _cli_import(settings: Settings, path: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**make_test_env(), "DATABASE_URL": settings.database_url}
    return subprocess.Popen(
        [sys.executable, "-m", "wattsup.cli", "import", str(path), "--quiet", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_imports_killed_at_random_points_leave_old_or_new_never_a_mix(
    scratch: Any, scratch_settings: Settings, tmp_path: Path
) -> None:
    """tests/test_import.py kills one import mid-read; here ten kills land in every phase,
    from start-up to the merge, the cluster refresh and the commit, at a random moment in it."""
    from tests.test_import import synth
    from wattsup.importer.engine import import_file

    defects = DATA / "irve-v2-defects.csv"
    big = synth(tmp_path, 3_000)
    await import_file(scratch_settings, defects)
    old = await _network_fingerprint(scratch)

    started = time.monotonic()
    proc = _cli_import(scratch_settings, big, "--full")
    assert await asyncio.to_thread(proc.wait, 120) == 0
    duration = time.monotonic() - started
    new = await _network_fingerprint(scratch)
    assert new != old
    await import_file(scratch_settings, defects, full=True)
    assert await _network_fingerprint(scratch) == old, "a full import brings the old state back"

    rng = random.Random(20_241_125)
    outcomes = []
    for target in KILL_TARGETS:
        known = {r["id"] for r in await scratch.fetch("SELECT id FROM import_jobs")}
        proc = _cli_import(scratch_settings, big, "--full")
        started = time.monotonic()
        phase = "start-up"
        if target == "start-up":
            await asyncio.sleep(rng.uniform(0.01, KILL_WINDOW_S["start-up"]))
        else:
            # Wait for the phase (or a later one: the process may outrun the polling), then
            # a random moment inside it.
            while proc.poll() is None and time.monotonic() - started < 60:
                job = await scratch.fetchrow(
                    "SELECT id, status, phase FROM import_jobs WHERE NOT id = ANY($1::uuid[]) "
                    "ORDER BY started_at DESC LIMIT 1",
                    list(known),
                )
                if job is not None and PHASES.index(job["phase"]) >= PHASES.index(target):
                    break
                await asyncio.sleep(0.005)
            await asyncio.sleep(rng.uniform(0, KILL_WINDOW_S[target]))
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait, 30)
        job = await scratch.fetchrow(
            "SELECT status, phase FROM import_jobs WHERE NOT id = ANY($1::uuid[])", list(known)
        )
        if job is not None and job["status"] == "running":
            phase = "reading" if job["phase"] == "queued" else job["phase"]
        elif job is not None:
            phase = f"after commit ({job['phase']})"
        # Killed after the commit and before the derived tile tables were rebuilt (the
        # engine's last step): they are marked pending, and the sweeper's repair brings them
        # along; a rolled-back import never leaves them pending.
        if await scratch.fetchval("SELECT derived_pending FROM app_meta"):
            assert job is not None and job["status"] == "succeeded", (phase, job)
            # Once the killed process's connections are gone (its lock with them).
            await wait_for(lambda: repair_pending_derived(scratch), within=30)
            phase += ", tiles repaired"
        seen = await _network_fingerprint(scratch)
        assert seen in (old, new), f"killed in {phase}: a mix of two imports {seen}"
        # The job's outcome commits with the data (engine._import): new data is never left
        # under a job that the next claim would mark failed, nor old data under a success.
        status = job["status"] if job is not None else None
        assert (status == "succeeded") == (seen == new), (phase, status)
        outcomes.append((target, phase, "new" if seen == new else "old"))
        if seen == new:  # the kill came after the commit: back to the old data for the next
            await import_file(scratch_settings, defects, full=True)
    print(f"\n[import kills] full import {duration:.1f} s; kills (aimed at, landed in, state):")
    for outcome in outcomes:
        print("   ", outcome)
    assert len(outcomes) == len(KILL_TARGETS) == 10
    assert any(state == "old" for *_, state in outcomes), outcomes
    # The kills spread over the phases (exactly where each lands depends on the machine's
    # speed: a quiet machine may finish reading before the poll sees it).
    landed = {phase for _, phase, _ in outcomes}
    assert "merging" in landed and len(landed) >= 3, outcomes

    report = await import_file(scratch_settings, big, full=True)
    assert report.status == "succeeded", "re-run after the kills"
    assert await _network_fingerprint(scratch) == new
    jobs = collections.Counter(
        r["status"] for r in await scratch.fetch("SELECT status FROM import_jobs")
    )
    assert set(jobs) <= {"succeeded", "failed"}, "no job left running: marked failed on claim"
    assert jobs["failed"] >= 1, jobs
    print(f"[import kills] jobs: {dict(jobs)}")


# ---------------------------------------------------------------------------------- sweeper


def _start_api_process(
    settings: Settings, port: int, log: Path | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **make_test_env(),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "WATTSUP_SWEEP_INTERVAL_S": "0.2",
    }
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"),
            *("--port", str(port), "--log-level", "warning"),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if log is None else log.open("wb"),
    )
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        assert proc.poll() is None and time.monotonic() < deadline, "API process did not start"
        time.sleep(0.2)


async def test_sweeper_killed_mid_sweep_commits_nothing_and_the_next_one_finishes(
    hard_settings: Settings, hard_pool: Any
) -> None:
    from api.app import create_app

    # Five drivers, each with a booking, all of them already past their hold.
    reservations = []
    async with AsyncTestClient(app=create_app(hard_settings)) as api:
        for _ in range(5):
            user = await create_user(hard_pool)
            await sign_in(api, user["email"], user["password"])
            vehicle = (
                await api.post("/api/vehicles", json={"name": "EV", "connectors": ["type_2"]})
            ).json()["id"]
            point = await _free_point(hard_pool)
            r = await api.post(
                "/api/reservations", json={"charge_point_id": str(point), "vehicle_id": vehicle}
            )
            assert r.status_code == 201, r.text
            reservations.append(r.json()["id"])
    ids = [uuid.UUID(r) for r in reservations]
    await hard_pool.execute(
        "UPDATE reservations SET created_at = now() - interval '1 minute', "
        "expires_at = now() - interval '1 second' WHERE id = ANY($1)",
        ids,
    )
    # Hold the last point's row: the sweep expires the others, then waits on this one,
    # inside its transaction, until its process is killed.
    blocker = await hard_pool.acquire()
    tx = blocker.transaction()
    await tx.start()
    await blocker.execute(
        "SELECT 1 FROM charge_points WHERE id = (SELECT charge_point_id FROM reservations "
        "WHERE id = $1) FOR UPDATE",
        ids[-1],
    )
    proc = None
    try:
        proc = await asyncio.to_thread(_start_api_process, hard_settings, free_port())
        database = hard_settings.database_url.rsplit("/", 1)[1]

        async def sweep_is_waiting() -> bool:
            waiting: int = await hard_pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND "
                "application_name = 'wattsup' AND wait_event_type = 'Lock'",
                database,
            )
            return waiting > 0

        await wait_for(sweep_is_waiting, within=20)
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait, 10)
    finally:
        await tx.rollback()
        await hard_pool.release(blocker)
        if proc is not None and proc.poll() is None:
            proc.kill()

    async def dead_sweep_gone() -> bool:
        return not await sweep_is_waiting()

    await wait_for(dead_sweep_gone)
    statuses = await hard_pool.fetch(
        "SELECT r.status, cp.connector_status FROM reservations r "
        "JOIN charge_points cp ON cp.id = r.charge_point_id WHERE r.id = ANY($1)",
        ids,
    )
    # The killed sweep committed nothing: every booking and its point are as they were.
    assert {(s["status"], s["connector_status"]) for s in statuses} == {("reserved", "Reserved")}

    fast = msgspec.structs.replace(hard_settings, sweep_interval_s=0.2)
    async with AsyncTestClient(app=create_app(fast)):

        async def all_expired() -> bool:
            rows = await hard_pool.fetch(
                "SELECT r.status, cp.connector_status FROM reservations r "
                "JOIN charge_points cp ON cp.id = r.charge_point_id WHERE r.id = ANY($1)",
                ids,
            )
            return {(s["status"], s["connector_status"]) for s in rows} == {
                ("expired", "Available")
            }

        await wait_for(all_expired, within=15)
    events = await hard_pool.fetchval(
        "SELECT count(*) FROM reservation_events WHERE reservation_id = ANY($1) "
        "AND message = 'StatusNotification' AND payload->>'status' = 'Available'",
        ids,
    )
    assert events == len(ids), "one 'Available' notification each: none lost, none doubled"
