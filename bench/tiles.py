"""Tile server benchmark: our cached PostGIS MVT server against tipg, over HTTP, same requests.

    .venv/bin/python bench/tiles.py                    # national synthetic data, full run
    .venv/bin/python bench/tiles.py --per-zoom 60      # shorter (13 zooms x 60 = 780 requests)
    .venv/bin/python bench/tiles.py --no-tipg          # ours only

What it does, on its own database (`wattsup_bench_tiles`, created, migrated and loaded with
bench/data/irve-national-SYNTHETIC.csv via `wattsup import --full` when empty; the real
sample in tests/data when the synthetic file is absent):

1. Builds a fixed list of tile requests (seeded): `--per-zoom` (default 200) per zoom for
   zooms 4-16, each the tile that contains a randomly drawn real station (2,600 by default).
2. Starts `--processes` (default 2, the tile replicas of compose.yaml) of our tile server
   (`uvicorn tileserver.app:create_app --factory`, one per port) and as many of tipg
   (`uvicorn tipg.main:app`, from its own venv in bench/out/.venv-tipg so the project's
   dependencies do not change; created with `pip install tipg uvicorn` if missing); the
   client's connections are spread over them, as nginx spreads requests over upstreams.
3. Cold: tile cache emptied (only the `tile*` keys of the bench Redis db), then the distinct
   tiles of the list, each once (every answer is a miss: counted and printed), zoom by zoom at
   concurrency 16. tipg gets exactly the same requests (it has no cache: always cold).
4. Filtered cold: the same distinct tiles with filters (5 filter sets in rotation).
5. Warm: the full list (repeats included, as real traffic has), cache filled.

Prints per zoom: requests, p50/p95/p99 latency (ms), tiles/s, max and mean tile size (raw MVT
and on the wire with gzip), then our/tipg ratios and the targets of issue 3 (met or not).
The client is a minimal keep-alive HTTP/1.1 client on asyncio streams: httpx would cost more
CPU than the server on a 2-core machine and measure itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import mercantile
import redis

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv/bin/python"
TIPG_VENV = ROOT / "bench/out/.venv-tipg"
SYNTH = ROOT / "bench/data/irve-national-SYNTHETIC.csv"
SAMPLE = ROOT / "tests/data/bornes-irve-2018-v1.csv"
PG = "postgresql://postgres@127.0.0.1:5432"
ZOOMS = tuple(range(4, 17))
FILTER_SETS = (
    "min_power=50",
    "connectors=combo_ccs&available_now=true",
    "free=true",
    "card=true&open_24_7=true",
    "open_now=true&connectors=type_2",
)
TIPG_WARMUP = [mercantile.Tile(x, y, z) for z in range(3) for x in range(2**z) for y in range(2**z)]
TARGETS = {
    "cold_p95_ms": 15.0,
    "filtered_cold_p95_ms": 80.0,
    "warm_p50_ms": 2.0,
    "warm_tiles_per_s": 3000.0,
    "max_tile_bytes": 100 * 1024,
}


# --------------------------------------------------------------------------- HTTP client


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class Conn:
    """One keep-alive HTTP/1.1 connection (Content-Length or chunked bodies)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, headers: dict[str, str]) -> Reply:
        for attempt in (1, 2):  # a server may close an idle keep-alive connection: retry once
            try:
                return await self._get(path, headers)
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _get(self, path: str, headers: dict[str, str]) -> Reply:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{extra}\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs: dict[str, str] = {}
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
        return Reply(status, hdrs, body)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


# --------------------------------------------------------------------------- measurements


@dataclass
class ZoomResult:
    latencies: list[float] = field(default_factory=list)
    raw_sizes: list[int] = field(default_factory=list)
    wire_sizes: list[int] = field(default_factory=list)
    misses: int = 0
    errors: int = 0
    error_sample: str = ""
    elapsed: float = 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else float("nan")


async def run_pass(
    ports: list[int], paths: dict[int, list[str]], concurrency: int
) -> dict[int, ZoomResult]:
    """Zoom by zoom (so tiles/s is per zoom), `concurrency` keep-alive connections spread
    over the server processes (as nginx spreads them over its upstreams)."""
    conns = [Conn("127.0.0.1", ports[i % len(ports)]) for i in range(concurrency)]
    results: dict[int, ZoomResult] = {}
    headers = {"Accept-Encoding": "gzip"}
    try:
        for z, zpaths in paths.items():
            res = results[z] = ZoomResult()
            queue = list(reversed(zpaths))

            async def worker(conn: Conn, res: ZoomResult = res, queue: list[str] = queue) -> None:
                while queue:
                    path = queue.pop()
                    t0 = time.perf_counter()
                    try:
                        reply = await asyncio.wait_for(conn.get(path, headers), timeout=60)
                    except Exception as exc:
                        res.errors += 1
                        res.error_sample = res.error_sample or repr(exc)
                        await conn.close()
                        continue
                    res.latencies.append(time.perf_counter() - t0)
                    if reply.status not in (200, 204):
                        res.errors += 1
                        res.error_sample = (
                            res.error_sample or f"{reply.status} {reply.body[:120]!r}"
                        )
                        continue
                    if reply.headers.get("x-cache", "MISS") == "MISS":
                        res.misses += 1
                    body = reply.body
                    res.wire_sizes.append(len(body))
                    if reply.headers.get("content-encoding") == "gzip":
                        body = gzip.decompress(body)
                    res.raw_sizes.append(len(body))

            t0 = time.perf_counter()
            await asyncio.gather(*(worker(c) for c in conns))
            res.elapsed = time.perf_counter() - t0
    finally:
        for c in conns:
            await c.close()
    return results


# --------------------------------------------------------------------------- set-up


async def ensure_data(dsn: str, fresh: bool) -> int:
    db = dsn.rsplit("/", 1)[1]
    admin = await asyncpg.connect(f"{PG}/postgres")
    try:
        if fresh:
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", db):
            await admin.execute(f'CREATE DATABASE "{db}"')
    finally:
        await admin.close()
    env = {**os.environ, "DATABASE_URL": dsn}
    # Set-up, before any measurement: blocking the loop here is harmless.
    subprocess.run(  # noqa: ASYNC221
        [str(PY), "-m", "wattsup.cli", "migrate"], check=True, env=env, cwd=ROOT
    )
    conn = await asyncpg.connect(dsn)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM stations WHERE withdrawn_at IS NULL")
        if count == 0:
            source = SYNTH if SYNTH.exists() else SAMPLE
            print(f"importing {source.relative_to(ROOT)} into {db} …", flush=True)
            subprocess.run(  # noqa: ASYNC221
                [str(PY), "-m", "wattsup.cli", "import", str(source), "--full", "--quiet"],
                check=True,
                env=env,
                cwd=ROOT,
            )
            count = await conn.fetchval("SELECT count(*) FROM stations WHERE withdrawn_at IS NULL")
        return count
    finally:
        await conn.close()


async def build_requests(dsn: str, per_zoom: int, seed: int) -> dict[int, list[mercantile.Tile]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT ST_X(geom_4326) AS lon, ST_Y(geom_4326) AS lat FROM stations "
            "WHERE withdrawn_at IS NULL ORDER BY id_station_itinerance"
        )
    finally:
        await conn.close()
    rng = random.Random(seed)
    return {
        z: [mercantile.tile(*rng.choice(rows), z) for _ in range(per_zoom)]  # type: ignore[misc]
        for z in ZOOMS
    }


def ensure_tipg() -> Path:
    exe = TIPG_VENV / "bin/uvicorn"
    if not (TIPG_VENV / "bin/python").exists() or not exe.exists():
        print("creating bench/out/.venv-tipg (pip install tipg uvicorn) …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
        subprocess.run([str(TIPG_VENV / "bin/pip"), "install", "-q", "tipg", "uvicorn"], check=True)
    return exe


@contextlib.contextmanager
def server(cmd: list[str], env: dict[str, str], port: int, log: Path):  # type: ignore[no-untyped-def]
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited: see {log}")
            try:
                with contextlib.closing(socket.create_connection(("127.0.0.1", port), timeout=0.5)):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"server on port {port} did not start: see {log}")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def flush_tile_cache(redis_url: str) -> int:
    """Delete only the tile cache keys: the bench db may be shared with other tools."""
    client = redis.Redis.from_url(redis_url)
    n = 0
    for pattern in ("tile:*", "tileidx:*", "tile*"):
        batch = list(client.scan_iter(match=pattern, count=1000))
        if batch:
            n += int(client.delete(*batch))
    client.close()
    return n


# --------------------------------------------------------------------------- report


def fmt_kb(n: float) -> str:
    return f"{n / 1024:.1f}"


def print_table(title: str, results: dict[int, ZoomResult], sizes: bool = False) -> None:
    print(f"\n{title}")
    head = f"{'z':>3} {'req':>5} {'miss':>5} {'err':>4} {'p50':>8} {'p95':>8} {'p99':>8}"
    head += f" {'tiles/s':>8}"
    if sizes:
        head += f" {'maxKB':>7} {'meanKB':>7} {'gzmaxKB':>8} {'gzmeanKB':>8}"
    print(head)
    for z, r in results.items():
        line = (
            f"{z:>3} {len(r.latencies):>5} {r.misses:>5} {r.errors:>4} {r.pct(0.5):>8.2f} "
            f"{r.pct(0.95):>8.2f} {r.pct(0.99):>8.2f} {r.rate:>8.0f}"
        )
        if sizes and r.raw_sizes:
            line += (
                f" {fmt_kb(max(r.raw_sizes)):>7} {fmt_kb(statistics.mean(r.raw_sizes)):>7}"
                f" {fmt_kb(max(r.wire_sizes)):>8} {fmt_kb(statistics.mean(r.wire_sizes)):>8}"
            )
        print(line)
        if r.error_sample:
            print(f"    first error: {r.error_sample}")
    everything = [lat for r in results.values() for lat in r.latencies]
    total_time = sum(r.elapsed for r in results.values())
    if everything:
        ordered = sorted(everything)
        p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
        print(
            f"all {len(everything):>5} requests: p50 {p(0.5):.2f} ms, p95 {p(0.95):.2f} ms, "
            f"p99 {p(0.99):.2f} ms, {len(everything) / total_time:.0f} tiles/s"
        )


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def print_targets(
    cold: dict[int, ZoomResult],
    filtered: dict[int, ZoomResult],
    warm: dict[int, ZoomResult],
    warm_alone: dict[int, ZoomResult],
    tipg: dict[int, ZoomResult] | None,
) -> None:
    print("\nTargets (issue 3)")
    worst = max(r.pct(0.95) for r in cold.values())
    print(
        f"  unfiltered cold p95 <= 15 ms at every zoom: worst {worst:.2f} ms — "
        f"{verdict(worst <= TARGETS['cold_p95_ms'])}"
    )
    worst_f = max(r.pct(0.95) for r in filtered.values())
    print(
        f"  filtered cold p95 <= 80 ms: worst {worst_f:.2f} ms — "
        f"{verdict(worst_f <= TARGETS['filtered_cold_p95_ms'])}"
    )
    lat = sorted(lat for r in warm.values() for lat in r.latencies)
    p50 = lat[len(lat) // 2] * 1000
    rate = len(lat) / sum(r.elapsed for r in warm.values())
    alone = sorted(lat for r in warm_alone.values() for lat in r.latencies)
    p50_alone = alone[len(alone) // 2] * 1000
    print(
        f"  warm p50 <= 2 ms: {p50:.2f} ms at concurrency 16, {p50_alone:.2f} ms alone — "
        f"{verdict(p50 <= TARGETS['warm_p50_ms'])} (alone: "
        f"{verdict(p50_alone <= TARGETS['warm_p50_ms'])})"
    )
    print(f"  warm >= 3000 tiles/s: {rate:.0f} — {verdict(rate >= TARGETS['warm_tiles_per_s'])}")
    biggest = max(max(r.raw_sizes, default=0) for r in (*cold.values(), *filtered.values()))
    print(
        f"  every tile <= 100 KB: largest {fmt_kb(biggest)} KB — "
        f"{verdict(biggest <= TARGETS['max_tile_bytes'])}"
    )
    if tipg:
        low = [cold[z].rate / tipg[z].rate for z in cold if z <= 10 and z in tipg]
        high = [cold[z].rate / tipg[z].rate for z in cold if z >= 14 and z in tipg]
        print(
            f"  cold tiles/s >= 5x tipg at z <= 10: lowest ratio {min(low):.1f}x — "
            f"{verdict(min(low) >= 5)}"
        )
        print(
            f"  cold tiles/s >= tipg at z >= 14: lowest ratio {min(high):.1f}x — "
            f"{verdict(min(high) >= 1)}"
        )


def print_ratios(ours: dict[int, ZoomResult], tipg: dict[int, ZoomResult]) -> None:
    print("\nOurs (cold) / tipg, same requests")
    print(
        f"{'z':>3} {'tiles/s ×':>10} {'p50 ÷':>8} {'p95 ÷':>8} {'maxKB ours':>11}"
        f" {'maxKB tipg':>11}"
    )
    for z in ours:
        o, t = ours[z], tipg[z]
        print(
            f"{z:>3} {o.rate / t.rate:>10.1f} {t.pct(0.5) / o.pct(0.5):>8.1f} "
            f"{t.pct(0.95) / o.pct(0.95):>8.1f} {fmt_kb(max(o.raw_sizes, default=0)):>11} "
            f"{fmt_kb(max(t.raw_sizes, default=0)):>11}"
        )


# --------------------------------------------------------------------------- main


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--database-url", default=f"{PG}/wattsup_bench_tiles")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/2")
    ap.add_argument(
        "--port", type=int, default=18250, help="ours: port, port+2, ...; tipg: port+1, port+3, ..."
    )
    ap.add_argument("--per-zoom", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--no-tipg", action="store_true")
    ap.add_argument(
        "--processes",
        type=int,
        default=2,
        help="server processes each, ours and tipg (compose runs 2 tile replicas)",
    )
    ap.add_argument("--fresh", action="store_true", help="re-create the bench database")
    args = ap.parse_args()

    stations = await ensure_data(args.database_url, args.fresh)
    tiles = await build_requests(args.database_url, args.per_zoom, args.seed)
    # Station tiles of another draw for the warm-up: 64, so that every connection of every
    # server process is busy with them at once (see below).
    other_draw = await build_requests(args.database_url, 16, args.seed + 1)
    warmup_stations = sorted({t for z in (13, 14, 15, 16) for t in other_draw[z]})
    warmup = [
        *(mercantile.Tile(x, y, z) for z in range(4) for x in range(2**z) for y in range(2**z)),
        *warmup_stations,
    ]
    total = sum(len(v) for v in tiles.values())
    distinct = {z: sorted(set(v)) for z, v in tiles.items()}
    print(
        f"{stations:,} stations; {total:,} requests over zooms {ZOOMS[0]}-{ZOOMS[-1]} "
        f"({sum(len(v) for v in distinct.values()):,} distinct tiles), concurrency "
        f"{args.concurrency}, {args.processes} server process(es) each"
    )

    def ours_path(t: mercantile.Tile, query: str = "") -> str:
        return f"/tiles/stations/{t.z}/{t.x}/{t.y}.pbf" + (f"?{query}" if query else "")

    out = ROOT / "bench/out"
    out.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "WATTSUP_LOG_LEVEL": "WARNING",
    }
    uvicorn_opts = ["--log-level", "warning", "--no-access-log", "--host", "127.0.0.1"]
    # One uvicorn per port, not `--workers` (see README, "Running in production").
    ports = [args.port + 2 * i for i in range(args.processes)]
    with contextlib.ExitStack() as stack:
        for i, port in enumerate(ports):
            ours_cmd = [
                str(PY), "-m", "uvicorn", "tileserver.app:create_app", "--factory",
                "--port", str(port), *uvicorn_opts,
            ]  # fmt: skip
            stack.enter_context(server(ours_cmd, env, port, out / f"bench-tiles-ours-{i}.log"))
        # Warm-up (z0-3 and station tiles of another draw, plain and filtered; the cache is
        # emptied after it): every pooled connection opens and plans each layer's function
        # once, as in a running service. The plain station tiles get a pass of their own, at
        # full concurrency, so that each process runs them on all its connections at once
        # (the pool hands out the last connection released: in the mixed pass some never
        # drew one). Without them, the first zoom of the stations layer (z13) paid its plan,
        # ~2-4 ms, once per connection inside its measurement: its p95 and p99.
        await run_pass(
            ports,
            {0: [ours_path(t, q) for t in warmup for q in ("", *FILTER_SETS)]},
            args.concurrency,
        )
        await run_pass(ports, {0: [ours_path(t) for t in warmup_stations]}, args.concurrency)
        flushed = flush_tile_cache(args.redis_url)
        cold = await run_pass(
            ports,
            {z: [ours_path(t) for t in ts] for z, ts in distinct.items()},
            args.concurrency,
        )
        filtered = await run_pass(
            ports,
            {
                z: [ours_path(t, FILTER_SETS[i % len(FILTER_SETS)]) for i, t in enumerate(ts)]
                for z, ts in distinct.items()
            },
            args.concurrency,
        )
        warm = await run_pass(
            ports,
            {z: [ours_path(t) for t in ts] for z, ts in tiles.items()},
            args.concurrency,
        )
        # Latency of one request alone (no queueing behind 15 others): at concurrency 16 a
        # p50 is at least 16 / throughput, whatever the server does.
        warm_alone = await run_pass(
            ports, {z: [ours_path(t) for t in ts[:20]] for z, ts in tiles.items()}, 1
        )
    print(f"(tile cache emptied before the cold pass: {flushed} keys)")
    print_table("OURS cold (cache emptied; distinct tiles, each a miss)", cold, sizes=True)
    print_table("OURS filtered cold (5 filter sets in rotation)", filtered, sizes=True)
    print_table("OURS warm (full list, cache filled)", warm)
    print_table("OURS warm, one request at a time (first 20 of each zoom)", warm_alone)

    tipg: dict[int, ZoomResult] | None = None
    if not args.no_tipg:
        exe = ensure_tipg()
        tports = [port + 1 for port in ports]
        tenv = {
            **os.environ,
            "DATABASE_URL": args.database_url,
            "TIPG_DB_SCHEMAS": '["public"]',
            "TIPG_DB_TABLES": '["public.stations"]',
        }
        path = "/collections/public.stations/tiles/WebMercatorQuad/{z}/{x}/{y}?geom-column=geom"
        with contextlib.ExitStack() as stack:
            for i, tport in enumerate(tports):
                tipg_cmd = [str(exe), "tipg.main:app", "--port", str(tport), *uvicorn_opts]
                stack.enter_context(
                    server(tipg_cmd, tenv, tport, out / f"bench-tiles-tipg-{i}.log")
                )
            warmup_paths = [
                path.format(z=t.z, x=t.x, y=t.y)
                for t in (*TIPG_WARMUP, *(t for t in warmup if t.z >= 13))
            ]
            await run_pass(tports, {0: warmup_paths}, args.concurrency)
            tipg = await run_pass(
                tports,
                {z: [path.format(z=t.z, x=t.x, y=t.y) for t in ts] for z, ts in distinct.items()},
                args.concurrency,
            )
        print_table("TIPG (no cache: always cold; same distinct tiles)", tipg, sizes=True)
        print_ratios(cold, tipg)
    print_targets(cold, filtered, warm, warm_alone, tipg)


if __name__ == "__main__":
    asyncio.run(main())
