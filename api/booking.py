"""Booking rules: book, start, stop, cancel, sweep; refusals as problems; the live state.

No double booking, with any number of API processes: the check and the insert run in one
transaction holding `pg_advisory_xact_lock` on the point then on the driver (always in that
order, so two bookings cannot wait on each other), and the partial unique indexes of
migration 0004 catch whatever would slip past the application; both give the same 409.

Each transition is one statement, a function of sql/schema/0018_booking_answers.sql (as 0026
and 0027 left them) over those of 0011 (the checks, locks and OCPP events in the database),
sent outside any transaction so that it is its own: it commits before the caller drops the
cached tiles, and it returns the whole answer (the booking with its charger log, where the
stations whose cached tiles it changed are, the data version). Since 0027 the database also
draws a charge's plan at its start and writes its closing log and receipt in the statement
that ends it (the physics of api/charger_sim.py, as SQL). This module turns the functions'
refusals into problems and computes the live state of a booking from its timestamps.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import redis.asyncio as aioredis

from api.charger_sim import ChargePlan
from api.security import SessionClaims, not_signed_in
from wattsup import tile_cache
from wattsup.config import Settings
from wattsup.problems import Problem

log = logging.getLogger("wattsup.booking")
# No grace after the hold: a booking not started by its expiry is a no-show at that second
# (issue 5: "expired, the point is free again, exactly on time"). The terms say so as data.
GRACE_MINUTES = 0


def _minutes(value: float, lang: str) -> str:
    """A number of minutes as a driver reads it: "30", or "0,5" in French."""
    text = f"{value:g}"
    return text.replace(".", ",") if lang == "fr" else text


def booking_terms(settings: Settings) -> dict[str, Any]:
    """The terms the page shows before confirming (OCPI 2.3 Booking names where they fit),
    in French and English."""
    hold = settings.reservation_hold_minutes
    fr, en = _minutes(hold, "fr"), _minutes(hold, "en")
    return {
        "hold_minutes": hold,
        "start_window_minutes": hold,
        "noshow_timeout": hold * 60,
        "grace_minutes": GRACE_MINUTES,
        "cancel_until_minutes": hold,
        "free_cancellation": True,
        "auto_release": True,
        "price": "Réservation gratuite ; la recharge est facturée par l'opérateur selon son tarif.",
        "price_en": "Booking is free; the charge is billed by the operator at its own price.",
        "text_fr": (
            f"Le point est bloqué pour vous pendant {fr} minutes. Annulation gratuite à tout "
            f"moment avant le début de la charge. Sans démarrage dans ce délai, sans délai de "
            f"grâce, la réservation expire et le point est libéré automatiquement."
        ),
        "text_en": (
            f"The point is held for you for {en} minutes. Free cancellation any time before the "
            f"charge starts. Without a start in that time, with no grace period, the booking "
            f"expires and the point is released automatically."
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
# The refused action and the booking's status as the French detail says them:
# "Impossible d'annuler : la réservation est terminée."
VERBS = {"start": "de démarrer", "stop": "d'arrêter", "cancel": "d'annuler"}
STATUS_FR = {
    "reserved": "réservée",
    "charging": "en charge",
    "completed": "terminée",
    "cancelled": "annulée",
    "expired": "expirée",
}


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
            f"Impossible {VERBS.get(action, 'de ' + action)} : la réservation est "
            f"{STATUS_FR.get(str(status), f'« {status} »')}.",
        )
    status_code, detail = REFUSALS[code]
    return Problem(status_code, code, detail)


# The columns of a booking that the API reads: all of them but its charger log (`events`,
# migration 0029), which only a read that shows it fetches, as text (`event_log`), and which
# would otherwise be decoded for nothing (a history page, up to 500 meter values a charge).
BOOKING_COLUMNS = (
    "id", "user_id", "vehicle_id", "charge_point_id", "status", "created_at", "expires_at",
    "started_at", "ends_at", "ended_at", "end_reason", "sim_speed", "battery_kwh", "start_soc",
    "target_soc", "power_kw", "is_dc", "receipt", "full_at",
)  # fmt: skip

# A transition's answer (type booking_answer of 0018) as flat columns: the booking's own, then
# its point, station, log, the changed stations' positions (their tiles are computed from
# them: wattsup/tile_cache.py tiles_of_point, migration 0026; `p_tiles => false` asks for them
# instead of the tiles), the data version and the charges its inline sweep completed. The
# type's receipt inputs (point_kw, pricing, address) are left out: since 0027 the database
# writes the receipt itself. The function runs once (a
# FROM item); the composite `booking` is expanded here because asyncpg cannot decode a
# composite holding a jsonb column (our json codecs are text codecs). The session is checked
# first, in the same statement ($1 the user, $2 the token version: booking_session_user of
# 0022, whose result the transition takes as its user, so it runs before it): a booking
# request is one round trip to PostgreSQL, not a user lookup and then the transition.
ANSWER = (
    "SELECT "
    + ", ".join(f"(a.booking).{c}" for c in BOOKING_COLUMNS)
    + ", a.id_pdc_itinerance, a.station_id, a.nom_station, a.event_log, "
    "a.station_xy, a.data_version, a.completed "
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
    redis: aioredis.Redis,
    conn: asyncpg.Connection,
    point: UUID | None = None,
    user: UUID | None = None,
) -> list[UUID]:
    """Expire no-shows and complete finished charges (all, or those of a point/user; a
    completed charge's log and receipt are written by the same statement, 0027), then, once
    that has committed, drop the cached tiles of the stations whose availability changed.
    Returns those stations. The sweeper's tick and a read that catches up run this."""
    async with conn.transaction():
        rows = await conn.fetch("SELECT * FROM sweep_reservations($1, $2)", point, user)
    stations = list({r["station_id"] for r in rows})
    if stations:
        await tile_cache.invalidate_stations(redis, conn, stations)
    return stations


def _plan_of(r: asyncpg.Record) -> ChargePlan:
    return ChargePlan(
        battery_kwh=r["battery_kwh"],
        start_soc=r["start_soc"],
        target_soc=r["target_soc"],
        power_kw=r["power_kw"],
        is_dc=r["is_dc"],
        sim_speed=r["sim_speed"],
    )


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


async def start_charge(
    conn: asyncpg.Connection, session: SessionClaims, rid: UUID
) -> asyncpg.Record:
    """Start the charge of a booking (sql booking_start_answer of 0027): the statement claims
    the booking under its locks, refuses it unless it is still reserved, and draws the
    charge's plan from its point and car. The answer row, committed."""
    return await _transition(
        conn, "start", "booking_start_answer(who.id, $3, p_tiles => false)", session, rid
    )


async def stop_charge(
    conn: asyncpg.Connection, session: SessionClaims, rid: UUID
) -> asyncpg.Record:
    """The driver stops the charge (sql booking_stop_answer): ended, with its closing log and
    receipt written by the same statement (the trigger of 0027). The answer row, committed."""
    return await _transition(
        conn, "stop", "booking_stop_answer(who.id, $3, p_tiles => false)", session, rid
    )


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


def true_status(r: asyncpg.Record, now: datetime) -> str:
    """The booking's status at `now`, from its timestamps: a hold run out is expired and a
    charge past its end completed, whether or not a sweep has stored it yet."""
    status: str = r["status"]
    if status == "reserved" and r["expires_at"] <= now:
        return "expired"
    if status == "charging" and r["ends_at"] <= now:
        return "completed"
    return status


def live_state(r: asyncpg.Record, now: datetime) -> dict[str, Any]:
    """The true state at `now`, from timestamps (never waits for a sweep)."""
    status = true_status(r, now)
    out: dict[str, Any] = {"status": status}
    if status == "reserved":
        out["remaining_hold_seconds"] = max(0, int((r["expires_at"] - now).total_seconds()))
        out["charger_status"] = "Reserved"
    elif status == "charging":
        # The car full, the charger reports SuspendedEV until it is unplugged (0033): from
        # the timestamps, not from the connector, which the next sweep moves.
        full = r["full_at"]
        suspended = full is not None and full <= now
        out["charger_status"] = "SuspendedEV" if suspended else "Charging"
        if full is not None:
            out["full_at"] = full.isoformat()
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
