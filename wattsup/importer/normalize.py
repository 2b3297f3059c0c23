"""Field converters for IRVE values, shared by the v2 and legacy v1 row readers.

Each converter takes the raw cell text and returns the normalised value, or raises
`FieldError` with a precise reason, in French, that ends up in the rejects report (shown
as is to the back office's admins).
They are plain functions on str so the per-row loop stays cheap (no per-cell objects).
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date

# Power above this many "kW" is taken to be written in W (22000 → 22 kW). The most powerful
# public chargers in France are 400 kW; 2,000 leaves room without misreading real values.
POWER_W_THRESHOLD = 2000.0
POWER_MAX_KW = 1000.0

# Bounding boxes (lon_min, lat_min, lon_max, lat_max) of France and its overseas territories.
FRANCE_BOXES: tuple[tuple[str, float, float, float, float], ...] = (
    ("métropole", -5.3, 41.2, 9.7, 51.2),
    ("Guadeloupe", -61.9, 15.8, -60.9, 16.6),
    ("Martinique", -61.3, 14.3, -60.7, 14.95),
    ("Guyane", -54.7, 2.0, -51.5, 5.9),
    ("La Réunion", 55.1, -21.5, 55.9, -20.8),
    ("Mayotte", 44.9, -13.1, 45.4, -12.5),
    ("Saint-Pierre-et-Miquelon", -56.5, 46.7, -56.1, 47.2),
    ("Saint-Martin / Saint-Barthélemy", -63.2, 17.8, -62.7, 18.2),
    ("Nouvelle-Calédonie", 163.5, -22.8, 168.2, -19.5),
    ("Polynésie française", -154.8, -27.7, -134.4, -7.8),
    ("Wallis-et-Futuna", -178.3, -14.4, -176.1, -13.1),
)


class FieldError(ValueError):
    """A cell that cannot be used; the message is the reason shown to the importer's user."""


class FieldWarning(ValueError):
    """A cell that was corrected or dropped; carries the value that is kept."""

    def __init__(self, reason: str, value: object) -> None:
        super().__init__(reason)
        self.value = value


_TRUE = frozenset({"true", "1", "oui", "vrai", "yes", "t", "o", "y"})
_FALSE = frozenset({"false", "0", "non", "faux", "no", "f", "n"})


_EXACT = {"true": True, "false": False, "": None, "1": True, "0": False}


def to_bool(raw: str) -> bool | None:
    """IRVE booleans as producers write them: true/false, 1/0, oui/non (any case)."""
    exact = _EXACT.get(raw, 0)  # the common spellings, without any string work
    if exact != 0 or raw in ("0",):
        return exact  # type: ignore[return-value]
    low = raw.strip().lower()
    if not low:
        return None
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise FieldError(f"pas un booléen (attendu : true/false, oui/non, 1/0) : « {raw[:40]} »")


_NUMBER = re.compile(r"^\s*([0-9]+(?:[.,][0-9]+)?)\s*(kw|kva|w|kwh)?\s*$", re.IGNORECASE)


def to_power_kw(raw: str) -> tuple[float, str | None]:
    """Nominal power in kW; returns (kW, warning or None). Accepts "22", "22,5", "3,7kW",
    "22 kva" (treated as kW) and values in W (22000) which are converted with a warning."""
    m = _NUMBER.match(raw)
    if not m:
        raise FieldError(f"pas un nombre : « {raw[:40]} »")
    value = float(m.group(1).replace(",", "."))
    unit = (m.group(2) or "").lower()
    warning = None
    if unit == "w" or (not unit and value > POWER_W_THRESHOLD):
        value = value / 1000.0
        warning = f"puissance « {raw.strip()} » lue en W, convertie en {value:g} kW"
    elif unit == "kva":
        warning = f"puissance « {raw.strip()} » exprimée en kVA, lue en kW"
    if not math.isfinite(value) or value > POWER_MAX_KW:
        raise FieldError(f"puissance hors limites : « {raw[:40]} »")
    return round(value, 2), warning


def to_int(raw: str) -> int | None:
    if not raw:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise FieldError(f"pas un entier : « {raw[:40]} »") from None
    if value < 0:
        raise FieldError(f"négatif : {value}")
    return value


_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def to_date(raw: str) -> tuple[date | None, str | None]:
    """ISO dates as the schema says; dd/mm/yyyy accepted with a warning."""
    if not raw:
        return None, None
    text = raw.strip()
    try:
        return date.fromisoformat(text[:10]), None
    except ValueError:
        pass
    m = _DMY.match(text)
    if m:
        try:
            d = date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        except ValueError:
            raise FieldError(f"date invalide : « {raw[:40]} »") from None
        return d, f"date « {text} » écrite jj/mm/aaaa, lue comme {d.isoformat()}"
    raise FieldError(f"pas une date (attendu : AAAA-MM-JJ) : « {raw[:40]} »")


_METRO = FRANCE_BOXES[0]


def in_france(lon: float, lat: float) -> bool:
    # Most points are in metropolitan France: test that box first, without a generator.
    if _METRO[1] <= lon <= _METRO[3] and _METRO[2] <= lat <= _METRO[4]:
        return True
    return any(x0 <= lon <= x1 and y0 <= lat <= y1 for _, x0, y0, x1, y1 in FRANCE_BOXES)


def check_position(lon: float, lat: float) -> tuple[float, float, str | None]:
    """Validate a lon/lat pair; swap it back when it is lat/lon (a frequent defect)."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise FieldError("les coordonnées ne sont pas des nombres finis")
    if in_france(lon, lat):
        return lon, lat, None
    if in_france(lat, lon):
        return lat, lon, f"longitude et latitude inversées ({lon}, {lat}) ; corrigées"
    raise FieldError(f"position ({lon}, {lat}) hors de France (métropole et outre-mer)")


_XY = re.compile(
    r"^\s*\[?\s*(-?[0-9.eE+]+|nan|NaN|inf|-inf)\s*,\s*(-?[0-9.eE+]+|nan|NaN|inf|-inf)\s*\]?\s*$"
)


def parse_xy(raw: str) -> tuple[float, float]:
    """`coordonneesXY` as the schema writes it: "[lon, lat]"."""
    m = _XY.match(raw)
    if not m:
        raise FieldError(f"attendu : « [longitude, latitude] », reçu « {raw[:60]} »")
    try:
        return float(m.group(1)), float(m.group(2))
    except ValueError:
        raise FieldError(f"pas des nombres : « {raw[:60]} »") from None


def parse_float(raw: str, what: str) -> float:
    try:
        return float(raw.strip().replace(",", "."))
    except ValueError:
        raise FieldError(f"{what} non numérique : « {raw[:40]} »") from None


def fold(text: str) -> str:
    """Lower-case, accents removed: to match enum values written loosely."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def enum_matcher(values: list[str]) -> dict[str, str]:
    return {fold(v): v for v in values}


_ID = re.compile(r"^[A-Z]{2}[A-Z0-9]{4,33}$")


def id_matches_schema(value: str) -> bool:
    return bool(_ID.match(value))


_24_7 = re.compile(r"24\s*/\s*7|24h\s*/\s*24|mo-su\s+00:00-(24:00|23:59)", re.IGNORECASE)


def is_24_7(horaires: str | None) -> bool:
    return bool(horaires) and bool(_24_7.search(horaires or ""))


_INSEE = re.compile(r"^([013-9]\d|2[AB1-9])\d{3}$")


def insee_pattern_ok(code: str) -> bool:
    return bool(_INSEE.match(code))
