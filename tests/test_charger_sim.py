"""The simulated car and charger: the formulas, the plan, the meter values.

The plan is drawn and the closing log written by the database (sql/schema/0027, charge_plan()
and charge_meter_values()); api/charger_sim.py computes the live state with the same formulas.
A wrong state of charge, energy or power would show on the page, in the receipt and in the
log, and a difference between the two would show one number live and another in the receipt.
"""

from __future__ import annotations

import itertools
import math
from datetime import timedelta

import asyncpg
import pytest

from api.charger_sim import MIN_TAPER_FACTOR, TAPER_FROM, ChargePlan

METER_EVERY_SIM_S = 10  # charge_meter_values() of sql/schema/0030: every 10 simulated seconds
MAX_METER_SAMPLES = 500


def plan(**kw: object) -> ChargePlan:
    base: dict[str, object] = {
        "battery_kwh": 60.0,
        "start_soc": 20.0,
        "target_soc": 80.0,
        "power_kw": 50.0,
        "is_dc": True,
        "sim_speed": 1.0,
    }
    base.update(kw)
    return ChargePlan(**base)  # type: ignore[arg-type]


PLAN_SQL = "SELECT (charge_plan($1, $2, $3, $4, $5, $6, $7, $8)).*"


async def draw(pool: asyncpg.Pool, **kw: object) -> asyncpg.Record:
    """charge_plan() of 0027, for a 150 kW Type 2 + Combo point and a 100 kW DC car at noon."""
    args: dict[str, object] = {
        "point_kw": 150.0,
        "point_sockets": ["type_2", "combo_ccs"],
        "vehicle_sockets": ["type_2", "combo_ccs"],
        "battery_kwh": 60.0,
        "max_ac_kw": 11.0,
        "max_dc_kw": 100.0,
        "hour": 12,
        "draw": 0.5,
    }
    args.update(kw)
    row = await pool.fetchrow(PLAN_SQL, *args.values())
    assert row is not None
    return row


async def test_power_is_the_lower_of_point_and_car_and_dc_needs_a_dc_socket_on_both(
    pool: asyncpg.Pool,
) -> None:
    dc = await draw(pool)
    assert dc["is_dc"] and dc["power_kw"] == 100.0  # the car's DC limit
    assert (await draw(pool, point_kw=50.0))["power_kw"] == 50.0  # the point's power
    ac = await draw(pool, vehicle_sockets=["type_2"])  # the car has no DC socket: AC, 11 kW
    assert not ac["is_dc"] and ac["power_kw"] == 11.0
    chademo = await draw(pool, vehicle_sockets=["chademo"])  # DC sockets that do not match
    assert not chademo["is_dc"]
    slow = await draw(pool, point_kw=22.0)  # a 22 kW point is AC, whatever its sockets
    assert not slow["is_dc"] and slow["power_kw"] == 11.0
    assert not (await draw(pool, max_dc_kw=0.0))["is_dc"]
    assert (await draw(pool, point_kw=0.0))["power_kw"] == 1.0, "at least 1 kW"


async def test_start_state_of_charge_is_drawn_in_band_and_the_target_follows_the_clock(
    pool: asyncpg.Pool,
) -> None:
    starts = [(await draw(pool, draw=d / 100))["start_soc"] for d in range(100)]
    assert min(starts) == 10.0 and max(starts) == pytest.approx(39.7)
    assert starts == sorted(starts), "the draw maps onto the band in order"
    assert (await draw(pool, draw=0.999999))["start_soc"] == 40.0
    targets = {h: (await draw(pool, hour=h))["target_soc"] for h in range(24)}
    assert targets == {h: 100.0 if h >= 22 or h < 6 else 80.0 for h in range(24)}


@pytest.mark.parametrize("is_dc", [True, False])
@pytest.mark.parametrize("target", [80.0, 100.0])
def test_the_charge_reaches_its_target_exactly_at_its_planned_end(
    is_dc: bool, target: float
) -> None:
    p = plan(is_dc=is_dc, target_soc=target, sim_speed=60.0)
    end = p.duration_real_s()
    assert p.soc_at(end) == pytest.approx(target, abs=1e-6)
    assert p.soc_at(end * 0.99) < target
    assert p.soc_at(end * 10) == target, "never beyond the target"
    assert p.energy_kwh(p.soc_at(end)) == pytest.approx(60.0 * (target - 20.0) / 100)


def test_ac_and_flat_dc_charge_at_constant_power() -> None:
    p = plan(is_dc=False, power_kw=11.0, target_soc=100.0)
    one_hour = 3600.0
    assert p.soc_at(one_hour) == pytest.approx(20.0 + 100 * 11.0 / 60.0)
    assert p.duration_real_s() == pytest.approx((100 - 20) / 100 * 60 / 11 * 3600)
    dc = plan(target_soc=80.0)  # below the taper: the same straight line
    assert dc.duration_real_s() == pytest.approx((80 - 20) / 100 * 60 / 50 * 3600)


def test_dc_tapers_above_80_percent_continuously() -> None:
    p = plan(target_soc=100.0)
    t80 = (TAPER_FROM - 20.0) / 100 * 60 / 50 * 3600
    assert p.soc_at(t80) == pytest.approx(TAPER_FROM)
    # No jump at the knee, and slower after it than before.
    before = p.soc_at(t80) - p.soc_at(t80 - 60)
    after = p.soc_at(t80 + 60) - p.soc_at(t80)
    assert 0 < after < before
    assert after == pytest.approx(before, rel=0.05)
    assert p.power_at_soc(79.0) == 50.0
    assert p.power_at_soc(90.0) == pytest.approx(50.0 * (1 - 0.04 * 10))
    assert p.power_at_soc(99.99) == pytest.approx(50.0 * MIN_TAPER_FACTOR, rel=0.01)
    assert p.power_at_soc(100.0) == 0.0
    # The taper costs time: 80 -> 100 % takes longer than at full power.
    assert p.duration_real_s() - t80 > 20 / 100 * 60 / 50 * 3600


def test_the_speed_factor_runs_the_same_charge_faster() -> None:
    real = plan(target_soc=100.0, sim_speed=1.0)
    fast = plan(target_soc=100.0, sim_speed=120.0)
    assert fast.duration_real_s() == pytest.approx(real.duration_real_s() / 120)
    assert fast.soc_at(30.0) == pytest.approx(real.soc_at(30.0 * 120))


async def test_the_live_formulas_are_the_database_ones(pool: asyncpg.Pool) -> None:
    """api/charger_sim.py (the live state) and 0027's functions (the meter values and the
    receipt) give the same numbers, across AC and DC, both targets, starts below and above
    the taper, speeds, and times from the start to far beyond the end."""
    plans = [
        plan(is_dc=dc, target_soc=target, start_soc=start, power_kw=kw, sim_speed=speed)
        for dc, target, start, kw, speed in itertools.product(
            (True, False), (80.0, 100.0), (10.0, 35.5, 85.0), (7.4, 150.0), (1.0, 600.0)
        )
    ]
    rows = await pool.fetch(
        "SELECT p.n, t.s, charge_soc_at(p.b, p.st, p.tg, p.kw, p.dc, p.sp, t.s) AS soc, "
        "charge_hours_to(p.b, p.st, p.kw, p.dc, p.tg) AS hours "
        "FROM unnest($1::int[], $2::float8[], $3::float8[], $4::float8[], $5::float8[], "
        "$6::bool[], $7::float8[]) AS p(n, b, st, tg, kw, dc, sp), unnest($8::float8[]) AS t(s)",
        list(range(len(plans))),
        [p.battery_kwh for p in plans],
        [p.start_soc for p in plans],
        [p.target_soc for p in plans],
        [p.power_kw for p in plans],
        [p.is_dc for p in plans],
        [p.sim_speed for p in plans],
        [0.0, 1.0, 60.0, 600.0, 3600.0, 7200.0, 36_000.0, 1e7],
    )
    assert len(rows) == len(plans) * 8
    for r in rows:
        p = plans[r["n"]]
        assert r["soc"] == pytest.approx(p.soc_at(r["s"]), rel=1e-12, abs=1e-12)
        assert r["hours"] * 3600 / p.sim_speed == pytest.approx(p.duration_real_s(), rel=1e-12)
    powers = await pool.fetch(
        "SELECT s, charge_power_at(50, true, 100, s) AS dc, "
        "charge_power_at(50, false, 80, s) AS ac, charge_energy_kwh(60, 20, s) AS kwh "
        "FROM unnest($1::float8[]) AS s",
        [0.0, 20.0, 79.9, 80.0, 80.1, 90.0, 99.99, 100.0],
    )
    dc, ac = plan(target_soc=100.0), plan(is_dc=False)
    for r in powers:
        assert r["dc"] == pytest.approx(dc.power_at_soc(r["s"]), rel=1e-12)
        assert r["ac"] == pytest.approx(ac.power_at_soc(r["s"]), rel=1e-12)
        assert r["kwh"] == pytest.approx(dc.energy_kwh(r["s"]), rel=1e-12, abs=1e-12)


METER_SQL = (
    "SELECT n, at, payload FROM charge_meter_values($1, $2, $3, $4, $5, $6, $7, $8) ORDER BY n"
)


async def meter_values(pool: asyncpg.Pool, p: ChargePlan, seconds: float) -> list[asyncpg.Record]:
    start = await pool.fetchval("SELECT timestamptz '2026-06-01 10:00:00+00'")
    return await pool.fetch(
        METER_SQL,
        p.battery_kwh,
        p.start_soc,
        p.target_soc,
        p.power_kw,
        p.is_dc,
        p.sim_speed,
        start,
        start + timedelta(seconds=seconds),
    )


async def test_meter_values_rise_every_five_simulated_minutes(pool: asyncpg.Pool) -> None:
    p = plan(target_soc=100.0, sim_speed=60.0)
    samples = await meter_values(pool, p, p.duration_real_s())
    step = METER_EVERY_SIM_S / 60.0
    assert abs(len(samples) - p.duration_real_s() / step) <= 1
    assert all(
        (b["at"] - a["at"]).total_seconds() == pytest.approx(step, abs=1e-6)
        for a, b in itertools.pairwise(samples)
    )
    energies = [s["payload"]["energy_wh"] for s in samples]
    assert energies == sorted(energies) and energies[-1] < 60_000 * 0.8
    assert samples[-1]["payload"]["power_w"] < 50_000, "the last samples are in the taper"
    for s in samples:  # each sample is the live formula at its time
        elapsed = (s["at"] - samples[0]["at"]).total_seconds() + step
        assert s["payload"]["soc"] == pytest.approx(p.soc_at(elapsed), abs=0.051)


async def test_a_very_long_charge_is_sampled_over_its_whole_length(pool: asyncpg.Pool) -> None:
    p = plan(battery_kwh=100.0, start_soc=10.0, target_soc=100.0, power_kw=1.0, is_dc=False)
    total = p.duration_real_s()  # 90 hours at 1 kW
    samples = await meter_values(pool, p, total)
    assert MAX_METER_SAMPLES - 1 <= len(samples) <= MAX_METER_SAMPLES
    last = (samples[-1]["at"] - samples[0]["at"]).total_seconds() + total / MAX_METER_SAMPLES
    assert total - last < total / MAX_METER_SAMPLES * 1.01
    assert samples[-1]["payload"]["soc"] > 99
    assert not await meter_values(pool, p, 1.0), "a charge shorter than a step has none"
    assert not math.isnan(samples[0]["payload"]["soc"])
