"""Tile filters: query parameters → a validated msgspec Struct → jsonb for tiles.stations().

Unknown or malformed parameters are a 400 with the parameter named, never silently ignored
(a typo in a filter would otherwise show a map that looks right and is not).

`open_now` depends on the clock: the SQL decides it per quarter-hour (migration 0013), so a
tile filtered by it is keyed by the quarter-hour in the cache and the SQL is given the
instant of that quarter (`at`), never its own clock: the cached tile is the key's tile even
when the quarter turns during the query or the database's clock differs from ours."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from wattsup.problems import Problem

CONNECTORS = ("ef", "type_2", "combo_ccs", "chademo", "autre")
BOOLEAN_FILTERS = (
    "free",
    "pay_as_you_go",
    "card",
    "open_24_7",
    "open_now",
    "pmr",
    "free_access",
    "two_wheeler",
    "t2_cable",
    "available_now",
)
MAX_PARAM_LENGTH = 200
QUARTER_S = 15 * 60  # every French zone is a whole number of hours from UTC


def quarter_of(epoch_s: float) -> int:
    """The quarter-hour (counted from the Unix epoch) an instant falls in."""
    return int(epoch_s // QUARTER_S)


class TileFilters(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    min_power: float | None = None
    connectors: list[str] | None = None
    # true (free), false (paid) or "unknown" (the IRVE `gratuit` left empty).
    free: bool | Literal["unknown"] | None = None
    pay_as_you_go: bool | None = None
    card: bool | None = None
    open_24_7: bool | None = None
    open_now: bool | None = None
    pmr: bool | None = None
    free_access: bool | None = None
    two_wheeler: bool | None = None
    t2_cable: bool | None = None
    available_now: bool | None = None

    def as_json(self) -> str:
        return msgspec.json.encode(self).decode()

    def depends_on_time(self) -> bool:
        return self.open_now is not None

    def cache_key(self, quarter: int) -> str:
        """Stable short key of the filters ('all' when none): part of the Redis key. A
        clock-dependent filter adds the quarter-hour (`quarter_of(time.time())`)."""
        text = self.as_json()
        if text == "{}":
            return "all"
        digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]
        return f"{digest}-q{quarter}" if self.depends_on_time() else digest

    def sql_params(self, quarter: int) -> dict[str, Any]:
        """The jsonb of tiles.stations(): the filters, plus the start of the quarter-hour
        (`at`) for a clock-dependent filter."""
        params: dict[str, Any] = msgspec.to_builtins(self)
        if self.depends_on_time():
            params["at"] = datetime.fromtimestamp(quarter * QUARTER_S, UTC).isoformat()
        return params


def _bad(name: str, detail: str) -> Problem:
    return Problem(400, "invalid_filter", f"Filtre « {name} » invalide : {detail}.")


def _boolean(name: str, raw: str, expected: str = "true ou false") -> bool:
    low = raw.strip().lower()
    if low in {"1", "true", "yes", "oui"}:
        return True
    if low in {"0", "false", "no", "non"}:
        return False
    raise _bad(name, f"valeur attendue {expected}")


def parse_filters(query: Mapping[str, list[str]]) -> TileFilters:
    values: dict[str, object] = {}
    for name, raws in query.items():
        raw = raws[-1] if raws else ""
        if len(raw) > MAX_PARAM_LENGTH or len(name) > 40:
            raise _bad(name[:40], "paramètre trop long")
        if name == "min_power":
            try:
                power = float(raw)
            except ValueError:
                raise _bad(name, "nombre de kW attendu") from None
            if not 0 <= power <= 1000:
                raise _bad(name, "entre 0 et 1000 kW")
            values[name] = power
        elif name == "connectors":
            items = sorted({c.strip() for c in raw.split(",") if c.strip()})
            unknown = [c for c in items if c not in CONNECTORS]
            if unknown or not items:
                raise _bad(name, f"valeurs possibles : {', '.join(CONNECTORS)}")
            values[name] = items
        elif name == "free":
            if raw.strip().lower() in {"unknown", "inconnu"}:
                values[name] = "unknown"
            else:
                values[name] = _boolean(name, raw, "true, false ou unknown")
        elif name in BOOLEAN_FILTERS:
            values[name] = _boolean(name, raw)
        elif name in {"v", "_"}:  # cache busters some clients add
            continue
        else:
            raise Problem(
                400,
                "unknown_filter",
                f"Paramètre inconnu « {name[:40]} ». Filtres possibles : min_power, connectors, "
                + ", ".join(BOOLEAN_FILTERS)
                + ".",
            )
    return msgspec.convert(values, TileFilters)
