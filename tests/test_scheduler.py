"""The sweeper's loop ends when its app stops, whatever a tick does with the cancellation."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Litestar

from api.scheduler import sweeper_lifespan


async def test_the_sweeper_stops_even_when_a_tick_loses_the_cancellation(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ticks = 0
    swallow = True

    async def swallowing_tick(self: Any) -> None:
        # What a library call did to the cancellation in the tests (the task stayed
        # "cancelling" and the loop slept again): it never reaches the loop.
        nonlocal ticks
        ticks += 1
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            if not swallow:
                raise

    monkeypatch.setattr("api.scheduler.Sweeper._tick", swallowing_tick)
    app = Litestar(route_handlers=[])
    lifespan = sweeper_lifespan(0.01)(app)
    await lifespan.__aenter__()
    await asyncio.sleep(0.2)
    assert ticks >= 2, "the loop runs"
    task = next(t for t in asyncio.all_tasks() if t.get_name() == "reservation-sweeper")
    # The shutdown must end: before the stop flag, it awaited this task forever.
    stop = asyncio.create_task(lifespan.__aexit__(None, None, None))
    try:
        done, _ = await asyncio.wait({stop}, timeout=5)
        assert stop in done and task.done(), "the app's shutdown waits on the sweeper"
    finally:
        swallow = False  # a failed run still ends: the next cancellation goes through
        task.cancel()
        await asyncio.wait({stop}, timeout=5)
