"""Driver page, customer service: "Nous contacter" (from a station's sheet and from the
account) to the admins' queue and back with their answer; a problem reported on a station
shows on the map, in the list and in the sheet, with its date, for everyone, until an admin
resolves it; then "Mes signalements" says it is resolved and the station no longer shows it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.e2e.test_admin_app import api_as, make_user
from tests.e2e.test_driver_booking import api_driver, bookable_station, open_station_from_list
from tests.e2e.test_driver_map import driver_page, until, wait_map

pytestmark = pytest.mark.e2e

MONTHS = "janvier février mars avril mai juin juillet août septembre octobre novembre décembre"
SHORT = "janv. févr. mars avr. mai juin juil. août sept. oct. nov. déc."


def french_day(iso: str, short: bool = False) -> str:
    """The page's date, as Chromium writes it in fr-FR (the browser runs in UTC here)."""
    d = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if short:
        return f"{d.day} {SHORT.split()[d.month - 1]}"
    return f"{d.day} {MONTHS.split()[d.month - 1]} {d.year}"


# The report badges the map draws for a station: their labels (an empty list when none).
BADGES = """(id) => window.wattsup.map.queryRenderedFeatures({layers: ['reports']})
    .filter(f => f.properties.id === id).map(f => f.properties.label)"""


def settled(page: Any) -> None:
    """Dialogs rise in: a screenshot waits for the final frame."""
    until(page, "document.getAnimations().every(a => a.playState !== 'running')")


def test_contact_message_from_a_station_reaches_the_queue_and_the_answer_comes_back(
    phone: Any, live_server: str, shot: Any
) -> None:
    email = api_driver(phone, "Hugo")
    station = bookable_station(live_server)
    page = driver_page(phone)
    open_station_from_list(page, station)
    page.get_by_role("button", name="Nous écrire sur cette station").click()
    dialog = page.locator("#contact-dialog")
    about = dialog.get_by_label(f"À propos de la station « {station['name']} »")
    assert about.is_checked()  # prefilled from the sheet
    dialog.get_by_text("Aucun message pour l’instant.").wait_for()
    # Nothing typed: the API's refusal, inline, on the field it names.
    dialog.get_by_role("button", name="Envoyer le message").click()
    alert = dialog.locator("#contact-form .form-error")
    alert.wait_for()
    assert "Objet" in alert.text_content()
    assert dialog.get_by_label("Objet").get_attribute("aria-invalid") == "true"
    settled(page)
    shot(page, "contact-refused")
    assert [p for p in page.problems if "status of 400" not in p] == []  # that refusal
    page.problems.clear()
    subject = f"Câble trop court {email[:10]}"
    dialog.get_by_label("Objet").fill(subject)
    dialog.get_by_label("Votre message").fill("Le câble n’atteint pas la prise de ma voiture.")
    dialog.get_by_role("button", name="Envoyer le message").click()
    done = dialog.locator("#contact-done")
    done.wait_for()
    assert "votre message a été envoyé" in done.text_content()
    assert page.evaluate("() => document.activeElement.id") == "contact-done"
    sent = dialog.locator("#my-messages-list li", has_text=subject)
    sent.wait_for()
    assert "Envoyé, en attente de l’équipe" in sent.text_content()
    assert station["name"] in sent.text_content()
    settled(page)
    shot(page, "contact-sent")
    page.keyboard.press("Escape")

    # In the admins' queue, with the driver and the station.
    admin = make_user("admin", "Chloé")
    with api_as(live_server, admin) as api:
        queue = api.get("/api/admin/messages", params={"status": "open"}).json()["items"]
        mine = [m for m in queue if m["subject"] == subject]
        assert len(mine) == 1, queue
        assert mine[0]["station_id"] == station["id"]
        assert mine[0]["reporter"]["email"] == email
        assert mine[0]["message"] == "Le câble n’atteint pas la prise de ma voiture."
        r = api.post(
            f"/api/admin/messages/{mine[0]['id']}/answers",
            json={"body": "Un câble plus long est commandé.", "close": True},
        )
        assert r.status_code == 201, r.text

    # From the account, without a station: the answer and the closed status.
    page.get_by_role("button", name="Hugo", exact=True).click()
    page.locator("#account-dialog").get_by_role("button", name="Nous contacter").click()
    assert dialog.locator("#contact-form input[name=station_id]").count() == 0
    answered = dialog.locator("#my-messages-list li", has_text=subject)
    answered.wait_for()
    text = answered.text_content()
    assert "Un câble plus long est commandé." in text and "Réponse de Chloé" in text
    assert "Clos le" in text
    settled(page)
    shot(page, "contact-answered")
    assert not page.problems


def test_a_visitor_is_asked_to_log_in_to_write(phone: Any, live_server: str) -> None:
    """POST /api/messages is for signed-in drivers: the page asks a visitor to log in."""
    station = bookable_station(live_server)
    page = driver_page(phone)
    open_station_from_list(page, station)
    page.get_by_role("button", name="Nous écrire sur cette station").click()
    dialog = page.locator("#contact-dialog")
    dialog.get_by_text("Connectez-vous pour nous écrire").wait_for()
    dialog.get_by_role("button", name="Se connecter").click()
    page.locator("#login-form").wait_for()
    assert not page.problems


def test_reported_problem_shows_on_the_map_until_resolved(
    phone: Any, browser: Any, live_server: str, shot: Any
) -> None:
    api_driver(phone, "Iris")
    station = bookable_station(live_server)
    sid = station["id"]
    page = driver_page(phone)
    with page.expect_response(f"**/api/stations/{sid}/reports"):
        open_station_from_list(page, station)
    assert page.locator("#sheet-reports").is_hidden()

    page.get_by_role("button", name="Signaler un problème").click()
    page.get_by_label("Ne fonctionne pas").check()
    page.get_by_label("Précisions (facultatif)").fill("Écran noir.")
    page.get_by_role("button", name="Envoyer le signalement").click()
    until(page, "document.querySelector('#live').textContent.includes('Merci')")
    mine = phone.request.get("/api/me/reports").json()
    assert [(r["station_id"], r["category"], r["status"]) for r in mine] == [
        (sid, "not_working", "open")
    ]
    day = french_day(mine[0]["created_at"])

    # The sheet and the map say it, with the date, as soon as it is sent.
    item = page.locator(f"#sheet-reports li[data-report='{mine[0]['id']}']")
    item.wait_for()
    assert item.text_content() == f"Ne fonctionne pas · signalé le {day}"
    assert "Problèmes signalés en cours (1)" in page.locator("#sheet-reports h3").text_content()
    until(page, f"({BADGES})('{sid}').length === 1")
    assert page.evaluate(BADGES, sid) == [french_day(mine[0]["created_at"], short=True)]
    shot(page, "reported")
    # In English too.
    page.get_by_role("button", name="English").click()
    created = datetime.fromisoformat(mine[0]["created_at"].replace("Z", "+00:00"))
    english_day = f"{created.day} {created:%B} {created.year}"
    assert item.text_content() == f"Not working · reported on {english_day}"
    assert "Open problem reports (1)" in page.locator("#sheet-reports h3").text_content()
    page.get_by_role("button", name="Français").click()
    item.get_by_text("Ne fonctionne pas").wait_for()

    # Anyone sees it: a visitor's map, list and sheet.
    visitor = browser.new_context(
        base_url=live_server, locale="fr-FR", viewport={"width": 360, "height": 740}
    )
    visitor.set_default_timeout(10_000)
    try:
        other = driver_page(visitor)
        other.goto(f"/#map=16/{station['lat']}/{station['lon']}")
        wait_map(other)
        until(other, f"({BADGES})('{sid}').length === 1")
        shot(other, "visitor-map")
        other.get_by_role("button", name="Liste").click()
        row = other.locator(f"#station-list button[data-station='{sid}']")
        row.wait_for()
        assert f"Problème signalé depuis le {day}" in row.text_content()
        settled(other)
        shot(other, "visitor-list")
        row.click()
        other.locator(f"#sheet-reports li[data-report='{mine[0]['id']}']").wait_for()
        assert not other.problems
        other.close()
    finally:
        visitor.close()

    # "Mes signalements": waiting for the team.
    page.get_by_role("button", name="Iris", exact=True).click()
    page.locator("#account-dialog").get_by_role("button", name="Mes signalements").click()
    card = page.locator(f"#my-reports-list li[data-report='{mine[0]['id']}']")
    card.wait_for()
    assert "Envoyé, en attente de l’équipe" in card.text_content()
    assert f"Ne fonctionne pas · signalé le {day}" in card.text_content()
    assert "Écran noir." in card.text_content()
    page.keyboard.press("Escape")

    # An admin answers and closes it.
    admin = make_user("admin", "Malik")
    with api_as(live_server, admin) as api:
        r = api.post(
            f"/api/admin/reports/{mine[0]['id']}/answers",
            json={"body": "Borne redémarrée, elle fonctionne.", "close": True},
        )
        assert r.status_code == 201, r.text
        closed = r.json()["closed_at"]

    # On their next visit the reporter is told, and reads it resolved, with the answer.
    page.reload()
    until(page, "document.querySelector('#live').textContent.includes('signalement a été résolu')")
    wait_map(page)
    page.get_by_role("button", name="Iris", exact=True).click()
    mine_button = page.locator("#myreports-open")
    assert mine_button.text_content() == "Mes signalements 1 résolu"
    mine_button.click()
    card.wait_for()
    text = card.text_content()
    assert f"Résolu le {french_day(closed)}" in text
    assert "Borne redémarrée, elle fonctionne." in text and "Réponse de Malik" in text
    settled(page)
    shot(page, "resolved")
    page.keyboard.press("Escape")
    # The map no longer shows it (asked again past the answer's 30 s max-age).
    until(page, f"({BADGES})('{sid}').length === 0")
    # Told once: the count is gone.
    page.get_by_role("button", name="Iris", exact=True).click()
    assert mine_button.text_content() == "Mes signalements"
    page.keyboard.press("Escape")
    # Nor does the station's sheet, opened from the report's card.
    page.get_by_role("button", name="Iris", exact=True).click()
    mine_button.click()
    with page.expect_response(f"**/api/stations/{sid}/reports") as answer:
        card.get_by_role("button", name=station["name"]).click()
    assert answer.value.json()["open"] == []
    assert page.locator("#sheet-title").text_content() == station["name"]
    assert page.locator("#sheet-reports").is_hidden()
    assert not page.problems
