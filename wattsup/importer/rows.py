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

from collections.abc import Callable, Sequence
from datetime import date
from operator import itemgetter
from typing import Any

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
)

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


class RowResult:
    """Outcome of one row: a staging record (or None when rejected) and its issues."""

    __slots__ = ("issues", "record")

    def __init__(self, record: tuple[Any, ...] | None, issues: list[Issue]) -> None:
        self.record = record
        self.issues = issues


def _clean(raw: str) -> str | None:
    text = raw.strip()
    return text or None


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
            raise FieldError(f"missing required columns: {', '.join(missing)}")
        self.description = (
            "IRVE statique v2 (fichier national consolidé)"
            if self.consolidated
            else "IRVE statique v2 (fichier d'opérateur)"
        )
        # Every cell the rules read, fetched in one C call per row (operator.itemgetter);
        # a column the file lacks points at a padding cell that is always "".
        self._names = (
            *STAGING_COLUMNS,
            "coordonneesXY",
            "consolidated_longitude",
            "consolidated_latitude",
            "consolidated_commune",
            "consolidated_code_postal",
        )
        self._fetch = itemgetter(*(self.index.get(n, self.width) for n in self._names))
        # Loose enum spellings repeat across a file: fold each distinct one once.
        self._enum_memo: dict[tuple[str, str], str | None] = {}

    def parse(self, line: int, row: list[str]) -> RowResult:
        width = self.width
        if len(row) != width:
            cells = len(row)
            row = (row + [""] * width)[:width]
        else:
            cells = width
        row.append("")
        v: dict[str, str] = dict(zip(self._names, self._fetch(row), strict=True))
        issues: list[Issue] = []
        rejected = False
        id_pdc = v["id_pdc_itinerance"].strip()

        def reject(field: str, value: str | None, reason: str) -> None:
            nonlocal rejected
            rejected = True
            issues.append((line, "rejected", field, value, reason, id_pdc or None))

        def warn(field: str, value: str | None, reason: str) -> None:
            issues.append((line, "warning", field, value, reason, id_pdc or None))

        if cells != width:
            warn("*", None, f"row has {cells} columns, header has {width}")

        if not id_pdc:
            reject("id_pdc_itinerance", None, "required field is empty")
        elif not self.legacy and not id_matches_schema(id_pdc):
            warn("id_pdc_itinerance", id_pdc, "does not match the schema's identifier pattern")
        id_station = v["id_station_itinerance"].strip()
        if not id_station:
            reject("id_station_itinerance", None, "required field is empty")
        elif not self.legacy and not id_matches_schema(id_station):
            warn(
                "id_station_itinerance",
                id_station,
                "does not match the schema's identifier pattern",
            )

        # Position: the consolidated columns when present (Etalab corrected them), else
        # coordonneesXY "[lon, lat]".
        lon = lat = None
        try:
            raw_lon = v["consolidated_longitude"].strip() if self.consolidated else ""
            raw_lat = v["consolidated_latitude"].strip() if self.consolidated else ""
            if raw_lon and raw_lat:
                x, y = parse_float(raw_lon, "longitude"), parse_float(raw_lat, "latitude")
            else:
                raw_xy = v["coordonneesXY"]
                if not raw_xy.strip():
                    raise FieldError("required field is empty")
                x, y = parse_xy(raw_xy)
            lon, lat, note = check_position(x, y)
            if note:
                warn("coordonneesXY", f"[{x}, {y}]", note)
        except FieldError as exc:
            reject("coordonneesXY", v["coordonneesXY"][:200] or None, str(exc))

        power = None
        raw_power = v["puissance_nominale"]
        if not raw_power.strip():
            reject("puissance_nominale", None, "required field is empty")
        else:
            try:
                power, note = to_power_kw(raw_power)
                if note:
                    warn("puissance_nominale", raw_power, note)
            except FieldError as exc:
                reject("puissance_nominale", raw_power[:200], str(exc))

        bools: dict[str, bool | None] = {}
        for name in CONNECTOR_FIELDS:
            raw = v[name]
            try:
                flag = to_bool(raw)
                if flag is None:
                    reject(name, None, "required field is empty")
                bools[name] = flag
            except FieldError as exc:
                reject(name, raw[:200], str(exc))
        for name in OTHER_BOOLEANS:
            raw = v[name]
            try:
                bools[name] = to_bool(raw)
            except FieldError as exc:
                warn(name, raw[:200], f"{exc}; value dropped")
                bools[name] = None

        texts: dict[str, str | None] = {}
        for name in TEXT_FIELDS:
            text = _clean(v[name])
            if text and len(text) > MAX_TEXT:
                warn(name, text[:80], f"longer than {MAX_TEXT} characters; cut")
                text = text[:MAX_TEXT]
            texts[name] = text
        if texts["siren_amenageur"] and not (
            len(texts["siren_amenageur"]) == 9 and texts["siren_amenageur"].isdigit()
        ):
            warn("siren_amenageur", texts["siren_amenageur"], "SIREN must be 9 digits")

        nom_station = _clean(v["nom_station"])
        if not nom_station:
            reject("nom_station", None, "required field is empty")

        enums: dict[str, str | None] = {}
        for name, allowed in ENUMS.items():
            raw = v[name].strip()
            if not raw:
                enums[name] = None
                continue
            key = (name, raw)
            if key in self._enum_memo:
                canonical = self._enum_memo[key]
            else:
                canonical = self._enum_memo[key] = allowed.get(fold(raw))
            if canonical is None:
                warn(name, raw[:200], f"not one of: {', '.join(allowed.values())}; value dropped")
            enums[name] = canonical

        nbre_pdc = None
        try:
            nbre_pdc = to_int(v["nbre_pdc"])
        except FieldError as exc:
            warn("nbre_pdc", v["nbre_pdc"][:40], f"{exc}; value dropped")

        dates: dict[str, date | None] = {}
        for name in ("date_mise_en_service", "date_maj"):
            raw = v[name]
            try:
                dates[name], note = to_date(raw)
                if note and not self.legacy:
                    warn(name, raw, note)
            except FieldError as exc:
                warn(name, raw[:40], f"{exc}; value dropped")
                dates[name] = None

        insee = _clean(v["code_insee_commune"])
        if insee:
            insee = self.check_insee(insee, warn)

        commune = _clean(v["consolidated_commune"]) if self.consolidated else None
        code_postal = _clean(v["consolidated_code_postal"]) if self.consolidated else None

        if rejected:
            return RowResult(None, issues)
        record = (
            line,
            id_pdc,
            texts["id_pdc_local"],
            id_station,
            texts["id_station_local"],
            texts["nom_amenageur"],
            texts["siren_amenageur"],
            texts["contact_amenageur"],
            texts["nom_operateur"],
            texts["contact_operateur"],
            texts["telephone_operateur"],
            texts["nom_enseigne"],
            nom_station,
            enums["implantation_station"],
            texts["adresse_station"],
            insee,
            commune,
            code_postal,
            nbre_pdc,
            enums["condition_acces"],
            texts["horaires"],
            is_24_7(texts["horaires"]),
            enums["accessibilite_pmr"],
            texts["restriction_gabarit"],
            bools["station_deux_roues"],
            enums["raccordement"],
            texts["num_pdl"],
            dates["date_mise_en_service"],
            dates["date_maj"],
            lon,
            lat,
            power,
            bools["prise_type_ef"],
            bools["prise_type_2"],
            bools["prise_type_combo_ccs"],
            bools["prise_type_chademo"],
            bools["prise_type_autre"],
            bools["gratuit"],
            bools["paiement_acte"],
            bools["paiement_cb"],
            bools["paiement_autre"],
            texts["tarification"],
            bools["reservation"],
            bools["cable_t2_attache"],
            texts["observations"],
        )
        return RowResult(record, issues)

    def check_insee(self, code: str, warn: Callable[[str, str | None, str], None]) -> str | None:
        """Check an INSEE code against the official commune list (not a regex alone)."""
        if len(code) == 4 and code.isdigit():
            fixed = "0" + code
            warn("code_insee_commune", code, f"leading zero lost; read as {fixed}")
            code = fixed
        if not insee_pattern_ok(code):
            warn("code_insee_commune", code, "not an INSEE commune code; value dropped")
            return None
        if self.insee_codes and code not in self.insee_codes:
            warn("code_insee_commune", code, "not in the official commune list (COG)")
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
