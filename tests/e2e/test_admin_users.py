"""Users screens in Chromium: find a driver, see their vehicles, disable them (asked first)
and see their live session end; enable again; delete with confirmation; an admin cannot
disable themself; open an account (its owner is mailed a link to choose a password)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.test_admin_app import (  # noqa: F401
    STRAY_TEXT,
    admin_page,
    admin_user,
    api_as,
    make_user,
    psql,
)

pytestmark = pytest.mark.e2e


def test_disable_enable_delete_user(
    admin_page: Any,  # noqa: F811
    admin_user: dict[str, Any],  # noqa: F811
    live_server: str,
    shot: Callable[[Any, str], Any],
) -> None:
    page = admin_page
    driver = make_user("driver", first_name="Zoé")
    psql(
        "INSERT INTO vehicles (user_id, name, connectors, battery_kwh, max_ac_kw, max_dc_kw) "
        f"VALUES ('{driver['id']}', 'Zoé la Zoe', '{{type_2}}', 52, 22, 50)"
    )

    # The driver is signed in elsewhere (their own client, with cookies).
    with api_as(live_server, driver) as driver_api:
        assert driver_api.get("/api/me").status_code == 200

        page.get_by_role("link", name="Utilisateurs").click()
        # Accent-insensitive search on the name finds them by their e-mail too.
        page.get_by_label("Rechercher").fill(driver["email"])
        rows = page.locator("#users-table tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("Zoé Essai")
        expect(page.locator("#users-count")).to_have_text("1 compte")  # not "1 comptes"
        shot(page, "search")
        rows.first.get_by_role("link").click()
        page.get_by_role("heading", name=driver["email"], level=1).wait_for()
        expect(page.locator("#user-vehicles")).to_contain_text("Zoé la Zoe")
        # The plug as the stations name it, not the API's code.
        vehicle = page.locator("#user-vehicles tbody tr").first
        expect(vehicle.locator("td").nth(1)).to_have_text("Type 2")
        # No "null" under the heading (the note of an admin's own page is null on this one).
        assert page.evaluate(STRAY_TEXT) == []
        shot(page, "user")

        # Disable: the dialog asks; cancelling changes nothing.
        page.locator("#disable-user").click()
        expect(page.locator("dialog#confirm")).to_contain_text(driver["email"])
        page.locator("#confirm-cancel").click()
        assert driver_api.get("/api/me").status_code == 200

        page.locator("#disable-user").click()
        shot(page, "confirm-disable")
        page.locator("#confirm-ok").click()
        expect(page.locator("#user-state")).to_have_text("Désactivé")
        expect(page.locator("#user-done")).to_contain_text("Compte désactivé")
        shot(page, "disabled")
        # Their session has ended: the access cookie no longer works, nor does the refresh.
        assert driver_api.get("/api/me").status_code == 401
        assert driver_api.post("/api/auth/refresh").status_code == 401
    r = httpx.post(
        f"{live_server}/api/auth/login",
        json={"email": driver["email"], "password": driver["password"]},
    )
    assert r.status_code in (401, 403), r.text

    # Enable again: they can log in.
    page.locator("#enable-user").click()
    expect(page.locator("#user-state")).to_have_text("Actif")
    with api_as(live_server, driver) as again:
        assert again.get("/api/me").status_code == 200

    # Delete: asked first, then gone from the list and their personal data erased.
    page.locator("#delete-user").click()
    expect(page.locator("dialog#confirm")).to_contain_text("irréversible")
    shot(page, "confirm-delete")
    page.locator("#confirm-ok").click()
    page.get_by_role("heading", name="Utilisateurs", level=1).wait_for()
    page.get_by_label("Rechercher").fill(driver["email"])
    expect(page.locator("#users-table tbody")).to_contain_text("Aucun compte ne correspond")
    assert psql(f"SELECT email LIKE 'deleted-%' FROM users WHERE id = '{driver['id']}'") == "t"
    shot(page, "deleted")


def test_admin_cannot_lock_themself_out(
    admin_page: Any,  # noqa: F811
    admin_user: dict[str, Any],  # noqa: F811
    shot: Callable[[Any, str], Any],
) -> None:
    page = admin_page
    page.goto(f"/admin/#/users/{admin_user['id']}")
    page.get_by_role("heading", name=admin_user["email"], level=1).wait_for()
    expect(page.locator("#disable-user")).to_be_disabled()
    expect(page.locator("#delete-user")).to_be_disabled()
    expect(page.locator("#user-role")).to_be_disabled()
    shot(page, "self")


def test_disabled_admin_session_ends_in_the_page(
    desktop: Any, browser: Any, live_server: str, shot: Callable[[Any, str], Any]
) -> None:
    """An admin disabled by another admin is sent back to the login form by the page."""
    from tests.e2e.test_admin_app import log_in, open_admin

    victim = make_user("admin", "Victor")
    other = make_user("admin", "Olga")
    page, _ = open_admin(desktop)
    log_in(page, victim)
    page.get_by_role("heading", name="Tableau de bord", level=1).wait_for()
    with api_as(live_server, other) as api:
        assert (
            api.patch(f"/api/admin/users/{victim['id']}", json={"disabled": True}).status_code
            == 200
        )
    page.get_by_role("link", name="Utilisateurs").click()
    expect(page.get_by_role("heading", name="Connexion à l'administration")).to_be_visible()
    expect(page.locator(".form-error")).to_contain_text("session a pris fin")
    assert page.locator("#nav").is_hidden()
    shot(page, "session-ended")


def test_support_queue_answer_and_close(
    admin_page: Any,  # noqa: F811
    live_server: str,
    shot: Callable[[Any, str], Any],
) -> None:
    """A driver's problem report reaches the queue; the admin answers and closes it (asked
    first) and the driver sees it resolved."""
    page = admin_page
    driver = make_user("driver", first_name="Rémi")
    station_id = psql("SELECT id FROM stations WHERE withdrawn_at IS NULL ORDER BY id LIMIT 1")
    text = f"Borne éteinte {driver['id'][:8]}"
    with api_as(live_server, driver) as api:
        r = api.post(
            "/api/reports",
            json={"station_id": station_id, "category": "not_working", "message": text},
        )
        assert r.status_code == 201, r.text
        report_id = r.json()["id"]

    page.get_by_role("link", name="Service client").click()
    page.get_by_role("tab", name="Signalements").click()
    ticket = page.locator(f"article.ticket[data-ticket='{report_id}']")
    expect(ticket).to_contain_text(text)
    expect(ticket).to_contain_text("Borne en panne")
    shot(page, "queue")
    ticket.get_by_label("Votre réponse").fill("Technicien prévenu, borne réparée.")
    ticket.get_by_role("button", name="Répondre et clore").click()
    expect(page.locator("dialog#confirm")).to_be_visible()
    page.locator("#confirm-ok").click()
    expect(page.locator(f"article.ticket[data-ticket='{report_id}']")).to_have_count(0)
    shot(page, "closed")
    with api_as(live_server, driver) as api:
        mine = api.get("/api/me/reports").json()
    items = mine["items"] if isinstance(mine, dict) else mine
    report = next(x for x in items if x["id"] == report_id)
    assert report["status"] == "closed"
    assert report["resolution"] == "Technicien prévenu, borne réparée."


def test_delete_user_asks_in_a_trapped_dialog(
    admin_page: Any,  # noqa: F811
    admin_user: dict[str, Any],  # noqa: F811
    live_server: str,
    shot: Callable[[Any, str], Any],
) -> None:
    from tests.e2e.test_admin_app import check_confirm_dialog

    page = admin_page
    driver = make_user("driver", first_name="Éloïse")
    page.goto(f"/admin/#/users/{driver['id']}")
    page.get_by_role("heading", name=driver["email"], level=1).wait_for()
    delete = page.locator("#delete-user")

    check_confirm_dialog(page, delete, driver["email"])
    # Escape cancelled: the account is untouched and can still log in.
    assert psql(f"SELECT deleted_at IS NULL FROM users WHERE id = '{driver['id']}'") == "t"
    with api_as(live_server, driver) as api:
        assert api.get("/api/me").status_code == 200

    delete.click()
    expect(page.locator("dialog#confirm")).to_contain_text("irréversible")
    shot(page, "confirm-delete")
    page.keyboard.press("Tab")  # from Cancel to the confirming button, by keyboard
    expect(page.locator("#confirm-ok")).to_be_focused()
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Utilisateurs", level=1).wait_for()
    assert psql(f"SELECT deleted_at IS NOT NULL FROM users WHERE id = '{driver['id']}'") == "t"
    with api_as(live_server, admin_user) as api:
        assert api.get(f"/api/admin/users/{driver['id']}").json()["user"]["deleted"] is True
    r = httpx.post(
        f"{live_server}/api/auth/login",
        json={"email": driver["email"], "password": driver["password"]},
    )
    assert r.status_code == 401, r.text


def test_role_change_and_reservations_shown(
    admin_page: Any,  # noqa: F811
    live_server: str,
    shot: Callable[[Any, str], Any],
) -> None:
    """A driver's page lists their reservations; promoting them (asked first) opens the admin
    API to them, demoting closes it again."""
    from tests.e2e.test_admin_tablet import booked_driver

    page = admin_page
    driver, station_id = booked_driver(live_server)
    station_name = psql(f"SELECT nom_station FROM stations WHERE id = '{station_id}'")
    page.goto(f"/admin/#/users/{driver['id']}")
    page.get_by_role("heading", name=driver["email"], level=1).wait_for()
    reservations = page.locator("#user-reservations tbody tr")
    expect(reservations).to_have_count(1)
    expect(reservations.first).to_contain_text(station_name)
    expect(reservations.first.locator(".pill")).to_have_text("Annulée")
    shot(page, "reservations")

    role = page.locator("#user-role")
    change = page.get_by_role("button", name="Changer le rôle")
    role.select_option("admin")
    change.click()
    expect(page.locator("dialog#confirm")).to_contain_text(driver["email"])
    page.locator("#confirm-cancel").click()
    assert psql(f"SELECT role FROM users WHERE id = '{driver['id']}'") == "driver"

    change.click()
    page.locator("#confirm-ok").click()
    expect(page.locator("#user-role-value")).to_have_text("Administrateur")
    expect(page.locator("#user-done")).to_contain_text("Rôle changé")
    assert psql(f"SELECT role FROM users WHERE id = '{driver['id']}'") == "admin"
    with api_as(live_server, driver) as api:
        assert api.get("/api/admin/users", params={"per_page": 1}).status_code == 200
    shot(page, "promoted")

    page.locator("#user-role").select_option("driver")
    page.get_by_role("button", name="Changer le rôle").click()
    page.locator("#confirm-ok").click()
    expect(page.locator("#user-role-value")).to_have_text("Conducteur")
    with api_as(live_server, driver) as api:
        assert api.get("/api/admin/users", params={"per_page": 1}).status_code == 403


def test_contact_message_answered_then_closed(
    admin_page: Any,  # noqa: F811
    live_server: str,
    shot: Callable[[Any, str], Any],
) -> None:
    """A driver's "contact us" message (about a station) is in the messages tab, reached with
    the arrow keys as tabs are; the admin answers, then closes it; the driver sees both."""
    page = admin_page
    driver = make_user("driver", first_name="Maël")
    station_id = psql("SELECT id FROM stations WHERE withdrawn_at IS NULL ORDER BY id LIMIT 1")
    subject = f"Facture {driver['id'][:8]}"
    with api_as(live_server, driver) as api:
        r = api.post(
            "/api/messages",
            json={
                "subject": subject,
                "message": "Ma charge a été facturée deux fois.",
                "station_id": station_id,
            },
        )
        assert r.status_code == 201, r.text
        message_id = r.json()["id"]

    page.get_by_role("link", name="Service client").click()
    reports_tab = page.get_by_role("tab", name="Signalements")
    messages_tab = page.get_by_role("tab", name="Messages")
    reports_tab.click()
    expect(reports_tab).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowRight")
    expect(messages_tab).to_be_focused()
    expect(messages_tab).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tabpanel")).to_have_attribute("aria-labelledby", "tab-message")
    ticket = page.locator(f"article.ticket[data-ticket='{message_id}']")
    expect(ticket).to_contain_text(subject)
    expect(ticket).to_contain_text("facturée deux fois")
    expect(ticket.get_by_role("link")).to_have_attribute("href", f"#/stations/{station_id}")
    shot(page, "message")

    ticket.get_by_label("Votre réponse").fill("Le double débit est remboursé.")
    ticket.get_by_role("button", name="Répondre", exact=True).click()
    expect(ticket.locator("ol.answers")).to_contain_text("Le double débit est remboursé.")
    expect(ticket.locator(".pill")).to_have_text("Répondu")
    ticket.get_by_role("button", name="Clore sans répondre").click()
    expect(page.locator("dialog#confirm")).to_be_visible()
    page.locator("#confirm-ok").click()
    expect(page.locator(f"article.ticket[data-ticket='{message_id}']")).to_have_count(0)
    shot(page, "closed")
    with api_as(live_server, driver) as api:
        mine = api.get("/api/me/messages").json()
    items = mine["items"] if isinstance(mine, dict) else mine
    message = next(x for x in items if x["id"] == message_id)
    assert message["status"] == "closed"
    assert [a["body"] for a in message["answers"]] == ["Le double débit est remboursé."]


def test_admin_opens_an_account(
    admin_page: Any,  # noqa: F811
    shot: Callable[[Any, str], Any],
) -> None:
    """ "Créer un compte" opens a small form (focus on the e-mail); the account is created with
    the chosen role, the admin is told its owner gets an e-mail to choose a password (one is
    queued in email_outbox), and the account's page opens. The same address again is refused
    next to the e-mail field."""
    from tests.e2e.test_admin_a11y import axe

    page = admin_page
    email = f"nouveau-{uuid.uuid4().hex[:10]}@example.org"
    page.get_by_role("link", name="Utilisateurs").click()
    page.get_by_role("heading", name="Utilisateurs", level=1).wait_for()
    toggle = page.get_by_role("button", name="Créer un compte")
    form = page.locator("#create-user-form")
    expect(form).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")

    # Escape closes the form and gives the focus back to the button.
    toggle.click()
    expect(form).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#new-user-email")).to_be_focused()
    page.keyboard.press("Escape")
    expect(form).to_be_hidden()
    expect(toggle).to_be_focused()

    page.keyboard.press("Enter")  # opened from the keyboard
    expect(page.locator("#new-user-email")).to_be_focused()
    # The e-mail is required: nothing is sent without it, the field says so.
    page.get_by_role("button", name="Créer le compte").click()
    expect(page.locator("#new-user-email-error")).to_have_text("Champ obligatoire.")
    expect(page.locator("#new-user-email")).to_have_attribute("aria-invalid", "true")

    form.get_by_label("E-mail").fill(email)
    form.get_by_label("Prénom").fill("Noémie")
    form.get_by_label("Nom de famille").fill("Créée")
    role = form.get_by_label("Rôle")
    expect(role).to_have_value("driver")  # drivers are the usual case
    role.select_option("admin")
    shot(page, "form")
    page.get_by_role("button", name="Créer le compte").click()

    # The new account's page, saying what happens next.
    page.get_by_role("heading", name=email, level=1).wait_for()
    expect(page.locator("#user-done")).to_have_text(
        f"Compte créé : {email} recevra un e-mail pour choisir son mot de passe."
    )
    expect(page.locator("#user-role-value")).to_have_text("Administrateur")
    expect(page.locator("#user-state")).to_have_text("Actif")
    expect(page.locator(".props")).to_contain_text("Noémie Créée")
    assert page.evaluate(STRAY_TEXT) == []
    shot(page, "created")
    assert psql(f"SELECT role FROM users WHERE email = '{email}'") == "admin"
    assert psql(f"SELECT count(*) FROM email_outbox WHERE to_address = '{email}'") == "1"

    # Back on the list, the newest account comes first; the same address is refused.
    page.get_by_role("link", name="← Utilisateurs").click()
    page.get_by_role("heading", name="Utilisateurs", level=1).wait_for()
    page.get_by_label("Rechercher").fill(email)
    rows = page.locator("#users-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Administrateur")
    toggle.click()
    form.get_by_label("E-mail").fill(email)
    page.get_by_role("button", name="Créer le compte").click()
    email_field = form.locator(".field", has=page.locator("#new-user-email"))
    expect(email_field.locator(".field-error")).to_have_text("un compte existe déjà")
    email_input = page.locator("#new-user-email")
    expect(email_input).to_have_attribute("aria-invalid", "true")
    expect(email_input).to_have_attribute("aria-describedby", "new-user-email-error")
    expect(email_input).to_be_focused()
    expect(form.locator(".form-error")).to_contain_text("Un compte existe déjà")
    assert page.url.endswith("#/users")
    assert psql(f"SELECT count(*) FROM users WHERE email = '{email}'") == "1"
    assert psql(f"SELECT count(*) FROM email_outbox WHERE to_address = '{email}'") == "1"
    assert axe(page, "create account form") == []
    shot(page, "taken")

    # In English too.
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("button", name="Create an account")).to_be_visible()
