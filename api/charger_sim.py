"""A simulated charger and car, with the physics fixed at the start of a charge.

Everything is a function of the plan and of elapsed time, so any process can compute the
true state of a charge from timestamps alone (a late sweep never shows a wrong state).

- Start state of charge drawn in 10–40 %; target 80 % by day, 100 % at night (22:00–06:00,
  the original specification's rule).
- Power = min(point's nominal power, car's max AC or DC power). DC when the point has a
  Combo CCS or CHAdeMO socket the car accepts and more than 22 kW.
- Constant power up to 80 %; above it, DC power tapers linearly from P at 80 % to 0.2·P at
  100 %: dSoC/dt = (100·P/B)·(1 − 0.04·(SoC − 80)), so SoC(t) = 80 + 25·(1 − e^(−4·P·t/B)).
- `sim_speed` simulated seconds pass per real second (WATTSUP_SIM_SPEED).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

TAPER_FROM = 80.0
MIN_TAPER_FACTOR = 0.2
METER_EVERY_SIM_S = 300  # a MeterValues sample every 5 simulated minutes
MAX_METER_SAMPLES = 500  # per charge: the log stays readable
SUSPENDED_BELOW_KW = 0.5
# One generator for the process: `random.Random()` per charge seeded itself from the OS on
# every start (~15 us of the request). Draws need no secrecy, only a spread.
_RNG = random.Random()


@dataclass(frozen=True)
class ChargePlan:
    battery_kwh: float
    start_soc: float
    target_soc: float
    power_kw: float
    is_dc: bool
    sim_speed: float

    # --- time, in simulated hours, to reach a state of charge -----------------------------
    def _hours_to(self, soc: float) -> float:
        b, p = self.battery_kwh, self.power_kw
        flat_end = min(soc, TAPER_FROM) if self.is_dc else soc
        hours = max(flat_end - self.start_soc, 0.0) / 100 * b / p
        if self.is_dc and soc > TAPER_FROM:
            start = max(self.start_soc, TAPER_FROM)
            u0 = 1 - 0.04 * (start - TAPER_FROM)
            u1 = max(1 - 0.04 * (soc - TAPER_FROM), 1e-6)
            hours += math.log(u0 / u1) * b / (4 * p)
        return hours

    def duration_real_s(self) -> float:
        return self._hours_to(self.target_soc) * 3600 / self.sim_speed

    def soc_at(self, real_elapsed_s: float) -> float:
        """State of charge after `real_elapsed_s` real seconds of charging."""
        t = max(real_elapsed_s, 0.0) * self.sim_speed / 3600  # simulated hours
        b, p = self.battery_kwh, self.power_kw
        if not self.is_dc or self.target_soc <= TAPER_FROM:
            soc = self.start_soc + 100 * p * t / b
        else:
            t_flat = self._hours_to(TAPER_FROM)
            if t <= t_flat:
                soc = self.start_soc + 100 * p * t / b
            else:
                start = max(self.start_soc, TAPER_FROM)
                u0 = 1 - 0.04 * (start - TAPER_FROM)
                soc = TAPER_FROM + 25 * (1 - u0 * math.exp(-4 * p * (t - t_flat) / b))
        return min(soc, self.target_soc)

    def power_at_soc(self, soc: float) -> float:
        if soc >= self.target_soc:
            return 0.0
        if self.is_dc and soc > TAPER_FROM:
            return self.power_kw * max(1 - 0.04 * (soc - TAPER_FROM), MIN_TAPER_FACTOR)
        return self.power_kw

    def energy_kwh(self, soc: float) -> float:
        return max(soc - self.start_soc, 0.0) / 100 * self.battery_kwh


def plan_charge(
    *,
    point_kw: float,
    point_dc_capable: bool,
    vehicle_connectors: set[str],
    point_connectors: set[str],
    battery_kwh: float,
    max_ac_kw: float,
    max_dc_kw: float,
    now_local: datetime,
    sim_speed: float,
    rng: random.Random | None = None,
) -> ChargePlan:
    rng = rng or _RNG
    dc_sockets = {"combo_ccs", "chademo"} & vehicle_connectors & point_connectors
    is_dc = point_dc_capable and bool(dc_sockets) and point_kw > 22 and max_dc_kw > 0
    car_kw = max_dc_kw if is_dc else max_ac_kw
    power = max(min(point_kw, car_kw or point_kw), 1.0)
    night = now_local.hour >= 22 or now_local.hour < 6
    return ChargePlan(
        battery_kwh=battery_kwh,
        start_soc=round(rng.uniform(10, 40), 1),
        target_soc=100.0 if night else 80.0,
        power_kw=power,
        is_dc=is_dc,
        sim_speed=sim_speed,
    )


def meter_samples(
    plan: ChargePlan, started: datetime, until: datetime
) -> list[tuple[datetime, dict[str, float]]]:
    """MeterValues every few simulated minutes between start and `until` (real times)."""
    out: list[tuple[datetime, dict[str, float]]] = []
    total = (until - started).total_seconds()
    # A charge too long for MAX_METER_SAMPLES at the usual interval is sampled more sparsely,
    # over its whole length (not cut off after the first MAX_METER_SAMPLES).
    step_real = max(METER_EVERY_SIM_S / plan.sim_speed, total / MAX_METER_SAMPLES)
    elapsed = step_real
    while elapsed < total and len(out) < MAX_METER_SAMPLES:
        soc = plan.soc_at(elapsed)
        out.append(
            (
                started + timedelta(seconds=elapsed),
                {
                    "energy_wh": round(plan.energy_kwh(soc) * 1000),
                    "power_w": round(plan.power_at_soc(soc) * 1000),
                    "soc": round(soc, 1),
                },
            )
        )
        elapsed += step_real
    return out
