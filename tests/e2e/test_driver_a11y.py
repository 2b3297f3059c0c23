"""Driver page accessibility: an axe-core scan of each screen (no serious or critical issue),
keyboard focus that shows, dark mode and reduced motion, pinch-zoom never blocked."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import axe_playwright_python
import pytest

from tests.e2e.test_driver_booking import (
    PASSWORD,
    api_driver,
    bookable_station,
    open_station_from_list,
)
from tests.e2e.test_driver_map import driver_page, wait_map

pytestmark = pytest.mark.e2e

# axe-core, as axe-playwright-python ships it (a dev dependency: a missing one fails, never
# skips, so the scans cannot silently stop running).
AXE_JS = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()


def axe(page: Any, screen: str, include: str | None = None) -> list[str]:
    """Serious and critical axe-core violations of the page (or of one part of it)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated by the DevTools protocol, so the page's CSP does not stop it.
        page.evaluate(f"() => {{ {AXE_JS}\n window.axe = axe; }}")
    result = page.evaluate(
        """async (include) => {
            // Contrast is judged on the final frame, not halfway through a slide-in.
            await Promise.all(document.getAnimations().map(a => a.finished.catch(() => null)));
            const r = await axe.run(include ? {include: [include]} : document,
              {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']});
            const where = (v) => v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ');
            return r.violations.filter(v => ['serious', 'critical'].includes(v.impact))
              .map(v => `${v.id}: ${v.help} — ${where(v)}`);
        }""",
        include,
    )
    return [f"[{screen}] {v}" for v in result]


def test_axe_on_every_screen(phone: Any, live_server: str, shot: Any) -> None:
    issues: list[str] = []
    page = driver_page(phone)
    page.goto("/")
    wait_map(page)
    issues += axe(page, "map")
    page.get_by_role("button", name="Filtres").click()
    issues += axe(page, "filters", "#filters-dialog")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Liste").click()
    page.locator("#list-body .note, #list-body p").first.wait_for()
    issues += axe(page, "list", "#list-dialog")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Se connecter").click()
    issues += axe(page, "login", "#account-dialog")
    page.get_by_role("button", name="Pas de compte ? En créer un").click()
    issues += axe(page, "register", "#account-dialog")
    page.keyboard.press("Escape")

    api_driver(phone, "Dora")
    page.reload()  # the page reads the new session at start
    station = bookable_station(live_server)
    open_station_from_list(page, station)
    page.locator("#book-points input").first.wait_for()
    issues += axe(page, "station sheet")
    page.get_by_role("button", name="Signaler un problème").click()
    issues += axe(page, "report", "#report-dialog")
    page.get_by_role("button", name="Envoyer le signalement").click()
    # The station's open reports, dated: this one and any an earlier test left on it.
    page.locator("#sheet-reports li").first.wait_for()
    issues += axe(page, "station sheet with a report", "#sheet")
    page.get_by_role("button", name="Nous écrire sur cette station").click()
    page.locator("#my-messages").get_by_text("Aucun message pour l’instant.").wait_for()
    issues += axe(page, "contact", "#contact-dialog")
    page.get_by_role("button", name="Envoyer le message").click()
    page.locator("#contact-form .form-error").wait_for()  # the API's refusal, inline
    issues += axe(page, "contact refused", "#contact-dialog")
    page.problems[:] = [p for p in page.problems if "status of 400" not in p]
    page.locator("#contact-dialog").get_by_label("Objet").fill("Borne")
    page.locator("#contact-dialog").get_by_label("Votre message").fill("Merci.")
    page.get_by_role("button", name="Envoyer le message").click()
    page.locator("#my-messages-list li").wait_for()
    issues += axe(page, "contact sent", "#contact-dialog")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Dora").click()
    page.get_by_role("button", name="Mes signalements").click()
    page.locator("#my-reports-list li").wait_for()
    issues += axe(page, "my reports", "#myreports-dialog")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Filtres").click()
    page.locator("#profile-name").wait_for()  # signed in: the filter profiles too
    issues += axe(page, "filters signed in", "#filters-dialog")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Dora").click()
    page.locator("#vehicle-list").wait_for()
    issues += axe(page, "account", "#account-dialog")
    page.get_by_role("button", name="Ajouter un véhicule").click()
    page.locator("#vehicle-form").get_by_label("Nom du véhicule").wait_for()
    issues += axe(page, "vehicle", "#vehicle-dialog")
    page.locator("#vehicle-form").get_by_role("button", name="Annuler").click()
    # The profile open, with an API refusal shown inline in the password form.
    page.locator("#profile summary").click()
    pw = page.locator("#password-form")
    pw.get_by_label("Mot de passe actuel").fill("pas-le-bon-mot-de-passe")
    pw.get_by_label("Nouveau mot de passe").fill("un-nouveau-secret-2025")
    pw.get_by_role("button", name="Changer de mot de passe").click()
    pw.get_by_role("alert").wait_for()
    issues += axe(page, "profile", "#account-dialog")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Réserver", exact=True).click()
    page.get_by_role("button", name="Confirmer la réservation").wait_for()
    issues += axe(page, "terms", "#confirm-dialog")
    page.get_by_role("button", name="Confirmer la réservation").click()
    page.locator("#booking #countdown").wait_for()
    issues += axe(page, "booking panel", "#booking")
    shot(page, "booked")
    page.locator("#booking").get_by_role("button", name="Annuler la réservation").click()
    page.locator("#ask-yes").wait_for()
    issues += axe(page, "cancel question", "#confirm-dialog")
    page.locator("#confirm-dialog").get_by_role("button", name="Oui, annuler").click()
    page.get_by_role("button", name="Dora").click()
    page.get_by_role("button", name="Mes réservations").click()
    page.locator("#history-list").wait_for()
    issues += axe(page, "history", "#history-dialog")
    page.keyboard.press("Escape")

    r101 = driver_page(phone)
    r101.goto("/recharger-101.html")
    issues += axe(r101, "recharger 101")
    assert not issues, "\n".join(issues)
    assert not page.problems and not r101.problems


def test_keyboard_focus_is_visible_and_zoom_allowed(phone: Any) -> None:
    page = driver_page(phone)
    page.goto("/")
    viewport = page.locator("meta[name=viewport]").get_attribute("content")
    assert "user-scalable=no" not in viewport and "maximum-scale" not in viewport
    page.keyboard.press("Tab")  # the skip link
    assert page.evaluate("() => document.activeElement.classList.contains('skip-link')")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    style = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth]; }"
    )
    assert style[0] != "none" and style[1] != "0px", style
    # Keyboard only: list view → a station sheet → Escape returns focus to the list button.
    page.locator("#list-open").focus()
    page.keyboard.press("Enter")
    first = page.locator("#station-list button, #list-body p").first
    first.wait_for()


def test_dark_mode_and_reduced_motion(browser: Any, live_server: str, shot: Any) -> None:
    ctx = browser.new_context(
        base_url=live_server,
        locale="fr-FR",
        viewport={"width": 360, "height": 740},
        color_scheme="dark",
        reduced_motion="reduce",
    )
    try:
        page = driver_page(ctx)
        page.goto("/#map=12/43.6/3.88")
        wait_map(page)
        bg = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(20, 27, 36)", bg
        assert (
            page.evaluate(
                "() => window.wattsup.map.getPaintProperty('background', 'background-color')"
            )
            == "#17202b"
        )
        page.get_by_role("button", name="Filtres").click()
        anim = page.evaluate(
            "() => getComputedStyle(document.querySelector('#filters-dialog')).animationName"
        )
        assert anim == "none"
        shot(page, "dark-filters")
        page.keyboard.press("Escape")
        # A cluster tap jumps without animation.
        page.get_by_role("button", name="Liste").click()
        page.locator("#station-list button").first.click()
        page.locator("#sheet-title").wait_for()
        assert not page.evaluate("() => window.wattsup.map.isMoving()")
        shot(page, "dark-sheet")
        assert not page.problems
    finally:
        ctx.close()


def test_second_account_cannot_see_first_history(phone: Any) -> None:
    """History is per driver: a fresh account sees an empty history, not someone else's."""
    email = f"eve-{uuid.uuid4().hex[:8]}@example.fr"
    r = phone.request.post(
        "/api/auth/register",
        data={"email": email, "password": PASSWORD, "first_name": "Eve", "last_name": "Test"},
    )
    assert r.status == 201
    page = driver_page(phone)
    page.goto("/")
    page.get_by_role("button", name="Eve").click()
    page.get_by_role("button", name="Mes réservations").click()
    page.get_by_text("Aucune réservation pour l’instant.").wait_for()


def test_support_screens_in_dark_mode(browser: Any, live_server: str) -> None:
    """The open-report box, the ticket statuses (waiting, answered, resolved) and the answers
    keep their contrast in dark mode."""
    from tests.e2e.test_admin_app import api_as, make_user

    ctx = browser.new_context(
        base_url=live_server,
        locale="fr-FR",
        viewport={"width": 360, "height": 740},
        color_scheme="dark",
    )
    ctx.set_default_timeout(10_000)
    try:
        api_driver(ctx, "Noor")
        csrf = next(c["value"] for c in ctx.cookies() if c["name"] == "wattsup_csrf")
        stations = [bookable_station(live_server) for _ in range(3)]
        ids = []
        for s in stations:
            r = ctx.request.post(
                "/api/reports",
                data={"station_id": s["id"], "category": "blocked", "message": "Voiture ventouse."},
                headers={"X-CSRF-Token": csrf},
            )
            assert r.status == 201, r.text()
            ids.append(r.json()["id"])
        r = ctx.request.post(
            "/api/messages",
            data={"subject": "Question", "message": "Bonjour."},
            headers={"X-CSRF-Token": csrf},
        )
        assert r.status == 201, r.text()
        with api_as(live_server, make_user("admin", "Zoé")) as api:
            answer = {"body": "Nous regardons.", "close": False}
            assert api.post(f"/api/admin/reports/{ids[1]}/answers", json=answer).is_success
            done = {"body": "Réglé.", "close": True}
            assert api.post(f"/api/admin/reports/{ids[2]}/answers", json=done).is_success
            message = r.json()["id"]
            assert api.post(f"/api/admin/messages/{message}/answers", json=done).is_success
        page = driver_page(ctx)
        open_station_from_list(page, stations[0])
        page.locator("#sheet-reports li").first.wait_for()
        issues = axe(page, "dark sheet with a report", "#sheet")
        page.get_by_role("button", name="Noor", exact=True).click()
        page.get_by_role("button", name="Mes signalements").click()
        page.locator("#my-reports-list .ticket.closed").wait_for()
        assert page.locator("#my-reports-list .ticket.answered").count() == 1
        issues += axe(page, "dark my reports", "#myreports-dialog")
        page.keyboard.press("Escape")
        page.get_by_role("button", name="Noor", exact=True).click()
        page.get_by_role("button", name="Nous contacter").click()
        page.locator("#my-messages-list .ticket.closed").wait_for()
        issues += axe(page, "dark contact", "#contact-dialog")
        assert not issues, "\n".join(issues)
        assert not page.problems
    finally:
        ctx.close()
