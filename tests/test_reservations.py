"""Reservations and the simulated charger on real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import DATA, ROOT, make_test_env
from tests.fixtures_accounts import PASSWORD, create_user, sign_in
from tests.fixtures_reservations import hold_points
from wattsup.config import Settings

pytestmark = pytest.mark.usefixtures("imported_sample")


async def free_points(pool, n: int, where: str = "true") -> list[asyncpg.Record]:  # type: ignore[no-untyped-def]
    return list(
        await pool.fetch(
            "SELECT cp.id, cp.station_id FROM charge_points cp "
            "WHERE cp.withdrawn_at IS NULL AND cp.operational_status = 'in_service' "
            "AND cp.connector_status = 'Available' AND cp.prise_type_2 "
            "AND cp.reservation IS DISTINCT FROM false AND NOT EXISTS (SELECT 1 FROM reservations r"
            " WHERE r.charge_point_id = cp.id AND r.status IN ('reserved', 'charging')) "
            f"AND {where} ORDER BY cp.id_pdc_itinerance LIMIT $1",
            n,
        )
    )


async def vehicle(client, connectors: list[str] | None = None, **extra: Any) -> str:  # type: ignore[no-untyped-def]
    r = await client.post(
        "/api/vehicles",
        json={
            "name": "Zoé",
            "connectors": connectors or ["type_2"],
            "battery_kwh": 52,
            "max_ac_kw": 22,
            **extra,
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@pytest.fixture
async def fast_client(settings: Settings, pool) -> AsyncIterator[AsyncTestClient[Litestar]]:  # type: ignore[no-untyped-def]
    """A signed-in driver on an app whose charger runs 3,000× and whose hold lasts 1.5 s."""
    from api.app import create_app

    fast = msgspec.structs.replace(
        settings, sim_speed=3000.0, reservation_hold_minutes=0.025, sweep_interval_s=0.2
    )
    user = await create_user(pool)
    async with AsyncTestClient(app=create_app(fast)) as client:
        await sign_in(client, user["email"], PASSWORD)
        client.user = user  # type: ignore[attr-defined]
        yield client


async def test_terms_are_data(api_client) -> None:  # type: ignore[no-untyped-def]
    terms = (await api_client.get("/api/reservations/terms")).json()
    assert terms["hold_minutes"] == 30 and terms["noshow_timeout"] == 1800
    assert terms["free_cancellation"] is True and "cancel_until_minutes" in terms
    # No grace: a hold not started by its expiry is a no-show at that second.
    assert terms["grace_minutes"] == 0 and "sans délai de grâce" in terms["text_fr"]
    assert "pendant 30 minutes" in terms["text_fr"] and "for 30 minutes" in terms["text_en"]
    assert terms["price_en"] and terms["price"] != terms["price_en"]


async def test_terms_say_a_short_hold_as_a_driver_reads_it(fast_client) -> None:  # type: ignore[no-untyped-def]
    terms = (await fast_client.get("/api/reservations/terms")).json()
    assert "pendant 0,025 minutes" in terms["text_fr"] and "for 0.025 minutes" in terms["text_en"]


async def test_book_then_every_refusal_code(driver_client, pool, settings) -> None:  # type: ignore[no-untyped-def]
    from api.app import create_app

    p1, p2, p3, p4 = await free_points(pool, 4)
    v = await vehicle(driver_client)
    r = await driver_client.post(
        "/api/reservations", json={"charge_point_id": str(p1["id"]), "vehicle_id": v}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "reserved" and 1790 <= body["live"]["remaining_hold_seconds"] <= 1800
    assert [e["message"] for e in body["events"]] == ["ReserveNow", "StatusNotification"]
    assert (
        await pool.fetchval("SELECT connector_status FROM charge_points WHERE id = $1", p1["id"])
        == "Reserved"
    )
    # One at a time for a driver.
    r = await driver_client.post(
        "/api/reservations", json={"charge_point_id": str(p2["id"]), "vehicle_id": v}
    )
    assert r.status_code == 409 and r.json()["code"] == "already_has_reservation"
    # Another driver on the same point.
    other = await create_user(pool)
    async with AsyncTestClient(app=create_app(settings)) as c2:
        await sign_in(c2, other["email"], PASSWORD)
        v2 = await vehicle(c2)
        r = await c2.post(
            "/api/reservations", json={"charge_point_id": str(p1["id"]), "vehicle_id": v2}
        )
        assert r.status_code == 409 and r.json()["code"] == "point_unavailable"
        assert "réservé" in r.json()["detail"]
        # Not mine: 404, never 403.
        r = await c2.post(f"/api/reservations/{body['id']}/cancel")
        assert r.status_code == 404 and r.json()["code"] == "reservation_not_found"
        r = await c2.get(f"/api/reservations/{body['id']}")
        assert r.status_code == 404
        # Someone else's vehicle.
        r = await c2.post(
            "/api/reservations", json={"charge_point_id": str(p2["id"]), "vehicle_id": v}
        )
        assert r.status_code == 404 and r.json()["code"] == "vehicle_not_found"
        # Incompatible connector.
        chademo = await vehicle(c2, ["chademo"], max_dc_kw=50)
        r = await c2.post(
            "/api/reservations", json={"charge_point_id": str(p2["id"]), "vehicle_id": chademo}
        )
        assert r.status_code == 422 and r.json()["code"] == "connector_incompatible"
        # Out of service.
        await pool.execute(
            "UPDATE charge_points SET operational_status = 'out_of_service' WHERE id = $1", p3["id"]
        )
        r = await c2.post(
            "/api/reservations", json={"charge_point_id": str(p3["id"]), "vehicle_id": v2}
        )
        assert r.status_code == 409 and r.json()["code"] == "point_out_of_service"
        await pool.execute(
            "UPDATE charge_points SET operational_status = 'in_service' WHERE id = $1", p3["id"]
        )
        # The operator does not take reservations.
        await pool.execute("UPDATE charge_points SET reservation = false WHERE id = $1", p4["id"])
        r = await c2.post(
            "/api/reservations", json={"charge_point_id": str(p4["id"]), "vehicle_id": v2}
        )
        assert r.status_code == 409 and r.json()["code"] == "point_not_reservable"
        await pool.execute("UPDATE charge_points SET reservation = NULL WHERE id = $1", p4["id"])
    # Cancel, then illegal transitions.
    r = await driver_client.post(f"/api/reservations/{body['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert (
        await pool.fetchval("SELECT connector_status FROM charge_points WHERE id = $1", p1["id"])
        == "Available"
    )
    for action, verb in (("start", "de démarrer"), ("stop", "d'arrêter"), ("cancel", "d'annuler")):
        r = await driver_client.post(f"/api/reservations/{body['id']}/{action}")
        assert r.status_code == 409 and r.json()["code"] == "invalid_transition", action
        assert r.json()["detail"] == f"Impossible {verb} : la réservation est annulée."


async def test_admin_out_of_service_cancels_the_booking(driver_client, pool) -> None:  # type: ignore[no-untyped-def]
    (p,) = await free_points(pool, 1)
    v = await vehicle(driver_client)
    r = await driver_client.post(
        "/api/reservations", json={"charge_point_id": str(p["id"]), "vehicle_id": v}
    )
    rid = r.json()["id"]

    async def connector() -> str:
        return str(
            await pool.fetchval("SELECT connector_status FROM charge_points WHERE id = $1", p["id"])
        )

    await pool.execute(
        "UPDATE charge_points SET operational_status = 'out_of_service' WHERE id = $1", p["id"]
    )
    try:
        row = await pool.fetchrow("SELECT status, end_reason FROM reservations WHERE id = $1", rid)
        assert (row["status"], row["end_reason"]) == ("cancelled", "point_out_of_service")
        # OCPP: the reservation cancelled by its id, then the connector Unavailable (0030).
        body = (await driver_client.get(f"/api/reservations/{rid}")).json()
        assert [(e["message"], e["payload"]) for e in body["events"]][-2:] == [
            ("CancelReservation", {"reservationId": rid, "reason": "point_out_of_service"}),
            ("StatusNotification", {"status": "Unavailable"}),
        ]
        assert await connector() == "Unavailable"
        # The IRVE dynamic export: out of service, occupation unknown (it said "libre").
        pdc = await pool.fetchval(
            "SELECT id_pdc_itinerance FROM charge_points WHERE id = $1", p["id"]
        )
        rows = (await driver_client.get("/api/irve/dynamique.json")).json()
        (mine,) = [x for x in rows if x["id_pdc_itinerance"] == pdc]
        assert (mine["etat_pdc"], mine["occupation_pdc"]) == ("hors_service", "inconnu")
        # A status set again unchanged does nothing; the point is not bookable meanwhile.
        await pool.execute(
            "UPDATE charge_points SET operational_status = 'out_of_service' WHERE id = $1",
            p["id"],
        )
        assert await connector() == "Unavailable"
    finally:
        await pool.execute(
            "UPDATE charge_points SET operational_status = 'in_service' WHERE id = $1", p["id"]
        )
    assert await connector() == "Available"
    r = await driver_client.post(
        "/api/reservations", json={"charge_point_id": str(p["id"]), "vehicle_id": v}
    )
    assert r.status_code == 201, r.text
    assert (await driver_client.post(f"/api/reservations/{r.json()['id']}/cancel")).is_success


async def test_admin_out_of_service_stops_the_charge_with_its_receipt(driver_client, pool) -> None:  # type: ignore[no-untyped-def]
    """The fault stop (0027): a point taken out of service under a charge ends it at once,
    StopTransaction with reason Other, and the driver gets the receipt of what was delivered."""
    (p,) = await free_points(pool, 1)
    v = await vehicle(driver_client)
    r = await driver_client.post(
        "/api/reservations", json={"charge_point_id": str(p["id"]), "vehicle_id": v}
    )
    rid = r.json()["id"]
    assert (await driver_client.post(f"/api/reservations/{rid}/start")).status_code == 200
    await asyncio.sleep(0.2)
    await pool.execute(
        "UPDATE charge_points SET operational_status = 'out_of_service' WHERE id = $1", p["id"]
    )
    try:
        body = (await driver_client.get(f"/api/reservations/{rid}")).json()
        assert body["status"] == "completed" and body["end_reason"] == "point_out_of_service"
        ended, planned = (
            datetime.fromisoformat(t) for t in (body["ended_at"], body["live"]["estimated_end"])
        )
        assert ended < planned, "stopped before its planned end"
        assert body["receipt"]["stop_reason"] == "Other" and body["receipt"]["energy_kwh"] >= 0
        assert [(e["message"], e["payload"].get("status")) for e in body["events"]][-3:] == [
            ("StopTransaction", None),
            ("StatusNotification", "Finishing"),
            ("StatusNotification", "Unavailable"),
        ]
        assert body["events"][-3]["payload"]["reason"] == "Other"
        assert (await driver_client.get("/api/reservations/current")).json()["id"] == rid
    finally:
        await pool.execute(
            "UPDATE charge_points SET operational_status = 'in_service' WHERE id = $1", p["id"]
        )


@pytest.mark.parametrize("how", ["log out everywhere", "account disabled"])
async def test_an_ended_session_cannot_book_start_stop_or_cancel(  # type: ignore[no-untyped-def]
    driver_client, pool, how: str
) -> None:
    """The booking transitions check the session inside their own statement (0022) rather
    than with the user lookup of other routes: an ended session gets the same 401, and
    nothing it asked is done."""
    p, q = await free_points(pool, 2)
    v = await vehicle(driver_client)
    booked = await driver_client.post(
        "/api/reservations", json={"charge_point_id": str(p["id"]), "vehicle_id": v}
    )
    assert booked.status_code == 201
    rid = booked.json()["id"]
    if how == "log out everywhere":
        sql = "UPDATE users SET token_version = token_version + 1 WHERE id = $1"
    else:
        sql = "UPDATE users SET disabled_at = now() WHERE id = $1"
    await pool.execute(sql, driver_client.user["id"])
    for path, body in (
        ("/api/reservations", {"charge_point_id": str(q["id"]), "vehicle_id": v}),
        (f"/api/reservations/{rid}/start", None),
        (f"/api/reservations/{rid}/stop", None),
        (f"/api/reservations/{rid}/cancel", None),
    ):
        r = await driver_client.post(path, json=body)
        assert (r.status_code, r.json()["code"]) == (401, "not_authenticated"), path
    rows = await pool.fetch(
        "SELECT charge_point_id, status FROM reservations WHERE user_id = $1",
        driver_client.user["id"],
    )
    assert [(r["charge_point_id"], r["status"]) for r in rows] == [(p["id"], "reserved")]


async def test_anonymous_booking_requests_leave_no_connection_behind(api_client) -> None:  # type: ignore[no-untyped-def]
    """A 401 from `current_session` must not strand the request's pooled connection (a
    stranded one is never released, and the app's shutdown waits on it forever)."""
    rid = "00000000-0000-4000-8000-000000000000"
    for path in ("", f"/{rid}/start", f"/{rid}/stop", f"/{rid}/cancel"):
        for _ in range(3):
            r = await api_client.post(f"/api/reservations{path}", json={})
            assert r.status_code == 401, path
    pool = api_client.app.state.pool
    for _ in range(60):  # a request's clean-up may end just after its answer: up to 3 s
        if pool.get_idle_size() == pool.get_size():
            break
        await asyncio.sleep(0.05)
    assert pool.get_idle_size() == pool.get_size()


async def test_database_refuses_double_booking_and_illegal_transitions(pool) -> None:  # type: ignore[no-untyped-def]
    """Bypass the application: the constraints alone must hold."""
    p1, p2 = await free_points(pool, 2)
    a, b = await create_user(pool), await create_user(pool)
    insert = (
        "INSERT INTO reservations (user_id, charge_point_id, expires_at, sim_speed) "
        "VALUES ($1, $2, now() + interval '30 min', 1) RETURNING id"
    )
    async with pool.acquire() as conn, conn.transaction():
        rid = await conn.fetchval(insert, a["id"], p1["id"])
        with pytest.raises(asyncpg.UniqueViolationError):
            async with conn.transaction():
                await conn.fetchval(insert, b["id"], p1["id"])  # same point
        with pytest.raises(asyncpg.UniqueViolationError):
            async with conn.transaction():
                await conn.fetchval(insert, a["id"], p2["id"])  # same driver
        with pytest.raises(asyncpg.PostgresError) as exc:
            async with conn.transaction():
                await conn.execute(
                    "UPDATE reservations SET status = 'completed', ended_at = now() WHERE id = $1",
                    rid,
                )
        assert exc.value.sqlstate == "WU409"
        await conn.execute(
            "UPDATE reservations SET status = 'cancelled', ended_at = now() WHERE id = $1", rid
        )
        with pytest.raises(asyncpg.PostgresError):
            async with conn.transaction():
                await conn.execute("UPDATE reservations SET status = 'reserved' WHERE id = $1", rid)


async def test_only_a_booking_moves_the_connector_and_without_index_writes(pool) -> None:  # type: ignore[no-untyped-def]
    """0028: the connector status is written by the booking's trigger alone (a direct write
    is refused, so the clusters, which find busy points through the open bookings, agree with
    every row), and those writes are HOT updates: no index of charge_points mentions it."""
    (p,) = await free_points(pool, 1)
    driver = await create_user(pool)
    # A HOT update needs room on the row's page: the bookings of earlier tests (or of an
    # earlier run on this database) may have filled it with dead versions a vacuum clears.
    await pool.execute("VACUUM charge_points")
    async with pool.acquire() as conn, conn.transaction():
        for status in ("Charging", "Faulted"):
            with pytest.raises(asyncpg.PostgresError) as exc:
                async with conn.transaction():
                    await conn.execute(
                        "UPDATE charge_points SET connector_status = $2 WHERE id = $1",
                        p["id"],
                        status,
                    )
            assert exc.value.sqlstate == "WU409"
        hot = "SELECT pg_stat_get_xact_tuples_hot_updated('charge_points'::regclass)"
        updated = "SELECT pg_stat_get_xact_tuples_updated('charge_points'::regclass)"
        hot_before, updated_before = await conn.fetchval(hot), await conn.fetchval(updated)
        rid = await conn.fetchval(
            "INSERT INTO reservations (user_id, charge_point_id, expires_at, sim_speed) "
            "VALUES ($1, $2, now() + interval '30 min', 1) RETURNING id",
            driver["id"],
            p["id"],
        )
        await conn.execute(
            "UPDATE reservations SET status = 'cancelled', ended_at = now() WHERE id = $1", rid
        )
        assert await conn.fetchval(updated) - updated_before == 2  # Reserved, then Available
        assert await conn.fetchval(hot) - hot_before == 2
        busy = await conn.fetch(
            "SELECT cp.id FROM charge_points cp WHERE cp.withdrawn_at IS NULL "
            "AND (cp.operational_status <> 'in_service' OR cp.connector_status <> 'Available') "
            "EXCEPT SELECT id FROM tiles.unavailable_points()"
        )
        assert busy == [], "a busy point the clusters would not see"


async def test_a_full_charge_in_ocpp_order_with_receipt(fast_client, pool) -> None:  # type: ignore[no-untyped-def]
    (p,) = await free_points(pool, 1, "cp.puissance_nominale >= 22")
    v = await vehicle(fast_client)
    rid = (
        await fast_client.post(
            "/api/reservations", json={"charge_point_id": str(p["id"]), "vehicle_id": v}
        )
    ).json()["id"]
    r = await fast_client.post(f"/api/reservations/{rid}/start")
    assert r.status_code == 200 and r.json()["status"] == "charging"
    live = r.json()["live"]
    assert 10 <= live["start_soc"] <= 40 and live["target_soc"] in (80, 100)
    assert (
        await pool.fetchval("SELECT connector_status FROM charge_points WHERE id = $1", p["id"])
        == "Charging"
    )
    deadline = time.monotonic() + 20
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = (await fast_client.get(f"/api/reservations/{rid}")).json()
        if body["receipt"]:
            break
        await asyncio.sleep(0.2)
    assert body["status"] == "completed", "the sweeper completes the charge on time"
    receipt = body["receipt"]
    assert receipt["end_soc"] == pytest.approx(live["target_soc"], abs=0.2)
    expected_kwh = 52 * (receipt["end_soc"] - receipt["start_soc"]) / 100
    assert receipt["energy_kwh"] == pytest.approx(expected_kwh, abs=0.05)
    assert receipt["average_power_kw"] <= 22.01
    messages = [
        e["message"] + ("/" + e["payload"]["status"] if "status" in e["payload"] else "")
        for e in body["events"]
    ]
    core = [m for m in messages if m != "MeterValues"]
    assert core == [
        "ReserveNow",
        "StatusNotification/Reserved",
        "RemoteStartTransaction",
        "StatusNotification/Preparing",
        "StartTransaction",
        "StatusNotification/Charging",
        "StatusNotification/SuspendedEV",
        "StopTransaction",
        "StatusNotification/Finishing",
        "StatusNotification/Available",
    ]
    # The payloads OCPP 1.6 gives these messages (0030): one connector, the driver's idTag,
    # the transactionId of StartTransaction named again by StopTransaction.
    sent = {e["message"]: e["payload"] for e in body["events"] if e["message"] != "MeterValues"}
    tag = sent["ReserveNow"]["idTag"]
    assert len(tag) == 20 and tag == tag.upper()
    assert sent["ReserveNow"]["connectorId"] == 1 and sent["ReserveNow"]["reservationId"] == rid
    assert sent["RemoteStartTransaction"] == {"connectorId": 1, "idTag": tag}
    start = sent["StartTransaction"]
    assert (start["connectorId"], start["idTag"], start["meterStart"]) == (1, tag, 0)
    assert isinstance(start["transactionId"], int) and start["reservationId"] == rid
    stop = sent["StopTransaction"]
    assert (stop["transactionId"], stop["idTag"]) == (start["transactionId"], tag)
    assert stop["meterStop"] == pytest.approx(receipt["energy_kwh"] * 1000, abs=10)
    meters = [e["payload"] for e in body["events"] if e["message"] == "MeterValues"]
    assert len(meters) >= 3
    assert all(a["energy_wh"] <= b["energy_wh"] for a, b in itertools.pairwise(meters))
    # The log is in time order; the car full (SuspendedEV, 0033) draws nothing until the stop,
    # two simulated minutes later; the average power is that of the charging alone.
    ats = [datetime.fromisoformat(e["at"]) for e in body["events"]]
    assert ats == sorted(ats)
    names = [e["message"] + e["payload"].get("status", "") for e in body["events"]]
    full = names.index("StatusNotificationSuspendedEV")
    stop_at = ats[names.index("StopTransaction")]
    assert (stop_at - ats[full]).total_seconds() * 3000 == pytest.approx(120, abs=1)
    tail = [e["payload"] for e in body["events"][full:] if e["message"] == "MeterValues"]
    assert tail and all(m["power_w"] == 0 for m in tail)
    assert all(m["soc"] == pytest.approx(receipt["end_soc"], abs=0.1) for m in tail)
    assert receipt["duration_minutes"] - receipt["charging_minutes"] == pytest.approx(2, abs=0.1)
    assert receipt["average_power_kw"] == pytest.approx(
        receipt["energy_kwh"] / (receipt["charging_minutes"] / 60), rel=0.02
    )
    history = (await fast_client.get("/api/reservations")).json()
    assert history["items"][0]["id"] == rid and history["total"] >= 1
    assert (
        await pool.fetchval("SELECT connector_status FROM charge_points WHERE id = $1", p["id"])
        == "Available"
    )


async def test_a_full_car_is_suspended_until_it_is_unplugged(settings: Settings, pool) -> None:  # type: ignore[no-untyped-def]
    """OCPP 1.6: the battery at its target, the charger reports SuspendedEV while the car
    stays plugged in (two simulated minutes here, 0033), then the transaction ends. At 50×
    a 1 kWh battery fills in at most ~6 s and the tail lasts 2.4 s: the driver's live state
    says so from the timestamps, and the connector (which the station sheet and the admin
    show) follows at the sweeper's next pass."""
    from api.app import create_app

    app_settings = msgspec.structs.replace(settings, sim_speed=50.0, sweep_interval_s=0.2)
    user = await create_user(pool)
    (p,) = await free_points(pool, 1, "cp.puissance_nominale >= 22")
    async with AsyncTestClient(app=create_app(app_settings)) as client:
        await sign_in(client, user["email"], PASSWORD)
        v = await vehicle(client, battery_kwh=1, max_ac_kw=11)
        r = await client.post(
            "/api/reservations", json={"charge_point_id": str(p["id"]), "vehicle_id": v}
        )
        rid = r.json()["id"]
        r = await client.post(f"/api/reservations/{rid}/start")
        assert r.status_code == 200 and r.json()["live"]["charger_status"] == "Charging"
        seen: list[tuple[str, str, str | None]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            live = (await client.get("/api/reservations/current")).json()["live"]
            connector = await pool.fetchval(
                "SELECT connector_status FROM charge_points WHERE id = $1", p["id"]
            )
            seen.append((live["status"], live.get("charger_status"), connector))
            if live["status"] == "charging" and live["charger_status"] == "SuspendedEV":
                assert live["power_kw"] == 0 and live["soc"] == live["target_soc"]
            if live["status"] == "completed":
                break
            await asyncio.sleep(0.1)
        statuses = [s for s, _, _ in seen]
        assert statuses[-1] == "completed", seen
        chargers = [c for s, c, _ in seen if s == "charging"]
        # Charging, then SuspendedEV to the end: never back.
        assert chargers[0] == "Charging" and chargers[-1] == "SuspendedEV", seen
        assert chargers == sorted(chargers, key=lambda c: c == "SuspendedEV"), seen
        assert "SuspendedEV" in {c for _, _, c in seen}, "the sweeper moved the connector"
        body = (await client.get(f"/api/reservations/{rid}")).json()
        assert body["receipt"]["stop_reason"] == "EVDisconnected"
        assert (
            await pool.fetchval("SELECT connector_status FROM charge_points WHERE id = $1", p["id"])
            == "Available"
        )


async def test_a_withdrawn_point_ends_its_booking_and_takes_no_new_one(pool) -> None:  # type: ignore[no-untyped-def]
    """Migration 0035: whoever withdraws a point (a full snapshot, the back office, SQL),
    its open booking ends with it; and a booking inserted once it is withdrawn (the one a
    driver was making while an import withdrew the point) is refused. All in a transaction
    rolled back: the shared network keeps its point."""
    (p,) = await free_points(pool, 1)
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            (booking,) = await hold_points(conn, [p["id"]])
            await conn.execute(
                "UPDATE charge_points SET withdrawn_at = now() WHERE id = $1", p["id"]
            )
            row = await conn.fetchrow(
                "SELECT status, end_reason FROM reservations WHERE id = $1", booking
            )
            assert (row["status"], row["end_reason"]) == ("cancelled", "point_withdrawn")
            assert (
                await conn.fetchval(
                    "SELECT connector_status FROM charge_points WHERE id = $1", p["id"]
                )
                == "Unavailable"
            )
            with pytest.raises(asyncpg.PostgresError) as exc:
                async with conn.transaction():
                    await hold_points(conn, [p["id"]])
            assert (exc.value.sqlstate, str(exc.value)) == ("WUREF", "point_not_found")
        finally:
            await tx.rollback()


async def test_withdrawing_a_point_mid_charge_stops_it_with_a_receipt(pool) -> None:  # type: ignore[no-untyped-def]
    """A charge under way on a point withdrawn ends as an operator's stop: StopTransaction
    (Other), its receipt, the connector Unavailable (0030, 0035). Rolled back afterwards."""
    (p,) = await free_points(pool, 1)
    user = await create_user(pool)
    car = await _vehicle_row(pool, user["id"])
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            (rid,) = await conn.fetchrow(
                "SELECT reservation_id FROM booking_reserve($1, $2, $3, 30, 100)",
                user["id"],
                p["id"],
                car,
            )
            await conn.execute("SELECT booking_start($1)", rid)
            await conn.execute(
                "UPDATE charge_points SET withdrawn_at = now() WHERE id = $1", p["id"]
            )
            row = await conn.fetchrow(
                "SELECT status, end_reason, receipt, events FROM reservations WHERE id = $1",
                rid,
            )
            assert (row["status"], row["end_reason"]) == ("completed", "point_withdrawn")
            assert row["receipt"]["stop_reason"] == "Other"  # the pool decodes jsonb
            log = [
                (e["message"], e["payload"].get("status") or e["payload"].get("reason"))
                for e in row["events"]
                if e["message"] != "MeterValues"
            ]
            assert log[-3:] == [
                ("StopTransaction", "Other"),
                ("StatusNotification", "Finishing"),
                ("StatusNotification", "Unavailable"),
            ]
            assert (
                await conn.fetchval(
                    "SELECT connector_status FROM charge_points WHERE id = $1", p["id"]
                )
                == "Unavailable"
            )
        finally:
            await tx.rollback()


async def test_a_booking_made_while_its_point_is_withdrawn_is_refused(pool) -> None:  # type: ignore[no-untyped-def]
    """The race of migration 0035: an import withdraws a point (its transaction holds the
    point's row) while a driver books it. The booking read the point before the import
    committed, so its own check passed; its connector update waits for the import, then sees
    the point withdrawn and refuses the booking. No booking is left on a withdrawn point."""
    (p,) = await free_points(pool, 1)
    user = await create_user(pool)
    car = await _vehicle_row(pool, user["id"])
    importer = await pool.acquire()
    try:
        tx = importer.transaction()
        await tx.start()
        await importer.execute(
            "UPDATE charge_points SET withdrawn_at = now() WHERE id = $1", p["id"]
        )
        booking = asyncio.create_task(
            pool.fetchrow(
                "SELECT * FROM booking_reserve($1, $2, $3, 30, 1)", user["id"], p["id"], car
            )
        )
        # The booking waits on the point's row, held by the "import".
        for _ in range(100):
            waiting = await pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE '%booking_reserve(%' AND pid <> pg_backend_pid()"
            )
            if waiting:
                break
            await asyncio.sleep(0.05)
        assert waiting, "the booking should wait for the withdrawing transaction"
        assert not booking.done()
        await tx.commit()
        with pytest.raises(asyncpg.PostgresError) as exc:
            await booking
        assert (exc.value.sqlstate, str(exc.value)) == ("WUREF", "point_not_found")
        assert not await pool.fetchval(
            "SELECT count(*) FROM reservations WHERE charge_point_id = $1 "
            "AND status IN ('reserved', 'charging')",
            p["id"],
        )
    finally:
        # Back in the network for the other tests (Available again: the trigger of 0035).
        await importer.execute(
            "UPDATE charge_points SET withdrawn_at = NULL WHERE id = $1", p["id"]
        )
        await pool.release(importer)
    assert (
        await pool.fetchval("SELECT connector_status FROM charge_points WHERE id = $1", p["id"])
        == "Available"
    )


async def test_no_show_expires_on_time_and_frees_the_point(fast_client, pool) -> None:  # type: ignore[no-untyped-def]
    (p,) = await free_points(pool, 1)
    v = await vehicle(fast_client)
    rid = (
        await fast_client.post(
            "/api/reservations", json={"charge_point_id": str(p["id"]), "vehicle_id": v}
        )
    ).json()["id"]
    # The hold lasts 1.5 s and this app sweeps every 0.2 s; the deadline only absorbs a
    # loaded machine. "On time" is the stored end: the hold's expiry, not the sweep's hour.
    deadline = time.monotonic() + 10
    while True:
        await asyncio.sleep(0.2)
        row = await pool.fetchrow(
            "SELECT status, ended_at = expires_at AS on_time, end_reason "
            "FROM reservations WHERE id = $1",
            rid,
        )
        if row["status"] != "reserved" or time.monotonic() > deadline:
            break
    assert row["status"] == "expired" and row["on_time"] and row["end_reason"] == "noshow_timeout"
    assert (
        await pool.fetchval("SELECT connector_status FROM charge_points WHERE id = $1", p["id"])
        == "Available"
    )


async def test_driver_stop_gives_a_partial_receipt(driver_client, pool) -> None:  # type: ignore[no-untyped-def]
    (p,) = await free_points(pool, 1)
    v = await vehicle(driver_client)
    rid = (
        await driver_client.post(
            "/api/reservations", json={"charge_point_id": str(p["id"]), "vehicle_id": v}
        )
    ).json()["id"]
    await driver_client.post(f"/api/reservations/{rid}/start")
    await asyncio.sleep(0.3)
    current = (await driver_client.get("/api/reservations/current")).json()
    assert current["status"] == "charging" and current["live"]["energy_kwh"] >= 0
    r = await driver_client.post(f"/api/reservations/{rid}/stop")
    assert r.status_code == 200 and r.json()["status"] == "completed"
    assert r.json()["receipt"]["stop_reason"] == "Remote"
    # The answer is the booking as stored: the same receipt and the whole log, in order.
    stored = (await driver_client.get(f"/api/reservations/{rid}")).json()
    assert r.json()["receipt"] == stored["receipt"] and r.json()["events"] == stored["events"]
    assert [e["message"] for e in stored["events"]][-3:] == [
        "StopTransaction",
        "StatusNotification",
        "StatusNotification",
    ]


async def test_the_booked_car_stays_and_must_still_fit_at_start(driver_client, pool) -> None:  # type: ignore[no-untyped-def]
    """A car with an open booking cannot be deleted (409 vehicle_in_use), and a start checks
    it again (0030): changed since the booking so that it no longer fits the point, it is
    refused as at booking time; fitting again, the start goes through."""
    (p,) = await free_points(pool, 1, "NOT cp.prise_type_chademo")
    v = await vehicle(driver_client)
    rid = (
        await driver_client.post(
            "/api/reservations", json={"charge_point_id": str(p["id"]), "vehicle_id": v}
        )
    ).json()["id"]
    r = await driver_client.delete(f"/api/vehicles/{v}")
    assert r.status_code == 409 and r.json()["code"] == "vehicle_in_use"
    assert "réservation en cours" in r.json()["detail"]
    r = await driver_client.patch(
        f"/api/vehicles/{v}", json={"connectors": ["chademo"], "max_dc_kw": 50}
    )
    assert r.status_code == 200, r.text
    r = await driver_client.post(f"/api/reservations/{rid}/start")
    assert r.status_code == 422 and r.json()["code"] == "connector_incompatible"
    assert await pool.fetchval("SELECT status FROM reservations WHERE id = $1", rid) == "reserved"
    await driver_client.patch(f"/api/vehicles/{v}", json={"connectors": ["type_2", "chademo"]})
    r = await driver_client.post(f"/api/reservations/{rid}/start")
    assert r.status_code == 200 and r.json()["status"] == "charging"
    assert (await driver_client.post(f"/api/reservations/{rid}/stop")).status_code == 200
    assert (await driver_client.delete(f"/api/vehicles/{v}")).status_code == 204
    r = await driver_client.delete(f"/api/vehicles/{v}")
    assert r.status_code == 404 and r.json()["code"] == "vehicle_not_found"
    # The ended booking keeps its history; its car is gone (ON DELETE SET NULL).
    assert await pool.fetchval("SELECT vehicle_id FROM reservations WHERE id = $1", rid) is None


async def test_a_running_charge_logs_its_meter_values_and_a_late_read_ends_it(  # type: ignore[no-untyped-def]
    settings: Settings, pool
) -> None:
    """While a charge runs, its log shows the MeterValues so far, every 10 simulated seconds
    (0030); read after its planned end but before any sweep, it is ended by the read itself
    with its receipt, and the stored log starts with the MeterValues shown while it ran."""
    from api.app import create_app

    # 1,500× and a sweeper that does not come back in this test: only the read can end it.
    slow_sweep = msgspec.structs.replace(settings, sim_speed=1500.0, sweep_interval_s=3600)
    user = await create_user(pool)
    (p,) = await free_points(pool, 1, "cp.puissance_nominale >= 22")
    async with AsyncTestClient(app=create_app(slow_sweep)) as client:
        await sign_in(client, user["email"], PASSWORD)
        # 30 kWh at 22 kW: 33 to 74 simulated minutes (1.3 to 3 s), < 500 samples.
        v = await vehicle(client, battery_kwh=30)
        rid = (
            await client.post(
                "/api/reservations", json={"charge_point_id": str(p["id"]), "vehicle_id": v}
            )
        ).json()["id"]
        started = (await client.post(f"/api/reservations/{rid}/start")).json()
        await asyncio.sleep(0.3)
        running = (await client.get(f"/api/reservations/{rid}")).json()
        assert running["status"] == "charging"
        meters = [e for e in running["events"] if e["message"] == "MeterValues"]
        # 0.3 s at 1,500× is 7.5 simulated minutes: ~45 samples, 10 simulated s apart.
        assert len(meters) >= 20, len(meters)
        ats = [datetime.fromisoformat(e["at"]) for e in meters]
        gaps = {round((b - a).total_seconds() * 1500) for a, b in itertools.pairwise(ats)}
        assert gaps <= {10}, gaps
        assert ats[-1] <= datetime.fromisoformat(running["live"]["estimated_end"])
        socs = [e["payload"]["soc"] for e in meters]
        assert socs == sorted(socs) and socs[-1] <= running["live"]["soc"] + 0.1
        assert running["receipt"] is None
        # The planned end passes; the stored booking is still charging (no sweep yet).
        end = datetime.fromisoformat(started["live"]["estimated_end"])
        await asyncio.sleep(max(0.0, (end - datetime.now(end.tzinfo)).total_seconds()) + 0.2)
        assert await pool.fetchval("SELECT status FROM reservations WHERE id = $1", rid) == (
            "charging"
        )
        current = (await client.get("/api/reservations/current")).json()
        assert current["id"] == rid and current["status"] == "completed"
        assert current["receipt"] is not None and current["receipt"]["stop_reason"] == (
            "EVDisconnected"
        )
        row = await pool.fetchrow(
            "SELECT r.status, cp.connector_status FROM reservations r "
            "JOIN charge_points cp ON cp.id = r.charge_point_id WHERE r.id = $1",
            rid,
        )
        assert (row["status"], row["connector_status"]) == ("completed", "Available")
        stored = [e for e in current["events"] if e["message"] == "MeterValues"]
        assert stored[: len(meters)] == meters and len(stored) > len(meters)


async def _vehicle_row(pool, user_id) -> Any:  # type: ignore[no-untyped-def]
    return await pool.fetchval(
        "INSERT INTO vehicles (user_id, name, connectors) VALUES ($1, 'EV', '{type_2}') "
        "RETURNING id",
        user_id,
    )


async def test_a_transition_is_one_statement_that_answers_or_refuses(pool) -> None:  # type: ignore[no-untyped-def]
    """The 0018 functions, called as the API does (autocommit): each transition answers with
    the booking, its log, where its station is (0026; the tiles themselves for a caller
    that does not pass p_tiles, the API of 0025) and the data version; an illegal one is
    refused by the database and changes nothing."""
    from api.booking import ANSWER
    from wattsup import tile_cache

    (p,) = await free_points(pool, 1)
    user = await create_user(pool)
    v = await _vehicle_row(pool, user["id"])
    # $1, $2: the session (user, token version), checked first (0022); then the transition's.
    tv = await pool.fetchval("SELECT token_version FROM users WHERE id = $1", user["id"])
    book = ANSWER.replace("a.station_xy", "a.tiles").format(  # as the API of 0025 asks
        "booking_reserve_answer(who.id, $3, $4, 30, 1)"
    )
    with pytest.raises(asyncpg.PostgresError) as exc:  # a session ended since its token
        await pool.fetchrow(book, user["id"], tv - 1, p["id"], v)
    assert (exc.value.sqlstate, exc.value.message) == ("WUREF", "not_authenticated")
    assert (
        await pool.fetchval("SELECT count(*) FROM reservations WHERE user_id = $1", user["id"]) == 0
    )
    a = await pool.fetchrow(book, user["id"], tv, p["id"], v)
    assert a["status"] == "reserved" and a["station_id"] == p["station_id"]
    assert [e["message"] for e in json.loads(a["event_log"])] == [
        "ReserveNow",
        "StatusNotification",
    ]
    want = {
        (r["z"], r["x"], r["y"])
        for r in await pool.fetch("SELECT * FROM tiles.tiles_of_station($1)", p["station_id"])
    }
    assert {tuple(t) for t in a["tiles"]} == want and {t[0] for t in want} == set(range(21))
    assert a["data_version"] == await pool.fetchval("SELECT data_version FROM app_meta")
    assert a["completed"] == []
    # Committed by itself: another connection sees it.
    assert await pool.fetchval("SELECT status FROM reservations WHERE id = $1", a["id"]) == (
        "reserved"
    )

    stop = ANSWER.format("booking_stop_answer(who.id, $3)")
    with pytest.raises(asyncpg.PostgresError) as exc:
        await pool.fetchrow(stop, user["id"], tv, a["id"])
    assert (exc.value.sqlstate, exc.value.message, exc.value.detail) == (
        "WUREF",
        "invalid_transition",
        "reserved",
    )
    other = await create_user(pool)
    cancel = ANSWER.format("booking_cancel_answer(who.id, $3)")
    with pytest.raises(asyncpg.PostgresError) as exc:  # not theirs: unknown
        await pool.fetchrow(cancel, other["id"], 0, a["id"])
    assert exc.value.message == "reservation_not_found"

    cancel = ANSWER.format("booking_cancel_answer(who.id, $3, p_tiles => false)")  # the API's
    c = await pool.fetchrow(cancel, user["id"], tv, a["id"])
    assert c["status"] == "cancelled"
    xy = await pool.fetchrow(
        "SELECT ST_X(geom), ST_Y(geom) FROM stations WHERE id = $1", c["station_id"]
    )
    assert c["station_xy"] == [list(xy)] and set(tile_cache.tiles_of_point(*xy)) == want
    assert [e["message"] for e in json.loads(c["event_log"])][-2:] == [
        "CancelReservation",
        "StatusNotification",
    ]
    for start in (
        ANSWER.format("booking_start_answer(who.id, $3)"),
        # as an API process of 0026 asks, with the plan it drew (kept for the upgrade)
        ANSWER.format("booking_start_answer(who.id, $3, 600, 52, 20, 80, 22, false)"),
    ):
        with pytest.raises(asyncpg.PostgresError) as exc:
            await pool.fetchrow(start, user["id"], tv, a["id"])
        assert (exc.value.message, exc.value.detail) == ("invalid_transition", "cancelled")
    row = await pool.fetchrow("SELECT status, started_at FROM reservations WHERE id = $1", a["id"])
    assert row["status"] == "cancelled" and row["started_at"] is None
    assert (
        await pool.fetchval("SELECT connector_status FROM charge_points WHERE id = $1", p["id"])
        == "Available"
    )


async def test_a_booking_drops_the_cached_tiles_of_its_point(  # type: ignore[no-untyped-def]
    driver_client, pool, redis_client
) -> None:
    from wattsup import tile_cache

    (p,) = await free_points(pool, 1)
    version = await pool.fetchval("SELECT data_version FROM app_meta")
    tiles = await pool.fetch("SELECT * FROM tiles.tiles_of_station($1)", p["station_id"])
    for t in tiles:
        for f in ("", "power=22"):
            assert await tile_cache.put(redis_client, version, t["z"], t["x"], t["y"], f, b"old")
    # A tile of the same zoom elsewhere stays.
    z15 = next(t for t in tiles if t["z"] == 15)
    assert await tile_cache.put(redis_client, version, 15, z15["x"] + 7, z15["y"], "", b"keep")
    epoch = await redis_client.get(tile_cache.epoch_key(version))
    v = await vehicle(driver_client)
    r = await driver_client.post(
        "/api/reservations", json={"charge_point_id": str(p["id"]), "vehicle_id": v}
    )
    assert r.status_code == 201, r.text
    for t in tiles:
        for f in ("", "power=22"):
            key = tile_cache.tile_key(version, t["z"], t["x"], t["y"], f)
            assert not await redis_client.exists(key), key
        assert not await redis_client.exists(tile_cache.index_key(version, t["z"], t["x"], t["y"]))
    assert await redis_client.get(tile_cache.tile_key(version, 15, z15["x"] + 7, z15["y"], ""))
    assert await redis_client.get(tile_cache.epoch_key(version)) != epoch
    await driver_client.post(f"/api/reservations/{r.json()['id']}/cancel")


async def test_a_start_draws_its_plan_and_a_stop_writes_log_and_receipt_at_once(pool) -> None:  # type: ignore[no-untyped-def]
    """0027: the statement that starts a charge draws its plan from the point and the car
    (start state of charge in 10–40 %, the target by the hour in Paris, the lower power), and
    the statement that stops it writes its closing log and receipt, the same numbers as the
    live state (api/charger_sim.py). An API process of 0026 that then writes its own
    (booking_finish) changes nothing."""
    from api.booking import ANSWER
    from api.charger_sim import ChargePlan

    points = await free_points(pool, 6)
    kws = dict(
        await pool.fetch(
            "SELECT id, puissance_nominale::float8 FROM charge_points WHERE id = ANY($1)",
            [p["id"] for p in points],
        )
    )
    book = ANSWER.format("booking_reserve_answer(who.id, $3, $4, 30, 3000, p_tiles => false)")
    start = ANSWER.format("booking_start_answer(who.id, $3, p_tiles => false)")
    started = []
    for p in points:
        user = await create_user(pool)
        me = (user["id"], 0)  # the session: user, token version
        a = await pool.fetchrow(book, *me, p["id"], await _vehicle_row(pool, user["id"]))
        s = await pool.fetchrow(start, *me, a["id"])
        assert s["status"] == "charging"
        started.append((me, s))
    hour = await pool.fetchval("SELECT extract(hour FROM now() AT TIME ZONE 'Europe/Paris')")
    for _, s in started:  # the car of _vehicle_row: Type 2, 60 kWh, 11 kW AC
        assert (s["battery_kwh"], s["is_dc"]) == (60.0, False)
        assert s["power_kw"] == max(min(kws[s["charge_point_id"]], 11.0), 1.0)
        assert 10 <= s["start_soc"] <= 40
        assert s["target_soc"] == (100.0 if hour >= 22 or hour < 6 else 80.0)
        plan = ChargePlan(60.0, s["start_soc"], s["target_soc"], s["power_kw"], False, 3000.0)
        planned = (s["full_at"] - s["started_at"]).total_seconds()
        assert planned == pytest.approx(plan.duration_real_s(), abs=1e-5)
        # Then the full car stays plugged in for two simulated minutes (0033).
        tail = (s["ends_at"] - s["full_at"]).total_seconds()
        assert tail == pytest.approx(120 / 3000, abs=1e-5)
    assert len({s["start_soc"] for _, s in started}) > 1, "drawn, not a constant"

    me, s = started[0]
    await asyncio.sleep(0.35)  # of a charge planned to last 2.6 s or more at 3,000×
    e = await pool.fetchrow(ANSWER.format("booking_stop_answer(who.id, $3)"), *me, s["id"])
    assert e["status"] == "completed" and e["end_reason"] == "driver_stop"
    plan = ChargePlan(60.0, s["start_soc"], s["target_soc"], s["power_kw"], False, 3000.0)
    elapsed = (e["ended_at"] - e["started_at"]).total_seconds()
    soc = plan.soc_at(elapsed)
    receipt = e["receipt"]
    assert receipt["stop_reason"] == "Remote" and receipt["end_soc"] == round(soc, 1)
    assert receipt["energy_kwh"] == pytest.approx(plan.energy_kwh(soc), abs=0.005)
    assert receipt["duration_minutes"] == pytest.approx(elapsed * 3000 / 60, abs=0.05)
    assert receipt["point_power_kw"] == kws[s["charge_point_id"]]
    log = json.loads(e["event_log"])
    meters = [x for x in log if x["message"] == "MeterValues"]
    assert len(meters) == int(elapsed * 3000 / 10 - 1e-9) > 0, "every 10 simulated seconds"
    assert meters[-1]["payload"]["energy_wh"] <= round(plan.energy_kwh(soc) * 1000)
    start_msg = next(x["payload"] for x in log if x["message"] == "StartTransaction")
    stop = {
        "meterStop": round(plan.energy_kwh(soc) * 1000),
        "reason": "Remote",
        "idTag": start_msg["idTag"],
        "transactionId": start_msg["transactionId"],
    }
    assert [(x["message"], x["payload"]) for x in log[-3:]] == [
        ("StopTransaction", stop),
        ("StatusNotification", {"status": "Finishing"}),
        ("StatusNotification", {"status": "Available"}),
    ]
    at = await pool.fetchval(
        "SELECT max(at) FROM reservation_events WHERE reservation_id = $1", s["id"]
    )
    assert at == e["ended_at"]
    assert not await pool.fetchval(  # the 0026 API's second statement, after the upgrade
        'SELECT booking_finish($1, \'[{"at": "2026-01-01T00:00:00Z", "message": "X"}]\', \'{}\')',
        s["id"],
    )
    assert await pool.fetchval(
        "SELECT count(*) FROM reservation_events WHERE reservation_id = $1", s["id"]
    ) == len(log)
    for me, s in started[1:]:
        await pool.fetchrow(ANSWER.format("booking_stop_answer(who.id, $3)"), *me, s["id"])


async def test_a_transition_first_ends_what_is_due_of_its_point_and_driver(pool) -> None:  # type: ignore[no-untyped-def]
    """booking_sweep (0026): a no-show of the driver past its hold and a charge on the point
    past its end are ended by the next transition that touches them, not left for the
    sweeper; the answer names their stations and the charge it completed, with its receipt
    (0027)."""
    from api.booking import ANSWER
    from wattsup import tile_cache

    (p,) = await free_points(pool, 1)
    (q,) = await free_points(pool, 1, f"cp.station_id <> '{p['station_id']}'")
    mine, theirs = await create_user(pool), await create_user(pool)
    v, w = await _vehicle_row(pool, mine["id"]), await _vehicle_row(pool, theirs["id"])
    me, them = (mine["id"], 0), (theirs["id"], 0)
    book = ANSWER.format("booking_reserve_answer(who.id, $3, $4, 30, 1, p_tiles => false)")
    noshow = await pool.fetchrow(book, *me, q["id"], v)
    charge = await pool.fetchrow(book, *them, p["id"], w)
    await pool.fetchrow(
        ANSWER.format("booking_start_answer(who.id, $3, p_tiles => false)"),
        *them,
        charge["id"],
    )
    refused = pytest.raises(asyncpg.PostgresError)
    with refused as exc:  # both still open: refused as before
        await pool.fetchrow(book, *me, p["id"], v)
    assert exc.value.message == "already_has_reservation"
    await pool.execute(  # the no-show's hold and the charge are now over
        "UPDATE reservations SET created_at = now() - interval '2 hours', "
        "expires_at = now() - interval '1 hour' WHERE id = $1",
        noshow["id"],
    )
    await pool.execute(
        "UPDATE reservations SET started_at = now() - interval '20 minutes', "
        "full_at = now() - interval '3 minutes', ends_at = now() - interval '1 minute' "
        "WHERE id = $1",
        charge["id"],
    )

    a = await pool.fetchrow(book, *me, p["id"], v)
    assert a["status"] == "reserved" and a["completed"] == [charge["id"]]
    ended = {
        r["id"]: r
        for r in await pool.fetch(
            "SELECT id, status, end_reason, ended_at, expires_at, ends_at, receipt "
            "FROM reservations WHERE id = ANY($1)",
            [noshow["id"], charge["id"]],
        )
    }
    n, c = ended[noshow["id"]], ended[charge["id"]]
    assert (n["status"], n["end_reason"], n["ended_at"]) == (
        "expired",
        "noshow_timeout",
        n["expires_at"],
    )
    assert (c["status"], c["end_reason"], c["ended_at"]) == (
        "completed",
        "target_reached",
        c["ends_at"],
    )
    assert c["receipt"]["stop_reason"] == "EVDisconnected"
    where = {
        r["id"]: (r["x"], r["y"])
        for r in await pool.fetch(
            "SELECT id, ST_X(geom) x, ST_Y(geom) y FROM stations WHERE id = ANY($1)",
            [p["station_id"], q["station_id"]],
        )
    }
    # The booked point's station first, then those the sweep changed (q's, p's, in any order).
    pp, qq = where[p["station_id"]], where[q["station_id"]]
    assert tuple(a["station_xy"][0]) == pp
    assert sorted(map(tuple, a["station_xy"])) == sorted([pp, pp, qq])
    answered = {t for x, y in a["station_xy"] for t in tile_cache.tiles_of_point(x, y)}
    assert answered == set(tile_cache.tiles_of_point(*pp)) | set(tile_cache.tiles_of_point(*qq))


async def test_dynamic_export_follows_the_official_schema(api_client) -> None:  # type: ignore[no-untyped-def]
    schema = json.loads((DATA / "schema-dynamique.json").read_text(encoding="utf-8"))
    fields = {f["name"]: f for f in schema["fields"]}
    rows = (await api_client.get("/api/irve/dynamique.json")).json()
    assert rows
    for row in rows[:200]:
        for name, value in row.items():
            assert name in fields, name
            enum = fields[name].get("constraints", {}).get("enum")
            if enum and value is not None:
                assert value in enum, (name, value)
        for f in schema["fields"]:
            if f.get("constraints", {}).get("required"):
                assert row.get(f["name"]) is not None, f["name"]
    r = await api_client.get("/api/irve/dynamique.csv")
    header = r.text.splitlines()[0].split(",")
    assert set(header) <= set(fields)
    # HEAD: GET's headers, no body (and no read of the network).
    for path in ("/api/irve/dynamique.csv", "/api/irve/dynamique.json"):
        got, head = await api_client.get(path), await api_client.head(path)
        assert head.status_code == 200 and head.content == b"", path
        assert head.headers["content-type"] == got.headers["content-type"], path
        assert head.headers.get("content-disposition") == got.headers.get("content-disposition")


# --- two API processes over HTTP ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def two_api_processes(migrated_database: str) -> Iterator[list[str]]:
    env = {**make_test_env(), "WATTSUP_LOG_LEVEL": "WARNING"}
    procs, urls = [], []
    for _ in range(2):
        port = free_port()
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "api.app:create_app",
                    "--factory",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ],
                env=env,
                cwd=ROOT,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        for url in urls:
            while True:
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "API process did not start"
                time.sleep(0.2)
        yield urls
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


async def signed_in_http(url: str, pool) -> tuple[httpx.AsyncClient, str]:  # type: ignore[no-untyped-def]
    user = await create_user(pool)
    client = httpx.AsyncClient(base_url=url, timeout=30)
    r = await client.post("/api/auth/login", json={"email": user["email"], "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = client.cookies["wattsup_csrf"]
    v = await client.post("/api/vehicles", json={"name": "EV", "connectors": ["type_2"]})
    return client, v.json()["id"]


async def test_fifty_drivers_race_for_one_point_across_two_processes(  # type: ignore[no-untyped-def]
    two_api_processes, pool
) -> None:
    (p,) = await free_points(pool, 1)
    drivers = [await signed_in_http(two_api_processes[i % 2], pool) for i in range(50)]
    try:
        results = await asyncio.gather(
            *[
                c.post("/api/reservations", json={"charge_point_id": str(p["id"]), "vehicle_id": v})
                for c, v in drivers
            ]
        )
        codes = sorted(r.status_code for r in results)
        assert codes.count(201) == 1, codes
        assert all(r.json()["code"] == "point_unavailable" for r in results if r.status_code != 201)
        assert (
            await pool.fetchval(
                "SELECT count(*) FROM reservations WHERE charge_point_id = $1 AND status IN "
                "('reserved', 'charging')",
                p["id"],
            )
            == 1
        )
    finally:
        for c, _ in drivers:
            await c.aclose()


async def test_one_driver_races_for_twenty_points(two_api_processes, pool) -> None:  # type: ignore[no-untyped-def]
    points = await free_points(pool, 20)
    assert len(points) == 20
    clients = []
    first, v = await signed_in_http(two_api_processes[0], pool)
    second = httpx.AsyncClient(
        base_url=two_api_processes[1], timeout=30, cookies=first.cookies, headers=first.headers
    )
    clients = [first, second]
    try:
        results = await asyncio.gather(
            *[
                clients[i % 2].post(
                    "/api/reservations", json={"charge_point_id": str(p["id"]), "vehicle_id": v}
                )
                for i, p in enumerate(points)
            ]
        )
        codes = [r.status_code for r in results]
        assert codes.count(201) == 1, codes
        assert {r.json()["code"] for r in results if r.status_code != 201} == {
            "already_has_reservation"
        }
    finally:
        for c in clients:
            await c.aclose()
