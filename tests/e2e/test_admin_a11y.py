"""The admin page holds the driver page's quality rules: an axe-core scan of every screen
(WCAG 2.1 A/AA and best practices: no serious or critical issue), and our JavaScript (no
framework) within 60 KB gzipped."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import axe_playwright_python
import pytest
from playwright.sync_api import expect

from tests.conftest import ROOT
from tests.e2e.test_admin_app import log_in, make_user, open_admin
from tests.e2e.test_admin_tablet import _working_day

pytestmark = pytest.mark.e2e

# axe-core, as axe-playwright-python ships it (a dev dependency: a missing one fails, never
# skips, so the scans cannot silently stop running).
AXE_JS = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()
JS_BUDGET_GZIP = 60 * 1024


def axe(page: Any, screen: str) -> list[str]:
    """Serious and critical axe-core violations of the page as it is now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated by the DevTools protocol, so the page's CSP does not stop it.
        page.evaluate(f"() => {{ {AXE_JS}\n window.axe = axe; }}")
    found: list[str] = page.evaluate(
        """async () => {
            const r = await axe.run(document,
              {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']});
            const where = (v) => v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ');
            return r.violations.filter(v => ['serious', 'critical'].includes(v.impact))
              .map(v => `${v.id}: ${v.help} — ${where(v)}`);
        }"""
    )
    return [f"[{screen}] {v}" for v in found]


def _scan_every_screen(page: Any, ids: dict[str, str]) -> list[str]:
    """axe on each screen filled with data, and on the open confirmation dialog."""
    issues: list[str] = []
    screens = [
        ("#/dashboard", "#busiest tbody tr"),
        ("#/import", "#import-history tbody tr"),
        (f"#/import/{ids['job']}", "#rejects tbody tr"),
        ("#/stations", "#stations-table tbody tr"),
        (f"#/stations/{ids['station']}", "#station-map canvas"),
        ("#/stations/new", "#create-map canvas"),
        ("#/users", "#users-table tbody tr"),
        (f"#/users/{ids['user']}", "#user-vehicles"),
        ("#/support", "article.ticket"),
    ]
    for hash_, ready in screens:
        page.goto(f"/admin/{hash_}")
        page.locator(ready).first.wait_for()
        issues += axe(page, hash_)
    page.goto(f"/admin/#/users/{ids['user']}")
    page.locator("#delete-user").click()
    expect(page.locator("dialog#confirm")).to_be_visible()
    issues += axe(page, "confirm dialog")
    page.keyboard.press("Escape")
    return issues


def test_axe_on_every_admin_screen(
    desktop: Any, live_server: str, shot: Callable[[Any, str], Any]
) -> None:
    admin = make_user("admin", "Axelle")
    ids = _working_day(live_server, admin)
    page, problems = open_admin(desktop)
    page.get_by_role("heading", name="Connexion à l'administration").wait_for()
    issues = axe(page, "login")
    log_in(page, admin)
    issues += _scan_every_screen(page, ids)
    # English.
    page.goto("/admin/#/dashboard")
    page.locator("#busiest tbody tr").first.wait_for()
    page.get_by_role("button", name="English").click()
    page.get_by_role("heading", name="Dashboard", level=1).wait_for()
    page.locator("#busiest tbody tr").first.wait_for()
    issues += axe(page, "dashboard (en)")
    page.get_by_role("button", name="Français").click()
    shot(page, "scanned")
    assert issues == [], "\n".join(issues)
    problems.assert_clean()


def test_dark_mode_follows_the_system(
    browser: Any, live_server: str, shot: Callable[[Any, str], Any]
) -> None:
    """With the system in dark mode the page turns dark, the maps' background too, and every
    screen still passes axe (contrast included)."""
    admin = make_user("admin", "Nuit")
    ids = _working_day(live_server, admin)
    context = browser.new_context(
        base_url=live_server,
        locale="fr-FR",
        viewport={"width": 1280, "height": 800},
        color_scheme="dark",
        reduced_motion="reduce",
    )
    context.set_default_timeout(10_000)
    try:
        page, problems = open_admin(context)
        page.get_by_role("heading", name="Connexion à l'administration").wait_for()
        issues = axe(page, "login (dark)")
        log_in(page, admin)
        luminance = """(el) => {
            const [r, g, b] = getComputedStyle(el).backgroundColor.match(/\\d+/g).map(Number);
            return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
        }"""
        assert page.locator("body").evaluate(luminance) < 0.2
        issues += [f"(dark) {i}" for i in _scan_every_screen(page, ids)]
        page.goto("/admin/#/stations/new")
        page.locator("#create-map[data-outlines]").wait_for()
        shot(page, "dark-create-map")
        page.goto(f"/admin/#/import/{ids['job']}")
        page.locator("#rejects tbody tr").first.wait_for()
        shot(page, "dark-import")
        page.goto("/admin/#/dashboard")
        page.locator("#busiest tbody tr").first.wait_for()
        shot(page, "dark-dashboard")
        assert issues == [], "\n".join(issues)
        problems.assert_clean()
    finally:
        context.close()


def test_admin_javascript_weight() -> None:
    """Every module of the admin page, gzipped, within the driver page's budget."""
    files = sorted((ROOT / "static" / "admin" / "js").rglob("*.js"))
    assert len(files) > 5
    total = sum(len(gzip.compress(f.read_bytes(), 9)) for f in files)
    assert total <= JS_BUDGET_GZIP, f"{total} bytes gzipped > {JS_BUDGET_GZIP}"
