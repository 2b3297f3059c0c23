"""The admin page on a tablet (768×1024 portrait, 1024×768 landscape), touch, in Chromium:
every screen fits the width (no sideways scrolling of the page), the navigation is reachable
and big enough to touch, wide tables scroll inside their own box, the confirmation dialog fits.

The screens are filled with real data first (a station with points, a driver with a vehicle
and a reservation, an import with rejects, a problem report), so what is measured is what an
admin sees on a working day, not empty pages."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import DATA
from tests.e2e.test_admin_app import STRAY_TEXT, api_as, log_in, make_user, open_admin, psql

pytestmark = pytest.mark.e2e

# What sticks out of the viewport without a scrolling box of its own to hold it, tables not
# in a scrolling box, and wide tables whose box does not scroll.
LAYOUT_PROBLEMS = """() => {
    const vw = document.documentElement.clientWidth;
    const out = [];
    const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
        + (el.classList.length ? "." + [...el.classList].join(".") : "");
    const shown = (el) => {
        const r = el.getBoundingClientRect();
        return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== "hidden";
    };
    const clipper = (el) => {
        for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
            const ox = getComputedStyle(p).overflowX;
            if (ox !== "visible") return p;
        }
        return null;
    };
    if (document.documentElement.scrollWidth > vw + 1) {
        out.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${vw}`);
    }
    for (const el of document.querySelectorAll("body *")) {
        if (!shown(el) || el.closest("dialog:not([open])")) continue;
        const r = el.getBoundingClientRect();
        if (r.right <= vw + 1 && r.left >= -1) continue;
        const box = clipper(el);
        if (box && box.getBoundingClientRect().right <= vw + 1) continue;
        out.push(`${name(el)} spans ${Math.round(r.left)}..${Math.round(r.right)} of ${vw}`);
        if (out.length > 8) break;
    }
    for (const table of document.querySelectorAll("main table")) {
        if (!shown(table)) continue;
        const wrap = table.parentElement;
        const ox = getComputedStyle(wrap).overflowX;
        const wide = table.getBoundingClientRect().width > wrap.clientWidth + 1;
        if (wide && !["auto", "scroll"].includes(ox)) {
            out.push(`${name(table)} is wider than ${name(wrap)}, which does not scroll`);
        }
        if (wide) {
            wrap.scrollLeft = 40;
            if (wrap.scrollLeft === 0) out.push(`${name(wrap)} does not scroll`);
            wrap.scrollLeft = 0;
        }
    }
    return out;
}"""

# Touch targets (WCAG 2.5.8): at least 24×24 CSS px for the navigation and every button.
SMALL_TARGETS = """() => [...document.querySelectorAll(
        "#nav a, .topbar-tools button, main button, main a.button, dialog[open] button")]
    .filter((el) => el.getBoundingClientRect().width > 0)
    .map((el) => [el.id || el.textContent.trim().slice(0, 30), el.getBoundingClientRect()])
    .filter(([, r]) => r.width < 24 || r.height < 24)
    .map(([n, r]) => `${n}: ${Math.round(r.width)}×${Math.round(r.height)}`)"""

TABLETS = {
    "portrait": {"width": 768, "height": 1024},
    "landscape": {"width": 1024, "height": 768},
}


def booked_driver(live_server: str) -> tuple[dict[str, Any], str]:
    """A driver with a vehicle who booked a point (then cancelled: the point stays free for
    other tests) and reported a problem on its station. Returns (driver, station id)."""
    driver = make_user("driver", "Tablette")
    vehicle = psql(
        "INSERT INTO vehicles (user_id, name, connectors, battery_kwh, max_ac_kw, max_dc_kw) "
        f"VALUES ('{driver['id']}', 'Kangoo de service', '{{type_2}}', 45, 22, 0) RETURNING id"
    ).splitlines()[0]
    point, station = psql(
        "SELECT cp.id, cp.station_id FROM charge_points cp JOIN stations s ON s.id = cp.station_id "
        "WHERE cp.withdrawn_at IS NULL AND s.withdrawn_at IS NULL AND cp.prise_type_2 "
        "AND cp.operational_status = 'in_service' AND NOT EXISTS (SELECT 1 FROM reservations r "
        "WHERE r.charge_point_id = cp.id AND r.status IN ('reserved', 'charging')) "
        "ORDER BY cp.id LIMIT 1"
    ).split("|")
    with api_as(live_server, driver) as api:
        r = api.post("/api/reservations", json={"charge_point_id": point, "vehicle_id": vehicle})
        assert r.status_code == 201, r.text
        assert api.post(f"/api/reservations/{r.json()['id']}/cancel").status_code == 200
        r = api.post(
            "/api/reports",
            json={"station_id": station, "category": "blocked", "message": "Place occupée"},
        )
        assert r.status_code in (201, 409), r.text  # 409: one already open on this station
    return driver, station


def _working_day(live_server: str, admin: dict[str, Any]) -> dict[str, str]:
    """Data every screen shows: a driver with a vehicle and a (cancelled) reservation, an
    import with rejects, an open problem report. Returns the ids to open."""
    driver, station = booked_driver(live_server)
    with api_as(live_server, admin) as api:
        with (DATA / "irve-v2-defects.csv").open("rb") as f:
            r = api.post("/api/admin/imports", files={"file": ("irve-v2-defects.csv", f)})
        assert r.status_code == 202, r.text
        job = r.json()["id"]
        deadline = time.monotonic() + 30
        while api.get(f"/api/admin/imports/{job}").json()["status"] == "running":
            assert time.monotonic() < deadline, "import did not finish"
            time.sleep(0.2)
    return {"station": station, "user": driver["id"], "job": job}


@pytest.mark.parametrize("orientation", list(TABLETS))
def test_every_screen_fits_a_tablet(
    browser: Any, live_server: str, orientation: str, shot: Callable[[Any, str], Any]
) -> None:
    admin = make_user("admin", "Tina")
    ids = _working_day(live_server, admin)
    context = browser.new_context(
        base_url=live_server,
        locale="fr-FR",
        viewport=TABLETS[orientation],
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(10_000)
    try:
        page, problems = open_admin(context)
        page.get_by_role("heading", name="Connexion à l'administration").wait_for()
        assert page.evaluate(LAYOUT_PROBLEMS) == [], "login"
        log_in(page, admin)

        # (hash, an element that says the screen is drawn with its data)
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
        nav = page.locator("#nav a")
        found: dict[str, list[str]] = {}
        for hash_, ready in screens:
            page.goto(f"/admin/{hash_}")
            page.locator(ready).first.wait_for()
            page.locator("main h1").wait_for()
            name = hash_.strip("#/").replace("/", "-")[:24]
            shot(page, f"{orientation}-{name}")
            # Gathered over every screen, so one run shows all that needs fixing.
            found[hash_] = (
                page.evaluate(LAYOUT_PROBLEMS)
                + page.evaluate(SMALL_TARGETS)
                + page.evaluate(STRAY_TEXT)
            )
            # Every section is one tap away, inside the screen's width.
            expect(nav).to_have_count(5)
            width = TABLETS[orientation]["width"]
            for i in range(nav.count()):
                box = nav.nth(i).bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (
                    hash_,
                    nav.nth(i).inner_text(),
                    box,
                )

        assert {k: v for k, v in found.items() if v} == {}

        # The navigation works by touch: tap "Utilisateurs" from a station's page.
        page.goto(f"/admin/#/stations/{ids['station']}")
        page.locator("#station-map canvas").wait_for()
        page.get_by_role("link", name="Utilisateurs").tap()
        page.get_by_role("heading", name="Utilisateurs", level=1).wait_for()

        # The confirmation dialog fits the screen, its buttons big enough to touch.
        page.goto(f"/admin/#/users/{ids['user']}")
        page.locator("#delete-user").tap()
        dialog = page.locator("dialog#confirm")
        expect(dialog).to_be_visible()
        box = dialog.bounding_box()
        assert box is not None and box["x"] >= 0
        assert box["x"] + box["width"] <= TABLETS[orientation]["width"]
        assert page.evaluate(SMALL_TARGETS) == []
        shot(page, f"{orientation}-confirm")
        page.locator("#confirm-cancel").tap()
        expect(dialog).to_be_hidden()
        with httpx.Client(base_url=live_server) as anon:
            assert anon.get(f"/api/admin/users/{ids['user']}").status_code == 401
        assert psql(f"SELECT deleted_at IS NULL FROM users WHERE id = '{ids['user']}'") == "t"
        problems.assert_clean()
    finally:
        context.close()
