"""Driver page, signed-in side: sign up, vehicles, booking with its countdown, a live charge
to its receipt, history; a second driver told the point is taken; cancel and stop."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import make_test_env
from tests.e2e.test_driver_map import driver_page, until, wait_map

pytestmark = pytest.mark.e2e

PASSWORD = "recharge-ma-zoe-2024"
_used: set[str] = set()


def bookable_station(base: str) -> dict[str, Any]:
    """A station (not used by another test here) with a free, bookable Type 2 point."""
    rows = httpx.get(f"{base}/api/stations?bbox=-5.5,41,10,51.5&limit=500").json()
    for row in sorted(rows, key=lambda r: r["name"]):
        if row["id"] in _used or row["available"] < 1:
            continue
        s = httpx.get(f"{base}/api/stations/{row['id']}").json()
        ok = [
            p
            for p in s["points"]
            if p["status"] == "available"
            and p["reservable"] is not False
            and "type_2" in p["connectors"]
        ]
        if ok:
            _used.add(s["id"])
            return {**s, "bookable": ok}
    raise AssertionError("no bookable station left in the sample data")


def open_station_from_list(page: Any, station: dict[str, Any]) -> None:
    page.goto(f"/#map=17/{station['lat']}/{station['lon']}")
    page.get_by_role("button", name="Liste").click()
    page.locator(f"#station-list button[data-station='{station['id']}']").click()
    page.locator("#sheet-title").wait_for()


def api_driver(ctx: Any, first_name: str) -> str:
    """Sign a driver up and add a Type 2 car through the API, in this browser context; the
    driver's e-mail address."""
    email = f"{first_name.lower()}-{uuid.uuid4().hex[:8]}@example.fr"
    r = ctx.request.post(
        "/api/auth/register",
        data={"email": email, "password": PASSWORD, "first_name": first_name, "last_name": "Test"},
    )
    assert r.status == 201, r.text()
    csrf = next(c["value"] for c in ctx.cookies() if c["name"] == "wattsup_csrf")
    r = ctx.request.post(
        "/api/vehicles",
        data={"name": "Mégane", "connectors": ["type_2"], "battery_kwh": 20},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status in (200, 201), r.text()
    return email


# The `available` count the map's tiles give a station (null when not drawn).
STATION_AVAILABLE = """(id) => { const m = window.wattsup.map;
    const f = m.queryRenderedFeatures({layers: ['stations']}).find(f => f.properties.id === id);
    return f ? f.properties.available : null; }"""


def countdown_seconds(page: Any) -> int:
    text = page.locator("#countdown").text_content()
    m = re.fullmatch(r"(\d\d):(\d\d)", text)
    assert m, text
    return int(m[1]) * 60 + int(m[2])


def test_sign_up_vehicle_book_charge_receipt_history_and_taken_point(
    phone: Any, browser: Any, live_server: str, shot: Any
) -> None:
    station = bookable_station(live_server)
    page = driver_page(phone)
    page.goto("/")

    # Sign up, with the API's refusal shown inline first.
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_role("button", name="Pas de compte ? En créer un").click()
    form = page.locator("#register-form")
    form.get_by_label("Prénom").fill("Alice")
    form.get_by_label("Nom", exact=True).fill("Martin")
    form.get_by_label("Adresse e-mail").fill(f"alice-{uuid.uuid4().hex[:8]}@example.fr")
    form.get_by_label("Mot de passe").fill("court")
    form.get_by_role("button", name="Créer un compte").click()
    alert = form.get_by_role("alert")
    alert.wait_for()
    assert "10 caractères" in alert.text_content()
    shot(page, "signup-refused")
    form.get_by_label("Mot de passe").fill(PASSWORD)
    form.get_by_role("button", name="Créer un compte").click()
    page.get_by_text("Bonjour Alice Martin").wait_for()
    shot(page, "signed-up")

    # Add a vehicle (a wrong plate first: the API's message inline).
    page.get_by_role("button", name="Ajouter un véhicule").click()
    vform = page.locator("#vehicle-form")
    vform.get_by_label("Nom du véhicule").fill("Zoé")
    vform.get_by_label("Immatriculation (facultatif)").fill("ZZ-9")
    vform.get_by_label("Batterie (kWh)").fill("20")
    vform.get_by_role("button", name="Enregistrer").click()
    vform.get_by_role("alert").wait_for()
    assert "Immatriculation invalide" in vform.get_by_role("alert").text_content()
    vform.get_by_label("Immatriculation (facultatif)").fill("ab123cd")
    vform.get_by_role("button", name="Enregistrer").click()
    cars = page.locator("#vehicle-list li")
    cars.first.wait_for()
    assert cars.count() == 1 and "AB-123-CD" in cars.first.text_content()
    assert "Type 2" in cars.first.text_content()
    shot(page, "vehicle-added")
    page.keyboard.press("Escape")

    # A second driver opens the same station before Alice books.
    other = browser.new_context(
        base_url=live_server, locale="fr-FR", viewport={"width": 360, "height": 740}
    )
    other.set_default_timeout(10_000)
    try:
        api_driver(other, "Bruno")
        bruno = driver_page(other)
        bruno.goto(f"/?station={station['id']}#map=16/{station['lat']}/{station['lon']}")
        bruno.locator("#book-points input[type=radio]").first.wait_for()

        # Alice books the first free compatible point.
        open_station_from_list(page, station)
        sheet = page.locator("#sheet")
        first_point = sheet.locator("#book-points input[type=radio]").first
        first_point.wait_for()
        point_id = first_point.get_attribute("value")
        # Effective power for Alice's car (11 kW AC on board) on the station's groups.
        group = sheet.locator("ul.groups li").first.text_content()
        assert re.search(r"→ [\d,]+ kW pour Zoé$", group), group
        effective = float(re.search(r"→ ([\d,]+) kW", group)[1].replace(",", "."))
        assert effective == min(station["groups"][0]["power_kw"], 11)
        assert point_id == station["bookable"][0]["id"]
        shot(page, "station-sheet-signed-in")
        map_available = page.evaluate(STATION_AVAILABLE, station["id"])
        sheet.get_by_role("button", name="Réserver", exact=True).click()
        confirm = page.locator("#confirm-dialog")
        confirm.get_by_role("button", name="Confirmer la réservation").wait_for()
        assert "bloqué pour vous" in confirm.text_content()
        shot(page, "terms-confirm")
        confirm.get_by_role("button", name="Confirmer la réservation").click()
        panel = page.locator("#booking")
        panel.locator("#countdown").wait_for()
        assert panel.locator("#booking-status").text_content() == "Réservé"
        left = countdown_seconds(page)
        assert 28 * 60 < left <= 30 * 60
        page.wait_for_timeout(2100)
        assert countdown_seconds(page) < left
        shot(page, "countdown")
        # The sheet now shows the point as reserved, and the map's tile one point fewer free.
        page.locator(f"#sheet li[data-point='{point_id}'] .status.reserved").wait_for()
        until(
            page,
            f"window.wattsup.map.loaded() && ({STATION_AVAILABLE})('{station['id']}')"
            f" === {map_available - 1}",
        )

        # Bruno tries the same point: the server's "already taken" message, inline.
        assert (
            bruno.locator("#book-points input[type=radio]").first.get_attribute("value") == point_id
        )
        bruno.get_by_role("button", name="Réserver", exact=True).click()
        bruno.get_by_role("button", name="Confirmer la réservation").click()
        err = bruno.locator("#book-form .form-error")
        err.wait_for()
        assert (
            err.text_content()
            == "Ce point vient d'être réservé ou est occupé : choisissez-en un autre."
        )
        shot(bruno, "second-driver-taken")
        assert not bruno.problems
    finally:
        other.close()

    # The booking survives a reload (state from the API).
    page.reload()
    page.locator("#booking #countdown").wait_for()
    assert countdown_seconds(page) <= left

    # Start charging: live panel, then the end of the (fast simulated) charge and a receipt.
    page.get_by_role("button", name="Démarrer la charge").click()
    status = page.locator("#booking-status")
    until(page, "document.querySelector('#booking-status')?.textContent === 'En charge'")
    page.locator("#m-soc").wait_for()
    soc_start = float(page.locator("#m-soc").text_content().split()[0].replace(",", "."))
    assert page.get_by_role("button", name="Arrêter la charge").is_visible()
    shot(page, "charging")
    page.locator("#booking summary").click()
    assert "StartTransaction" in page.locator("#charger-log").text_content()
    until(
        page,
        "document.querySelector('#booking-status')?.textContent === 'Terminée'",
        timeout=60_000,
    )
    receipt = page.locator("#receipt dl")
    receipt.wait_for(timeout=15_000)
    text = receipt.text_content()
    assert re.search(r"Énergie livrée\s*[\d,]+ kWh", text), text
    end_soc = float(re.search(r"→ ([\d,]+) %", text)[1].replace(",", "."))
    assert "charge terminée (objectif atteint)" in text
    assert end_soc > soc_start
    # The car full stayed plugged in two simulated minutes (0033): the session outlasts the
    # charge, and the receipt tells the two apart.
    charging = int(re.search(r"Durée de charge\s*(\d+) min", text)[1])
    session = int(re.search(r"Durée de la session\s*(\d+) min", text)[1])
    assert session - charging in (1, 2, 3), text
    assert status.text_content() == "Terminée"
    shot(page, "receipt")
    # The charger log: OCPP's message names, their details in French (statuses, the stop's
    # reason, meter values with their power and energy, French decimal commas).
    log = page.locator("#charger-log li").all_text_contents()
    details = [line.split(" — ", 1)[1] for line in log if " — " in line]
    assert "StatusNotification — Réservé" in "\n".join(log)
    assert "StatusNotification — En charge" in "\n".join(log)
    assert "StopTransaction — charge terminée (objectif atteint)" in "\n".join(log)
    assert "StatusNotification — Suspendu par le véhicule" in "\n".join(log)
    meters = [line for line in log if " MeterValues — " in line]
    assert meters and all(
        re.search(r"MeterValues — \d+(,\d)? % · \d+(,\d)? kW · \d+(,\d)? kWh$", line)
        for line in meters
    ), meters
    raw = {"Reserved", "Preparing", "Charging", "SuspendedEV", "Finishing", "EVDisconnected"}
    assert not raw & set(details), details
    # The receipt alone tells the finished charge's figures (no live metrics beside it).
    assert page.locator("#m-soc").count() == 0
    # A finished booking is no longer polled: switching the language redraws it at once.
    page.locator("#lang").click()
    expect(status).to_have_text("Finished")
    expect(receipt).to_contain_text("Energy delivered")
    expect(page.locator("#charger-log")).to_contain_text("Suspended by the vehicle")
    page.locator("#lang").click()
    expect(status).to_have_text("Terminée")

    # History: the charge with its receipt.
    page.get_by_role("button", name="Alice").click()
    page.get_by_role("button", name="Mes réservations").click()
    item = page.locator("#history-list li").first
    item.wait_for()
    assert station["name"] in item.text_content() and "Terminée" in item.text_content()
    item.locator("summary").click()
    assert "kWh" in item.locator("dl").text_content()
    shot(page, "history")
    assert not page.problems


def test_cancel_then_charge_and_stop(phone: Any, live_server: str, shot: Any) -> None:
    station = bookable_station(live_server)
    api_driver(phone, "Chloé")
    page = driver_page(phone)
    open_station_from_list(page, station)
    page.get_by_role("button", name="Réserver", exact=True).click()
    page.get_by_role("button", name="Confirmer la réservation").click()
    page.locator("#booking #countdown").wait_for()
    # Asked first, in a dialog whose buttons say what they do: "Garder la réservation" keeps it.
    page.locator("#booking").get_by_role("button", name="Annuler la réservation").click()
    ask = page.locator("#confirm-dialog")
    assert ask.locator("#confirm-title").text_content() == "Annuler la réservation ?"
    buttons = ask.locator(".modal-body button").all_text_contents()
    assert buttons == ["Oui, annuler", "Garder la réservation"], buttons
    shot(page, "cancel-question")
    ask.get_by_role("button", name="Garder la réservation").click()
    assert page.locator("#booking-status").text_content() == "Réservé"
    page.locator("#booking").get_by_role("button", name="Annuler la réservation").click()
    assert page.locator("#ask-yes").evaluate("b => b === document.activeElement")
    ask.get_by_role("button", name="Oui, annuler").click()
    until(page, "document.querySelector('#booking-status')?.textContent === 'Annulée'")
    shot(page, "cancelled")
    # The point is free again: book it once more, start, stop by hand.
    page.locator("#book-points input[type=radio]").first.wait_for()
    page.get_by_role("button", name="Réserver", exact=True).click()
    page.get_by_role("button", name="Confirmer la réservation").click()
    page.get_by_role("button", name="Démarrer la charge").click()
    page.get_by_role("button", name="Arrêter la charge").click()
    until(page, "document.querySelector('#booking-status')?.textContent === 'Terminée'")
    receipt = page.locator("#receipt dl")
    receipt.wait_for()
    assert "arrêtée depuis l’application" in receipt.text_content()
    page.locator("#booking summary").click()
    log = page.locator("#charger-log").text_content()
    assert "StopTransaction — arrêtée depuis l’application" in log and "— Remote" not in log
    shot(page, "stopped-receipt")
    page.get_by_role("button", name="Fermer le reçu").click()
    assert page.locator("#booking").is_hidden()
    page.reload()
    page.wait_for_timeout(1500)
    assert page.locator("#booking").is_hidden()  # dismissed stays dismissed
    assert not page.problems


def test_filter_profile_saved_and_applied_and_a_problem_reported(
    phone: Any, live_server: str, shot: Any
) -> None:
    api_driver(phone, "Farid")
    page = driver_page(phone)
    page.goto("/#map=12/43.6/3.88")
    page.get_by_role("button", name="Farid").wait_for()
    page.get_by_role("button", name="Filtres").click()
    # No profile yet: the section has its heading and form, and no stray "0" (the empty list).
    page.locator("#profile-name").wait_for()
    assert page.locator("#profile-list").count() == 0
    loose = "b => [...b.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent)"
    assert page.locator("#profiles").evaluate(loose) == []
    page.get_by_label("Combo CCS").check()
    page.get_by_label("Puissance minimale").select_option("50")
    # No name: the API's refusal in the profiles' section, on the name field.
    page.get_by_label("Nom du profil").fill("  ")
    page.get_by_role("button", name="Enregistrer ces filtres").click()
    refused = page.locator("#profiles [role=alert]")
    refused.wait_for()
    assert refused.text_content().startswith("Champ « Nom du profil » invalide")
    assert page.get_by_label("Nom du profil").get_attribute("aria-invalid") == "true"
    assert [p for p in page.problems if "status of 400" not in p] == []
    page.problems.clear()
    page.get_by_label("Nom du profil").fill("Autoroute")
    page.get_by_role("button", name="Enregistrer ces filtres").click()
    page.locator("#profiles li", has_text="Autoroute").wait_for()
    shot(page, "profile-saved")
    page.keyboard.press("Escape")
    assert "connectors" not in page.url  # saved, not applied
    page.get_by_role("button", name="Filtres").click()
    with page.expect_request(
        lambda r: "/tiles/stations/" in r.url and "connectors=combo_ccs" in r.url
    ):
        page.locator("#profiles li", has_text="Autoroute").get_by_role(
            "button", name="Appliquer"
        ).click()
    assert "min_power=50" in page.url and "connectors=combo_ccs" in page.url
    # "My car": only the car's connectors.
    page.get_by_role("button", name="Filtres").click()
    page.get_by_role("button", name="Ma voiture : seulement les prises compatibles").click()
    assert (
        page.get_by_label("Type 2").is_checked() and not page.get_by_label("Combo CCS").is_checked()
    )
    page.keyboard.press("Escape")

    # Report a problem on a station; the API keeps it (the driver sees it in their reports).
    station = bookable_station(live_server)
    open_station_from_list(page, station)
    page.get_by_role("button", name="Signaler un problème").click()
    page.get_by_label("Paiement refusé").check()
    page.get_by_label("Précisions (facultatif)").fill("Le terminal refuse la carte.")
    shot(page, "report-form")
    page.get_by_role("button", name="Envoyer le signalement").click()
    until(page, "document.querySelector('#live').textContent.includes('Merci')")
    reports = phone.request.get("/api/me/reports").json()
    assert [(r["category"], r["message"]) for r in reports] == [
        ("payment_refused", "Le terminal refuse la carte.")
    ]
    # The same report twice: the API's refusal, inline.
    page.get_by_role("button", name="Signaler un problème").click()
    page.get_by_label("Paiement refusé").check()
    page.get_by_role("button", name="Envoyer le signalement").click()
    alert = page.locator("#report-form .form-error")
    alert.wait_for()
    assert "déjà signalé" in alert.text_content()
    assert not page.problems


def psql(sql: str) -> str:
    """SQL on the test database (psql: no event loop, so it works beside Playwright)."""
    out = subprocess.run(
        ["psql", make_test_env()["DATABASE_URL"], "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def test_countdown_runs_out_and_the_point_is_released(
    phone: Any, live_server: str, shot: Any
) -> None:
    station = bookable_station(live_server)
    api_driver(phone, "Gaëlle")
    page = driver_page(phone)
    open_station_from_list(page, station)
    sid = station["id"]
    until(page, f"window.wattsup.map.loaded() && ({STATION_AVAILABLE})('{sid}') !== null")
    free_before = page.evaluate(STATION_AVAILABLE, sid)
    point_id = page.locator("#book-points input[type=radio]").first.get_attribute("value")
    page.get_by_role("button", name="Réserver", exact=True).click()
    page.get_by_role("button", name="Confirmer la réservation").click()
    page.locator("#booking #countdown").wait_for()
    page.locator(f"#sheet li[data-point='{point_id}'] .status.reserved").wait_for()
    until(page, f"({STATION_AVAILABLE})('{sid}') === {free_before - 1}")
    # Thirty minutes are long for a test: the server's expiry is moved to 4 s from now, and
    # the page follows the server (its next poll), not its own clock.
    rid = page.evaluate("() => JSON.parse(localStorage.getItem('wattsup.booking')).id")
    psql(f"UPDATE reservations SET expires_at = now() + interval '4 seconds' WHERE id = '{rid}'")
    until(
        page,
        "(() => { const c = document.querySelector('#countdown');"
        " return c && c.textContent <= '00:05'; })()",
    )
    shot(page, "countdown-ending")
    until(
        page, "document.querySelector('#booking-status')?.textContent === 'Expirée'", timeout=15_000
    )
    panel = page.locator("#booking")
    assert "La réservation a expiré : le point a été libéré." in panel.text_content()
    assert panel.locator("#countdown").count() == 0
    assert panel.get_by_role("button", name="Démarrer la charge").count() == 0
    assert panel.get_by_role("button", name="Annuler la réservation").count() == 0
    # The point is free again for everyone: in the open sheet (offered again for booking),
    # on the map's tile, in the API, and the database says why the booking ended.
    page.locator(f"#sheet li[data-point='{point_id}'] .status.available").wait_for()
    page.locator(f"#book-points input[value='{point_id}']").wait_for()
    until(page, f"({STATION_AVAILABLE})('{sid}') === {free_before}")
    points = phone.request.get(f"/api/stations/{sid}").json()["points"]
    assert next(p["status"] for p in points if p["id"] == point_id) == "available"
    assert psql(f"SELECT status, end_reason FROM reservations WHERE id = '{rid}'") == (
        "expired|noshow_timeout"
    )
    shot(page, "expired")
    # Closed by the driver, the expired booking stays closed after a reload.
    panel.get_by_role("button", name="Masquer cette réservation").click()
    assert panel.is_hidden()
    page.reload()
    page.get_by_role("button", name="Gaëlle").wait_for()
    assert page.locator("#booking").is_hidden()
    assert not page.problems


def open_profile(page: Any, first_name: str) -> None:
    page.get_by_role("button", name=first_name).click()
    page.locator("#profile summary").click()


def test_profile_names_edited_with_the_api_messages_inline(phone: Any, shot: Any) -> None:
    email = api_driver(phone, "Hugo")
    page = driver_page(phone)
    page.goto("/")
    open_profile(page, "Hugo")
    form = page.locator("#profile-form")
    # The e-mail address is shown, not editable (it is the login).
    assert form.get_by_label("Adresse e-mail").input_value() == email
    assert form.get_by_label("Adresse e-mail").get_attribute("readonly") is not None
    # Blanks only: the page trims them, the API refuses an empty name; its message is shown
    # in the form and the field it names is marked invalid and focused.
    first = form.get_by_label("Prénom")
    first.fill("   ")
    with page.expect_response("**/api/me") as refused:
        form.get_by_role("button", name="Enregistrer").click()
    problem = refused.value.json()
    assert refused.value.status == 400 and problem["errors"][0]["key"] == "first_name"
    alert = form.get_by_role("alert")
    alert.wait_for()
    # The API's message, its field key said as the form labels it.
    assert "« first_name »" in problem["detail"]
    assert alert.text_content() == problem["detail"].replace("« first_name »", "« Prénom »")
    assert first.get_attribute("aria-invalid") == "true"
    assert first.evaluate("el => el === document.activeElement")
    shot(page, "profile-refused")
    # The 400 the page just showed is the only console error.
    assert len(page.problems) == 1 and "status of 400" in page.problems[0]
    page.problems.clear()
    assert phone.request.get("/api/me").json()["first_name"] == "Hugo"  # nothing saved

    first.fill("Hugues")
    form.get_by_label("Nom", exact=True).fill("  Test-Dupont ")
    form.get_by_role("button", name="Enregistrer").click()
    saved = page.locator("#profile-form [role=status]")
    saved.wait_for()
    assert saved.text_content() == "Profil enregistré."
    assert page.locator("#profile").evaluate("d => d.open")  # still open after the save
    assert page.locator("#profile-form [role=alert]:not([hidden])").count() == 0
    assert page.locator("#profile-form [aria-invalid]").count() == 0
    assert "Bonjour Hugues Test-Dupont" in page.locator("#account-body").text_content()
    assert page.locator("#account-label").text_content() == "Hugues"
    shot(page, "profile-saved")
    me = phone.request.get("/api/me").json()
    assert (me["first_name"], me["last_name"]) == ("Hugues", "Test-Dupont")
    page.reload()
    page.get_by_role("button", name="Hugues").wait_for()
    assert not page.problems


def test_password_change_refused_inline_then_the_new_password_logs_in(
    phone: Any, shot: Any
) -> None:
    email = api_driver(phone, "Ilan")
    new_password = "un-nouveau-secret-2025"
    page = driver_page(phone)
    page.goto("/")
    open_profile(page, "Ilan")
    pw = page.locator("#password-form")
    submit = pw.get_by_role("button", name="Changer de mot de passe")
    alert = pw.get_by_role("alert")
    # Wrong current password: the API's words, in the form.
    pw.get_by_label("Mot de passe actuel").fill("pas-le-bon-mot-de-passe")
    pw.get_by_label("Nouveau mot de passe").fill(new_password)
    submit.click()
    alert.wait_for()
    assert alert.text_content() == "Ancien mot de passe incorrect."
    shot(page, "password-refused")
    # A new password the API's policy refuses (the page leaves that check to the API).
    pw.get_by_label("Mot de passe actuel").fill(PASSWORD)
    pw.get_by_label("Nouveau mot de passe").fill("court")
    submit.click()
    until(
        page,
        "document.querySelector('#password-form [role=alert]').textContent"
        " === 'Mot de passe trop court : 10 caractères au minimum.'",
    )
    assert phone.request.get("/api/me").status == 200  # still signed in, nothing changed

    pw.get_by_label("Nouveau mot de passe").fill(new_password)
    submit.click()
    # Every session ends with the change: the login form comes back with the address filled
    # in, the API's message in it, and the focus on the password.
    form = page.locator("#login-form")
    form.wait_for()
    assert form.get_by_role("status").text_content() == "Mot de passe modifié : reconnectez-vous."
    assert form.get_by_label("Adresse e-mail").input_value() == email
    assert form.get_by_label("Mot de passe").evaluate("el => el === document.activeElement")
    assert page.locator("#account-label").text_content() == "Se connecter"
    shot(page, "log-in-again")
    assert phone.request.get("/api/me").status == 401
    # The old password no longer works...
    form.get_by_label("Mot de passe").fill(PASSWORD)
    form.get_by_role("button", name="Se connecter").click()
    until(
        page,
        "document.querySelector('#login-form [role=alert]')?.textContent"
        " === 'Adresse e-mail ou mot de passe incorrect.'",
    )
    # ...the new one does.
    form.get_by_label("Mot de passe").fill(new_password)
    form.get_by_role("button", name="Se connecter").click()
    page.get_by_text("Bonjour Ilan Test").wait_for()
    assert page.locator("#account-label").text_content() == "Ilan"
    assert phone.request.get("/api/me").json()["email"] == email
    # Log out: signed out here and for the API, and still after a reload.
    page.get_by_role("button", name="Se déconnecter").click()
    page.locator("#login-form").wait_for()
    assert page.locator("#account-label").text_content() == "Se connecter"
    assert page.locator("#login-form").get_by_label("Adresse e-mail").input_value() == ""
    assert phone.request.get("/api/me").status == 401
    page.reload()
    until(page, "document.querySelector('#account-label').textContent === 'Se connecter'")
    assert not page.problems


def test_vehicle_edit_and_delete(phone: Any) -> None:
    api_driver(phone, "Jade")
    page = driver_page(phone)
    page.goto("/")
    page.get_by_role("button", name="Jade").click()
    car = page.locator("#vehicle-list li").first
    car.get_by_role("button", name="Modifier").click()
    form = page.locator("#vehicle-form")
    assert form.get_by_label("Type 2").is_checked()
    form.get_by_label("Nom du véhicule").fill("Mégane E-Tech")
    form.get_by_label("Combo CCS").check()
    form.get_by_label("Type 2").uncheck()
    form.get_by_label("Combo CCS").uncheck()
    form.get_by_role("button", name="Enregistrer").click()
    assert form.get_by_role("alert").text_content() == "Choisissez au moins une prise."
    form.get_by_label("Combo CCS").check()
    assert form.locator(".form-error").is_hidden()  # fixed: the refusal goes at once
    form.get_by_label("Puissance DC max (kW)").fill("130")
    form.get_by_role("button", name="Enregistrer").click()
    page.locator("#vehicle-list li", has_text="Mégane E-Tech").wait_for()
    assert "Combo CCS" in page.locator("#vehicle-list li").first.text_content()
    saved = phone.request.get("/api/vehicles").json()
    assert [(v["name"], v["connectors"], v["max_dc_kw"]) for v in saved] == [
        ("Mégane E-Tech", ["combo_ccs"], 130.0)
    ]
    page.locator("#vehicle-list li").first.get_by_role("button", name="Supprimer").click()
    page.get_by_text("Aucun véhicule : ajoutez-en un pour réserver.").wait_for()
    assert phone.request.get("/api/vehicles").json() == []
    assert not page.problems


def test_active_booking_shown_offline(phone: Any, live_server: str, shot: Any) -> None:
    station = bookable_station(live_server)
    api_driver(phone, "Inès")
    page = driver_page(phone)
    open_station_from_list(page, station)
    page.get_by_role("button", name="Réserver", exact=True).click()
    page.get_by_role("button", name="Confirmer la réservation").click()
    page.locator("#booking #countdown").wait_for()
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    page.reload()  # controlled by the service worker from here on
    page.locator("#booking #countdown").wait_for()
    phone.set_offline(True)
    try:
        page.reload()
        page.locator("#booking #countdown").wait_for()
        assert page.locator("#booking-status").text_content() == "Réservé"
        assert "Hors ligne" in page.locator("#booking-error").text_content()
        assert 25 * 60 < countdown_seconds(page) <= 30 * 60
        shot(page, "offline-booking")
    finally:
        # No set_offline(False): the context is discarded after the test, and going back
        # online with a service worker in the context is where two full runs hung for good
        # (the page was online again and kept polling, the call never returned: Playwright
        # also waits for the worker's target). Closing the page is enough.
        page.close()


def test_history_pages_older_bookings(phone: Any, live_server: str) -> None:
    station = bookable_station(live_server)
    api_driver(phone, "Karim")
    token = next(c["value"] for c in phone.cookies() if c["name"] == "wattsup_csrf")
    csrf = {"X-CSRF-Token": token}
    car = phone.request.get("/api/vehicles").json()[0]["id"]
    point = station["bookable"][0]["id"]
    for _ in range(21):  # one more than a page of history
        r = phone.request.post(
            "/api/reservations/",
            data={"charge_point_id": point, "vehicle_id": car},
            headers=csrf,
        )
        assert r.status == 201, r.text()
        r = phone.request.post(f"/api/reservations/{r.json()['id']}/cancel", headers=csrf)
        assert r.status == 200, r.text()
    page = driver_page(phone)
    page.goto("/")
    page.get_by_role("button", name="Karim").click()
    page.get_by_role("button", name="Mes réservations").click()
    items = page.locator("#history-list li")
    items.first.wait_for()
    assert items.count() == 20
    assert page.locator("#history-body [role=status]").text_content() == "20 sur 21"
    page.get_by_role("button", name="Réservations plus anciennes").click()
    until(page, "document.querySelectorAll('#history-list li').length === 21")
    assert page.locator("#history-body [role=status]").text_content() == "21 sur 21"
    assert page.locator("#history-more").is_hidden()
    assert all("Annulée" in text for text in items.all_text_contents())
    assert not page.problems


def french_kw(n: float) -> str:
    """A power as the page writes it in French: one decimal at most, a decimal comma."""
    return f"{n:.1f}".rstrip("0").rstrip(".").replace(".", ",")


def test_booking_card_and_station_sheet_share_a_phone_screen(
    browser: Any, live_server: str, shot: Any
) -> None:
    """At 390×844 with a booking held: the card above the sheet (neither covers the other),
    the booked point named in the card and marked in the sheet's list, no second booking
    offered; the sheet's powers follow the car picked; a second, out-of-date tab catches up
    as soon as its action is refused."""
    size = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    ctx = browser.new_context(base_url=live_server, locale="fr-FR", **size)
    ctx.set_default_timeout(10_000)
    try:
        api_driver(ctx, "Lina")  # a Mégane first
        csrf = next(c["value"] for c in ctx.cookies() if c["name"] == "wattsup_csrf")
        twingo = {"name": "Twingo", "connectors": ["type_2"], "battery_kwh": 22, "max_ac_kw": 3.7}
        r = ctx.request.post("/api/vehicles", data=twingo, headers={"X-CSRF-Token": csrf})
        assert r.status in (200, 201), r.text()
        station = bookable_station(live_server)
        page = driver_page(ctx)
        open_station_from_list(page, station)
        sheet = page.locator("#sheet")
        lines = sheet.locator("ul.groups li")
        page.locator("#book-points input[type=radio]").first.wait_for()
        type2 = [i for i, g in enumerate(station["groups"]) if "type_2" in g["connectors"]]
        assert type2 and all(lines.nth(i).text_content().endswith("pour Mégane") for i in type2)
        # The car picked in the form: the groups' power is said for it.
        page.locator("#book-vehicle").select_option(label="Twingo")
        for i in type2:
            kw = french_kw(min(station["groups"][i]["power_kw"], 3.7))
            assert lines.nth(i).text_content().endswith(f"→ {kw} kW pour Twingo")
        point_id = page.locator("#book-points input[type=radio]").first.get_attribute("value")
        point = next(p for p in station["points"] if p["id"] == point_id)
        page.get_by_role("button", name="Réserver", exact=True).click()
        page.get_by_role("button", name="Confirmer la réservation").click()
        card = page.locator("#booking")
        card.locator("#countdown").wait_for()
        # The booked point: named in the card, marked "Votre réservation" in the sheet's list.
        assert card.locator("#booking-point").is_visible()
        assert card.locator("#booking-point").text_content() == point["id_pdc_itinerance"]
        mine = sheet.locator("ul.points li.mine")
        mine.wait_for()
        assert mine.count() == 1 and mine.get_attribute("data-point") == point_id
        assert mine.locator(".tag").text_content() == "Votre réservation"
        # No second booking offered: a note and a way back to this one instead of the form.
        assert page.locator("#book-form").count() == 0
        assert "déjà une réservation" in sheet.locator("#book-have").text_content()
        until(page, "document.getAnimations().every(a => a.playState !== 'running')")
        # Card above, sheet below, both on screen, the sheet's grab handle in sight.
        top, bottom = card.bounding_box(), sheet.bounding_box()
        assert top["y"] + top["height"] <= bottom["y"], (top, bottom)
        assert bottom["y"] + bottom["height"] <= 844 + 0.5
        grab = sheet.locator(".grab").bounding_box()
        hit = "([x, y]) => document.elementFromPoint(x, y)?.closest('#booking, #sheet')?.id"
        assert page.evaluate(hit, [195, grab["y"] + 2]) == "sheet"
        assert page.evaluate(hit, [195, top["y"] + top["height"] / 2]) == "booking"
        # The whole card in sight, its two actions included: nothing to scroll inside it.
        assert card.evaluate("el => el.scrollHeight <= el.clientHeight")
        for name in ("Démarrer la charge", "Annuler la réservation"):
            button = card.get_by_role("button", name=name).bounding_box()
            assert button["y"] + button["height"] <= top["y"] + top["height"], name
        shot(page, "card-and-sheet")
        # Scrolled to its end, the sheet's content still never slides under the card.
        sheet.evaluate("el => { el.scrollTop = el.scrollHeight; }")
        assert page.evaluate(hit, [195, top["y"] + top["height"] - 4]) == "booking"
        assert sheet.bounding_box()["y"] >= top["y"] + top["height"]
        # "Voir ma réservation": the booked point, scrolled into the sheet's view.
        sheet.evaluate("el => { el.scrollTop = 0; }")
        sheet.get_by_role("button", name="Voir ma réservation").scroll_into_view_if_needed()
        sheet.get_by_role("button", name="Voir ma réservation").click()
        until(
            page,
            "(() => { const li = document.querySelector('#sheet li.mine');"
            " const s = document.querySelector('#sheet').getBoundingClientRect();"
            " const r = li && li.getBoundingClientRect();"
            " return r && r.top >= s.top && r.bottom <= s.bottom; })()",
        )
        shot(page, "my-point")

        # A second tab of the same driver, its clock stopped: no poll can update it.
        tab_ctx = browser.new_context(
            base_url=live_server, locale="fr-FR", storage_state=ctx.storage_state(), **size
        )
        tab_ctx.set_default_timeout(10_000)
        try:
            tab_ctx.clock.install()
            tab = driver_page(tab_ctx)
            tab.goto("/")
            tab.locator("#booking #countdown").wait_for()
            tab_ctx.clock.pause_at(time.time() + 1)
            page.get_by_role("button", name="Démarrer la charge").click()
            until(page, "document.querySelector('#booking-status')?.textContent === 'En charge'")
            # The out-of-date tab tries to start too: refused, and it shows the charge at once.
            tab.get_by_role("button", name="Démarrer la charge").click()
            until(
                tab,
                "document.querySelector('#booking-error')?.textContent"
                " === 'Impossible de démarrer : la réservation est en charge.'",
            )
            assert tab.locator("#booking-status").text_content() == "En charge"
            assert tab.get_by_role("button", name="Arrêter la charge").is_visible()
            assert tab.get_by_role("button", name="Démarrer la charge").count() == 0
            shot(tab, "second-tab-caught-up")
            assert not tab.problems
        finally:
            tab_ctx.close()
        assert not page.problems
    finally:
        ctx.close()


def test_points_the_operator_does_not_let_book_are_marked(phone: Any, live_server: str) -> None:
    station = bookable_station(live_server)
    target = station["bookable"][0]["id"]
    where = f"FROM charge_points WHERE id = '{target}'"
    was = psql(f"SELECT coalesce(reservation::text, 'null') {where}")
    psql(f"UPDATE charge_points SET reservation = false WHERE id = '{target}'")
    try:
        api_driver(phone, "Maël")
        page = driver_page(phone)
        page.goto(f"/?station={station['id']}")
        item = page.locator(f"#sheet li[data-point='{target}']")
        item.wait_for()
        assert item.locator(".tag").all_text_contents() == ["non réservable"]
        tags = page.locator("#sheet ul.points .tag").all_text_contents()
        assert tags == ["non réservable"], tags  # that point only
        page.locator("#book-section form, #book-section .note").first.wait_for()
        assert page.locator(f"#book-points input[value='{target}']").count() == 0
        assert not page.problems
    finally:
        psql(f"UPDATE charge_points SET reservation = {was} WHERE id = '{target}'")


def test_a_visitor_asks_no_session_and_still_signs_in(phone: Any, live_server: str) -> None:
    """No session cookie, no /api/me (nor its refresh): no refused request on each visit."""
    email = f"nina-{uuid.uuid4().hex[:8]}@example.fr"
    account = {"email": email, "password": PASSWORD, "first_name": "Nina", "last_name": "Test"}
    assert httpx.post(f"{live_server}/api/auth/register", json=account).status_code == 201
    page = driver_page(phone)
    asked: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/me" in r.url else None)
    page.on("request", lambda r: asked.append(r.url) if "/api/auth/" in r.url else None)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto("/")
    wait_map(page)
    assert page.locator("#account-label").text_content() == "Se connecter"
    assert asked == [] and errors == []
    # Signing in still works (the CSRF cookie comes with it), and lasts across a reload.
    page.get_by_role("button", name="Se connecter").click()
    form = page.locator("#login-form")
    form.get_by_label("Adresse e-mail").fill(email)
    form.get_by_label("Mot de passe").fill(PASSWORD)
    form.get_by_role("button", name="Se connecter").click()
    page.get_by_text("Bonjour Nina Test").wait_for()
    page.keyboard.press("Escape")
    page.reload()
    page.get_by_role("button", name="Nina").wait_for()
    # Signed out: the next visit asks nothing again.
    page.get_by_role("button", name="Nina").click()
    page.get_by_role("button", name="Se déconnecter").click()
    page.locator("#login-form").wait_for()
    asked.clear()
    page.reload()
    wait_map(page)
    assert page.locator("#account-label").text_content() == "Se connecter"
    assert asked == [] and errors == [], (asked, errors)
    assert not page.problems
