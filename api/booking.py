"""Booking rules: check-and-insert under advisory locks, start, stop, cancel, sweep.

No double booking, with any number of API processes: the check and the insert run in one
transaction holding `pg_advisory_xact_lock` on the point then on the driver (always in that
order, so two bookings cannot wait on each other), and the partial unique indexes of
migration 0004 catch whatever would slip past the application; both give the same 409.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg

from api.charger_sim import ChargePlan, meter_samples, plan_charge
from wattsup.config import Settings
from wattsup.problems import Problem

log = logging.getLogger("wattsup.booking")
PARIS = ZoneInfo("Europe/Paris")
OPEN = ("reserved", "charging")
CONNECTOR_COLUMNS = {
    "ef": "prise_type_ef",
    "type_2": "prise_type_2",
    "combo_ccs": "prise_type_combo_ccs",
    "chademo": "prise_type_chademo",
    "autre": "prise_type_autre",
}
GRACE_MINUTES = 5


def booking_terms(settings: Settings) -> dict[str, Any]:
    """The terms the page shows before confirming (OCPI 2.3 Booking names where they fit)."""
    hold = settings.reservation_hold_minutes
    return {
        "hold_minutes": hold,
        "start_window_minutes": hold,
        "noshow_timeout": hold * 60,
        "grace_minutes": GRACE_MINUTES,
        "cancel_until_minutes": hold,
        "free_cancellation": True,
        "auto_release": True,
        "price": "Réservation gratuite ; la recharge est facturée par l'opérateur selon son tarif.",
        "text_fr": (
            f"Le point est bloqué pour vous pendant {hold} minutes. Annulation gratuite à tout "
            f"moment avant le début de la charge. Sans démarrage dans ce délai, la réservation "
            f"expire et le point est libéré automatiquement."
        ),
    }


def _lock_key(kind: str, ident: UUID) -> str:
    return f"wattsup:{kind}:{ident}"


async def event(
    conn: asyncpg.Connection,
    reservation_id: UUID,
    message: str,
    payload: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO reservation_events (reservation_id, at, message, payload) "
        "VALUES ($1, coalesce($2, clock_timestamp()), $3, $4)",
        reservation_id,
        at,
        message,
        payload or {},
    )


async def sweep(
    conn: asyncpg.Connection, point: UUID | None = None, user: UUID | None = None
) -> list[UUID]:
    """Expire no-shows and complete finished charges (all, or those of a point/user).
    Returns the stations whose availability changed."""
    rows = await conn.fetch("SELECT * FROM sweep_reservations($1, $2)", point, user)
    for r in rows:
        if r["new_status"] == "completed":
            await finish_charge(conn, r["reservation_id"], reason="EVDisconnected")
    return list({r["station_id"] for r in rows})


def _plan_of(r: asyncpg.Record) -> ChargePlan:
    return ChargePlan(
        battery_kwh=r["battery_kwh"],
        start_soc=r["start_soc"],
        target_soc=r["target_soc"],
        power_kw=r["power_kw"],
        is_dc=r["is_dc"],
        sim_speed=r["sim_speed"],
    )


async def finish_charge(conn: asyncpg.Connection, reservation_id: UUID, *, reason: str) -> None:
    """Write the rest of the charger's log and the receipt of an ended charge."""
    r = await conn.fetchrow(
        "SELECT r.*, cp.id_pdc_itinerance, cp.tarification, cp.puissance_nominale::float8 AS "
        "point_kw, s.nom_station, s.adresse_station FROM reservations r "
        "JOIN charge_points cp ON cp.id = r.charge_point_id "
        "JOIN stations s ON s.id = cp.station_id WHERE r.id = $1",
        reservation_id,
    )
    if r is None or r["receipt"] is not None or r["started_at"] is None:
        return
    plan = _plan_of(r)
    started, ended = r["started_at"], r["ended_at"]
    elapsed = (ended - started).total_seconds()
    soc_end = plan.soc_at(elapsed)
    for at, values in meter_samples(plan, started, ended):
        await event(conn, reservation_id, "MeterValues", values, at)
    if soc_end >= plan.target_soc - 0.05:
        await event(conn, reservation_id, "StatusNotification", {"status": "SuspendedEV"}, ended)
    energy = plan.energy_kwh(soc_end)
    meter_stop = round(energy * 1000)
    await event(
        conn, reservation_id, "StopTransaction", {"meterStop": meter_stop, "reason": reason}, ended
    )
    await event(conn, reservation_id, "StatusNotification", {"status": "Finishing"}, ended)
    await event(conn, reservation_id, "StatusNotification", {"status": "Available"}, ended)
    sim_minutes = elapsed * plan.sim_speed / 60
    receipt = {
        "energy_kwh": round(energy, 2),
        "duration_minutes": round(sim_minutes, 1),
        "real_duration_seconds": round(elapsed, 1),
        "average_power_kw": round(energy / (sim_minutes / 60), 2) if sim_minutes > 0 else 0.0,
        "start_soc": plan.start_soc,
        "end_soc": round(soc_end, 1),
        "point": r["id_pdc_itinerance"],
        "point_power_kw": r["point_kw"],
        "station": r["nom_station"],
        "address": r["adresse_station"],
        "pricing": r["tarification"],
        "stop_reason": reason,
    }
    await conn.execute(
        "UPDATE reservations SET receipt = $2 WHERE id = $1", reservation_id, receipt
    )


async def create_reservation(
    conn: asyncpg.Connection,
    settings: Settings,
    user_id: UUID,
    point_id: UUID,
    vehicle_id: UUID,
) -> UUID:
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", _lock_key("point", point_id)
        )
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", _lock_key("user", user_id)
        )
        await sweep(conn, point_id, user_id)
        vehicle = await conn.fetchrow(
            "SELECT connectors FROM vehicles WHERE id = $1 AND user_id = $2",
            vehicle_id,
            user_id,
        )
        if vehicle is None:
            raise Problem(404, "vehicle_not_found", "Véhicule introuvable.")
        point = await conn.fetchrow("SELECT * FROM charge_points WHERE id = $1", point_id)
        if point is None or point["withdrawn_at"] is not None:
            raise Problem(404, "point_not_found", "Point de recharge introuvable.")
        if point["operational_status"] != "in_service":
            raise Problem(
                409,
                "point_out_of_service",
                "Ce point de recharge est hors service : choisissez-en un autre.",
            )
        if point["reservation"] is False:
            raise Problem(
                409,
                "point_not_reservable",
                "Ce point n'accepte pas la réservation (selon son opérateur).",
            )
        if not any(point[CONNECTOR_COLUMNS[c]] for c in vehicle["connectors"]):
            raise Problem(
                422,
                "connector_incompatible",
                "Ce point n'a pas de prise compatible avec votre véhicule.",
            )
        mine = await conn.fetchval(
            "SELECT id FROM reservations WHERE user_id = $1 AND status = ANY($2::text[])",
            user_id,
            list(OPEN),
        )
        if mine is not None:
            raise Problem(
                409,
                "already_has_reservation",
                "Vous avez déjà une réservation en cours : terminez-la ou annulez-la.",
            )
        taken = await conn.fetchval(
            "SELECT 1 FROM reservations WHERE charge_point_id = $1 AND status = ANY($2::text[])",
            point_id,
            list(OPEN),
        )
        if taken or point["connector_status"] != "Available":
            raise Problem(
                409,
                "point_unavailable",
                "Ce point vient d'être réservé ou est occupé : choisissez-en un autre.",
            )
        try:
            async with conn.transaction():  # savepoint: a violation must not abort the rest
                rid: UUID = await conn.fetchval(
                    "INSERT INTO reservations (user_id, vehicle_id, charge_point_id, expires_at,"
                    " sim_speed) VALUES ($1, $2, $3, now() + $4 * interval '1 minute', $5) "
                    "RETURNING id",
                    user_id,
                    vehicle_id,
                    point_id,
                    settings.reservation_hold_minutes,
                    settings.sim_speed,
                )
        except asyncpg.UniqueViolationError as exc:
            raise _violation(exc) from None
        expiry = await conn.fetchval("SELECT expires_at FROM reservations WHERE id = $1", rid)
        await event(
            conn, rid, "ReserveNow", {"expiryDate": expiry.isoformat(), "reservationId": str(rid)}
        )
        await event(conn, rid, "StatusNotification", {"status": "Reserved"})
    return rid


def _violation(exc: asyncpg.UniqueViolationError) -> Problem:
    if "per_user" in (exc.constraint_name or ""):
        return Problem(
            409,
            "already_has_reservation",
            "Vous avez déjà une réservation en cours : terminez-la ou annulez-la.",
        )
    return Problem(
        409,
        "point_unavailable",
        "Ce point vient d'être réservé ou est occupé : choisissez-en un autre.",
    )


async def _own_locked(conn: asyncpg.Connection, user_id: UUID, rid: UUID) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT * FROM reservations WHERE id = $1 AND user_id = $2 FOR UPDATE", rid, user_id
    )
    if row is None:
        raise Problem(404, "reservation_not_found", "Réservation introuvable.")
    return row


async def start_charge(
    conn: asyncpg.Connection, user_id: UUID, rid: UUID, *, now: datetime | None = None
) -> None:
    async with conn.transaction():
        await sweep(conn, None, user_id)
        r = await _own_locked(conn, user_id, rid)
        if r["status"] != "reserved":
            raise Problem(
                409,
                "invalid_transition",
                f"Impossible de démarrer : la réservation est « {r['status']} ».",
            )
        data = await conn.fetchrow(
            "SELECT cp.puissance_nominale::float8 AS kw, cp.prise_type_ef, cp.prise_type_2, "
            "cp.prise_type_combo_ccs, cp.prise_type_chademo, cp.prise_type_autre, "
            "v.connectors, v.battery_kwh::float8 AS battery, v.max_ac_kw::float8 AS ac, "
            "v.max_dc_kw::float8 AS dc FROM charge_points cp "
            "LEFT JOIN vehicles v ON v.id = $2 WHERE cp.id = $1",
            r["charge_point_id"],
            r["vehicle_id"],
        )
        assert data is not None
        point_connectors = {c for c, col in CONNECTOR_COLUMNS.items() if data[col]}
        plan = plan_charge(
            point_kw=data["kw"],
            point_dc_capable=bool({"combo_ccs", "chademo"} & point_connectors),
            vehicle_connectors=set(data["connectors"] or ["type_2"]),
            point_connectors=point_connectors,
            battery_kwh=data["battery"] or 60.0,
            max_ac_kw=data["ac"] or 11.0,
            max_dc_kw=data["dc"] or 0.0,
            now_local=(now or datetime.now(UTC)).astimezone(PARIS),
            sim_speed=r["sim_speed"],
        )
        started = await conn.fetchval("SELECT clock_timestamp()")
        ends = started + timedelta(seconds=plan.duration_real_s())
        await event(conn, rid, "RemoteStartTransaction", {"connectorId": 1}, started)
        await event(conn, rid, "StatusNotification", {"status": "Preparing"}, started)
        await conn.execute(
            "UPDATE reservations SET status = 'charging', started_at = $2, ends_at = $3, "
            "battery_kwh = $4, start_soc = $5, target_soc = $6, power_kw = $7, is_dc = $8 "
            "WHERE id = $1",
            rid,
            started,
            ends,
            plan.battery_kwh,
            plan.start_soc,
            plan.target_soc,
            plan.power_kw,
            plan.is_dc,
        )
        await event(
            conn, rid, "StartTransaction", {"meterStart": 0, "reservationId": str(rid)}, started
        )
        await event(conn, rid, "StatusNotification", {"status": "Charging"}, started)


async def stop_charge(conn: asyncpg.Connection, user_id: UUID, rid: UUID) -> None:
    async with conn.transaction():
        await sweep(conn, None, user_id)
        r = await _own_locked(conn, user_id, rid)
        if r["status"] != "charging":
            raise Problem(
                409,
                "invalid_transition",
                f"Impossible d'arrêter : la réservation est « {r['status']} ».",
            )
        await conn.execute(
            "UPDATE reservations SET status = 'completed', ended_at = clock_timestamp(), "
            "end_reason = 'driver_stop' WHERE id = $1",
            rid,
        )
        await finish_charge(conn, rid, reason="Remote")


async def cancel_reservation(conn: asyncpg.Connection, user_id: UUID, rid: UUID) -> None:
    async with conn.transaction():
        await sweep(conn, None, user_id)
        r = await _own_locked(conn, user_id, rid)
        if r["status"] != "reserved":
            raise Problem(
                409,
                "invalid_transition",
                f"Impossible d'annuler : la réservation est « {r['status']} ».",
            )
        await conn.execute(
            "UPDATE reservations SET status = 'cancelled', ended_at = now(), "
            "end_reason = 'driver_cancel' WHERE id = $1",
            rid,
        )
        await event(conn, rid, "CancelReservation", {"reservationId": str(rid)})
        await event(conn, rid, "StatusNotification", {"status": "Available"})


def live_state(r: asyncpg.Record, now: datetime) -> dict[str, Any]:
    """The true state at `now`, from timestamps (never waits for a sweep)."""
    status = r["status"]
    if status == "reserved" and r["expires_at"] <= now:
        status = "expired"
    if status == "charging" and r["ends_at"] <= now:
        status = "completed"
    out: dict[str, Any] = {"status": status}
    if status == "reserved":
        out["remaining_hold_seconds"] = max(0, int((r["expires_at"] - now).total_seconds()))
    if r["started_at"] is not None and r["battery_kwh"] is not None:
        plan = _plan_of(r)
        end = r["ended_at"] or min(now, r["ends_at"])
        elapsed = (end - r["started_at"]).total_seconds()
        soc = plan.soc_at(elapsed)
        out.update(
            {
                "elapsed_seconds": round(elapsed, 1),
                "simulated_elapsed_minutes": round(elapsed * plan.sim_speed / 60, 1),
                "soc": round(soc, 1),
                "energy_kwh": round(plan.energy_kwh(soc), 2),
                "power_kw": round(plan.power_at_soc(soc), 2) if status == "charging" else 0.0,
                "estimated_end": r["ends_at"].isoformat(),
                "target_soc": plan.target_soc,
                "start_soc": plan.start_soc,
            }
        )
    return out


def dumps(value: Any) -> str:
    return json.dumps(value, default=str)
