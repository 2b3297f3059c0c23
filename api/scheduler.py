"""The sweeper: expires no-shows and completes finished charges on time, even when nobody is
looking (a completed charge gets its closing log and receipt in the same statement, 0027).
Every API process runs this loop; exactly one of them is the leader at a time, the one
holding a session advisory lock on its own connection. If that process dies, PostgreSQL
drops the lock with the connection and another process takes over within one period.

Reads never depend on it being on time: they compute the true state from timestamps. It also
rebuilds the derived tile tables of an import that died right after its commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar import Litestar
from litestar.datastructures import State

from api import booking
from wattsup.db import connect
from wattsup.health import HealthCheck
from wattsup.importer.engine import repair_pending_derived

log = logging.getLogger("wattsup.scheduler")
LEADER_LOCK_KEY = 0x1AB0_0002


class Sweeper:
    def __init__(self, app: Litestar, period_s: float) -> None:
        self.app = app
        self.period_s = period_s
        self.leader = False
        self.last_run: float | None = None
        self.runs = 0
        self.conn: asyncpg.Connection | None = None
        self.stopping = False
        # A failing repair of the derived tile tables is retried after a growing delay.
        self.repair_delay_s = 0.0
        self.repair_at = 0.0

    async def run(self) -> None:
        # The flag, not only the task's cancellation, ends the loop: a cancellation that
        # lands inside a tick can be lost on the way (seen in tests: the task stayed
        # "cancelling" while this loop went back to sleep, and the app's shutdown waited on
        # it forever), or come out as another exception, which the retry below would take.
        while not self.stopping:
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a lost connection or a failed sweep: retry next period
                if self.stopping:
                    log.info("sweeper stopped during a tick: %r", exc)
                    return
                log.warning("sweeper tick failed: %r", exc)
                self.leader = False
                if self.conn is not None and not self.conn.is_closed():
                    self.conn.terminate()
                self.conn = None
            await asyncio.sleep(self.period_s)

    async def _tick(self) -> None:
        if self.conn is None or self.conn.is_closed():
            self.conn = await connect(self.app.state.settings)
            self.leader = False
        if not self.leader:
            self.leader = bool(
                await self.conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK_KEY)
            )
            if self.leader:
                log.info("this process now runs the reservation sweeper")
        if not self.leader:
            return
        stations = await booking.sweep(self.app.state.redis, self.conn)
        if stations:
            log.info("sweep: %d station(s) changed", len(stations))
        # An import that died between its commit and the rebuild of the derived tile tables
        # (wattsup/importer/engine.py) left them pending: rebuilt here, the tiles follow.
        if time.monotonic() >= self.repair_at:
            await self._repair_derived(self.conn)
        self.last_run = time.time()
        self.runs += 1

    async def _repair_derived(self, conn: asyncpg.Connection) -> None:
        try:
            if await repair_pending_derived(conn):
                log.warning(
                    "sweep: the derived tile tables of the last import were pending; rebuilt"
                )
            self.repair_delay_s = 0.0
        except asyncpg.PostgresError as exc:
            # Not every tick: a rebuild holds the tile tables (readers wait) until it fails.
            # The bookings' sweep goes on meanwhile.
            self.repair_delay_s = min(max(2 * self.repair_delay_s, 5.0), 300.0)
            self.repair_at = time.monotonic() + self.repair_delay_s
            log.error("sweep: rebuilding the pending derived tile tables failed: %r", exc)

    async def close(self) -> None:
        if self.conn is not None and not self.conn.is_closed():
            await self.conn.close()


def sweeper_lifespan(period_s: float):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        sweeper = Sweeper(app, period_s)
        app.state.sweeper = sweeper
        task = asyncio.create_task(sweeper.run(), name="reservation-sweeper")
        try:
            yield
        finally:
            sweeper.stopping = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await sweeper.close()

    return lifespan


async def scheduler_health(state: State) -> HealthCheck:
    sweeper: Any = getattr(state, "sweeper", None)
    if sweeper is None:
        return HealthCheck(ok=False, detail="not started")
    age = None if sweeper.last_run is None else time.time() - sweeper.last_run
    if sweeper.leader:
        ok = age is not None and age < max(10 * sweeper.period_s, 10)
        return HealthCheck(
            ok=ok,
            detail=f"leader; last sweep {age:.1f} s ago"
            if age is not None
            else "leader; no sweep yet",
        )
    return HealthCheck(ok=True, detail="standby (another process leads)")
