"""Scale-out proof: behaviours that must hold when the API and the tile server run as several
processes behind nginx, with PostgreSQL and Redis as the only shared state. Every request goes
through nginx; the access log says which process answered each one.

Routes built by other areas are probed first (OpenAPI schema, TileJSON): a test whose routes
have not landed is skipped with the missing routes named, never silently passed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import httpx
import mercantile
import pytest

from api.scheduler import LEADER_LOCK_KEY as SWEEPER_LOCK_KEY
from tests.conftest import DATA, make_test_env
from tests.stack.harness import API_PORTS, ROOT, TILE_PORTS, Stack, wait_until
from tests.stack.people import Person, require, socket_owner, tile_routes_landed

pytestmark = pytest.mark.stack

FREE_POINT_SQL = """
SELECT cp.id::text AS point, s.id::text AS station,
       ST_X(s.geom_4326) AS lon, ST_Y(s.geom_4326) AS lat
FROM charge_points cp JOIN stations s ON s.id = cp.station_id
WHERE cp.withdrawn_at IS NULL AND s.withdrawn_at IS NULL
  AND cp.operational_status = 'in_service' AND cp.connector_status = 'Available'
  AND cp.reservation IS DISTINCT FROM false
  AND (SELECT count(*) FROM charge_points o WHERE o.station_id = s.id) = 1
ORDER BY cp.id_pdc_itinerance
OFFSET $1 LIMIT 1
"""


def _fetchrow(dsn: str, sql: str, *args: object) -> asyncpg.Record | None:
    async def go() -> asyncpg.Record | None:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetchrow(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def network(migrated_database: str) -> str:
    """The real IRVE sample, imported once (with the CLI, as `import-sample` does)."""
    row = _fetchrow(migrated_database, "SELECT count(*) AS n FROM stations")
    if row is None or row["n"] == 0:
        subprocess.run(
            [sys.executable, "-m", "wattsup.cli", "import", "--quiet",
             str(DATA / "bornes-irve-2018-v1.csv")],
            check=True, env=make_test_env(), cwd=ROOT, timeout=300,
        )  # fmt: skip
    return migrated_database


_point_offset = iter(range(0, 1000, 7))


def free_point(dsn: str) -> asyncpg.Record:
    """A different bookable point for each test (a station with that one point)."""
    row = _fetchrow(dsn, FREE_POINT_SQL, next(_point_offset))
    assert row is not None, "no bookable point in the sample"
    return row


@pytest.fixture
def people(stack: Stack) -> Iterator[list[Person]]:
    made: list[Person] = []
    yield made
    for p in made:
        p.close()


def _drivers(stack: Stack, people: list[Person], n: int) -> list[Person]:
    drivers = [Person(stack.base_url) for _ in range(n)]
    people.extend(drivers)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda d: (d.register_and_login(), d.add_vehicle()), drivers))
    return drivers


def test_booking_race_across_processes_has_exactly_one_winner(
    stack: Stack, web: httpx.Client, network: str, people: list[Person]
) -> None:
    require(web, "POST /api/auth/register", "POST /api/vehicles", "POST /api/reservations",
            issue="accounts #4, reservations #5")  # fmt: skip
    drivers = _drivers(stack, people, 16)
    point = free_point(network)["point"]
    pos = stack.log_position()
    with ThreadPoolExecutor(len(drivers)) as pool:
        answers = list(pool.map(lambda d: d.book(point), drivers))
    codes = sorted(r.status_code for r in answers)
    assert codes.count(201) == 1, [(r.status_code, r.text[:120]) for r in answers]
    for r in answers:
        if r.status_code != 201:
            assert r.status_code == 409, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
    booked = stack.log_since(
        pos, at_least=len(drivers), where=lambda e: e.path == "/api/reservations"
    )
    served_by = {e.upstream_port for e in booked}
    assert served_by == set(API_PORTS), "the race must run on both API processes"
    # The point is now taken for everyone, whichever process is asked.
    for d in drivers[:2]:
        assert d.book(point).status_code == 409


def test_login_rate_limit_holds_across_processes(
    stack: Stack, web: httpx.Client, people: list[Person]
) -> None:
    require(web, "POST /api/auth/register", "POST /api/auth/login", issue="accounts #4")
    victim = _drivers(stack, people, 1)[0]
    attacker = Person(stack.base_url)
    people.append(attacker)
    pos = stack.log_position()
    statuses = []
    for _ in range(30):
        r = attacker.client.post(
            "/api/auth/login", json={"email": victim.email, "password": "wrong password 123"}
        )
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "retry-after" in r.headers, "the app's 429 says when to retry"
            break
    assert statuses[-1] == 429, statuses
    # Then both processes refuse: the count lives in Redis, not in one process's memory.
    for _ in range(4):
        r = attacker.client.post(
            "/api/auth/login", json={"email": victim.email, "password": PASSWORD_OK}
        )
        assert r.status_code == 429
    log = stack.log_since(
        pos, at_least=len(statuses) + 4, where=lambda e: e.path == "/api/auth/login"
    )
    before = {e.upstream_port for e in log if e.status != 429}
    refused = {e.upstream_port for e in log if e.status == 429}
    assert before == set(API_PORTS), "the attempts were counted on both processes"
    assert refused == set(API_PORTS), "both processes enforce the shared limit"


PASSWORD_OK = "correct horse battery staple 42"


def test_nginx_auth_limit_is_a_second_wall(stack: Stack, web: httpx.Client) -> None:
    """A burst over nginx's per-address allowance is refused by nginx itself, before the app."""
    address = Person(stack.base_url)
    pos = stack.log_position()
    try:
        with ThreadPoolExecutor(16) as pool:
            answers = list(
                pool.map(
                    lambda _: address.client.post(
                        "/api/auth/login", json={"email": "x@example.org", "password": "x"}
                    ),
                    range(60),
                )
            )
    finally:
        address.close()
    walled = [r for r in answers if r.status_code == 429 and r.json().get("code") == "rate_limited"]
    assert walled, [r.status_code for r in answers]
    by_nginx = [e for e in stack.log_since(pos) if e.status == 429 and e.upstream == "-"]
    assert by_nginx, "nginx answered some 429s without asking an upstream"


def _advisory_holders(stack: Stack, dsn: str) -> set[str]:
    """API processes holding a session advisory lock (the sweeper's leadership)."""

    async def go() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetch(
                # The sweeper's session lock exactly (a bigint key: classid = high 32 bits,
                # objid = low 32 bits, objsubid = 1), whatever the connection is doing; the
                # bookings' transaction locks and the import lock are other keys.
                "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database() "
                "AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 1 "
                "AND a.client_port IS NOT NULL",
                SWEEPER_LOCK_KEY >> 32,
                SWEEPER_LOCK_KEY & 0xFFFFFFFF,
            )
        finally:
            await conn.close()

    pids = stack.app_pids("api")
    owners = {socket_owner(r["client_port"], pids) for r in asyncio.run(go())}
    return {o for o in owners if o is not None}


SWEEP_TAKEOVER_TIMEOUT = 30.0


def test_sweeper_runs_in_exactly_one_process_and_fails_over(
    stack: Stack, web: httpx.Client, network: str
) -> None:
    health = web.get("/health").json()
    if "scheduler" not in health["checks"]:
        pytest.skip("not landed yet (reservations #5): no scheduler in the API's /health")
    wait_until(lambda: len(_advisory_holders(stack, network)) == 1, 20, "a sweeper leader")
    for _ in range(5):  # never two leaders
        assert len(_advisory_holders(stack, network)) == 1
    (leader,) = _advisory_holders(stack, network)
    stack.kill(leader)
    try:
        (other,) = {"api1", "api2"} - {leader}
        wait_until(
            lambda: _advisory_holders(stack, network) == {other},
            SWEEP_TAKEOVER_TIMEOUT,
            f"{other} takes the sweeper over after {leader} was killed",
        )
    finally:
        stack.restart(leader)
    # The restarted process stands by: still exactly one leader.
    for _ in range(5):
        assert len(_advisory_holders(stack, network)) == 1


def _tile_path(lon: float, lat: float, z: int) -> str:
    t = mercantile.tile(lon, lat, z)
    return f"/tiles/stations/{z}/{t.x}/{t.y}.pbf"


def test_tile_cache_is_shared_by_both_tile_processes(
    stack: Stack, web: httpx.Client, network: str
) -> None:
    if not tile_routes_landed(web):
        pytest.skip("not landed yet (tiles #3): /tiles/stations.json")
    p = free_point(network)
    path = _tile_path(p["lon"], p["lat"], 14)
    pos = stack.log_position()
    # Two host names: two nginx cache entries (the key has the host), one Redis entry (tiles
    # do not depend on the host), so both requests reach a tile process.
    first = web.get(path, headers={"Host": "a.stack.test"})
    second = web.get(path, headers={"Host": "b.stack.test"})
    assert first.status_code in (200, 204) and second.status_code == first.status_code
    log = stack.log_since(pos, at_least=2, where=lambda e: e.path == path)
    assert {e.upstream_port for e in log} == set(TILE_PORTS), log
    assert second.content == first.content
    assert second.headers.get("etag") == first.headers.get("etag")
    if "x-cache" in first.headers:
        assert first.headers["x-cache"].upper().startswith("MISS")
        assert second.headers["x-cache"].upper().startswith("HIT")


def test_booking_in_one_api_process_is_not_served_stale_by_any_tile_process(
    stack: Stack, web: httpx.Client, network: str, people: list[Person]
) -> None:
    if not tile_routes_landed(web):
        pytest.skip("not landed yet (tiles #3): /tiles/stations.json")
    require(web, "POST /api/reservations", issue="reservations #5")
    (driver,) = _drivers(stack, people, 1)
    p = free_point(network)
    paths = [_tile_path(p["lon"], p["lat"], z) for z in (12, 14, 16)]
    before = {}
    for path in paths:
        for _ in range(2):  # warm both tile processes, Redis and nginx's cache
            r = web.get(path)
            assert r.status_code == 200, (path, r.status_code)
        before[path] = r.headers["etag"]
    assert driver.book(p["point"]).status_code == 201
    pos = stack.log_position()
    for path in paths:
        for _ in range(4):
            r = web.get(path)
            assert r.status_code == 200
            assert r.headers["etag"] != before[path], f"{path} served stale after the booking"
            assert r.headers.get("x-proxy-cache") != "HIT", "nginx served its stored copy"
    # (Only the tile requests: the booking's own log line may land after `pos`.)
    tiles = stack.log_since(
        pos, at_least=4 * len(paths), where=lambda e: e.path.startswith("/tiles/")
    )
    assert {e.upstream_port for e in tiles} == set(TILE_PORTS)


def test_import_in_one_process_is_followed_over_sse_from_the_other(
    stack: Stack, web: httpx.Client, network: str, people: list[Person]
) -> None:
    require(web, "POST /api/admin/imports", "GET /api/admin/imports/{job_id}/events",
            issue="accounts/admin #4")  # fmt: skip
    (admin,) = _drivers(stack, people, 1)
    promoted = subprocess.run(
        [sys.executable, "-m", "wattsup.cli", "create-admin", admin.email],
        input=f"{PASSWORD_OK}\n{PASSWORD_OK}\n", text=True, capture_output=True,
        env=make_test_env(), cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert promoted.returncode == 0, promoted.stderr
    admin.client.post("/api/auth/login", json={"email": admin.email, "password": PASSWORD_OK})
    # The shipped sample again: the import runs for real (every row compared, all unchanged)
    # without changing the data other tests of the session see.
    csv_path = DATA / "bornes-irve-2018-v1.csv"
    pos = stack.log_position()
    with csv_path.open("rb") as fh:
        r = admin.client.post(
            "/api/admin/imports",
            files={"file": (csv_path.name, fh, "text/csv")},
        )
    assert r.status_code in (200, 201, 202), r.text
    job_id = str(r.json()["id"])

    def watch(client: httpx.Client) -> list[tuple[str | None, str]]:
        events: list[tuple[str | None, str]] = []
        with client.stream(
            "GET", f"/api/admin/imports/{job_id}/events",
            headers={"Accept": "text/event-stream"}, timeout=httpx.Timeout(10, read=60),
        ) as s:  # fmt: skip
            assert s.headers["content-type"].startswith("text/event-stream")
            assert "content-encoding" not in s.headers  # not gzipped, not buffered
            event_id = None
            for line in s.iter_lines():
                if line.startswith("id:"):
                    event_id = line[3:].strip()
                elif line.startswith("data:"):
                    events.append((event_id, line[5:].strip()))
                    if '"succeeded"' in line or '"failed"' in line:
                        break
        return events

    # Two admins (two connections, so both API processes) watch the same job at once.
    second = httpx.Client(base_url=stack.base_url, cookies=admin.client.cookies)
    try:
        with ThreadPoolExecutor(2) as pool:
            feeds = list(pool.map(watch, [admin.client, second]))
    finally:
        second.close()
    for events in feeds:
        assert events, "the feed sent the job's state"
        assert '"succeeded"' in events[-1][1], events[-1]
        ids = [int(i) for i, _ in events if i is not None]
        assert ids == sorted(ids)
    # nginx logs a request when it completes: the feeds' lines land just after their last event.
    log = stack.log_since(pos, at_least=3, where=lambda e: "/api/admin/imports" in e.path)
    upload = next(e for e in log if e.method == "POST" and e.path == "/api/admin/imports")
    feed_ports = {e.upstream_port for e in log if e.path.endswith("/events")}
    assert len([e for e in log if e.path.endswith("/events")]) == 2
    assert feed_ports - {upload.upstream_port}, "a feed served by another process than the import"
