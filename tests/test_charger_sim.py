"""The simulated car and charger (api/charger_sim.py), checked against its own formulas.

No database: these are the physics every process computes from timestamps, so a wrong
state of charge, energy or power would show on the page, in the receipt and in the log.
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from api.charger_sim import (
    MAX_METER_SAMPLES,
    METER_EVERY_SIM_S,
    MIN_TAPER_FACTOR,
    TAPER_FROM,
    ChargePlan,
    meter_samples,
    plan_charge,
)

NOON = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


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


def draw(**kw: object) -> ChargePlan:
    args: dict[str, object] = {
        "point_kw": 150.0,
        "point_dc_capable": True,
        "vehicle_connectors": {"type_2", "combo_ccs"},
        "point_connectors": {"type_2", "combo_ccs"},
        "battery_kwh": 60.0,
        "max_ac_kw": 11.0,
        "max_dc_kw": 100.0,
        "now_local": NOON,
        "sim_speed": 1.0,
        "rng": random.Random(7),
    }
    args.update(kw)
    return plan_charge(**args)  # type: ignore[arg-type]


def test_power_is_the_lower_of_point_and_car_and_dc_needs_a_dc_socket_on_both() -> None:
    assert draw().is_dc and draw().power_kw == 100.0  # the car's DC limit
    assert draw(point_kw=50.0).power_kw == 50.0  # the point's power
    ac = draw(vehicle_connectors={"type_2"})  # the car has no DC socket: AC at 11 kW
    assert not ac.is_dc and ac.power_kw == 11.0
    slow = draw(point_kw=22.0)  # a 22 kW point is AC, whatever its sockets
    assert not slow.is_dc and slow.power_kw == 11.0
    assert not draw(max_dc_kw=0.0).is_dc


def test_start_state_of_charge_is_drawn_in_band_and_the_target_follows_the_clock() -> None:
    rng = random.Random(2026)
    starts = [draw(rng=rng).start_soc for _ in range(500)]
    assert all(10 <= s <= 40 for s in starts)
    assert max(starts) - min(starts) > 20, "drawn over the band, not a constant"
    assert draw(now_local=NOON).target_soc == 80.0
    assert draw(now_local=NOON.replace(hour=23)).target_soc == 100.0
    assert draw(now_local=NOON.replace(hour=5, minute=59)).target_soc == 100.0
    assert draw(now_local=NOON.replace(hour=6)).target_soc == 80.0


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


def test_meter_values_rise_every_five_simulated_minutes() -> None:
    p = plan(target_soc=100.0, sim_speed=60.0)
    end = T0 + timedelta(seconds=p.duration_real_s())
    samples = meter_samples(p, T0, end)
    step = METER_EVERY_SIM_S / 60.0
    assert abs(len(samples) - p.duration_real_s() / step) <= 1
    assert all(
        (b[0] - a[0]).total_seconds() == pytest.approx(step) for a, b in itertools.pairwise(samples)
    )
    energies = [v["energy_wh"] for _, v in samples]
    assert energies == sorted(energies) and energies[-1] < 60_000 * 0.8
    assert samples[-1][1]["power_w"] < 50_000, "the last samples are in the taper"


def test_a_very_long_charge_is_sampled_over_its_whole_length() -> None:
    p = plan(battery_kwh=100.0, start_soc=10.0, target_soc=100.0, power_kw=1.0, is_dc=False)
    end = T0 + timedelta(seconds=p.duration_real_s())  # 90 hours at 1 kW
    samples = meter_samples(p, T0, end)
    assert MAX_METER_SAMPLES - 1 <= len(samples) <= MAX_METER_SAMPLES
    assert (end - samples[-1][0]).total_seconds() < p.duration_real_s() / MAX_METER_SAMPLES * 1.01
    assert samples[-1][1]["soc"] > 99
