"""Driver page benchmark: first map render with clusters, and the size of our JavaScript.

    .venv/bin/python bench/driver_page.py               # sample data, 5 runs
    .venv/bin/python bench/driver_page.py --runs 9
    .venv/bin/python bench/driver_page.py --national    # the synthetic national file instead

What it does, on its own database (`wattsup_bench_page`, dropped, created, migrated and
loaded with the real sample of tests/data: the legacy v1 file, the official example and
the defects file, as the browser tests do; with `--national`, `wattsup_bench_page_national`
loaded once with bench/data/irve-national-SYNTHETIC.csv and kept between runs) and Redis
db 12:

1. Starts the app as a user would (`wattsup serve`, API + tiles + static/ in one process).
2. Opens the driver page in headless Chromium (Debian's /usr/bin/chromium, no download) at
   360x740, device scale 2, touch, French: the phone of the browser tests.
3. Per run: the tile cache emptied (the `tile*` keys of Redis db 12 only) and a fresh
   browser context (empty HTTP cache, no service worker): the "cold" load. Once the service
   worker is ready, the same tab is reloaded: the "second load" (browser cache, service
   worker and server tile cache warm). PostgreSQL's own buffers stay warm across runs.

"Rendered" is what the page itself records (static/js/map.js): the first MapLibre `render`
event after which the stations source has loaded every tile in view and
`queryRenderedFeatures` on the clusters/stations layers returns at least one feature; the
page stores `performance.now()` then (ms since navigation start) in
`window.wattsup.firstRenderMs` and sets `body[data-map-ready]`. The script also checks that
clusters are among the drawn features and prints the wall clock seen from outside (from
`page.goto` to that attribute, Playwright's polling included). Per run it also prints when
the first tiles were asked for and arrived (read from the browser's side: MapLibre fetches
them in a worker) and the server's longest wait, to tell the page's start-up from the
server's share.

JS size: every first-party script of the driver page (static/js/*.js and the service worker
static/sw.js; static/vendor/ — MapLibre — and the admin pages excluded), each compressed on
its own with gzip level 5 (nginx.conf's `gzip_comp_level`), as nginx serves them; and the
scripts a cold load actually fetched, to show nothing else is loaded. Targets (issue 6):
first render <= 1.5 s, our JS <= 60 KB gzipped.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv/bin/python"
STATIC = ROOT / "static"
PG = os.environ.get("WATTSUP_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("WATTSUP_BENCH_REDIS", "redis://127.0.0.1:6379/12")
CHROMIUM = os.environ.get("WATTSUP_CHROMIUM", "/usr/bin/chromium")
# The flags of the browser tests (tests/e2e/conftest.py): root in a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SAMPLES = ("bornes-irve-2018-v1.csv", "exemple-valide-statique.csv", "irve-v2-defects.csv")
NATIONAL = ROOT / "bench/data/irve-national-SYNTHETIC.csv"
GZIP_LEVEL = 5  # nginx/wattsup.conf.template: gzip_comp_level 5
TARGET_RENDER_MS = 1500
TARGET_JS_GZ = 60 * 1024
LOG = ROOT / "bench/out/driver-page-server.log"


def psql(dsn: str, sql: str) -> str:
    out = subprocess.run(
        ["psql", dsn, "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def server_env(dsn: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": dsn,
        "REDIS_URL": REDIS_URL,
        "WATTSUP_COOKIE_SECURE": "false",
        "WATTSUP_LOG_LEVEL": "WARNING",
    }


def prepare_database(national: bool) -> tuple[str, int]:
    """The bench database, loaded; its DSN and its number of stations."""
    db = "wattsup_bench_page_national" if national else "wattsup_bench_page"
    dsn = f"{PG}/{db}"
    admin = f"{PG}/postgres"
    exists = psql(admin, f"SELECT 1 FROM pg_database WHERE datname = '{db}'") == "1"
    if not national and exists:
        psql(admin, f'DROP DATABASE "{db}" WITH (FORCE)')
        exists = False
    if not exists:
        psql(admin, f'CREATE DATABASE "{db}"')
    env = server_env(dsn)
    quiet = {"check": True, "env": env, "cwd": ROOT, "stdout": subprocess.DEVNULL}
    subprocess.run([str(PY), "-m", "wattsup.cli", "migrate"], **quiet)  # type: ignore[call-overload]
    count = int(psql(dsn, "SELECT count(*) FROM stations WHERE withdrawn_at IS NULL"))
    if count == 0:
        files = [NATIONAL] if national else [ROOT / "tests/data" / name for name in SAMPLES]
        for path in files:
            if not path.exists():
                raise SystemExit(f"{path} is missing (bench/synth_irve.py writes the national one)")
            print(f"importing {path.relative_to(ROOT)} into {db} …", flush=True)
            subprocess.run(  # type: ignore[call-overload]
                [str(PY), "-m", "wattsup.cli", "import", str(path), "--quiet"]
                + (["--full"] if national else []),
                **quiet,
            )
        count = int(psql(dsn, "SELECT count(*) FROM stations WHERE withdrawn_at IS NULL"))
    return dsn, count


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(dsn: str) -> Iterator[str]:
    """`wattsup serve` on a free port, stopped (by its own process id) on the way out."""
    port = free_port()
    LOG.parent.mkdir(parents=True, exist_ok=True)
    cmd = [str(PY), "-m", "wattsup.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with LOG.open("wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=server_env(dsn), stdout=log, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"wattsup serve exited: see {LOG}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"wattsup serve did not start: see {LOG}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def flush_tile_cache() -> int:
    """Delete only the tile cache keys of the bench's Redis db."""
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match="tile*", count=1000))
    n = int(client.delete(*keys)) if keys else 0
    client.close()
    return n


def gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0))


# --------------------------------------------------------------------------- measures

READY = "body[data-map-ready='1']"
DRAWN = """() => { const m = window.wattsup.map;
  const f = m.queryRenderedFeatures({layers: ['clusters', 'stations']});
  return {clusters: f.filter(x => x.layer.id === 'clusters').length,
          stations: f.filter(x => x.layer.id === 'stations').length,
          first: window.wattsup.firstRenderMs, load: window.wattsup.loadMs,
          firstTile: window.wattsup.firstTileMs, origin: performance.timeOrigin}; }"""


def load(page: Any, action: Any) -> dict[str, Any]:
    """One navigation until the page says it rendered; the tile responses before that
    (MapLibre fetches them in a worker, so they are read from the browser's side)."""
    tiles: list[Any] = []

    def on_tile(response: Any) -> None:
        if "/tiles/stations/" in response.url:
            tiles.append(response)

    page.on("response", on_tile)
    called = time.time() * 1000
    action()
    page.wait_for_selector(READY, timeout=30_000)
    seen = time.time() * 1000
    page.remove_listener("response", on_tile)
    drawn: dict[str, Any] = page.evaluate(DRAWN)
    origin = drawn.pop("origin")
    starts, ends, waits = [], [], []
    for r in tiles:
        timing = r.request.timing  # epoch ms start, then ms relative to it
        end = timing["startTime"] + max(timing["responseEnd"], 0) - origin
        if end <= drawn["first"]:
            starts.append(timing["startTime"] - origin)
            ends.append(end)
            waits.append(timing["responseStart"] - timing["requestStart"])
    drawn["n_tiles"] = len(ends)
    drawn["tiles_start"] = round(min(starts, default=0))
    drawn["tiles_done"] = round(max(ends, default=0))
    drawn["tiles_wait"] = round(max(waits, default=0))  # the server's time to first byte
    drawn["nav_delay"] = origin - called  # from the call to the browser's navigation start
    drawn["wall"] = seen - called
    return drawn


def one_run(browser: Any, base: str, scripts: dict[str, bytes]) -> tuple[dict, dict]:  # type: ignore[type-arg]
    flush_tile_cache()
    ctx = browser.new_context(
        base_url=base,
        locale="fr-FR",
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    try:
        page = ctx.new_page()

        def keep_script(response: Any) -> None:
            path = urlparse(response.url).path
            if path.endswith(".js") and response.ok:
                with contextlib.suppress(Exception):
                    scripts.setdefault(path, response.body())

        page.on("response", keep_script)
        cold = load(page, lambda: page.goto("/", wait_until="commit"))
        # The second visit: once the service worker has installed (and cached the shell).
        page.evaluate("async () => { await navigator.serviceWorker.ready; }")
        second = load(page, lambda: page.reload(wait_until="commit"))
        return cold, second
    finally:
        ctx.close()


def js_sizes(loaded: dict[str, bytes]) -> None:
    ours = sorted(
        p for p in STATIC.rglob("*.js") if p.relative_to(STATIC).parts[0] not in ("vendor", "admin")
    )
    print("\nOur JavaScript (raw / gzip level 5, each file as nginx serves it):")
    raw_total = gz_total = 0
    for p in ours:
        data = p.read_bytes()
        raw_total += len(data)
        gz_total += gz(data)
        print(f"  {p.relative_to(STATIC)!s:<22} {len(data):>7,} B  {gz(data):>6,} B gz")
    print(f"  {'total':<22} {raw_total:>7,} B  {gz_total:>6,} B gz = {gz_total / 1024:.1f} KB")
    first_party = {k: v for k, v in loaded.items() if not k.startswith("/vendor/")}
    vendor = {k: v for k, v in loaded.items() if k.startswith("/vendor/")}
    fetched_gz = sum(gz(v) for v in first_party.values())
    print(
        f"  fetched by a load of the page: {len(first_party)} first-party scripts, "
        f"{fetched_gz / 1024:.1f} KB gz ({', '.join(sorted(first_party))}; the service "
        "worker's script is fetched outside the page, r101.js by recharger-101.html)"
    )
    on_disk = {"/" + str(p.relative_to(STATIC)) for p in ours}
    unknown = set(first_party) - on_disk
    if unknown:
        print(f"  !! first-party scripts loaded but not counted above: {sorted(unknown)}")
    for path, data in sorted(vendor.items()):
        print(f"  (not counted: {path} {len(data) / 1024:.0f} KB raw, {gz(data) / 1024:.0f} KB gz)")
    verdict = "met" if gz_total <= TARGET_JS_GZ else "NOT met"
    print(f"JS target <= {TARGET_JS_GZ // 1024} KB gz: {gz_total / 1024:.1f} KB -> {verdict}")


def summary(name: str, rows: list[dict[str, Any]]) -> float:
    first = [float(r["first"]) for r in rows]
    med = statistics.median(first)
    wall = statistics.median(r["wall"] for r in rows)
    runs = ", ".join(f"{x:.0f}" for x in first)
    verdict = "met" if med <= TARGET_RENDER_MS else "NOT met"
    print(
        f"  {name:<12} median {med:>5.0f} ms (runs: {runs}; "
        f"min {min(first):.0f}, max {max(first):.0f}); "
        f"wall clock median {wall:.0f} ms; target <= {TARGET_RENDER_MS} ms -> {verdict}"
    )
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--national", action="store_true", help="synthetic national file")
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    dsn, stations = prepare_database(args.national)
    print(f"{stations:,} stations in {dsn.rsplit('/', 1)[1]}; Redis {REDIS_URL}", flush=True)
    loaded: dict[str, bytes] = {}
    cold: list[dict[str, Any]] = []
    second: list[dict[str, Any]] = []
    with serve(dsn) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for i in range(args.runs):
                c, s = one_run(browser, base, loaded)
                cold.append(c)
                second.append(s)
                print(
                    f"run {i + 1}: cold {c['first']} ms ({c['clusters']} clusters, "
                    f"{c['stations']} stations drawn; {c['n_tiles']} tiles asked at "
                    f"{c['tiles_start']} ms, in by {c['tiles_done']} ms, server wait <= "
                    f"{c['tiles_wait']} ms), second load "
                    f"{s['first']} ms ({s['clusters']} clusters; tiles in by {s['tiles_done']} ms)",
                    flush=True,
                )
                if not c["clusters"] or not s["clusters"]:
                    raise SystemExit("the national view drew no cluster: not a valid render")
        finally:
            browser.close()
    print(
        f"\nFirst map render with clusters, 360x740 headless Chromium "
        f"({os.cpu_count()} cores, {sys.platform}), ms after navigation start:"
    )
    summary("cold cache", cold)
    summary("second load", second)
    js_sizes(loaded)


if __name__ == "__main__":
    main()
