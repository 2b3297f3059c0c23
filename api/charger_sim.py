"""The simulated car's charge as a function of time, for the live state of every read.

A charge's plan is fixed at its start (sql/schema/0027_charge_physics.sql charge_plan(), drawn
by the statement that starts it), so any process computes the true state of a charge from
timestamps alone (a late sweep never shows a wrong state). These are the formulas of that
migration's charge_soc_at(), charge_power_at() and charge_energy_kwh(), which also write the
meter values and the receipt when a charge ends; tests/test_charger_sim.py holds the two to
the same numbers.

- Constant power up to 80 %; above it, DC power tapers linearly from P at 80 % to 0.2·P at
  100 %: dSoC/dt = (100·P/B)·(1 − 0.04·(SoC − 80)), so SoC(t) = 80 + 25·(1 − e^(−4·P·t/B)).
- `sim_speed` simulated seconds pass per real second (WATTSUP_SIM_SPEED).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TAPER_FROM = 80.0
MIN_TAPER_FACTOR = 0.2


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
