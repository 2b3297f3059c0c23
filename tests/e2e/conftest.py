"""Browser tests: the real app (`wattsup serve`, API + tiles + static/) on a free port over
the session's test database, driven by Playwright in Debian's Chromium (no browser download).

Fixtures for page tests:
- `live_server`: the base URL (http://127.0.0.1:PORT) of the running app.
- `browser`: one headless Chromium for the session.
- `phone` / `desktop`: a fresh browser context (own cookies) at 360×740 or 1280×800, French.
- `shot(page, name)`: saves tests/e2e/screenshots/<test>-<name>.png for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, make_test_env

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = os.environ.get("WATTSUP_CHROMIUM", "/usr/bin/chromium")
# Chromium as root in a closed network: no sandbox, no background calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Package scope: the server's sweeper would otherwise stay the database's elected leader for
# the rest of the session (tests/stack checks that exactly one process of its own leads).
@pytest.fixture(scope="package")
def live_server(imported_sample: object) -> Iterator[str]:
    port = _free_port()
    env = {**make_test_env(), "WATTSUP_COOKIE_SECURE": "false", "PYTHONUNBUFFERED": "1"}
    log = (ROOT / "tests" / "e2e" / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "wattsup.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"wattsup serve did not start (see {log.name})")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


# Package scope: Playwright's sync API holds the thread's event loop while it runs, so it
# must be closed before the async tests of other packages run.
@pytest.fixture(scope="package")
def browser(live_server: str) -> Iterator[object]:
    # Depends on live_server so that the async, session-wide data fixtures run before
    # Playwright's sync API takes over this thread's event loop.
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (`just setup` does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _context(browser: object, live_server: str, **kwargs: object) -> Iterator[object]:
    ctx = browser.new_context(base_url=live_server, locale="fr-FR", **kwargs)  # type: ignore[attr-defined]
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def phone(browser: object, live_server: str) -> Iterator[object]:
    yield from _context(
        browser,
        live_server,
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )


@pytest.fixture
def desktop(browser: object, live_server: str) -> Iterator[object]:
    yield from _context(browser, live_server, viewport={"width": 1280, "height": 800})


@pytest.fixture(scope="session", autouse=True)
def _fresh_screenshots() -> None:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[object, str], Path]:
    counter = iter(range(1, 1000))

    def take(page: object, name: str) -> Path:
        path = SCREENSHOTS / f"{request.node.name}-{next(counter):02d}-{name}.png"
        page.screenshot(path=str(path))  # type: ignore[attr-defined]
        return path

    return take
