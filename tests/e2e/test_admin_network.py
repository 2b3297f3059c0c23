"""Stations screens in Chromium: search and sort the table, edit a station (a 422 shown on
the field, then a saved change that the station's tile carries), put a point out of service
through the confirmation dialog, create a station by clicking the map, withdraw it."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from typing import Any

import httpx
import mapbox_vector_tile
import pytest
from playwright.sync_api import expect

from tests.e2e.test_admin_app import (  # noqa: F401
    STRAY_TEXT,
    admin_page,
    admin_user,
    api_as,
    log_in,
    make_user,
    open_admin,
    psql,
)

pytestmark = pytest.mark.e2e

PICPUS = "FRA68P68021001"  # tests/data/exemple-valide-statique.csv


def tile_names(live_server: str, lon: float, lat: float, z: int = 16) -> set[str]:
    """Station names in the vector tile that covers (lon, lat) at zoom z."""
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    r = httpx.get(f"{live_server}/tiles/stations/{z}/{x}/{y}.pbf", timeout=10)
    if r.status_code == 204:
        return set()
    assert r.status_code == 200, r.status_code
    layers = mapbox_vector_tile.decode(r.content)
    return {f["properties"]["name"] for f in layers.get("stations", {}).get("features", [])}


def test_search_edit_station_and_points(
    admin_page: Any,  # noqa: F811
    admin_user: dict[str, Any],  # noqa: F811
    live_server: str,
    shot: Callable[[Any, str], Any],
) -> None:
    page = admin_page
    page.get_by_role("link", name="Stations et points").click()
    table = page.locator("#stations-table")
    table.locator("tbody tr").first.wait_for()
    with api_as(live_server, admin_user) as api:
        total = api.get("/api/admin/stations", params={"per_page": 1}).json()["total"]
    expect(page.locator("#stations-count")).to_contain_text(
        re.compile(rf"{total:,}".replace(",", r"\s"))
    )
    expect(table.locator("tbody tr")).to_have_count(25)
    shot(page, "list")

    # Sorting by name, then reversing it: the header says so and the first row changes.
    name_header = table.locator("thead th").first
    expect(name_header).to_have_attribute("aria-sort", "ascending")
    first_asc = table.locator("tbody tr th a").first.inner_text()
    name_header.get_by_role("button").click()
    expect(name_header).to_have_attribute("aria-sort", "descending")
    expect(table.locator("tbody tr th a").first).not_to_have_text(first_asc)

    # Search (debounced while typing).
    page.get_by_label("Rechercher").fill(PICPUS)
    expect(table.locator("tbody tr")).to_have_count(1)
    row = table.locator("tbody tr").first
    expect(row).to_contain_text("Picpus")
    shot(page, "search")
    row.get_by_role("link").click()

    page.get_by_role("heading", name="Picpus", level=1).wait_for()
    station_id = page.url.rsplit("/", 1)[1]
    shot(page, "station")

    # A bad postcode: the API's 422 is shown on that field, nothing is saved.
    postcode = page.locator("#station-code_postal")
    postcode.fill("7500")
    page.locator("#station-save").click()
    error = page.locator("#station-code_postal-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("code postal")
    expect(postcode).to_have_attribute("aria-invalid", "true")
    expect(postcode).to_be_focused()
    shot(page, "invalid-postcode")

    new_name = f"Picpus rénovée {random.randint(1000, 9999)}"
    postcode.fill("75012")
    page.locator("#station-nom_station").fill(new_name)
    page.locator("#station-save").click()
    expect(page.locator("#station-saved")).to_have_text("Station enregistrée.")
    expect(page.get_by_role("heading", level=1)).to_have_text(new_name)
    expect(page.locator("#station-code_postal")).not_to_have_attribute("aria-invalid", "true")
    shot(page, "saved")
    with api_as(live_server, admin_user) as api:
        station = api.get(f"/api/admin/stations/{station_id}").json()
    assert station["nom_station"] == new_name and station["code_postal"] == "75012"
    # The station's tile carries the new name (its cached tiles were dropped).
    assert new_name in tile_names(live_server, station["lon"], station["lat"])

    # A point out of service: the dialog asks first; Escape keeps things as they were.
    point = station["points"][0]
    prow = page.locator(f"#points-table tr[data-point='{point['id']}']")
    out = prow.locator("button[data-action=out]")
    out.click()
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_be_visible()
    expect(page.locator("#confirm-cancel")).to_be_focused()
    shot(page, "confirm-out-of-service")
    # Focus stays inside the dialog.
    for _ in range(3):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('dialog') !== null")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(out).to_be_focused()
    with api_as(live_server, admin_user) as api:
        assert (
            api.get(f"/api/admin/stations/{station_id}").json()["points"][0]["operational_status"]
            == "in_service"
        )

    out.click()
    page.locator("#confirm-ok").click()
    expect(prow.locator(".pill")).to_have_text("Hors service")
    with api_as(live_server, admin_user) as api:
        pts = api.get(f"/api/admin/stations/{station_id}").json()["points"]
    assert next(p for p in pts if p["id"] == point["id"])["operational_status"] == "out_of_service"
    shot(page, "out-of-service")
    # Back in service: not destructive, no question asked.
    prow.locator("button[data-action=in]").click()
    expect(prow.locator(".pill")).to_have_text("En service")

    # Edit a point: a bad power is refused on its field.
    prow.locator("button[data-action=edit]").click()
    power = page.locator(f"#pt-{point['id']}-puissance_nominale")
    power.fill("-3")
    page.locator("#point-editor button[type=submit]").click()
    expect(page.locator(f"#pt-{point['id']}-puissance_nominale-error")).to_contain_text("puissance")
    shot(page, "point-invalid")
    power.fill("43")
    page.locator("#point-editor button[type=submit]").click()
    expect(prow.locator("td").first).to_have_text(re.compile(r"^43\s?kW$"))


def test_create_station_on_map_then_withdraw(
    admin_page: Any,  # noqa: F811
    admin_user: dict[str, Any],  # noqa: F811
    live_server: str,
    shot: Callable[[Any, str], Any],
) -> None:
    page = admin_page
    page.goto("/admin/#/stations/new")
    page.get_by_role("heading", name="Nouvelle station").wait_for()
    canvas = page.locator("#create-map canvas")
    canvas.wait_for(timeout=15_000)
    page.wait_for_timeout(500)  # the style and first tiles
    canvas.click()  # the middle of the map: mainland France
    expect(page.locator("#new-lon")).not_to_have_value("")
    lon = float(page.locator("#new-lon").input_value())
    lat = float(page.locator("#new-lat").input_value())
    assert -5 < lon < 10 and 41 < lat < 52, (lon, lat)
    expect(page.locator("#create-map .maplibregl-marker")).to_have_count(1)
    shot(page, "clicked-map")

    # Required fields missing: each one says so.
    page.locator("#create-station").click()
    expect(page.locator("#new-id_station_itinerance-error")).to_contain_text("obligatoire")
    expect(page.locator("#new-nom_station-error")).to_contain_text("obligatoire")
    shot(page, "required")

    ident = f"FRE2EP{random.randint(10**7, 10**8 - 1)}"
    name = f"Station créée {ident[-4:]}"
    page.locator("#new-id_station_itinerance").fill(ident)
    page.locator("#new-nom_station").fill(name)
    page.locator("#new-implantation_station").select_option("Voirie")
    page.locator("#create-station").click()
    page.get_by_role("heading", name=name, level=1).wait_for()
    station_id = page.url.rsplit("/", 1)[1]

    # Its first point.
    page.locator("#add-point").click()
    page.locator("#new-point-id_pdc_itinerance").fill(ident[:5] + "E" + ident[6:])
    page.locator("#new-point-puissance_nominale").fill("22")
    page.locator("#point-editor button[type=submit]").click()
    expect(page.locator("#points-table tbody tr[data-point]")).to_have_count(1)
    shot(page, "created")
    with api_as(live_server, admin_user) as api:
        s = api.get(f"/api/admin/stations/{station_id}").json()
    assert s["id_station_itinerance"] == ident and len(s["points"]) == 1
    assert s["points"][0]["puissance_nominale"] == 22

    # Withdraw: asked first; cancelling keeps it.
    page.locator("#withdraw-station").click()
    expect(page.locator("dialog#confirm")).to_contain_text(name)
    page.locator("#confirm-cancel").click()
    with api_as(live_server, admin_user) as api:
        assert api.get(f"/api/admin/stations/{station_id}").json()["withdrawn"] is False
    page.locator("#withdraw-station").click()
    page.locator("#confirm-ok").click()
    expect(page.locator("#station-withdrawn")).to_be_visible()
    shot(page, "withdrawn")
    with api_as(live_server, admin_user) as api:
        s = api.get(f"/api/admin/stations/{station_id}").json()
    assert s["withdrawn"] is True and all(p["withdrawn"] for p in s["points"])
    assert psql(f"SELECT withdrawn_at IS NOT NULL FROM stations WHERE id = '{station_id}'") == "t"


def test_small_maps_have_the_offline_background(
    admin_page: Any,  # noqa: F811
    live_server: str,
    shot: Callable[[Any, str], Any],
) -> None:
    """The station's map, the create-by-click map and the busiest places' map draw the
    driver page's offline background (France, its departments and neighbours, from
    static/offline/) under the stations: readable with no internet."""
    from tests.e2e.test_admin_tablet import booked_driver

    page = admin_page
    _, station_id = booked_driver(live_server)  # a reservation: the busiest map has a place
    outlines: list[int] = []
    page.on(
        "response",
        lambda r: outlines.append(r.status) if r.url.endswith("/outlines.geojson") else None,
    )
    many = re.compile(r"^[1-9]\d+$")

    # France at the create map's zoom: department and country lines are drawn.
    page.goto("/admin/#/stations/new")
    create = page.locator("#create-map")
    expect(create).to_have_attribute("data-basemap", "offline")
    expect(create).to_have_attribute("data-stations", "1")
    expect(create).to_have_attribute("data-outlines", many, timeout=15_000)
    shot(page, "create-map")

    # The busiest places, framed around the booked station, not so close that no department
    # line is left around it.
    page.goto("/admin/#/dashboard")
    busiest = page.locator("#busiest-map")
    expect(busiest).to_have_attribute("data-basemap", "offline")
    expect(busiest).to_have_attribute("data-stations", "1")
    expect(busiest).to_have_attribute("data-outlines", re.compile(r"^[1-9]\d*$"), timeout=15_000)
    busiest.scroll_into_view_if_needed()
    shot(page, "busiest-map")

    # A station's page: at street zoom, the same background (no border may cross the view).
    page.goto(f"/admin/#/stations/{station_id}")
    small = page.locator("#station-map")
    expect(small).to_have_attribute("data-basemap", "offline")
    expect(small).to_have_attribute("data-stations", "1")
    expect(small).to_have_attribute("data-outlines", re.compile(r"^\d+$"), timeout=15_000)
    shot(page, "station-map")

    assert outlines and set(outlines) <= {200, 304}, outlines


def test_configured_basemap_replaces_the_outlines(
    desktop: Any,
    admin_user: dict[str, Any],  # noqa: F811
    live_server: str,
    shot: Callable[[Any, str], Any],
) -> None:
    """With a basemap style configured (the driver page's setting, here ?basemap=URL), the
    admin maps load that style instead of the outlines and put the stations on top of it."""
    from tests.e2e.test_admin_app import log_in, open_admin

    style_url = f"{live_server}/basemap-test/style.json"
    style = {
        "version": 8,
        "sources": {},
        "layers": [{"id": "paper", "type": "background", "paint": {"background-color": "#f3e9d2"}}],
    }
    asked: list[str] = []

    def serve_style(route: Any) -> None:
        asked.append(route.request.url)
        route.fulfill(json=style)

    desktop.route(style_url, serve_style)
    page, problems = open_admin(desktop, "/admin/?basemap=" + style_url + "#/stations/new")
    outlines: list[str] = []
    page.on("request", lambda r: outlines.append(r.url) if "/offline/" in r.url else None)
    log_in(page, admin_user)
    create = page.locator("#create-map")
    expect(create).to_have_attribute("data-basemap", style_url)
    expect(create).to_have_attribute("data-stations", "1")
    expect(create).to_have_attribute("data-outlines", "0", timeout=15_000)
    assert asked == [style_url]
    assert outlines == []
    shot(page, "configured-basemap")
    problems.assert_clean()


def test_withdraw_station_asks_in_a_trapped_dialog(
    admin_page: Any,  # noqa: F811
    admin_user: dict[str, Any],  # noqa: F811
    live_server: str,
    shot: Callable[[Any, str], Any],
) -> None:
    from tests.e2e.test_admin_app import check_confirm_dialog

    page = admin_page
    ident = f"FRE2EP{random.randint(10**7, 10**8 - 1)}"
    name = f"Station à retirer {ident[-4:]}"
    with api_as(live_server, admin_user) as api:
        r = api.post(
            "/api/admin/stations",
            json={"id_station_itinerance": ident, "nom_station": name, "lon": 4.85, "lat": 45.75},
        )
        assert r.status_code == 201, r.text
        station_id = r.json()["id"]
        r = api.post(
            f"/api/admin/stations/{station_id}/points",
            json={
                "id_pdc_itinerance": ident[:5] + "E" + ident[6:],
                "puissance_nominale": 22,
                "prise_type_2": True,
            },
        )
        assert r.status_code == 201, r.text
    page.goto(f"/admin/#/stations/{station_id}")
    page.get_by_role("heading", name=name, level=1).wait_for()
    withdraw = page.locator("#withdraw-station")

    check_confirm_dialog(page, withdraw, name)
    with api_as(live_server, admin_user) as api:
        assert api.get(f"/api/admin/stations/{station_id}").json()["withdrawn"] is False

    withdraw.click()
    shot(page, "confirm-withdraw")
    page.locator("#confirm-ok").click()
    expect(page.locator("#station-withdrawn")).to_be_visible()
    expect(page.locator("#withdraw-station")).to_have_count(0)
    with api_as(live_server, admin_user) as api:
        s = api.get(f"/api/admin/stations/{station_id}").json()
    assert s["withdrawn"] is True and all(p["withdrawn"] for p in s["points"])


def test_stations_paging_filters_and_status_sort(
    admin_page: Any,  # noqa: F811
    admin_user: dict[str, Any],  # noqa: F811
    live_server: str,
    shot: Callable[[Any, str], Any],
) -> None:
    """The stations table pages as the API does, sorts by status (what needs attention on top
    when descending) and filters by status and power."""
    page = admin_page
    ident = f"FRE2EP{random.randint(10**7, 10**8 - 1)}"
    with api_as(live_server, admin_user) as api:
        r = api.post(
            "/api/admin/stations",
            json={"id_station_itinerance": ident, "nom_station": "Retirée", "lon": 5.4, "lat": 43},
        )
        assert r.status_code == 201, r.text
        assert api.delete(f"/api/admin/stations/{r.json()['id']}").status_code == 200
        page2 = api.get(
            "/api/admin/stations", params={"page": 2, "per_page": 25, "sort": "name"}
        ).json()
        by_status = api.get(
            "/api/admin/stations", params={"sort": "status", "order": "desc", "per_page": 25}
        ).json()
        withdrawn_total = api.get(
            "/api/admin/stations", params={"status": "withdrawn", "per_page": 1}
        ).json()["total"]
        fast_total = api.get("/api/admin/stations", params={"min_power": 50, "per_page": 1}).json()[
            "total"
        ]
    assert page2["total"] > 25, "the sample has more than one page"
    last = -(-page2["total"] // 25)

    page.get_by_role("link", name="Stations et points").click()
    table = page.locator("#stations-table")
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(25)
    pager = page.locator(".pager span")
    expect(pager).to_have_text(f"Page 1 sur {last}")
    page.get_by_role("button", name="Suivant").click()
    expect(pager).to_have_text(f"Page 2 sur {last}")
    expect(rows.first.locator("th a")).to_have_text(page2["items"][0]["nom_station"])
    expect(page.get_by_role("button", name="Précédent")).to_be_enabled()
    shot(page, "page-2")

    # Status, descending: the API's order, withdrawn stations on top.
    status_header = table.locator("thead th").nth(5)
    status_header.get_by_role("button").click()
    expect(status_header).to_have_attribute("aria-sort", "ascending")
    expect(pager).to_have_text(f"Page 1 sur {last}")
    expect(rows.first.locator(".pill")).to_have_text("En service")
    status_header.get_by_role("button").click()
    expect(status_header).to_have_attribute("aria-sort", "descending")
    assert by_status["items"][0]["withdrawn"] is True
    expect(rows.first.locator("th a")).to_have_text(by_status["items"][0]["nom_station"])
    expect(rows.first.locator(".pill")).to_have_text("Retirée")
    shot(page, "status-desc")

    # Filters: withdrawn only; then at least 50 kW.
    page.locator("#st-status").select_option("withdrawn")
    expect(page.locator("#stations-count")).to_contain_text(re.compile(rf"\b{withdrawn_total}\b"))
    expect(rows.locator(".pill").filter(has_not_text="Retirée")).to_have_count(0)
    page.locator("#st-status").select_option("")
    page.locator("#st-min_power").select_option("50")
    # The count of the power filter's answer (the page draws count and rows together): not
    # merely another count than before, which the answer to the status filter's reset, still
    # on its way, also is.
    expect(page.locator("#stations-count")).to_contain_text(re.compile(rf"\b{fast_total}\b"))
    powers = [
        float(re.sub(r"[^\d,]", "", t).replace(",", "."))
        for t in rows.locator("td:nth-of-type(4)").all_inner_texts()
    ]
    assert powers and min(powers) >= 50, powers


def test_station_page_shows_its_open_problem_reports(
    admin_page: Any,  # noqa: F811
    admin_user: dict[str, Any],  # noqa: F811
    live_server: str,
    shot: Callable[[Any, str], Any],
) -> None:
    """A driver's report on a station is on that station's page (what, since when, their
    words) until it is closed."""
    from tests.e2e.test_admin_app import make_user

    page = admin_page
    station_id = psql(
        "SELECT s.id FROM stations s WHERE s.withdrawn_at IS NULL AND NOT EXISTS (SELECT 1 FROM "
        "problem_reports r WHERE r.station_id = s.id AND r.status <> 'closed') ORDER BY s.id "
        "LIMIT 1"
    )
    driver = make_user("driver", "Inès")
    words = f"Câble arraché {driver['id'][:6]}"
    with api_as(live_server, driver) as api:
        r = api.post(
            "/api/reports",
            json={"station_id": station_id, "category": "not_working", "message": words},
        )
        assert r.status_code == 201, r.text
        report_id = r.json()["id"]
    page.goto(f"/admin/#/stations/{station_id}")
    section = page.locator("#station-reports")
    expect(section).to_contain_text("Problèmes signalés en cours (1)")
    item = section.locator(f"li[data-report='{report_id}']")
    expect(item).to_contain_text("Borne en panne")
    expect(item).to_contain_text(words)
    expect(item).to_contain_text("signalé le")
    shot(page, "reported")

    section.get_by_role("link").click()
    page.get_by_role("heading", name="Service client", level=1).wait_for()
    with api_as(live_server, admin_user) as api:
        assert api.post(f"/api/admin/reports/{report_id}/close", json={}).status_code == 200
    page.goto(f"/admin/#/stations/{station_id}")
    page.locator("#station-map").wait_for()
    expect(page.locator("#station-reports")).to_have_count(0)


# The sizes of the browser review: a laptop, and a tablet held upright.
REVIEW_SIZES = {
    "laptop": {"width": 1366, "height": 800},
    "tablet": {"width": 820, "height": 1180},
}

# Each button of the points table, brought into view by scrolling the page up or down only
# (never the table sideways): the ones outside the table's visible box, or under something
# else at their centre (hidden behind a column, cut off).
ACTIONS_OUT_OF_VIEW = """() => {
    const wrap = document.querySelector("#points-table").parentElement;
    const out = [];
    for (const b of document.querySelectorAll("#points-table tbody button")) {
        window.scrollBy(0, b.getBoundingClientRect().top - innerHeight / 2);
        const r = b.getBoundingClientRect();
        const box = wrap.getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        const inside = r.left >= box.left - 1 && r.right <= Math.min(box.right, innerWidth) + 1;
        if (!inside || !hit || !b.contains(hit)) {
            out.push(`${b.dataset.action}: ${Math.round(r.left)}..${Math.round(r.right)} `
                + `in ${Math.round(box.left)}..${Math.round(box.right)}`);
        }
    }
    return out;
}"""

# A table wider than its box (the box then scrolls sideways to show the rest).
TABLE_OVERFLOW = """(id) => {
    const table = document.getElementById(id);
    return Math.round(table.getBoundingClientRect().width - table.parentElement.clientWidth);
}"""

OCPP_CODES = {
    "Available",
    "Reserved",
    "Preparing",
    "Charging",
    "SuspendedEV",
    "Finishing",
    "Unavailable",
    "Faulted",
}


@pytest.mark.parametrize("size", list(REVIEW_SIZES))
def test_point_actions_in_view_and_status_change_busy(
    browser: Any, live_server: str, size: str, shot: Callable[[Any, str], Any]
) -> None:
    """On a laptop and a tablet, every point's buttons are on screen without scrolling the
    table sideways; the connector status is in words; a status change (slow: it cancels
    reservations) disables the row's buttons and says it is working until the answer, then
    redraws the row. The station list and the import history fit without sideways scrolling."""
    admin = make_user("admin", "Revue")
    station_id, point_id = psql(
        "SELECT cp.station_id, min(cp.id::text) FROM charge_points cp JOIN stations s ON "
        "s.id = cp.station_id WHERE s.withdrawn_at IS NULL AND cp.withdrawn_at IS NULL "
        "AND cp.operational_status = 'in_service' GROUP BY cp.station_id "
        "ORDER BY count(*) DESC, cp.station_id LIMIT 1"
    ).split("|")
    context = browser.new_context(base_url=live_server, locale="fr-FR", viewport=REVIEW_SIZES[size])
    context.set_default_timeout(10_000)
    try:
        page, problems = open_admin(context)
        log_in(page, admin)
        page.goto(f"/admin/#/stations/{station_id}")
        rows = page.locator("#points-table tbody tr")
        rows.first.wait_for()
        page.locator("#station-map canvas").wait_for()
        assert rows.count() >= 2
        assert page.evaluate(STRAY_TEXT) == []  # no "null" under the heading
        assert page.evaluate(ACTIONS_OUT_OF_VIEW) == []
        assert (
            page.evaluate("document.querySelector('#points-table').parentElement.scrollLeft") == 0
        )
        shot(page, f"{size}-points")

        statuses = rows.locator("td:nth-of-type(4)").all_inner_texts()
        assert statuses and not OCPP_CODES & set(statuses), statuses
        assert "Libre" in statuses, statuses

        # A slow answer: the change is held back until the test lets it through.
        prow = page.locator(f"#points-table tr[data-point='{point_id}']")
        held: list[Any] = []
        patch = re.compile(rf"/api/admin/points/{point_id}$")
        page.route(patch, lambda route: held.append(route))
        toggle = prow.locator("button[data-action=out]")
        toggle.click()
        page.locator("#confirm-ok").click()
        while not held:
            page.wait_for_timeout(50)
        expect(toggle).to_be_disabled()
        expect(toggle).to_have_attribute("aria-busy", "true")
        expect(toggle).to_have_text("Enregistrement…")
        expect(prow.locator("button[data-action=withdraw]")).to_be_disabled()
        expect(prow.locator(".pill")).to_have_text("En service")
        shot(page, f"{size}-busy")
        page.wait_for_timeout(300)
        assert len(held) == 1  # sent once
        held[0].continue_()
        page.unroute(patch)
        back = prow.locator("button[data-action=in]")
        expect(prow.locator(".pill")).to_have_text("Hors service")
        expect(back).to_be_enabled()
        expect(back).to_be_focused()
        expect(prow.locator("button[aria-busy]")).to_have_count(0)
        assert psql(f"SELECT operational_status FROM charge_points WHERE id = '{point_id}'") == (
            "out_of_service"
        )
        assert page.evaluate(ACTIONS_OUT_OF_VIEW) == []
        back.click()
        expect(prow.locator(".pill")).to_have_text("En service")

        for hash_, table in (("#/stations", "stations-table"), ("#/import", "import-history")):
            page.goto(f"/admin/{hash_}")
            page.locator(f"#{table} tbody tr").first.wait_for()
            assert page.evaluate(TABLE_OVERFLOW, table) <= 0, table
            shot(page, f"{size}-{table}")
        problems.assert_clean()
    finally:
        psql(
            "UPDATE charge_points SET operational_status = 'in_service' "
            f"WHERE id = '{point_id}' AND operational_status <> 'in_service'"
        )
        context.close()
