"""From a CSV row to a staging record: the schema's rules, applied once per row.

Two readers share one output shape (`STAGING_COLUMNS`):
- `V2Rows`: the IRVE static schema v2.x, as operator files (`coordonneesXY`) and as the
  national consolidated file (`consolidated_longitude/latitude/commune/code_postal`);
- `LegacyV1Rows`: the 2017–2019 v1 schema, mapped where a v1 column has a v2 meaning.

A row that cannot be used (no identifier, no usable position or power, a connector flag that
is not a boolean) is rejected with every reason found; a value that is wrong but not needed to
place and book a point is dropped or corrected with a warning, and the row is kept.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Collection, Sequence
from datetime import date
from operator import itemgetter
from typing import Any, TypeVar

from wattsup.importer.normalize import (
    FieldError,
    check_position,
    enum_matcher,
    fold,
    id_matches_schema,
    insee_pattern_ok,
    is_24_7,
    parse_float,
    parse_xy,
    to_bool,
    to_date,
    to_int,
    to_power_kw,
)

STAGING_COLUMNS: tuple[str, ...] = (
    "line",
    "id_pdc_itinerance",
    "id_pdc_local",
    "id_station_itinerance",
    "id_station_local",
    "nom_amenageur",
    "siren_amenageur",
    "contact_amenageur",
    "nom_operateur",
    "contact_operateur",
    "telephone_operateur",
    "nom_enseigne",
    "nom_station",
    "implantation_station",
    "adresse_station",
    "code_insee_commune",
    "commune",
    "code_postal",
    "nbre_pdc",
    "condition_acces",
    "horaires",
    "is_24_7",
    "accessibilite_pmr",
    "restriction_gabarit",
    "station_deux_roues",
    "raccordement",
    "num_pdl",
    "date_mise_en_service",
    "date_maj",
    "lon",
    "lat",
    "puissance_nominale",
    "prise_type_ef",
    "prise_type_2",
    "prise_type_combo_ccs",
    "prise_type_chademo",
    "prise_type_autre",
    "gratuit",
    "paiement_acte",
    "paiement_cb",
    "paiement_autre",
    "tarification",
    "reservation",
    "cable_t2_attache",
    "observations",
    # The row's fingerprints (see V2Rows.remember), and whether it was skipped for them.
    "point_fp",
    "station_fp",
    "skipped",
)
FINGERPRINT_COLUMNS = 3

# (line, severity, field, value, reason, id_pdc_itinerance)
Issue = tuple[int, str, str, str | None, str, str | None]

V2_REQUIRED_HEADERS = ("id_pdc_itinerance", "id_station_itinerance", "puissance_nominale")

ENUMS: dict[str, dict[str, str]] = {
    "implantation_station": enum_matcher(
        [
            "Voirie",
            "Parking public",
            "Parking privé à usage public",
            "Parking privé réservé à la clientèle",
            "Station dédiée à la recharge rapide",
        ]
    ),
    "condition_acces": enum_matcher(["Accès libre", "Accès réservé"]),
    "accessibilite_pmr": enum_matcher(
        [
            "Réservé PMR",
            "Accessible mais non réservé PMR",
            "Non accessible",
            "Accessibilité inconnue",
        ]
    ),
    "raccordement": enum_matcher(["Direct", "Indirect"]),
}

CONNECTOR_FIELDS = (
    "prise_type_ef",
    "prise_type_2",
    "prise_type_combo_ccs",
    "prise_type_chademo",
    "prise_type_autre",
)
# Booleans the schema requires and without which a point cannot be matched to a car.
REJECTING_BOOLEANS = frozenset(CONNECTOR_FIELDS)
OTHER_BOOLEANS = (
    "gratuit",
    "paiement_acte",
    "paiement_cb",
    "paiement_autre",
    "reservation",
    "cable_t2_attache",
    "station_deux_roues",
)
TEXT_FIELDS = (
    "id_pdc_local",
    "id_station_local",
    "nom_amenageur",
    "siren_amenageur",
    "contact_amenageur",
    "nom_operateur",
    "contact_operateur",
    "telephone_operateur",
    "nom_enseigne",
    "adresse_station",
    "horaires",
    "restriction_gabarit",
    "num_pdl",
    "tarification",
    "observations",
)
MAX_TEXT = 2000  # longer cells are cut, with a warning: nothing legitimate is that long


# A point's own cells, then its station's: the two fingerprints hash these two runs of the
# fetched cells, which share id_station_itinerance (a point's hash names its station; a
# station's hash names it). A rule that reads a cell must find it in one of them.
POINT_CELLS: tuple[str, ...] = (
    "id_pdc_itinerance",
    "id_pdc_local",
    # The point's own columns of the staging record: puissance_nominale ... observations.
    *STAGING_COLUMNS[
        STAGING_COLUMNS.index("puissance_nominale") : STAGING_COLUMNS.index("observations") + 1
    ],
    "id_station_itinerance",
)
# Cells a v2 row is read into, in this order (one itemgetter call per row), and where
# each rule finds its cell: the point's cells, then the station's.
FETCH_NAMES: tuple[str, ...] = (
    *POINT_CELLS,
    *(
        name
        for name in STAGING_COLUMNS[:-FINGERPRINT_COLUMNS]
        if name not in POINT_CELLS and name != "line"
    ),
    "coordonneesXY",
    "consolidated_longitude",
    "consolidated_latitude",
    "consolidated_commune",
    "consolidated_code_postal",
)
_STATION_FROM = len(POINT_CELLS) - 1  # f[:_STATION_FROM + 1] point, f[_STATION_FROM:] station
# Bump when a rule changes what a row parses into: every stored fingerprint then misses, and
# the next import validates every row again (and stores the new fingerprints).
RULES_VERSION = 1
_IX = {name: i for i, name in enumerate(FETCH_NAMES)}
_I_ID_PDC = _IX["id_pdc_itinerance"]
_I_ID_STATION = _IX["id_station_itinerance"]
_I_POWER = _IX["puissance_nominale"]
_CONNECTOR_IX = tuple((name, _IX[name]) for name in CONNECTOR_FIELDS)
# The station's cells, indexed within f[_STATION_FROM:] (what V2Rows._station() reads).
_S = {name: i - _STATION_FROM for name, i in _IX.items() if i >= _STATION_FROM}
_POINT_BOOL_IX = tuple((n, _IX[n]) for n in OTHER_BOOLEANS if n not in _S)
_POINT_TEXT_IX = tuple((n, _IX[n]) for n in TEXT_FIELDS if n not in _S)
_S_ID_STATION = _S["id_station_itinerance"]
_S_XY = _S["coordonneesXY"]
_S_CONS_LON = _S["consolidated_longitude"]
_S_CONS_LAT = _S["consolidated_latitude"]
_S_CONS_COMMUNE = _S["consolidated_commune"]
_S_CONS_CP = _S["consolidated_code_postal"]
_S_NOM_STATION = _S["nom_station"]
_S_NBRE_PDC = _S["nbre_pdc"]
_S_INSEE = _S["code_insee_commune"]
_STATION_BOOL_IX = tuple((n, _S[n]) for n in OTHER_BOOLEANS if n in _S)
# The point's connector cells, then its other booleans', in one C call (V2Rows.parse).
_FLAG_CELLS = itemgetter(*(i for _, i in _CONNECTOR_IX), *(i for _, i in _POINT_BOOL_IX))
_FLAG_BOOL_IX = tuple((n, len(_CONNECTOR_IX) + k) for k, (n, _) in enumerate(_POINT_BOOL_IX))
_STATION_TEXT_IX = tuple((n, _S[n]) for n in TEXT_FIELDS if n in _S)
_S_ENUM_IX = tuple((name, _S[name], allowed) for name, allowed in ENUMS.items())
_S_DATE_IX = tuple((name, _S[name]) for name in ("date_mise_en_service", "date_maj"))

# Memoised converters keep at most this many distinct values each: memory stays bounded
# whatever the file (real files repeat a few hundred powers, dates and hours).
MEMO_MAX = 50_000
_K = TypeVar("_K")
_V = TypeVar("_V")


class _Memo(dict[_K, _V]):
    """A converter's answers by raw value: `memo[raw]` computes one on first use and keeps at
    most MEMO_MAX of them (beyond, each is computed again). A hit is a plain dict lookup."""

    def __init__(self, compute: Callable[[_K], _V]) -> None:
        super().__init__()
        self.compute = compute

    def __missing__(self, key: _K) -> _V:
        value = self.compute(key)
        if len(self) < MEMO_MAX:
            self[key] = value
        return value


_MISSING = object()
_SIGNED_64 = struct.Struct(">q")  # a fingerprint: 8 digest bytes as a signed bigint
_BOOL_EXACT: dict[str, bool | None] = {
    "true": True,
    "false": False,
    "": None,
    "1": True,
    "0": False,
}
_BAD_ID = "ne suit pas le format d'identifiant du schéma"
# A skipped row's staging record: line, id_pdc_itinerance, None, id_station_itinerance, then
# None up to the fingerprints, then (None, None, True).
_SKIPPED_GAP = (None,) * (len(STAGING_COLUMNS) - 4 - FINGERPRINT_COLUMNS)
_SKIPPED_TAIL = (None, None, True)
_NO_ISSUES: list[Issue] = []  # shared by skipped rows, never appended to
# An issue of a row without its line and row reference: (severity, field, value, reason).
Note = tuple[str, str, str | None, str]


class _Station:
    """The station's part of a row, as V2Rows._station() read it from its cells."""

    __slots__ = ("cells", "fp", "notes", "rejected", "values")

    def __init__(
        self,
        cells: tuple[str, ...],
        values: tuple[Any, ...],
        notes: list[Note],
        rejected: bool,
        fp: int,
    ) -> None:
        self.cells = cells
        self.values = values
        self.notes = notes
        self.rejected = rejected
        self.fp = fp


def _booleans(
    fields: tuple[tuple[str, int], ...], f: tuple[str, ...], notes: list[Note]
) -> list[bool | None]:
    """Optional booleans: a value that is not one is dropped, with a warning."""
    out: list[bool | None] = []
    for name, i in fields:
        raw = f[i]
        flag = _BOOL_EXACT.get(raw, _MISSING)
        if flag is _MISSING:
            try:
                flag = to_bool(raw)
            except FieldError as exc:
                notes.append(("warning", name, raw[:200], f"{exc} ; valeur ignorée"))
                flag = None
        out.append(flag)  # type: ignore[arg-type]
    return out


def _flags(
    cells: tuple[str, ...],
) -> tuple[tuple[bool | None, ...], tuple[bool | None, ...], tuple[Note, ...], bool]:
    """A point's connectors (required: a value that is not a boolean, or none, rejects the
    row) and its other booleans (a value that is not one is dropped, with a warning), from
    their cells (_FLAG_CELLS): (connectors, others, notes, whether the row is rejected)."""
    notes: list[Note] = []
    rejected = False
    flags: list[bool | None] = []
    for (name, _), raw in zip(_CONNECTOR_IX, cells, strict=False):
        flag = _BOOL_EXACT.get(raw, _MISSING)
        if flag is _MISSING:
            try:
                flag = to_bool(raw)
            except FieldError as exc:
                rejected = True
                notes.append(("rejected", name, raw[:200], str(exc)))
                flags.append(None)
                continue
        if flag is None:
            rejected = True
            notes.append(("rejected", name, None, "champ obligatoire vide"))
        flags.append(flag)  # type: ignore[arg-type]
    others = _booleans(_FLAG_BOOL_IX, cells, notes)
    return tuple(flags), tuple(others), tuple(notes), rejected


def _texts(
    fields: tuple[tuple[str, int], ...], f: tuple[str, ...], notes: list[Note]
) -> list[str | None]:
    """Free texts, stripped (None when empty); one longer than MAX_TEXT is cut, with a
    warning."""
    out: list[str | None] = []
    for name, i in fields:
        text = f[i].strip()
        if not text:
            out.append(None)
            continue
        if len(text) > MAX_TEXT:
            notes.append(
                ("warning", name, text[:80], f"plus de {MAX_TEXT} caractères ; texte tronqué")
            )
            text = text[:MAX_TEXT]
        out.append(text)
    return out


def _power(raw: str) -> tuple[float | None, str | None, str | None, str | None]:
    """(kW, issue severity, issue value, issue reason) for one distinct raw power."""
    if not raw.strip():
        return None, "rejected", None, "champ obligatoire vide"
    try:
        power, note = to_power_kw(raw)
    except FieldError as exc:
        return None, "rejected", raw[:200], str(exc)
    if note:
        return power, "warning", raw, note
    return power, None, None, None


def _date(raw: str) -> tuple[date | None, str | None, str | None]:
    """(date, issue value or None for a format note, issue reason) for one raw date."""
    try:
        day, note = to_date(raw)
    except FieldError as exc:
        return None, raw[:40], f"{exc} ; valeur ignorée"
    return day, None, note


class RowResult:
    """Outcome of one row: a staging record (or None when rejected) and its issues."""

    __slots__ = ("issues", "record")

    def __init__(self, record: tuple[Any, ...] | None, issues: list[Issue]) -> None:
        self.record = record
        self.issues = issues


class V2Rows:
    """Rows of the IRVE static schema v2 (operator or consolidated national file)."""

    schema_name = "irve-statique-v2"

    def __init__(
        self, header: Sequence[str], insee_codes: frozenset[str], *, legacy: bool = False
    ) -> None:
        # v1 identifiers used the older "FR*ABC*E123" form and dates dd/mm/yyyy: normal for
        # that schema, so not worth a warning per row when reading a legacy file.
        self.legacy = legacy
        self.index = {name.strip(): i for i, name in enumerate(header)}
        self.consolidated = "consolidated_longitude" in self.index
        self.insee_codes = insee_codes
        self.width = len(header)
        missing = [h for h in V2_REQUIRED_HEADERS if h not in self.index]
        if not self.consolidated and "coordonneesXY" not in self.index:
            missing.append("coordonneesXY")
        if missing:
            raise FieldError(f"colonnes obligatoires manquantes : {', '.join(missing)}")
        self.description = (
            "IRVE statique v2 (fichier national consolidé)"
            if self.consolidated
            else "IRVE statique v2 (fichier d'opérateur)"
        )
        # Every cell the rules read, fetched in one C call per row (operator.itemgetter);
        # a column the file lacks points at a padding cell that is always "".
        self._fetch = itemgetter(*(self.index.get(n, self.width) for n in FETCH_NAMES))
        # Values that repeat across a file, converted once each: loose enum spellings (by
        # field), powers, dates, INSEE codes, opening hours, a point's booleans.
        self._enum_memo: _Memo[tuple[str, str], str | None] = _Memo(
            lambda key: ENUMS[key[0]].get(fold(key[1]))
        )
        self._power_memo = _Memo(_power)
        self._date_memo = _Memo(_date)
        self._insee_memo = _Memo(self._insee)
        self._hours_memo = _Memo(is_24_7)
        self._flags_memo = _Memo(_flags)
        # The station read from the previous row: the next row of the same station reuses it.
        self._last_station: _Station | None = None
        # Fingerprints (remember()): empty sets skip nothing; the hashes are computed anyway
        # for the merge to store.
        self._known_points: Collection[int] = frozenset()
        self._known_stations: Collection[int] = frozenset()
        # The seed: whatever else decides what a row parses into (the rules' version, the
        # file's kind, the commune list the INSEE codes are checked against: ~10 ms).
        seed = hashlib.blake2b(f"{RULES_VERSION}|{self.consolidated}|{legacy}".encode())
        seed.update("\n".join(sorted(insee_codes)).encode())
        self._person = seed.digest()[:16]
        self._hasher = hashlib.blake2b(digest_size=8, person=self._person)
        self.skipped = 0

    def remember(self, points: Collection[int], stations: Collection[int]) -> None:
        """The fingerprints stored by earlier imports (charge_points.import_fp and
        stations.import_fp, sql/schema/0020_import_fingerprints.sql). A row whose point
        hash and station hash are both among them parses into exactly what is stored (same
        cells, same rules, same commune list: the hashes are seeded with all three), so it
        is staged as skipped, unvalidated. A row with any issue gets no fingerprint, so it is
        always validated again and its issues are reported again."""
        self._known_points = points
        self._known_stations = stations

    def _fp(self, cells: tuple[str, ...]) -> int:
        # A copy of the seeded, empty hasher: about half the cost of a new one per call.
        hasher = self._hasher.copy()
        hasher.update("\x1f".join(cells).encode())
        value: int = _SIGNED_64.unpack(hasher.digest())[0]
        return value

    def parse(self, line: int, row: list[str]) -> RowResult:
        # One pass over the fetched cells with plain locals: this runs once per row of a
        # national file, so no per-row dicts or closures, and the converters of values that
        # repeat across a file (power, dates, INSEE codes, opening hours) are memoised. The
        # station's cells are read by _station(), once for a run of rows that repeat them.
        width = self.width
        cells = len(row)
        if cells != width:
            row = (row + [""] * width)[:width]
        row.append("")
        f = self._fetch(row)
        station_cells = f[_STATION_FROM:]
        station = self._last_station
        if station is None or station.cells != station_cells:
            station = self._last_station = self._station(station_cells)
        point_fp = station_fp = None
        if cells == width:
            point_fp = self._fp(f[: _STATION_FROM + 1])
            station_fp = station.fp
            if point_fp in self._known_points and station_fp in self._known_stations:
                self.skipped += 1
                return RowResult(
                    (
                        line,
                        f[_I_ID_PDC].strip(),
                        None,
                        f[_I_ID_STATION].strip(),
                        *_SKIPPED_GAP,
                        *_SKIPPED_TAIL,
                    ),
                    _NO_ISSUES,
                )
        issues: list[Issue] = []
        rejected = station.rejected
        id_pdc = f[_I_ID_PDC].strip()
        ref = id_pdc or None

        if cells < width:
            # Cut short: a truncated file's last line, or a line break inside an unquoted
            # field (one row read as two). Its missing cells would be read as empty and
            # blank what the network holds: the row is refused, the stored point kept.
            rejected = True
            issues.append(
                (line, "rejected", "*", None, f"la ligne a {cells} colonnes, l'en-tête {width} : "
                 "ligne tronquée (fichier coupé, ou saut de ligne dans un champ)", ref)
            )  # fmt: skip
        elif cells > width:
            issues.append(
                (line, "warning", "*", None, f"la ligne a {cells} colonnes, l'en-tête {width} : "
                 "cellules en trop ignorées", ref)
            )  # fmt: skip

        if not id_pdc:
            rejected = True
            issues.append(
                (line, "rejected", "id_pdc_itinerance", None, "champ obligatoire vide", ref)
            )
        elif not self.legacy and not id_matches_schema(id_pdc):
            issues.append((line, "warning", "id_pdc_itinerance", id_pdc, _BAD_ID, ref))

        power, severity, value, reason = self._power_memo[f[_I_POWER]]
        if reason:
            rejected = rejected or severity == "rejected"
            issues.append((line, severity or "warning", "puissance_nominale", value, reason, ref))

        # The point's booleans: few distinct combinations in a file, read once each.
        flags, others, flag_notes, flags_reject = self._flags_memo[_FLAG_CELLS(f)]
        rejected = rejected or flags_reject

        notes = list(flag_notes)
        texts = _texts(_POINT_TEXT_IX, f, notes)
        notes.extend(station.notes)
        if notes:
            issues.extend([(line, *note, ref) for note in notes])

        if rejected:
            return RowResult(None, issues)
        record = (
            line,
            id_pdc,
            texts[0],  # id_pdc_local
            *station.values,  # id_station_itinerance ... lat
            power,
            *flags,
            others[0],  # gratuit
            others[1],  # paiement_acte
            others[2],  # paiement_cb
            others[3],  # paiement_autre
            texts[1],  # tarification
            others[4],  # reservation
            others[5],  # cable_t2_attache
            texts[2],  # observations
            # Stored by the merge only from a row that needed no correction.
            None if issues else point_fp,
            None if issues else station_fp,
            False,
        )
        return RowResult(record, issues)

    def _station(self, cells: tuple[str, ...]) -> _Station:
        """The station's part of a row (cells f[_STATION_FROM:]): its staging values, its
        issues without line and row, whether they reject the row, and its fingerprint."""
        f = cells
        notes: list[Note] = []
        rejected = False

        id_station = f[_S_ID_STATION].strip()
        if not id_station:
            rejected = True
            notes.append(("rejected", "id_station_itinerance", None, "champ obligatoire vide"))
        elif not self.legacy and not id_matches_schema(id_station):
            notes.append(("warning", "id_station_itinerance", id_station, _BAD_ID))

        # Position: the consolidated columns when present (Etalab corrected them), else
        # coordonneesXY "[lon, lat]".
        lon = lat = None
        try:
            raw_lon = f[_S_CONS_LON].strip() if self.consolidated else ""
            raw_lat = f[_S_CONS_LAT].strip() if self.consolidated else ""
            if raw_lon and raw_lat:
                x, y = parse_float(raw_lon, "longitude"), parse_float(raw_lat, "latitude")
            else:
                raw_xy = f[_S_XY]
                if not raw_xy.strip():
                    raise FieldError("champ obligatoire vide")
                x, y = parse_xy(raw_xy)
            lon, lat, note = check_position(x, y)
            if note:
                notes.append(("warning", "coordonneesXY", f"[{x}, {y}]", note))
        except FieldError as exc:
            rejected = True
            notes.append(("rejected", "coordonneesXY", f[_S_XY][:200] or None, str(exc)))

        (two_wheeler,) = _booleans(_STATION_BOOL_IX, f, notes)
        texts = _texts(_STATION_TEXT_IX, f, notes)
        siren = texts[2]
        if siren and not (len(siren) == 9 and siren.isdigit()):
            notes.append(("warning", "siren_amenageur", siren, "le SIREN doit compter 9 chiffres"))

        nom_station = f[_S_NOM_STATION].strip() or None
        if not nom_station:
            rejected = True
            notes.append(("rejected", "nom_station", None, "champ obligatoire vide"))

        enums: list[str | None] = []
        for name, i, allowed in _S_ENUM_IX:
            raw = f[i].strip()
            if not raw:
                enums.append(None)
                continue
            canonical = self._enum_memo[(name, raw)]
            if canonical is None:
                notes.append(
                    (
                        "warning",
                        name,
                        raw[:200],
                        f"pas une valeur admise (attendu : {', '.join(allowed.values())}) ; "
                        "valeur ignorée",
                    )
                )
            enums.append(canonical)

        nbre_pdc = None
        raw_nbre = f[_S_NBRE_PDC]
        try:
            nbre_pdc = to_int(raw_nbre)
        except FieldError as exc:
            notes.append(("warning", "nbre_pdc", raw_nbre[:40], f"{exc} ; valeur ignorée"))

        dates: list[date | None] = []
        for name, i in _S_DATE_IX:
            raw = f[i]
            day, dvalue, dreason = self._date_memo[raw]
            if dreason and not (self.legacy and dvalue is None):
                # A dd/mm/yyyy note (dvalue None) is normal in a legacy v1 file.
                notes.append(("warning", name, dvalue or raw, dreason))
            dates.append(day)

        insee = None
        raw_insee = f[_S_INSEE]
        if raw_insee:
            insee, insee_notes = self._insee_memo[raw_insee]
            for field, value, reason in insee_notes:
                notes.append(("warning", field, value, reason))

        horaires = texts[9]
        always = False if horaires is None else self._hours_memo[horaires]
        if self.consolidated:
            commune = f[_S_CONS_COMMUNE].strip() or None
            code_postal = f[_S_CONS_CP].strip() or None
        else:
            commune = code_postal = None
        values = (
            id_station,
            texts[0],  # id_station_local
            texts[1],  # nom_amenageur
            siren,
            texts[3],  # contact_amenageur
            texts[4],  # nom_operateur
            texts[5],  # contact_operateur
            texts[6],  # telephone_operateur
            texts[7],  # nom_enseigne
            nom_station,
            enums[0],  # implantation_station
            texts[8],  # adresse_station
            insee,
            commune,
            code_postal,
            nbre_pdc,
            enums[1],  # condition_acces
            horaires,
            always,
            enums[2],  # accessibilite_pmr
            texts[10],  # restriction_gabarit
            two_wheeler,  # station_deux_roues
            enums[3],  # raccordement
            texts[11],  # num_pdl
            dates[0],  # date_mise_en_service
            dates[1],  # date_maj
            lon,
            lat,
        )
        return _Station(cells, values, notes, rejected, self._fp(cells))

    def _insee(self, code: str) -> tuple[str | None, list[tuple[str, str | None, str]]]:
        """check_insee for one distinct raw value: (code kept, warnings)."""
        notes: list[tuple[str, str | None, str]] = []
        text = code.strip()
        if not text:
            return None, notes
        kept = self.check_insee(
            text, lambda field, value, reason: notes.append((field, value, reason))
        )
        return kept, notes

    def check_insee(self, code: str, warn: Callable[[str, str | None, str], None]) -> str | None:
        """Check an INSEE code against the official commune list (not a regex alone)."""
        if len(code) == 4 and code.isdigit():
            fixed = "0" + code
            warn("code_insee_commune", code, f"zéro initial perdu ; lu comme {fixed}")
            code = fixed
        if not insee_pattern_ok(code):
            warn("code_insee_commune", code, "pas un code commune INSEE ; valeur ignorée")
            return None
        if self.insee_codes and code not in self.insee_codes:
            warn("code_insee_commune", code, "absent de la liste officielle des communes (COG)")
        return code


# Legacy v1 (2017-2019) is recognised by these columns.
V1_HEADERS = frozenset(
    {
        "n_amenageur",
        "n_operateur",
        "id_station",
        "id_pdc",
        "puiss_max",
        "type_prise",
        "Xlongitude",
        "Ylatitude",
    }
)


class LegacyV1Rows:
    """IRVE schema v1 rows, mapped to v2 then checked by the v2 rules. Connectors come from
    the `type_prise` label, free/paid and card from `acces_recharge`, opening hours from
    `accessibilité`; v2 fields with no v1 source stay empty (`NOT_AVAILABLE`)."""

    schema_name = "irve-v1-legacy"
    NOT_AVAILABLE = (
        "siren_amenageur, contact_amenageur, contact_operateur, telephone_operateur, "
        "implantation_station, accessibilite_pmr, restriction_gabarit, station_deux_roues, "
        "raccordement, num_pdl, date_mise_en_service, reservation, cable_t2_attache, "
        "paiement_acte"
    )

    def __init__(self, header: Sequence[str], insee_codes: frozenset[str]) -> None:
        self.v1 = {name.strip(): i for i, name in enumerate(header)}
        self.v2 = V2Rows(V2_MAPPED_HEADER, insee_codes, legacy=True)
        self.description = (
            "IRVE v1 (2017-2019), ancien format : importé en v2 pour ce qui a un équivalent ; "
            f"sans équivalent en v1 (laissés vides) : {self.NOT_AVAILABLE}"
        )

    def remember(self, points: Collection[int], stations: Collection[int]) -> None:
        """As V2Rows.remember: the mapped v2 row is what is hashed."""
        self.v2.remember(points, stations)

    @property
    def skipped(self) -> int:
        return self.v2.skipped

    def _cell(self, row: list[str], name: str) -> str:
        i = self.v1.get(name)
        return row[i] if i is not None and i < len(row) else ""

    def parse(self, line: int, row: list[str]) -> RowResult:
        c = self._cell
        prises = fold(c(row, "type_prise")).replace(" ", "")
        acces = fold(c(row, "acces_recharge"))
        hours = c(row, "accessibilité").strip()
        insee = c(row, "code_insee").strip()
        if not insee or insee == "-":
            insee = c(row, "code_insee_commune").strip()
        mapped = {
            "id_pdc_itinerance": c(row, "id_pdc"),
            "id_station_itinerance": c(row, "id_station"),
            "nom_amenageur": c(row, "n_amenageur"),
            "nom_operateur": c(row, "n_operateur"),
            "nom_enseigne": c(row, "n_enseigne"),
            "nom_station": c(row, "n_station"),
            "adresse_station": c(row, "ad_station"),
            "code_insee_commune": insee,
            "coordonneesXY": f"[{c(row, 'Xlongitude')}, {c(row, 'Ylatitude')}]",
            "nbre_pdc": c(row, "nbre_pdc"),
            "puissance_nominale": c(row, "puiss_max"),
            "prise_type_ef": str("e/f" in prises or "ef" in prises),
            "prise_type_2": str("t2" in prises or "type2" in prises),
            "prise_type_combo_ccs": str("combo" in prises or "ccs" in prises),
            "prise_type_chademo": str("chademo" in prises),
            "prise_type_autre": str("t3" in prises or "autre" in prises),
            "gratuit": str("gratuit" in acces) if acces else "",
            "paiement_cb": "true" if "cb" in acces.replace("-", " ").split() else "",
            "tarification": c(row, "acces_recharge"),
            "horaires": "24/7" if "24" in hours else hours,
            "observations": c(row, "observations"),
            "date_maj": c(row, "date_maj"),
        }
        return self.v2.parse(line, [mapped.get(name, "") for name in V2_MAPPED_HEADER])


# The v2 header a mapped v1 row is laid out in.
V2_MAPPED_HEADER: tuple[str, ...] = (
    *[
        c
        for c in STAGING_COLUMNS
        if c not in {"line", "lon", "lat", "commune", "code_postal", "is_24_7"}
        and c not in STAGING_COLUMNS[-FINGERPRINT_COLUMNS:]
    ],
    "coordonneesXY",
)

RowParser = V2Rows | LegacyV1Rows


def parser_for(header: Sequence[str], insee_codes: frozenset[str]) -> RowParser:
    """Pick the reader for a header; raise FieldError naming what is missing."""
    names = {h.strip() for h in header}
    if names >= V1_HEADERS:
        return LegacyV1Rows(header, insee_codes)
    return V2Rows(header, insee_codes)
