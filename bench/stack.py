"""Mixed load through nginx on the production shape: 90% tiles, 8% station details, 2% bookings.

By default it starts the same stack as the scale-out tests (nginx + 2 API + 2 tile processes,
tests/stack/harness.py) on its own database `wattsup_bench_stack` (migrated, real IRVE sample
imported if empty) and Redis db 7; `--url` targets a running stack instead (compose).

    .venv/bin/python bench/stack.py                       # 32 clients, 30 s
    .venv/bin/python bench/stack.py --duration 10 --concurrency 16
    .venv/bin/python bench/stack.py --url http://127.0.0.1:8080 --database-url postgresql://...

Prints requests/s, p50/p95/p99 per route and the error count (anything not 2xx/304 is an
error; a booking refused with 409 is one too, so the points are chosen free and released).
Bookings need the accounts and reservations routes; a route that is not served is reported
and its share dropped (with none served, or with --baseline, it measures the health routes:
the proxy path's floor)."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import mercantile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.stack.harness import Stack  # noqa: E402

PASSWORD = "correct horse battery staple 42"
ZOOMS = (5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: dict[str, str] = field(default_factory=dict)

    def add(self, route: str, seconds: float, response: httpx.Response | None) -> None:
        self.latencies[route].append(seconds)
        ok = response is not None and (response.is_success or response.status_code == 304)
        if not ok:
            self.errors[route] += 1
            self.samples.setdefault(
                route,
                "no response"
                if response is None
                else f"{response.status_code} {response.text[:160]}",
            )


@dataclass
class Driver:
    client: httpx.AsyncClient
    vehicle_id: str


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def load_targets(dsn: str) -> tuple[list[str], list[str], list[str]]:
    conn = await asyncpg.connect(dsn)
    try:
        stations = await conn.fetch(
            "SELECT id::text, ST_X(geom_4326) AS lon, ST_Y(geom_4326) AS lat FROM stations "
            "WHERE withdrawn_at IS NULL"
        )
        points = await conn.fetch(
            "SELECT cp.id::text FROM charge_points cp WHERE cp.withdrawn_at IS NULL "
            "AND cp.operational_status = 'in_service' AND cp.connector_status = 'Available' "
            "AND cp.reservation IS DISTINCT FROM false"
        )
    finally:
        await conn.close()
    rng = random.Random(42)
    tiles = []
    for _ in range(3000):
        s = rng.choice(stations)
        z = rng.choice(ZOOMS)
        t = mercantile.tile(s["lon"], s["lat"], z)
        tiles.append(f"/tiles/stations/{z}/{t.x}/{t.y}.pbf")
    return tiles, [s["id"] for s in stations], [p["id"] for p in points]


def template(route: str) -> str:
    """ "GET /api/stations/{station_id}" → "GET /api/stations/{}": parameter names don't matter."""
    return re.sub(r"\{[^}]*\}", "{}", route)


async def served(client: httpx.AsyncClient) -> set[str]:
    r = await client.get("/api/schema/openapi.json")
    paths = r.json().get("paths", {}) if r.status_code == 200 else {}
    routes = {template(f"{m.upper()} {p}") for p, ops in paths.items() for m in ops}
    if (await client.get("/tiles/stations.json")).status_code == 200:
        routes.add(template("GET /tiles/stations/{z}/{x}/{y}.pbf"))
    return routes


async def make_driver(base: str, n: int) -> Driver:
    client = httpx.AsyncClient(
        base_url=base,
        timeout=30,
        headers={"X-Forwarded-For": f"10.88.{n // 250}.{n % 250 + 1}", "Origin": base},
    )

    async def csrf(request: httpx.Request) -> None:
        token = client.cookies.get("wattsup_csrf")
        if token and request.method != "GET":
            request.headers["X-CSRF-Token"] = token

    client.event_hooks["request"] = [csrf]
    email = f"bench-{secrets.token_hex(5)}@example.org"
    body = {"email": email, "password": PASSWORD, "first_name": "Bench", "last_name": "Load"}
    (await client.post("/api/auth/register", json=body)).raise_for_status()
    login = {"email": email, "password": PASSWORD}
    (await client.post("/api/auth/login", json=login)).raise_for_status()
    vehicle = {
        "name": "Bench car",
        "connectors": ["ef", "type_2", "combo_ccs", "chademo", "autre"],
        "battery_kwh": 60,
        "max_ac_kw": 22,
        "max_dc_kw": 150,
    }
    r = await client.post("/api/vehicles", json=vehicle)
    r.raise_for_status()
    return Driver(client, str(r.json()["id"]))


async def run(args: argparse.Namespace, base: str, dsn: str) -> None:
    tiles, stations, points = await load_targets(dsn)
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        have = await served(client)
        mix = {"tile": args.tiles, "station": args.details, "booking": args.bookings}
        needs = {
            "tile": ["GET /tiles/stations/{z}/{x}/{y}.pbf"],
            "station": ["GET /api/stations/{id}"],
            "booking": ["POST /api/auth/register", "POST /api/vehicles", "POST /api/reservations",
                        "POST /api/reservations/{id}/cancel"],
        }  # fmt: skip
        for route, routes in needs.items():
            missing = [r for r in routes if template(r) not in have]
            if missing:
                print(f"[{route}] not served ({', '.join(missing)}): its share is dropped")
                mix[route] = 0
        if args.baseline or not any(mix.values()):
            # The proxy path alone (nginx → uvicorn → one `SELECT 1` + Redis PING per request):
            # the floor under every route, and all there is to measure before the routes land.
            print("baseline: /tiles/health (90%) and /health (10%) through nginx")
            mix = {"tile health": 90.0, "api health": 10.0}
        drivers: list[Driver] = []
        if mix.get("booking"):
            drivers = list(
                await asyncio.gather(*(make_driver(base, i) for i in range(args.concurrency)))
            )
        stats = Stats()
        free = list(points)
        random.Random(7).shuffle(free)
        deadline = time.perf_counter() + args.duration
        names = list(mix)
        weights = [mix[n] for n in names]

        async def worker(i: int) -> None:
            rng = random.Random(i)
            while time.perf_counter() < deadline:
                kind = rng.choices(names, weights)[0]
                t0 = time.perf_counter()
                try:
                    if kind == "tile":
                        r = await client.get(rng.choice(tiles))
                    elif kind == "tile health":
                        r = await client.get("/tiles/health")
                    elif kind == "api health":
                        r = await client.get("/health")
                    elif kind == "station":
                        r = await client.get(f"/api/stations/{rng.choice(stations)}")
                    else:
                        d = drivers[i]
                        point = free.pop() if free else rng.choice(points)
                        r = await d.client.post(
                            "/api/reservations",
                            json={"charge_point_id": point, "vehicle_id": d.vehicle_id},
                        )
                        stats.add("booking", time.perf_counter() - t0, r)
                        if r.status_code == 201:
                            t0 = time.perf_counter()
                            c = await d.client.post(f"/api/reservations/{r.json()['id']}/cancel")
                            stats.add("booking cancel", time.perf_counter() - t0, c)
                        free.insert(0, point)
                        continue
                except httpx.HTTPError:
                    r = None
                stats.add(kind, time.perf_counter() - t0, r)

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(args.concurrency)))
        elapsed = time.perf_counter() - started
        for d in drivers:
            await d.client.aclose()
    report(stats, elapsed, args)


def report(stats: Stats, elapsed: float, args: argparse.Namespace) -> None:
    total = sum(len(v) for v in stats.latencies.values())
    errors = sum(stats.errors.values())
    print(f"\nstack bench: {args.concurrency} clients, {elapsed:.1f} s, through nginx")
    print(f"{'route':<16}{'requests':>10}{'req/s':>10}{'p50 ms':>10}{'p95 ms':>10}"
          f"{'p99 ms':>10}{'mean ms':>10}{'errors':>8}")  # fmt: skip
    for route, lat in sorted(stats.latencies.items()):
        print(
            f"{route:<16}{len(lat):>10}{len(lat) / elapsed:>10.1f}{pct(lat, 0.50):>10.1f}"
            f"{pct(lat, 0.95):>10.1f}{pct(lat, 0.99):>10.1f}"
            f"{statistics.fmean(lat) * 1000:>10.1f}{stats.errors.get(route, 0):>8}"
        )
    print(f"{'all':<16}{total:>10}{total / elapsed:>10.1f}{'':>40}{errors:>8}")
    for route, sample in stats.samples.items():
        print(f"  first {route} error: {sample}")


def prepare_database(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "wattsup.cli", "migrate"], check=True, env=env, cwd=ROOT)

    async def count() -> int:
        conn = await asyncpg.connect(env["DATABASE_URL"])
        try:
            return int(await conn.fetchval("SELECT count(*) FROM stations"))
        finally:
            await conn.close()

    if asyncio.run(count()) == 0:
        sample = ROOT / "tests/data/bornes-irve-2018-v1.csv"
        subprocess.run(
            [sys.executable, "-m", "wattsup.cli", "import", "--quiet", str(sample)],
            check=True, env=env, cwd=ROOT,
        )  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--tiles", type=float, default=90.0, help="share of tile requests (%%)")
    p.add_argument("--details", type=float, default=8.0, help="share of station details (%%)")
    p.add_argument("--bookings", type=float, default=2.0, help="share of bookings (%%)")
    p.add_argument("--url", help="a running stack's nginx (default: start one here)")
    p.add_argument("--baseline", action="store_true", help="health routes only (proxy floor)")
    p.add_argument(
        "--database-url",
        default=os.environ.get(
            "WATTSUP_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/wattsup_bench_stack"
        ),
    )
    p.add_argument(
        "--redis-url", default=os.environ.get("WATTSUP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
    )
    args = p.parse_args()
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "WATTSUP_ENV": "test",
        "WATTSUP_LOG_LEVEL": "WARNING",
    }
    if args.url:
        asyncio.run(run(args, args.url.rstrip("/"), args.database_url))
        return 0
    prepare_database(env)
    stack = Stack(prefix=Path(tempfile.mkdtemp(prefix="wattsup-bench-")), env=env)
    try:
        stack.start()
        asyncio.run(run(args, stack.base_url, args.database_url))
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
