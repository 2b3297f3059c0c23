"""PostgreSQL's CPU per booking cycle, without HTTP and without contention.

    .venv/bin/python bench/booking_sql.py                 # 3,000 book→start→stop cycles
    .venv/bin/python bench/booking_sql.py --cycles 10000 --function-times

bench/reservations.py measures the whole service under load, where the API processes, the
backends and the client share two cores and each figure moves by ±10% from one minute to the
next on a noisy machine. This replays the same transitions through the same code
(api/booking.py: create_reservation, start_charge, stop_charge, one statement or two each, as
the API sends them) one after the other on a single connection, and reads that backend's CPU
time in /proc: a figure that moves by 2–5% between runs in the same minutes, precise enough to
compare two versions of the SQL functions if they are run interleaved, a few times each (on
the VM of session 11, the machine itself drifted: 2.3 ms per cycle in one half hour, 2.9 in
the next, this process slowing down as much). The cost of
contention (context switches, group commits) is not in it: that is bench/reservations.py's.

Its database (`wattsup_bench_sql`, dropped and created at each run) is migrated and loaded
with the real sample files of tests/data/, then given 60 drivers with a vehicle that fits
every connector (plain INSERTs: sign-up is not what is measured). PostgreSQL must run on this
machine (its backend is read in /proc); the connection goes through its Unix socket when it
lets us in, as bench/reservations.py does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from reservations import (  # noqa: E402
    ALL_CONNECTORS,
    cpu_seconds,
    default_pg_host,
    pg_dsn,
    prepare_database,
    print_function_times,
    reset_function_times,
)

from api import booking  # noqa: E402
from api.security import SessionClaims  # noqa: E402
from wattsup.config import Settings  # noqa: E402
from wattsup.pg import SERVER_SETTINGS, _init_connection  # noqa: E402

DB = "wattsup_bench_sql"
DRIVERS = 60


async def drivers_and_points(conn: asyncpg.Connection) -> tuple[list[asyncpg.Record], list[str]]:
    await conn.execute(
        "INSERT INTO users (email, password_hash) "
        "SELECT 'bench-sql-' || i || '@example.org', 'not a hash' FROM generate_series(1, $1) i",
        DRIVERS,
    )
    await conn.execute(
        "INSERT INTO vehicles (user_id, name, connectors, battery_kwh, max_ac_kw) "
        "SELECT id, 'EV', $1, 60, 22 FROM users",
        ALL_CONNECTORS,
    )
    users = await conn.fetch(
        "SELECT u.id, u.token_version, v.id AS vehicle FROM users u "
        "JOIN vehicles v ON v.user_id = u.id ORDER BY u.email"
    )
    points = await conn.fetch(
        "SELECT id FROM charge_points WHERE withdrawn_at IS NULL "
        "AND operational_status = 'in_service' AND connector_status = 'Available' "
        "AND reservation IS DISTINCT FROM false ORDER BY id_pdc_itinerance LIMIT $1",
        DRIVERS,
    )
    return list(users), [p["id"] for p in points]


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=3000, help="book→start→stop cycles measured")
    ap.add_argument("--pg-host", default=None, help="as bench/reservations.py's --pg-host")
    ap.add_argument(
        "--function-times",
        action="store_true",
        help="also PostgreSQL's time per booking function and cycle (track_functions, whose "
        "overhead the CPU figure then includes)",
    )
    args = ap.parse_args()
    host = args.pg_host or await default_pg_host()
    dsn = pg_dsn(DB, host)
    print(f"preparing {DB} (migrate + the sample files) …", flush=True)
    await prepare_database(dsn, host, args.function_times, database=DB)
    conn = await asyncpg.connect(dsn, server_settings=dict(SERVER_SETTINGS))
    try:
        await _init_connection(conn)
        users, points = await drivers_and_points(conn)
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        settings = Settings()

        async def cycle(i: int) -> None:
            u, point = users[i % len(users)], points[i % len(points)]
            session = SessionClaims(user_id=u["id"], token_version=u["token_version"])
            a = await booking.create_reservation(conn, settings, session, point, u["vehicle"])
            await booking.start_charge(conn, session, a["id"])
            await booking.stop_charge(conn, session, a["id"])

        for i in range(200):  # warm-up: plans cached, pages in memory
            await cycle(i)
        if args.function_times:
            # The backend flushes its function counters at a transaction's end once a second
            # has passed since the last flush: the warm-up's go out now, before the reset.
            await asyncio.sleep(1.1)
            await conn.execute("SELECT 1")
            await reset_function_times(dsn)
        pg0, me0, t0 = cpu_seconds([backend])[backend], time.process_time(), time.perf_counter()
        for i in range(args.cycles):
            await cycle(i)
        pg1, me1, t1 = cpu_seconds([backend])[backend], time.process_time(), time.perf_counter()
        n = args.cycles
        print(
            f"\nbench/booking_sql.py: {n:,} book→start→stop cycles on one connection "
            f"({'Unix socket ' if host.startswith('/') else ''}{host}, {os.cpu_count()} CPUs)\n"
            f"  PostgreSQL backend CPU: {(pg1 - pg0) / n * 1000:.3f} ms per cycle\n"
            f"  api/booking.py + asyncpg (this process): {(me1 - me0) / n * 1000:.3f} ms per "
            f"cycle\n  wall: {(t1 - t0) / n * 1000:.3f} ms per cycle"
        )
    finally:
        await conn.close()
    if args.function_times:
        await print_function_times(dsn, args.cycles)


if __name__ == "__main__":
    asyncio.run(main())
