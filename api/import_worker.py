"""Where an API process runs the imports it accepted: its own thread and event loop.

Reading and checking rows is CPU work in Python; on the request loop it would stall every
other request of the process (bookings, the SSE feeds) for the whole import. In a worker
thread the interpreter switches between the two every few milliseconds. The claim (which
holds the import's advisory-lock connection) runs on the same worker loop as the import,
since an asyncpg connection belongs to the loop that opened it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _worker_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="wattsup-import", daemon=True).start()
            _loop = loop
        return _loop


def submit(coro: Coroutine[Any, Any, T]) -> Future[T]:
    """Start `coro` on the worker loop; the returned future outlives the request."""
    return asyncio.run_coroutine_threadsafe(coro, _worker_loop())


async def call(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on the worker loop and wait for its result from the caller's loop."""
    return await asyncio.wrap_future(submit(coro))
