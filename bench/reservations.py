"""Reservations benchmark: many drivers booking over HTTP, then a SQL audit for doubles.

    .venv/bin/python bench/reservations.py                  # 200 drivers, 2 API processes
    .venv/bin/python bench/reservations.py --drivers 50 --rounds 2 --workers 1
    .venv/bin/python bench/reservations.py --function-times # + PostgreSQL's time by function
    .venv/bin/python bench/reservations.py --pg-host 127.0.0.1  # PostgreSQL over loopback TCP

What it does, on its own database (`wattsup_bench_resa`, dropped, created, migrated and
loaded with the real sample files tests/data/*.csv at each run) and Redis db 13:

1. Starts the API: `--workers` processes (`uvicorn api.app:create_app --factory`, one per
   free port, drivers spread over them as a proxy would; `api_servers` says why not
   uvicorn's own --workers). They run with WATTSUP_ENV=test, WATTSUP_BCRYPT_ROUNDS=4 and
   per-IP rate limits of 1,000,000 so that signing 200 drivers up from one address is quick;
   nothing of that is on the booking path being measured. Each keeps at most `--db-pool`
   PostgreSQL connections (WATTSUP_DB_POOL_MAX; 4 here, as docs/deploy.md advises when
   the database has 2 cores: see `server_env`). They reach PostgreSQL through its Unix
   socket when it listens on this machine, as docs/deploy.md advises for a one-host
   deployment (`--pg-host 127.0.0.1` for loopback TCP, ~12% fewer bookings/s here: every
   query and answer crosses the kernel's TCP stack twice).
2. Set-up (not measured): each driver registers, logs in (session + CSRF cookies) and adds a
   vehicle that fits every connector.
3. distinct: every driver, concurrently, `--rounds` times: book its own point → start the
   charge → stop it (POST /api/reservations, /{id}/start, /{id}/stop), after
   `--warmup-rounds` cycles (default 1) that are not measured: each process and backend
   plans its booking statements on first use, which is start-up, not the steady rate.
4. hot: `--hot-attempts` booking attempts (default 1,000) by all drivers at once on 10 hot
   points; a driver who wins a point cancels it at once, so the points keep changing hands.
5. paced: an open loop at each rate of `--paced-rate` (default 100, 200, 300, 400, 500), that
   many book→start→stop cycles started per second for `--paced-seconds`, each by an idle
   driver on its own point: the latency a driver sees below saturation (the closed-loop
   phases above measure capacity; with 200 clients that never pause, their latency is
   mostly queueing: Little's law puts their mean wait at 200 / req/s), the highest of those
   rates whose booking p99 stays within the target, and, at a rate of 500 or more, the three
   targets of issue 5 at once (that rate offered by the 200 drivers, all booked, p99, no
   double booking).
6. Audit in SQL: two reservations of one point (or of one driver) whose hold intervals
   overlap. A hold runs from its ReserveNow event to its last charger event (both stamped
   with clock_timestamp() inside the transactions that take and release it), so a correct
   hand-over never overlaps and any overlap is a real double booking.

The measuring client is a minimal keep-alive HTTP/1.1 client on asyncio streams (httpx would
spend more CPU than the server on a 2-core machine and measure itself); httpx is used for the
set-up only. Prints bookings/s, p50/p95/p99 latency per request kind, refusals by `code`, the
CPU each request cost the API processes and PostgreSQL (its backends for the bench database,
read in /proc: PostgreSQL must run on this machine; a figure less sensitive than throughput
to what else the machine runs), and the doubles found, against the targets of issue 5.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv/bin/python"
if not PY.exists():
    PY = Path(sys.executable)
PG_SOCKET_DIR = "/var/run/postgresql"  # Debian's: where this machine's PostgreSQL listens too

DB = "wattsup_bench_resa"
REDIS_URL = "redis://127.0.0.1:6379/13"
SAMPLES = (
    "tests/data/bornes-irve-2018-v1.csv",
    "tests/data/exemple-valide-statique.csv",
    "tests/data/irve-v2-defects.csv",
)
PASSWORD = "bench horse battery staple 2026"
ALL_CONNECTORS = ["ef", "type_2", "combo_ccs", "chademo", "autre"]
TARGET_BOOKINGS_PER_S = 500.0
TARGET_P99_MS = 50.0


def pg_dsn(database: str, host: str) -> str:
    """The DSN of `database` on `host`: an address, or a directory holding the server's Unix
    socket (asyncpg and the app's settings both take `?host=`)."""
    if host.startswith("/"):
        return f"postgresql://postgres@/{database}?host={host}"
    return f"postgresql://postgres@{host}:5432/{database}"


def _socket_listens() -> bool:
    return Path(PG_SOCKET_DIR, ".s.PGSQL.5432").exists()


async def default_pg_host() -> str:
    """The Unix socket when the server is on this machine and lets us in through it
    (docs/deploy.md: a one-host deployment connects the API to PostgreSQL that way; Debian's
    default `peer` rule admits only the OS user of the same name), else loopback TCP."""
    if _socket_listens():
        try:
            conn = await asyncpg.connect(pg_dsn("postgres", PG_SOCKET_DIR), timeout=5)
        except (OSError, asyncpg.PostgresError) as exc:
            print(f"PostgreSQL's Unix socket refused us ({exc!r}): loopback TCP instead")
        else:
            await conn.close()
            return PG_SOCKET_DIR
    return "127.0.0.1"


# --------------------------------------------------------------------------- HTTP client


class Conn:
    """One keep-alive HTTP/1.1 connection sending JSON POSTs with fixed headers."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
        payload = json.dumps(body or {}).encode()
        for attempt in (1, 2):  # a server may close an idle keep-alive connection
            try:
                return await self._post(path, payload)
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _post(self, path: str, payload: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.extra}"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
            ).encode()
            + payload
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        if "content-length" in hdrs:
            body = await self.reader.readexactly(int(hdrs["content-length"]))
        elif hdrs.get("transfer-encoding") == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                parts.append(chunk[:-2])
            body = b"".join(parts)
        else:
            body = b""
        if hdrs.get("connection") == "close":
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


# --------------------------------------------------------------------------- measurements


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    codes: collections.Counter[str] = field(default_factory=collections.Counter)
    bookings: int = 0
    elapsed: float = 0.0
    errors: list[str] = field(default_factory=list)
    cpu: tuple[float, float] | None = None  # CPU seconds of the API processes, of PostgreSQL
    client_cpu: float | None = None  # CPU seconds of this script (the measuring client)

    async def call(
        self, kind: str, conn: Conn, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        t0 = time.perf_counter()
        try:
            status, raw = await conn.post(path, body)
        except Exception as exc:
            self.codes[f"{kind}: transport error"] += 1
            self.errors.append(repr(exc))
            await conn.close()
            return 0, {}
        self.latencies[kind].append(time.perf_counter() - t0)
        data = json.loads(raw) if raw else {}
        if status >= 400:
            self.codes[f"{kind}: {status} {data.get('code', '?')}"] += 1
        return status, data


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


@dataclass
class Driver:
    conn: Conn
    vehicle: str


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each process still alive (from /proc: Linux only)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return out


class CpuMeter:
    """CPU spent during a phase by the API processes and by the PostgreSQL backends of the
    bench database (PostgreSQL runs on this machine: its processes are read in /proc too).
    A backend that starts during the phase counts from zero."""

    def __init__(self, dsn: str, api_pids: list[int]) -> None:
        self.dsn, self.api_pids = dsn, api_pids
        self.before: tuple[dict[int, float], dict[int, float]] = ({}, {})
        self.client_before = 0.0

    async def _pg_pids(self) -> list[int]:
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                DB,
            )
            return [r["pid"] for r in rows]
        finally:
            await conn.close()

    async def start(self) -> None:
        self.before = (cpu_seconds(self.api_pids), cpu_seconds(await self._pg_pids()))
        self.client_before = time.process_time()

    async def stop(self, st: Stats) -> None:
        """Stores the phase's CPU in `st`: API processes, PostgreSQL, this client."""
        after = (cpu_seconds(self.api_pids), cpu_seconds(await self._pg_pids()))
        st.client_cpu = time.process_time() - self.client_before
        api, pg = (
            sum(v - b.get(pid, 0.0) for pid, v in a.items())
            for a, b in zip(after, self.before, strict=True)
        )
        st.cpu = api, pg


# --------------------------------------------------------------------------- set-up


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(dsn: str, db_pool: int = 4) -> dict[str, str]:
    return {
        **os.environ,
        # Connections per API process (docs/deploy.md, "Growing"): PostgreSQL shares these
        # 2 cores, and 2 x 10 busy backends spend more CPU per booking than 2 x 4 (measured
        # here: PostgreSQL 1.50 -> 1.15 ms per request, 215 -> 257 bookings/s).
        "WATTSUP_DB_POOL_MAX": str(db_pool),
        "DATABASE_URL": dsn,
        "REDIS_URL": REDIS_URL,
        "WATTSUP_ENV": "test",
        "WATTSUP_BCRYPT_ROUNDS": "4",
        "WATTSUP_RATE_LIMIT_LOGIN_IP": "1000000",
        "WATTSUP_RATE_LIMIT_REGISTER_IP": "1000000",
        "WATTSUP_LOG_LEVEL": "WARNING",
    }


async def prepare_database(
    dsn: str, pg_host: str, function_times: bool = False, database: str = DB
) -> None:
    """`database` (the one `dsn` names) dropped, created, migrated and loaded with SAMPLES."""
    admin = await asyncpg.connect(pg_dsn("postgres", pg_host))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{database}"')
        if function_times:  # time spent in each PL/pgSQL function: print_function_times()
            await admin.execute(f"ALTER DATABASE \"{database}\" SET track_functions = 'pl'")
    finally:
        await admin.close()
    env = server_env(dsn)
    quiet = {"check": True, "env": env, "cwd": ROOT, "stdout": subprocess.DEVNULL}
    subprocess.run([str(PY), "-m", "wattsup.cli", "migrate"], **quiet)  # type: ignore[call-overload]  # noqa: ASYNC221
    for sample in SAMPLES:
        subprocess.run(  # type: ignore[call-overload]  # noqa: ASYNC221
            [str(PY), "-m", "wattsup.cli", "import", sample, "--quiet"], **quiet
        )


@contextlib.contextmanager
def api_servers(env: dict[str, str], ports: list[int], log: Path):  # type: ignore[no-untyped-def]
    """One single-process uvicorn per port, as production runs its replicas (compose, or the
    stack behind nginx). Not `uvicorn --workers N`: its workers share a socket that uvicorn
    opens without IPPROTO_TCP, so asyncio never sets TCP_NODELAY on their connections and
    every keep-alive request after the first waits ~40 ms for a delayed ACK (measured here:
    a POST answered in 0.5 ms by one process took 44 ms under --workers 2)."""
    procs = []
    with log.open("wb") as fh:
        for port in ports:
            cmd = [
                str(PY), "-m", "uvicorn", "api.app:create_app", "--factory", "--port", str(port),
                "--log-level", "warning", "--no-access-log",
            ]  # fmt: skip
            procs.append(
                subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
            )
    try:
        deadline = time.monotonic() + 60
        for proc, port in zip(procs, ports, strict=True):
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"API exited: see {log}")
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"API did not start: see {log}")
                time.sleep(0.2)
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


async def sign_up(base: str, i: int, run: str) -> Driver:
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        email = f"bench-{run}-{i}@example.org"
        r = await c.post(
            "/api/auth/register",
            json={"email": email, "password": PASSWORD, "first_name": "Bench", "last_name": "D"},
        )
        assert r.status_code == 201, r.text
        c.headers["X-CSRF-Token"] = c.cookies["wattsup_csrf"]  # register signs in already
        r = await c.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        csrf = c.cookies["wattsup_csrf"]
        c.headers["X-CSRF-Token"] = csrf
        r = await c.post(
            "/api/vehicles",
            json={"name": "EV", "connectors": ALL_CONNECTORS, "battery_kwh": 60, "max_ac_kw": 22},
        )
        assert r.status_code == 201, r.text
        jar = SimpleCookie()
        for name, value in c.cookies.items():
            jar[name] = value
        cookie = "; ".join(f"{k}={m.value}" for k, m in jar.items())
        port = int(base.rsplit(":", 1)[1])
        conn = Conn("127.0.0.1", port, {"Cookie": cookie, "X-CSRF-Token": csrf})
        return Driver(conn, r.json()["id"])


async def bookable_points(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id FROM charge_points WHERE withdrawn_at IS NULL AND operational_status = "
            "'in_service' AND connector_status = 'Available' AND reservation IS DISTINCT FROM "
            "false AND (prise_type_ef OR prise_type_2 OR prise_type_combo_ccs OR "
            "prise_type_chademo OR prise_type_autre) ORDER BY id_pdc_itinerance"
        )
        return [str(r["id"]) for r in rows]
    finally:
        await conn.close()


# --------------------------------------------------------------------------- load


async def distinct_phase(drivers: list[Driver], points: list[str], rounds: int) -> Stats:
    """Each driver books, starts and stops on its own point, `rounds` times."""
    st = Stats()

    async def one(d: Driver, point: str) -> None:
        for _ in range(rounds):
            status, body = await st.call(
                "book",
                d.conn,
                "/api/reservations",
                {"charge_point_id": point, "vehicle_id": d.vehicle},
            )
            if status != 201:
                continue
            st.bookings += 1
            rid = body["id"]
            status, _ = await st.call("start", d.conn, f"/api/reservations/{rid}/start")
            if status == 200:
                await st.call("stop", d.conn, f"/api/reservations/{rid}/stop")
            else:
                await st.call("cancel", d.conn, f"/api/reservations/{rid}/cancel")

    st.elapsed = await timed(
        asyncio.gather(*[one(d, p) for d, p in zip(drivers, points, strict=True)])
    )
    return st


async def hot_phase(drivers: list[Driver], hot: list[str], attempts: int, seed: int) -> Stats:
    """`attempts` bookings by all drivers at once on a few points; winners cancel at once."""
    st = Stats()
    rng = random.Random(seed)
    plan = [rng.choice(hot) for _ in range(attempts)]

    async def worker(d: Driver) -> None:
        while plan:
            point = plan.pop()
            status, body = await st.call(
                "hot book",
                d.conn,
                "/api/reservations",
                {"charge_point_id": point, "vehicle_id": d.vehicle},
            )
            if status == 201:
                st.bookings += 1
                await st.call("cancel", d.conn, f"/api/reservations/{body['id']}/cancel")

    st.elapsed = await timed(asyncio.gather(*[worker(d) for d in drivers]))
    return st


async def paced_phase(
    drivers: list[Driver], points: list[str], rate: float, seconds: float
) -> Stats:
    """Open loop: book→start→stop cycles started at a fixed rate, whatever the answers' speed
    (a driver busy with its cycle is not reused until it ends). The closed-loop phases measure
    capacity, where 200 clients queue and latency is mostly waiting; this one measures the
    latency a driver sees when the service is not saturated."""
    st = Stats()
    idle: asyncio.Queue[tuple[Driver, str]] = asyncio.Queue()
    for pair in zip(drivers, points, strict=True):
        idle.put_nowait(pair)

    async def cycle(d: Driver, point: str) -> None:
        status, body = await st.call(
            "book", d.conn, "/api/reservations", {"charge_point_id": point, "vehicle_id": d.vehicle}
        )
        if status == 201:
            st.bookings += 1
            status, _ = await st.call("start", d.conn, f"/api/reservations/{body['id']}/start")
            if status == 200:
                await st.call("stop", d.conn, f"/api/reservations/{body['id']}/stop")
        idle.put_nowait((d, point))

    tasks = []
    t0 = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if idle.empty():
            st.codes["paced: no idle driver (server saturated)"] += 1
            continue
        tasks.append(asyncio.create_task(cycle(*idle.get_nowait())))
    await asyncio.gather(*tasks)
    st.elapsed = time.perf_counter() - t0
    return st


async def timed(aw: Any) -> float:
    t0 = time.perf_counter()
    await aw
    return time.perf_counter() - t0


AUDIT = """
WITH holds AS (
    SELECT r.id, r.charge_point_id, r.user_id, r.status,
           (SELECT min(at) FROM reservation_events e
             WHERE e.reservation_id = r.id AND e.message = 'ReserveNow') AS t0,
           CASE WHEN r.status IN ('reserved', 'charging') THEN 'infinity'::timestamptz
                ELSE (SELECT max(at) FROM reservation_events e WHERE e.reservation_id = r.id)
           END AS t1
    FROM reservations r
)
SELECT
    (SELECT count(*) FROM holds a JOIN holds b ON a.charge_point_id = b.charge_point_id
       AND a.id < b.id AND a.t0 < b.t1 AND b.t0 < a.t1) AS point_doubles,
    (SELECT count(*) FROM holds a JOIN holds b ON a.user_id = b.user_id
       AND a.id < b.id AND a.t0 < b.t1 AND b.t0 < a.t1) AS driver_doubles,
    (SELECT count(*) FROM (SELECT charge_point_id FROM reservations
       WHERE status IN ('reserved', 'charging') GROUP BY 1 HAVING count(*) > 1) x) AS open_doubles,
    (SELECT count(*) FROM reservations) AS reservations
"""


async def reset_function_times(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_stat_reset()")
    finally:
        await conn.close()


async def print_function_times(dsn: str, cycles: int) -> None:
    """Where PostgreSQL's time goes per book→start→stop cycle: the booking functions of
    sql/schema/0011, 0018 and 0022 (pg_stat_user_functions; wall time inside the server, so
    under this load it includes waiting for a core). An idle backend reports its counters
    within 10 s (PostgreSQL 15's PGSTAT_IDLE_INTERVAL): hence the pause."""
    await asyncio.sleep(11)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT funcname, calls, total_time, self_time FROM pg_stat_user_functions "
            "WHERE schemaname = 'public' ORDER BY total_time DESC LIMIT 12"
        )
    finally:
        await conn.close()
    print("  PostgreSQL per cycle, by function (total incl. the functions it calls; self):")
    for r in rows:
        total, own = (r["total_time"] / cycles * 1000, r["self_time"] / cycles * 1000)
        print(
            f"    {r['funcname']:<32} {r['calls'] / cycles:>5.2f} calls "
            f"{total:>7.0f} us  self {own:>6.0f} us"
        )


def print_stats(name: str, st: Stats) -> None:
    elapsed = st.elapsed
    n = sum(len(v) for v in st.latencies.values())
    print(
        f"\n{name}: {st.bookings:,} bookings in {elapsed:.2f} s = {st.bookings / elapsed:,.0f} "
        f"bookings/s; {n:,} requests = {n / elapsed:,.0f} req/s"
    )
    print(f"  {'request':<10} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for kind, lat in st.latencies.items():
        print(
            f"  {kind:<10} {len(lat):>7,} {pct(lat, 0.50):>8.1f} {pct(lat, 0.95):>8.1f} "
            f"{pct(lat, 0.99):>8.1f} {max(lat) * 1000:>8.1f}"
        )
    if st.codes:
        print(
            "  refusals by code: " + ", ".join(f"{k} × {v:,}" for k, v in sorted(st.codes.items()))
        )
    else:
        print("  refusals by code: none")
    if st.errors:
        print(f"  transport errors, first: {st.errors[0]}")
    if st.cpu is not None and n:
        api, pg = st.cpu
        client = st.client_cpu or 0.0
        print(
            f"  CPU per request: API processes {api / n * 1000:.2f} ms, PostgreSQL "
            f"{pg / n * 1000:.2f} ms, this client {client / n * 1000:.2f} ms "
            f"({api / elapsed:.0%}, {pg / elapsed:.0%} and {client / elapsed:.0%} of a core)"
        )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--drivers", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5, help="book/start/stop cycles per driver")
    ap.add_argument(
        "--warmup-rounds",
        type=int,
        default=1,
        help="book/start/stop cycles per driver before the distinct phase, not measured",
    )
    ap.add_argument("--hot-points", type=int, default=10)
    ap.add_argument("--hot-attempts", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2, help="API processes")
    ap.add_argument("--db-pool", type=int, default=4, help="connections per API process")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument(
        "--paced-rate",
        type=float,
        nargs="+",
        default=[100.0, 200.0, 300.0, 400.0, 500.0],
        help="open-loop phases: cycles started per second, one phase per rate",
    )
    ap.add_argument("--paced-seconds", type=float, default=10.0)
    ap.add_argument(
        "--pg-host",
        default=None,
        help="PostgreSQL for the API: an address (127.0.0.1: loopback TCP) or the directory of "
        f"its Unix socket (default: {PG_SOCKET_DIR} when the server listens there)",
    )
    ap.add_argument(
        "--function-times",
        action="store_true",
        help="also print PostgreSQL's time per booking function in the distinct phase "
        "(track_functions: off by default, so that the figures above carry no instrumentation)",
    )
    args = ap.parse_args()

    args.pg_host = args.pg_host or await default_pg_host()
    dsn = pg_dsn(DB, args.pg_host)
    print(f"preparing {DB}: migrate + import {', '.join(SAMPLES)} …", flush=True)
    await prepare_database(dsn, args.pg_host, args.function_times)
    redis.Redis.from_url(REDIS_URL).flushdb()
    points = await bookable_points(dsn)
    need = args.drivers + args.hot_points
    if len(points) < need:
        raise SystemExit(f"only {len(points)} bookable points in the sample; need {need}")
    rng = random.Random(args.seed)
    rng.shuffle(points)
    own, hot = points[: args.drivers], points[args.drivers : need]

    ports = [free_port() for _ in range(args.workers)]
    env = server_env(dsn, args.db_pool)
    log = ROOT / "bench/out/reservations-server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with api_servers(env, ports, log) as procs:
        meter = CpuMeter(dsn, [p.pid for p in procs])
        t0 = time.perf_counter()
        run = f"{int(time.time())}"
        sem = asyncio.Semaphore(20)

        async def signed(i: int) -> Driver:
            async with sem:  # drivers spread over the processes, as a proxy would
                return await sign_up(f"http://127.0.0.1:{ports[i % len(ports)]}", i, run)

        drivers = await asyncio.gather(*[signed(i) for i in range(args.drivers)])
        print(
            f"\nbench/reservations.py: {args.drivers} drivers signed up in "
            f"{time.perf_counter() - t0:.1f} s against {args.workers} × `uvicorn "
            f"api.app:create_app --factory`, WATTSUP_DB_POOL_MAX={args.db_pool} "
            f"({os.cpu_count()} CPUs, db {DB} "
            f"{'through the Unix socket in ' if args.pg_host.startswith('/') else 'at '}"
            f"{args.pg_host}, real sample data: "
            f"{len(points)} bookable points)\n  server env for a fast set-up only: "
            "WATTSUP_ENV=test, WATTSUP_BCRYPT_ROUNDS=4, WATTSUP_RATE_LIMIT_LOGIN_IP="
            "WATTSUP_RATE_LIMIT_REGISTER_IP=1000000",
            flush=True,
        )
        try:
            if args.function_times:
                await reset_function_times(dsn)
            if args.warmup_rounds:
                # Not measured: every API process and PostgreSQL backend plans its booking
                # statements on first use (and plpgsql tries custom plans five times before
                # settling), which is start-up, not the steady rate the phases measure.
                await distinct_phase(drivers, own, args.warmup_rounds)
            await meter.start()
            dist = await distinct_phase(drivers, own, args.rounds)
            await meter.stop(dist)
            print_stats(
                f"distinct points ({args.drivers} drivers × {args.rounds} × book→start→stop, "
                f"after {args.warmup_rounds} unmeasured)",
                dist,
            )
            if args.function_times:
                await print_function_times(dsn, dist.bookings)
            await meter.start()
            hotst = await hot_phase(drivers, hot, args.hot_attempts, args.seed)
            await meter.stop(hotst)
            print_stats(
                f"hot points ({args.hot_attempts:,} attempts on {args.hot_points} points, "
                "winners cancel at once)",
                hotst,
            )
            paced: dict[float, Stats] = {}
            for paced_rate in args.paced_rate:
                await meter.start()
                paced[paced_rate] = await paced_phase(drivers, own, paced_rate, args.paced_seconds)
                await meter.stop(paced[paced_rate])
                print_stats(
                    f"paced (open loop: {paced_rate:g} book→start→stop cycles started per "
                    f"second for {args.paced_seconds:g} s)",
                    paced[paced_rate],
                )
        finally:
            for d in drivers:
                await d.conn.close()

    conn = await asyncpg.connect(dsn)
    try:
        audit = await conn.fetchrow(AUDIT)
    finally:
        await conn.close()
    assert audit is not None
    doubles = audit["point_doubles"] + audit["driver_doubles"] + audit["open_doubles"]
    print(
        f"\nSQL audit over {audit['reservations']:,} reservations: overlapping holds of one point "
        f"{audit['point_doubles']}, of one driver {audit['driver_doubles']}, open doubles "
        f"{audit['open_doubles']}"
    )
    book_lat = dist.latencies["book"] + hotst.latencies["hot book"]
    rate = dist.bookings / dist.elapsed
    p99 = pct(book_lat, 0.99)
    print("\ntargets (issue 5):")
    print(
        f"  bookings/s (distinct phase): {rate:,.0f} (target >= {TARGET_BOOKINGS_PER_S:.0f}): "
        f"{'MET' if rate >= TARGET_BOOKINGS_PER_S else 'NOT MET'}"
    )
    # 200 clients that never pause keep 200 requests in the service: by Little's law their
    # mean wait is 200 / (requests per second), whatever the server does with them.
    dist_rps = sum(map(len, dist.latencies.values())) / dist.elapsed
    little_ms = args.drivers / dist_rps * 1000
    print(
        f"  booking p99 (both saturated phases): {p99:.1f} ms (target <= {TARGET_P99_MS:.0f}): "
        f"{'MET' if p99 <= TARGET_P99_MS else 'NOT MET'}; these phases measure capacity: "
        f"{args.drivers} clients that never pause wait {little_ms:.0f} ms per request on average "
        f"at the distinct phase's {dist_rps:,.0f} req/s (Little's law), so "
        "the latency a driver sees is measured below, in the paced phases"
    )
    within = [
        r
        for r, st in paced.items()
        if pct(st.latencies["book"], 0.99) <= TARGET_P99_MS
        and not st.codes.get("paced: no idle driver (server saturated)")
    ]
    for r, st in paced.items():
        paced_p99 = pct(st.latencies["book"], 0.99)
        print(
            f"  booking p99 at {r:g} bookings/s offered (paced): {paced_p99:.1f} ms "
            f"(target <= {TARGET_P99_MS:.0f}): {'MET' if r in within else 'NOT MET'}"
        )
    print(
        "  highest offered rate with booking p99 within target: "
        + (f"{max(within):g} bookings/s" if within else "none of those tried")
    )
    print(f"  double bookings: {doubles} (target 0): {'MET' if doubles == 0 else 'NOT MET'}")
    # The three targets in one phase: at least TARGET_BOOKINGS_PER_S offered by the drivers,
    # every cycle booked (none skipped for want of an idle driver, none refused), within the
    # p99, with no double booking in the audit.
    for r, st in paced.items():
        if r < TARGET_BOOKINGS_PER_S:
            continue
        offered = int(r * args.paced_seconds)
        ok = st.bookings == offered and r in within and doubles == 0
        print(
            f"  all three at once, paced at {r:g} bookings/s offered by {args.drivers} drivers: "
            f"{st.bookings:,} of {offered:,} booked, p99 "
            f"{pct(st.latencies['book'], 0.99):.1f} ms, {doubles} doubles: "
            f"{'MET' if ok else 'NOT MET'}"
        )
    if doubles:
        raise SystemExit(1)


if __name__ == "__main__":
    asyncio.run(main())
