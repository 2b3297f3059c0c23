"""Admin page in Chromium: log in, the dashboard's charts and their totals, the refusal of a
driver, the language switch. The page is served with the production CSP (nginx's), so an
inline script or style, or a call to another origin, fails the test.

Helpers here (accounts, CSP, login) are shared by the other test_admin_*.py files."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import make_test_env
from tests.fixtures_accounts import _HASH, PASSWORD

pytestmark = pytest.mark.e2e

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self' blob:"
)
ADMIN_HTML = re.compile(r"/admin/(index\.html)?(\?[^#]*)?$")


# Text the page wrote from a missing value: Element.append(null) writes "null", and so on.
# Returns each such text node as "TAG: text" (an empty list when the screen is clean).
STRAY_TEXT = """() => {
    const out = [];
    const walker = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        if (/^(null|undefined|false)$/.test(n.data.trim())) {
            out.push(`${n.parentElement.tagName}: ${n.data.trim()}`);
        }
    }
    return out;
}"""


def psql(sql: str) -> str:
    """Run SQL on the test database (psql: no event loop, so it works beside Playwright)."""
    out = subprocess.run(
        ["psql", make_test_env()["DATABASE_URL"], "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def make_user(role: str = "driver", first_name: str = "Test") -> dict[str, Any]:
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.org"
    user_id = psql(
        "INSERT INTO users (email, password_hash, role, first_name, last_name) VALUES "
        f"('{email}', '{_HASH}', '{role}', '{first_name}', 'Essai') RETURNING id"
    ).splitlines()[0]
    return {"id": user_id, "email": email, "password": PASSWORD, "role": role}


class PageProblems:
    """Console errors, CSP violations and uncaught exceptions seen by a page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, msg: Any) -> None:
        text = msg.text
        if msg.type == "error" and not re.search(r"status of (40[139]|422)", text):
            # Expected answers: 401/403 (login probe, refused driver), 409/422 (the page shows
            # them on the form). Anything else counts.
            self.errors.append(text)

    def assert_clean(self) -> None:
        assert not self.errors, self.errors


def open_admin(context: Any, path: str = "/admin/") -> tuple[Any, PageProblems]:
    """A page on the admin app, its HTML served with the production CSP header."""
    page = context.new_page()

    def with_csp(route: Any) -> None:
        response = route.fetch()
        headers = {**response.headers, "content-security-policy": CSP}
        route.fulfill(response=response, headers=headers)

    page.route(ADMIN_HTML, with_csp)
    problems = PageProblems(page)
    page.goto(path)
    return page, problems


def log_in(page: Any, user: dict[str, Any]) -> None:
    page.get_by_label("Adresse e-mail").fill(user["email"])
    page.get_by_label("Mot de passe").fill(user["password"])
    page.get_by_role("button", name="Se connecter").click()
    page.locator("#nav").wait_for(state="visible")


@pytest.fixture
def admin_user() -> dict[str, Any]:
    return make_user("admin", "Alice")


@pytest.fixture
def admin_page(desktop: Any, admin_user: dict[str, Any]) -> Iterator[Any]:
    """A desktop page logged in as a fresh admin, on the dashboard."""
    page, problems = open_admin(desktop)
    log_in(page, admin_user)
    page.problems = problems
    yield page
    problems.assert_clean()


@contextmanager
def api_as(live_server: str, user: dict[str, Any]) -> Iterator[httpx.Client]:
    """An httpx client logged in as `user`, sending the CSRF header like the page does."""
    with httpx.Client(base_url=live_server, timeout=30) as client:
        r = client.post(
            "/api/auth/login", json={"email": user["email"], "password": user["password"]}
        )
        assert r.status_code == 200, r.text
        client.headers["X-CSRF-Token"] = client.cookies["wattsup_csrf"]
        yield client


def check_confirm_dialog(page: Any, opener: Any, says: str) -> None:
    """Open the confirmation dialog with `opener` and check it is a real modal: it says
    `says`, the safe choice has the focus, the rest of the page is inert, Tab and Shift+Tab go
    round its buttons without leaving it, Escape closes it and gives the focus back to
    `opener`. The caller checks that nothing was done, then confirms."""
    opener.click()
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(says)
    expect(page.locator("#confirm-cancel")).to_be_focused()
    assert dialog.evaluate("d => d.matches(':modal')")
    # The page behind cannot be reached: a click on the navigation does nothing.
    url = page.url
    page.locator("#nav a").first.click(force=True, timeout=2_000)
    assert page.url == url
    expect(dialog).to_be_visible()
    page.locator("#confirm-cancel").focus()
    inside = "() => document.activeElement.closest('dialog#confirm') !== null"
    seen = set()
    for key in ["Tab"] * 4 + ["Shift+Tab"] * 4:
        page.keyboard.press(key)
        assert page.evaluate(inside), key
        seen.add(page.evaluate("document.activeElement.id"))
    assert seen == {"confirm-cancel", "confirm-ok"}, seen
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()


# --- tests ---------------------------------------------------------------------------------


def test_admin_logs_in_and_sees_dashboard_totals(
    desktop: Any, live_server: str, admin_user: dict[str, Any], shot: Callable[[Any, str], Any]
) -> None:
    page, problems = open_admin(desktop)
    login = page.get_by_role("heading", name="Connexion à l'administration")
    login.wait_for()
    assert page.locator("#nav").is_hidden(), "no navigation before logging in"
    shot(page, "login")

    # A wrong password is refused on the form itself.
    page.get_by_label("Adresse e-mail").fill(admin_user["email"])
    page.get_by_label("Mot de passe").fill("not the password")
    page.get_by_role("button", name="Se connecter").click()
    page.locator(".form-error[role=alert]").wait_for()
    assert page.locator("#nav").is_hidden()
    shot(page, "wrong-password")

    log_in(page, admin_user)
    page.get_by_role("heading", name="Tableau de bord", level=1).wait_for()
    page.locator("figure.chart[data-chart=power] svg rect.bar").first.wait_for()
    shot(page, "dashboard")

    with api_as(live_server, admin_user) as api:
        data = api.get("/api/admin/dashboard", params={"days": 30}).json()
        views = api.get("/api/admin/analytics").json()
    net = data["network"]
    assert net["points"] > 0, "the sample data is imported"

    def kpi(key: str) -> str:
        return str(page.locator(f".kpi[data-kpi={key}] .kpi-value").inner_text())

    def digits(text: str) -> int:
        return int(re.sub(r"\D", "", text))

    assert digits(kpi("stations")) == net["stations"]
    assert digits(kpi("points")) == net["points"]
    assert digits(kpi("points_in_service")) == net["points_in_service"]

    # Each breakdown chart: one bar per row of the API, and a total equal to the API's sum.
    for key, rows in (
        ("power", data["by_power_class"]),
        ("connector", data["by_connector"]),
        ("region", data["by_region"]),
        ("operator", data["by_operator"]),
    ):
        fig = page.locator(f"figure.chart[data-chart={key}]")
        assert fig.locator("g.bar-row").count() == len(rows), key
        assert int(fig.get_attribute("data-total")) == sum(r["points"] for r in rows), key
        shown_total = digits(fig.locator(".chart-total").inner_text())
        assert shown_total == sum(r["points"] for r in rows), key
    # Power classes partition the network: their total is the number of points.
    assert sum(r["points"] for r in data["by_power_class"]) == net["points"]
    assert (
        int(page.locator("figure.chart[data-chart=power]").get_attribute("data-total"))
        == net["points"]
    )
    # The daily chart has one column group per day of the period.
    assert page.locator("figure.chart[data-chart=per_day] g.col-group").count() == len(
        data["use_per_day"]
    )
    # The ring shows the share in service.
    ring = page.locator("figure.chart[data-chart=share] .ring-label").text_content()
    assert (
        ring.replace("\u202f", " ")
        .replace("\xa0", " ")
        .startswith(str(round(net["share_in_service"] * 100))[:2])
    )

    # The figures also exist as a table (for screen readers), with the same values.
    power_fig = page.locator("figure.chart[data-chart=power]")
    power_fig.locator("summary").click()
    first_row = power_fig.locator("details tbody tr").first
    assert digits(first_row.locator("td").first.inner_text()) == data["by_power_class"][0]["points"]
    shot(page, "dashboard-table")

    # CSV exports: one link per analytics view, and a link that answers CSV.
    links = page.locator("ul.exports a")
    assert links.count() == len(views) > 0
    href = links.first.get_attribute("href")
    with api_as(live_server, admin_user) as api:
        r = api.get(href)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")

    # Changing the period redraws the daily charts for that many days.
    page.get_by_label("Période").select_option("7")
    expect(page.locator("figure.chart[data-chart=per_day] g.col-group")).to_have_count(7)
    shot(page, "dashboard-7-days")
    problems.assert_clean()


def test_driver_is_refused(desktop: Any, live_server: str, shot: Callable[[Any, str], Any]) -> None:
    driver = make_user("driver")
    page, problems = open_admin(desktop)
    dashboard_calls: list[str] = []
    page.on(
        "response",
        lambda r: dashboard_calls.append(r.url) if "/api/admin/" in r.url and r.ok else None,
    )
    log_in_attempt = page.get_by_role("button", name="Se connecter")
    page.get_by_label("Adresse e-mail").fill(driver["email"])
    page.get_by_label("Mot de passe").fill(driver["password"])
    log_in_attempt.click()
    refused = page.locator("#refused")
    refused.wait_for()
    assert "Accès réservé aux administrateurs" in refused.inner_text()
    assert page.locator("#nav").is_hidden()
    assert page.locator(".kpi, figure.chart, table").count() == 0, "no data is shown"
    assert dashboard_calls == [], "no admin data reached the driver's browser"
    shot(page, "refused")

    # A deep link to an admin screen is refused the same way, and the API says 403.
    page.goto("/admin/#/users")
    refused.wait_for()
    assert page.locator("table").count() == 0
    with api_as(live_server, driver) as api:
        assert api.get("/api/admin/users").status_code == 403
    shot(page, "refused-deep-link")
    problems.assert_clean()


def test_language_switch_and_keyboard(admin_page: Any, shot: Callable[[Any, str], Any]) -> None:
    page = admin_page
    page.get_by_role("heading", name="Tableau de bord", level=1).wait_for()
    page.get_by_role("button", name="English").click()
    page.get_by_role("heading", name="Dashboard", level=1).wait_for()
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.get_by_role("link", name="Users").is_visible()
    shot(page, "english")
    # The choice survives a reload.
    page.reload()
    page.get_by_role("heading", name="Dashboard", level=1).wait_for()
    page.get_by_role("button", name="Français").click()
    page.get_by_role("heading", name="Tableau de bord", level=1).wait_for()
    page.reload()
    page.get_by_role("heading", name="Tableau de bord", level=1).wait_for()

    # The skip link is the first stop of the keyboard and leads to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_dashboard_csv_exports(
    admin_page: Any,
    admin_user: dict[str, Any],
    live_server: str,
) -> None:
    """Each analytics view is offered as CSV with the API's columns (geometry left out); one
    download through the page has the API's header and as many rows as the API's figures."""
    import csv
    import io
    from pathlib import Path

    page = admin_page
    page.get_by_role("heading", name="Tableau de bord", level=1).wait_for()
    with api_as(live_server, admin_user) as api:
        views = {v["name"]: v for v in api.get("/api/admin/analytics").json()}
        dashboard = api.get("/api/admin/dashboard", params={"days": 30}).json()
        links = page.locator("ul.exports a")
        expect(links).to_have_count(len(views))
        for i in range(links.count()):
            href = links.nth(i).get_attribute("href")
            name = href.rsplit("/", 1)[1].removesuffix(".csv")
            expected = [
                c["name"]
                for c in views[name]["columns"]
                if not c["type"].startswith(("geometry", "geography"))
            ]
            r = api.get(href)
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), name
            # UTF-8 with a byte order mark, so that Excel reads the accents right.
            assert r.content.startswith(b"\xef\xbb\xbf"), name
            text = r.content.decode("utf-8-sig")
            assert next(csv.reader(io.StringIO(text))) == expected, name

    # One download, as an admin gets it: points per power class.
    link = page.locator("ul.exports a[href$='/points_by_power_class.csv']")
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == "wattsup-points_by_power_class.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    header = [c["name"] for c in views["points_by_power_class"]["columns"]]
    assert list(rows[0].keys()) == header
    assert len(rows) == len(dashboard["by_power_class"])
    assert sum(int(r["points"]) for r in rows) == dashboard["network"]["points"]


def test_page_names_an_icon_the_app_serves(desktop: Any, admin_user: dict[str, Any]) -> None:
    """The page names its icon, one the app serves: without it a browser asks for
    /favicon.ico, which does not exist (a 404 on every load). The test's headless Chromium
    asks for no icon at all, so what is checked is the page's side: the links and their files."""
    page, problems = open_admin(desktop)
    log_in(page, admin_user)
    icons = page.locator("link[rel=icon]")
    assert icons.count() >= 1
    for i in range(icons.count()):
        href = icons.nth(i).evaluate("l => l.href")
        assert "/favicon.ico" not in href
        answer = page.request.get(href)
        assert answer.status == 200, href
        assert answer.headers["content-type"].startswith("image/"), href
    problems.assert_clean()


def test_screen_left_while_loading_does_not_show_up_later(admin_page: Any) -> None:
    """The dashboard's figures arrive after the admin has moved on to the users: they are
    dropped, not drawn under the users' screen (one screen, one h1)."""
    page = admin_page
    page.get_by_role("heading", name="Tableau de bord", level=1).wait_for()
    held: list[Any] = []
    page.route(re.compile(r"/api/admin/dashboard\?"), lambda route: held.append(route))
    page.get_by_role("link", name="Import").click()
    page.get_by_role("heading", name="Import des données IRVE", level=1).wait_for()
    page.get_by_role("link", name="Tableau de bord").click()
    while not held:  # the dashboard's request, held back
        page.wait_for_timeout(50)
    page.get_by_role("link", name="Utilisateurs").click()
    page.locator("#users-table tbody tr").first.wait_for()
    with page.expect_response(re.compile(r"/api/admin/dashboard\?")):
        held[0].continue_()
    # Let the late answer run through the dashboard's code (nothing to wait for: it must do
    # nothing visible).
    page.evaluate("() => new Promise((r) => setTimeout(r, 500))")
    expect(page.locator("main h1")).to_have_count(1)
    expect(page.locator("main h1")).to_have_text("Utilisateurs")
    expect(page.locator(".kpi, figure.chart")).to_have_count(0)
    expect(page.locator("#nav a[aria-current=page]")).to_have_text("Utilisateurs")


def test_dashboard_use_figures(
    admin_page: Any,
    admin_user: dict[str, Any],
    live_server: str,
    shot: Callable[[Any, str], Any],
) -> None:
    """The use side of the dashboard shows the API's figures: reservations, charges, energy,
    rates, open tickets; the daily charts total the API's days; the busiest stations table
    lists the API's rows (a reservation is made first, so there is use to show)."""
    from tests.e2e.test_admin_tablet import booked_driver

    booked_driver(live_server)
    page = admin_page
    page.reload()
    page.locator("#busiest tbody tr").first.wait_for()
    with api_as(live_server, admin_user) as api:
        d = api.get("/api/admin/dashboard", params={"days": 30}).json()
    use = d["use"]
    assert use["reservations"] >= 1 and use["cancellation_rate"] > 0

    def kpi(key: str) -> str:
        text = str(page.locator(f".kpi[data-kpi={key}] .kpi-value").inner_text())
        return text.replace("\u202f", " ").replace("\xa0", " ")

    def digits(text: str) -> int:
        return int(re.sub(r"\D", "", text))

    assert digits(kpi("reservations")) == use["reservations"]
    assert digits(kpi("charges")) == use["charges"]
    assert digits(kpi("open_tickets")) == d["open_reports"] + d["open_messages"]
    assert kpi("cancellation_rate") == page.evaluate(
        "(r) => new Intl.NumberFormat('fr-FR', {style: 'percent', maximumFractionDigits: 1})"
        ".format(r).replace(/\\u202f|\\u00a0/g, ' ')",
        use["cancellation_rate"],
    )
    energy = float(kpi("energy").removesuffix(" kWh").replace(" ", "").replace(",", "."))
    assert energy == round(use["energy_kwh"], 1)

    days = d["use_per_day"]
    for key, field in (("per_day", "reservations"), ("cancel_expire", "cancelled")):
        fig = page.locator(f"figure.chart[data-chart={key}]")
        assert int(fig.get_attribute("data-total")) == sum(x[field] for x in days), key
    assert sum(x["reservations"] for x in days) >= 1

    rows = page.locator("#busiest tbody tr")
    expect(rows).to_have_count(len(d["busiest_stations"]))
    first = d["busiest_stations"][0]
    expect(rows.first.locator("th a")).to_have_text(first["nom_station"])
    assert digits(rows.first.locator("td").nth(1).inner_text()) == first["reservations"]
    page.locator("#busiest").scroll_into_view_if_needed()
    shot(page, "use")
