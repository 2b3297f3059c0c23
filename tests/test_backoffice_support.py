"""Customer service on a real database: drivers report problems and write to us, admins answer
and close, the map shows open problems, the reporter sees the resolution; the database keeps
the status rules."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import pytest

pytestmark = pytest.mark.usefixtures("imported_sample")


async def a_station(pool: asyncpg.Pool) -> UUID:
    """A live station no other test of this module has reported on."""
    station: UUID = await pool.fetchval(
        "SELECT s.id FROM stations s WHERE s.withdrawn_at IS NULL AND NOT EXISTS "
        "(SELECT 1 FROM problem_reports r WHERE r.station_id = s.id) "
        "AND NOT EXISTS (SELECT 1 FROM contact_messages m WHERE m.station_id = s.id) "
        "ORDER BY random() LIMIT 1"
    )
    assert station is not None
    return station


async def test_driver_reports_a_problem_and_sees_it_resolved(
    driver_client: Any, admin_client: Any, api_client: Any, pool: asyncpg.Pool
) -> None:
    station = await a_station(pool)
    r = await driver_client.post(
        "/api/reports",
        json={"station_id": str(station), "category": "not_working", "message": "Écran noir"},
    )
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["status"] == "open" and report["category"] == "not_working"
    assert report["station_name"]

    # The map sees the open problem and its date, not who filed it nor the text.
    public = (await api_client.get(f"/api/stations/{station}/reports")).json()
    assert [p["id"] for p in public["open"]] == [report["id"]]
    assert public["open"][0]["created_at"] == report["created_at"]
    assert "message" not in public["open"][0] and "user_id" not in public["open"][0]
    places = (await api_client.get("/api/reports/open")).json()
    assert any(p["station_id"] == str(station) and "not_working" in p["categories"] for p in places)

    # The admin's queue has it, with the reporter.
    queue = (await admin_client.get("/api/admin/reports", params={"status": "open"})).json()
    mine = [i for i in queue["items"] if i["id"] == report["id"]]
    assert mine and mine[0]["reporter"]["email"] == driver_client.user["email"]
    assert queue["open_total"] == await pool.fetchval(
        "SELECT count(*) FROM problem_reports WHERE status = 'open'"
    )

    # Answer, then close with a resolution.
    r = await admin_client.post(
        f"/api/admin/reports/{report['id']}/answers",
        json={"body": "Un technicien passe demain."},
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "answered" and len(r.json()["answers"]) == 1
    r = await admin_client.post(
        f"/api/admin/reports/{report['id']}/close",
        json={"resolution": "Borne réparée le 12."},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed"

    # The reporter sees the resolution and the answer; the map no longer shows the problem.
    mine_now = (await driver_client.get("/api/me/reports")).json()
    seen = next(x for x in mine_now if x["id"] == report["id"])
    assert seen["status"] == "closed" and seen["resolution"] == "Borne réparée le 12."
    assert seen["closed_at"] is not None
    assert [a["body"] for a in seen["answers"]] == ["Un technicien passe demain."]
    assert seen["answers"][0]["author"] == "Test"  # first name only, no address
    public = (await api_client.get(f"/api/stations/{station}/reports")).json()
    assert public["open"] == []

    # A closed report stays closed: answering it again is refused.
    r = await admin_client.post(
        f"/api/admin/reports/{report['id']}/answers", json={"body": "encore"}
    )
    assert r.status_code == 409 and r.json()["code"] == "ticket_closed"
    n = await pool.fetchval(
        "SELECT count(*) FROM support_answers WHERE report_id = $1", UUID(report["id"])
    )
    assert n == 1  # the refused answer was rolled back with its request


async def test_same_open_report_twice_is_refused(driver_client: Any, pool: asyncpg.Pool) -> None:
    station = await a_station(pool)
    body = {"station_id": str(station), "category": "blocked", "message": ""}
    assert (await driver_client.post("/api/reports", json=body)).status_code == 201
    r = await driver_client.post("/api/reports", json=body)
    assert r.status_code == 409 and r.json()["code"] == "report_already_open"
    # Another category on the same station is a different problem.
    body["category"] = "payment_refused"
    assert (await driver_client.post("/api/reports", json=body)).status_code == 201


async def test_works_in_progress_is_an_open_problem_on_the_map(
    driver_client: Any, api_client: Any, pool: asyncpg.Pool
) -> None:
    station = await a_station(pool)
    r = await driver_client.post(
        "/api/reports", json={"station_id": str(station), "category": "works"}
    )
    assert r.status_code == 201 and r.json()["status"] == "open"
    public = (await api_client.get(f"/api/stations/{station}/reports")).json()
    assert [p["category"] for p in public["open"]] == ["works"]
    # The bbox filter keeps it in its own place and out of another one.
    lon, lat = await pool.fetchrow(
        "SELECT ST_X(geom_4326), ST_Y(geom_4326) FROM stations WHERE id = $1", station
    )
    near = f"{lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}"
    places = (await api_client.get("/api/reports/open", params={"bbox": near})).json()
    assert str(station) in {p["station_id"] for p in places}
    far = (await api_client.get("/api/reports/open", params={"bbox": "-60,-60,-59,-59"})).json()
    assert far == []
    bad = await api_client.get("/api/reports/open", params={"bbox": "3,4,1,2"})
    assert bad.status_code == 400


async def test_report_validation(driver_client: Any, api_client: Any, pool: asyncpg.Pool) -> None:
    station = await a_station(pool)
    r = await driver_client.post(
        "/api/reports", json={"station_id": str(station), "category": "on_fire"}
    )
    assert r.status_code == 400 and r.json()["code"] == "invalid_request"
    r = await driver_client.post(
        "/api/reports",
        json={"station_id": "00000000-0000-0000-0000-000000000000", "category": "other"},
    )
    assert r.status_code == 404 and r.json()["code"] == "station_not_found"
    r = await driver_client.post(
        "/api/reports",
        json={"station_id": str(station), "category": "other", "message": "x" * 2001},
    )
    assert r.status_code == 400
    # Signed out: no report.
    r = await api_client.post(
        "/api/reports", json={"station_id": str(station), "category": "other"}
    )
    assert r.status_code == 401
    r = await api_client.get("/api/stations/00000000-0000-0000-0000-000000000000/reports")
    assert r.status_code == 404


async def test_contact_message_answered_and_closed(
    driver_client: Any, admin_client: Any, pool: asyncpg.Pool
) -> None:
    station = await a_station(pool)
    r = await driver_client.post(
        "/api/messages",
        json={
            "subject": "Facture",
            "message": "Je n'ai pas reçu mon reçu.",
            "station_id": str(station),
        },
    )
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["status"] == "open" and msg["station_name"]
    r = await driver_client.post("/api/messages", json={"subject": " ", "message": "x"})
    assert r.status_code == 422 and r.json()["code"] == "empty_message"

    queue = (await admin_client.get("/api/admin/messages")).json()
    assert any(i["id"] == msg["id"] for i in queue["items"])
    r = await admin_client.post(
        f"/api/admin/messages/{msg['id']}/answers",
        json={"body": "Le reçu est dans votre historique.", "close": True},
    )
    assert r.status_code == 201 and r.json()["status"] == "closed"
    mine = (await driver_client.get("/api/me/messages")).json()
    seen = next(m for m in mine if m["id"] == msg["id"])
    assert seen["status"] == "closed"
    assert seen["answers"][0]["body"] == "Le reçu est dans votre historique."
    # Closed messages leave the active queue and stay in the archive.
    active = (await admin_client.get("/api/admin/messages", params={"status": "active"})).json()
    assert all(i["id"] != msg["id"] for i in active["items"])
    closed = (await admin_client.get("/api/admin/messages", params={"status": "closed"})).json()
    assert any(i["id"] == msg["id"] for i in closed["items"])


async def test_message_closed_with_closing_words_and_report_queue_filters(
    driver_client: Any, admin_client: Any, pool: asyncpg.Pool
) -> None:
    # A message has no resolution field: closing it with words adds them as its last answer.
    r = await driver_client.post("/api/messages", json={"subject": "Compte", "message": "Aide"})
    msg = r.json()
    r = await admin_client.post(
        f"/api/admin/messages/{msg['id']}/close", json={"resolution": "  Compte rétabli.  "}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed" and r.json()["closed_at"] is not None
    assert [a["body"] for a in r.json()["answers"]] == ["Compte rétabli."]
    assert r.json()["reporter"]["email"]  # the admin sees who wrote
    again = await admin_client.post(f"/api/admin/messages/{msg['id']}/close", json={})
    assert again.status_code == 409 and again.json()["code"] == "ticket_closed"
    missing = await admin_client.get(f"/api/admin/messages/{UUID(int=1)}")
    assert missing.status_code == 404 and missing.json()["code"] == "message_not_found"

    # The report queue filters by category and station; closing without words keeps none.
    station = await a_station(pool)
    body = {"station_id": str(station), "category": "payment_refused", "message": "CB refusée"}
    report = (await driver_client.post("/api/reports", json=body)).json()
    page = (
        await admin_client.get(
            "/api/admin/reports", params={"station_id": str(station), "category": "payment_refused"}
        )
    ).json()
    assert [i["id"] for i in page["items"]] == [report["id"]] and page["total"] == 1
    assert page["open_total"] >= 1
    other = (
        await admin_client.get(
            "/api/admin/reports", params={"station_id": str(station), "category": "works"}
        )
    ).json()
    assert other["items"] == [] and other["total"] == 0
    r = await admin_client.post(f"/api/admin/reports/{report['id']}/close", json={})
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert r.json()["resolution"] is None and r.json()["answers"] == []


async def test_queue_is_admin_only(driver_client: Any, api_client: Any) -> None:
    for url in ("/api/admin/reports", "/api/admin/messages", "/api/admin/dashboard"):
        assert (await driver_client.get(url)).status_code == 403, url
        assert (await api_client.get(url)).status_code == 401, url


async def test_database_refuses_reopening_a_closed_report(pool: asyncpg.Pool) -> None:
    station = await a_station(pool)
    rid = await pool.fetchval(
        "INSERT INTO problem_reports (station_id, category, status, closed_at)"
        " VALUES ($1, 'other', 'closed', now()) RETURNING id",
        station,
    )
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(
            "UPDATE problem_reports SET status = 'open', closed_at = NULL WHERE id = $1", rid
        )
    with pytest.raises(asyncpg.CheckViolationError):  # closed without a date
        await pool.execute(
            "INSERT INTO problem_reports (station_id, category, status)"
            " VALUES ($1, 'other', 'closed')",
            station,
        )
    with pytest.raises(asyncpg.CheckViolationError):  # an answer belongs to one ticket
        await pool.execute("INSERT INTO support_answers (body) VALUES ('orphan')")
