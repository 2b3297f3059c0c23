"""Booking rules: book, start, stop, cancel, sweep; the charger's log and receipt.

No double booking, with any number of API processes: the check and the insert run in one
transaction holding `pg_advisory_xact_lock` on the point then on the driver (always in that
order, so two bookings cannot wait on each other), and the partial unique indexes of
migration 0004 catch whatever would slip past the application; both give the same 409.

Each transition is one statement, a function of sql/schema/0018_booking_answers.sql (as 0026
left them) over those of 0011 (the checks, locks and OCPP events in the database), sent outside
any transaction so that it is its own: it commits before the caller drops the cached tiles, and it
returns the whole answer (the booking with its charger log, where the stations whose cached
tiles it changed are, the data version). This module adds the charge physics of
api/charger_sim.py (the plan before a start, the closing log and receipt after a stop) and
turns the functions' refusals into problems.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg

from api.charger_sim import ChargePlan, meter_samples, plan_charge
from api.security import SessionClaims, not_signed_in
from wattsup.config import Settings
from wattsup.problems import Problem

log = logging.getLogger("wattsup.booking")
PARIS = ZoneInfo("Europe/Paris")
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


# Refusals raised by the SQL functions of sql/schema/0011_booking.sql (SQLSTATE WUREF, the
# code as message): the status and the French text the page shows.
REFUSED = "WUREF"
REFUSALS: dict[str, tuple[int, str]] = {
    "vehicle_not_found": (404, "Véhicule introuvable."),
    "point_not_found": (404, "Point de recharge introuvable."),
    "reservation_not_found": (404, "Réservation introuvable."),
    "point_out_of_service": (
        409,
        "Ce point de recharge est hors service : choisissez-en un autre.",
    ),
    "point_not_reservable": (409, "Ce point n'accepte pas la réservation (selon son opérateur)."),
    "connector_incompatible": (
        422,
        "Ce point n'a pas de prise compatible avec votre véhicule.",
    ),
    "already_has_reservation": (
        409,
        "Vous avez déjà une réservation en cours : terminez-la ou annulez-la.",
    ),
    "point_unavailable": (
        409,
        "Ce point vient d'être réservé ou est occupé : choisissez-en un autre.",
    ),
}
VERBS = {"start": "démarrer", "stop": "arrêter", "cancel": "annuler"}


def _refusal(exc: asyncpg.PostgresError, action: str) -> Problem | None:
    """The problem a refusal of the booking functions stands for (None: not a refusal)."""
    if isinstance(exc, asyncpg.UniqueViolationError):
        # The partial unique indexes of 0004, behind the locks: same answer as the check.
        per_user = "per_user" in (exc.constraint_name or "")
        code = "already_has_reservation" if per_user else "point_unavailable"
        return Problem(409, code, REFUSALS[code][1])
    if getattr(exc, "sqlstate", None) != REFUSED:
        return None
    code = str(getattr(exc, "message", "") or exc)
    if code == "not_authenticated":  # booking_session_user (0022): an ended session
        return not_signed_in()
    if code == "invalid_transition":
        status = getattr(exc, "detail", None)
        return Problem(
            409,
            "invalid_transition",
            f"Impossible de {VERBS.get(action, action)} : la réservation est « {status} ».",
        )
    status_code, detail = REFUSALS[code]
    return Problem(status_code, code, detail)


# A transition's answer (type booking_answer of 0018) as flat columns: the booking's own, then
# its point, station, log, receipt inputs, the changed stations' positions (their tiles are
# computed from them: wattsup/tile_cache.py tiles_of_point, migration 0026; `p_tiles => false`
# asks for them instead of the tiles) and the data version. The function runs once (a
# FROM item); the composite `booking` is expanded here because asyncpg cannot decode a
# composite holding a jsonb column (our json codecs are text codecs). The session is checked
# first, in the same statement ($1 the user, $2 the token version: booking_session_user of
# 0022, whose result the transition takes as its user, so it runs before it): a booking
# request is one round trip to PostgreSQL, not a user lookup and then the transition.
ANSWER = (
    "SELECT (a.booking).*, a.id_pdc_itinerance, a.station_id, a.nom_station, a.event_log, "
    "a.point_kw, a.pricing, a.address, a.station_xy, a.data_version, a.completed "
    "FROM booking_session_user($1, $2) AS who(id), LATERAL {} AS a"
)


async def _fetch(
    conn: asyncpg.Connection, action: str, query: str, *args: Any
) -> asyncpg.Record | None:
    """Run one booking statement; its refusals become problems."""
    try:
        return await conn.fetchrow(query, *args)
    except asyncpg.PostgresError as exc:
        problem = _refusal(exc, action)
        if problem is None:
            raise
        raise problem from None


async def _transition(
    conn: asyncpg.Connection, action: str, call: str, session: SessionClaims, *args: Any
) -> asyncpg.Record:
    """Run one booking function in ANSWER, after the session check: `call` is its SQL call,
    with `who.id` as the user and $3… for `args`. It always answers a row."""
    row = await _fetch(
        conn, action, ANSWER.format(call), session.user_id, session.token_version, *args
    )
    assert row is not None
    return row


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


async def finish_unreceipted(conn: asyncpg.Connection, older_than_s: float = 10.0) -> int:
    """Write the closing log and receipt of completed charges that have none (a stop whose
    process died between its two statements: see `stop_charge`). Returns how many."""
    rows = await conn.fetch(
        "SELECT id, end_reason FROM reservations WHERE status = 'completed' AND receipt IS NULL"
        " AND ended_at < now() - $1 * interval '1 second' ORDER BY ended_at LIMIT 100",
        older_than_s,
    )
    for r in rows:
        reason = "Remote" if r["end_reason"] == "driver_stop" else "EVDisconnected"
        await finish_charge(conn, r["id"], reason=reason)
    return len(rows)


def _plan_of(r: asyncpg.Record) -> ChargePlan:
    return ChargePlan(
        battery_kwh=r["battery_kwh"],
        start_soc=r["start_soc"],
        target_soc=r["target_soc"],
        power_kw=r["power_kw"],
        is_dc=r["is_dc"],
        sim_speed=r["sim_speed"],
    )


Event = tuple[datetime, str, dict[str, Any]]


def closing_log(
    r: asyncpg.Record,
    *,
    point: str,
    point_kw: float,
    station: str,
    address: str | None,
    pricing: str | None,
    reason: str,
) -> tuple[list[Event], dict[str, Any]]:
    """The rest of an ended charge's log (MeterValues … StatusNotification Available) and its
    receipt, from the booking row `r` (its plan, started_at and ended_at)."""
    plan = _plan_of(r)
    started, ended = r["started_at"], r["ended_at"]
    elapsed = (ended - started).total_seconds()
    soc_end = plan.soc_at(elapsed)
    events: list[Event] = [
        (at, "MeterValues", values) for at, values in meter_samples(plan, started, ended)
    ]
    if soc_end >= plan.target_soc - 0.05:
        events.append((ended, "StatusNotification", {"status": "SuspendedEV"}))
    energy = plan.energy_kwh(soc_end)
    events += [
        (ended, "StopTransaction", {"meterStop": round(energy * 1000), "reason": reason}),
        (ended, "StatusNotification", {"status": "Finishing"}),
        (ended, "StatusNotification", {"status": "Available"}),
    ]
    sim_minutes = elapsed * plan.sim_speed / 60
    receipt = {
        "energy_kwh": round(energy, 2),
        "duration_minutes": round(sim_minutes, 1),
        "real_duration_seconds": round(elapsed, 1),
        "average_power_kw": round(energy / (sim_minutes / 60), 2) if sim_minutes > 0 else 0.0,
        "start_soc": plan.start_soc,
        "end_soc": round(soc_end, 1),
        "point": point,
        "point_power_kw": point_kw,
        "station": station,
        "address": address,
        "pricing": pricing,
        "stop_reason": reason,
    }
    return events, receipt


# A driver's stop writes its closing log and receipt in a transaction of their own that does
# not wait for the disk to commit (synchronous_commit off for that transaction only:
# set_config's third argument). They are derived, not new information: computed from the
# charge that booking_stop_answer() had already committed durably, and a crash that loses
# them leaves a completed charge without receipt, which the sweeper finishes with the same
# log and receipt (finish_unreceipted). That commit was one of the four disk flushes of a
# book→start→stop cycle, ~4% of PostgreSQL's CPU under bench/reservations.py on this
# machine's virtual disk. The sweeper's own writes keep the default: they share a
# transaction with the expiries they follow.
FINISH = "SELECT booking_finish($1, $2, $3)"
FINISH_NO_WAIT = "SELECT booking_finish($1, $2, $3), set_config('synchronous_commit', 'off', true)"


async def _write_finish(
    conn: asyncpg.Connection,
    rid: UUID,
    events: list[Event],
    receipt: dict[str, Any],
    *,
    wait_for_disk: bool = True,
) -> bool:
    """booking_finish: the log and the receipt at once, unless the charge has its receipt.
    `wait_for_disk=False` only on a connection outside any transaction (see FINISH_NO_WAIT)."""
    done = await conn.fetchval(
        FINISH if wait_for_disk else FINISH_NO_WAIT,
        rid,
        [{"at": at.isoformat(), "message": m, "payload": p} for at, m, p in events],
        receipt,
    )
    return bool(done)


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
    events, receipt = closing_log(
        r,
        point=r["id_pdc_itinerance"],
        point_kw=r["point_kw"],
        station=r["nom_station"],
        address=r["adresse_station"],
        pricing=r["tarification"],
        reason=reason,
    )
    await _write_finish(conn, reservation_id, events, receipt)


async def finish_swept(conn: asyncpg.Connection, answer: asyncpg.Record) -> None:
    """Receipts of the charges a transition's inline sweep completed (rare: a charge of the
    same point or driver that reached its end since the last sweep)."""
    for rid in answer["completed"]:
        await finish_charge(conn, rid, reason="EVDisconnected")


async def create_reservation(
    conn: asyncpg.Connection,
    settings: Settings,
    session: SessionClaims,
    point_id: UUID,
    vehicle_id: UUID,
) -> asyncpg.Record:
    """Book the point (sql booking_reserve_answer): the answer row, committed."""
    return await _transition(
        conn,
        "book",
        "booking_reserve_answer(who.id, $3, $4, $5, $6, p_tiles => false)",
        session,
        point_id,
        vehicle_id,
        settings.reservation_hold_minutes,
        settings.sim_speed,
    )


# What the simulator needs to draw a charge plan: the point and the vehicle of the booking
# (the session checked first, as in ANSWER).
PLAN_INPUTS = (
    "SELECT r.sim_speed, cp.puissance_nominale::float8 AS kw, cp.prise_type_ef, "
    "cp.prise_type_2, cp.prise_type_combo_ccs, cp.prise_type_chademo, "
    "cp.prise_type_autre, v.connectors, v.battery_kwh::float8 AS battery, "
    "v.max_ac_kw::float8 AS ac, v.max_dc_kw::float8 AS dc "
    "FROM booking_session_user($1, $2) AS who(id) "
    "JOIN reservations r ON r.user_id = who.id AND r.id = $3 "
    "JOIN charge_points cp ON cp.id = r.charge_point_id "
    "LEFT JOIN vehicles v ON v.id = r.vehicle_id"
)


async def start_charge(
    conn: asyncpg.Connection, session: SessionClaims, rid: UUID, *, now: datetime | None = None
) -> asyncpg.Record:
    """Start the charge of a booking (sql booking_start_answer): the answer row, committed.
    The plan is drawn from the point and vehicle read just before; the statement claims the
    booking under its locks and refuses it unless it is still reserved."""
    data = await _fetch(conn, "start", PLAN_INPUTS, session.user_id, session.token_version, rid)
    if data is None:  # someone else's booking is as unknown as a missing one (no IDOR)
        code = "reservation_not_found"
        raise Problem(REFUSALS[code][0], code, REFUSALS[code][1])
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
        sim_speed=data["sim_speed"],
    )
    return await _transition(
        conn,
        "start",
        "booking_start_answer(who.id, $3, $4, $5, $6, $7, $8, $9, p_tiles => false)",
        session,
        rid,
        plan.duration_real_s(),
        plan.battery_kwh,
        plan.start_soc,
        plan.target_soc,
        plan.power_kw,
        plan.is_dc,
    )


async def stop_charge(
    conn: asyncpg.Connection, session: SessionClaims, rid: UUID
) -> tuple[asyncpg.Record, tuple[list[Event], dict[str, Any]] | None]:
    """The driver stops the charge: ended (sql booking_stop_answer, committed), then its
    closing log and receipt computed here from ended_at and written by booking_finish. Two
    statements: if the process dies between them, the sweeper writes the receipt
    (`finish_unreceipted`). Returns the answer row and the log and receipt written (None if
    another process wrote them first)."""
    answer = await _transition(
        conn,
        "stop",
        "booking_stop_answer(who.id, $3, p_tiles => false)",
        session,
        rid,
    )
    events, receipt = closing_log(
        answer,
        point=answer["id_pdc_itinerance"],
        point_kw=answer["point_kw"],
        station=answer["nom_station"],
        address=answer["address"],
        pricing=answer["pricing"],
        reason="Remote",
    )
    written = await _write_finish(conn, rid, events, receipt, wait_for_disk=False)
    return answer, ((events, receipt) if written else None)


async def cancel_reservation(
    conn: asyncpg.Connection, session: SessionClaims, rid: UUID
) -> asyncpg.Record:
    """The driver cancels before charging (sql booking_cancel_answer): the answer, committed."""
    return await _transition(
        conn,
        "cancel",
        "booking_cancel_answer(who.id, $3, p_tiles => false)",
        session,
        rid,
    )


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
