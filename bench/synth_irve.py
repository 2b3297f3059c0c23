"""Generate a national-scale IRVE file in the official consolidated format — SYNTHETIC.

No national-size real file is at hand here (see ../shared/data/irve/SOURCES.md), so the
benchmarks and demos use this one until a real national file replaces it; the importer never
knows the difference. Every row says it is synthetic (nom_amenageur starts with
"SYNTHETIC", observations = "SYNTHETIC DATA - not a real charging point", ids use the
fictitious operator code FRSYN).

Built from real distributions:
- communes, INSEE codes, postcodes and populations from the official COG list
  (wattsup/data/communes.csv.gz, from @etalab/decoupage-administratif); stations are placed
  in communes with a probability proportional to population. Commune centres are not in that
  list, so positions are drawn inside the commune's department box (DEPARTMENT_BOXES below,
  rounded from the official outlines), a documented approximation;
- power classes and connector mixes close to the published shape of the French network
  (AVERE-France barometer, 2024-2025: about 85-90% of points AC up to 22 kW, mostly 7.4/11/22
  kW Type 2 often with an EF socket; DC 50-400 kW with Combo CCS, some CHAdeMO);
- station sizes: mostly 1-2 points, a share of 4-12, a few fast hubs of 20+.
Defects the real file is known for are injected at `--defect-rate` (default 0.5%): power in W,
swapped lon/lat, duplicated id_pdc_itinerance, empty mandatory fields, bad booleans.

    python bench/synth_irve.py                         # ~36k stations, ~150k points
    python bench/synth_irve.py --stations 1000 --out /tmp/small.csv
"""

from __future__ import annotations

import argparse
import bisect
import csv
import gzip
import json
import random
import sys
import zlib
from itertools import accumulate
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "tests" / "data" / "schema-statique.json"
COMMUNES = ROOT / "wattsup" / "data" / "communes.csv.gz"
CONSOLIDATED = [
    "consolidated_longitude",
    "consolidated_latitude",
    "consolidated_code_postal",
    "consolidated_commune",
    "consolidated_is_lon_lat_correct",
    "consolidated_is_code_insee_verified",
]

# Rough (lon_min, lat_min, lon_max, lat_max) per metropolitan department and overseas ones,
# kept small and inland-biased; enough to put points on land in the right region.
REGION_BOX = {
    "11": (1.9, 48.5, 2.9, 49.1),
    "24": (0.5, 46.6, 3.0, 48.4),
    "27": (3.2, 46.3, 6.9, 47.8),
    "28": (-1.4, 48.6, 1.6, 49.6),
    "32": (1.7, 49.5, 4.1, 50.9),
    "44": (4.2, 47.6, 7.5, 49.4),
    "52": (-1.7, 46.4, 0.7, 47.9),
    "53": (-4.3, 47.7, -1.3, 48.7),
    "75": (-1.2, 43.4, 2.1, 46.8),
    "76": (0.2, 42.7, 4.5, 44.9),
    "84": (2.6, 44.3, 7.0, 46.2),
    "93": (4.3, 43.2, 7.3, 44.9),
    "94": (8.6, 41.5, 9.4, 42.9),
    "01": (-61.7, 15.95, -61.2, 16.45),
    "02": (-61.2, 14.45, -60.85, 14.85),
    "03": (-52.9, 4.3, -52.2, 5.6),
    "04": (55.25, -21.3, 55.75, -20.95),
    "06": (45.05, -12.95, 45.25, -12.7),
}
POWER_CLASSES = [  # (kW, weight, dc)
    (3.7, 4, False),
    (7.4, 22, False),
    (11.0, 12, False),
    (22.0, 49, False),
    (50.0, 5, True),
    (100.0, 2, True),
    (150.0, 3, True),
    (300.0, 3, True),
]
OPERATORS = [
    ("SYNTHETIC Izivia", "Izivia", "Izivia"),
    ("SYNTHETIC Freshmile", "Freshmile", "Freshmile"),
    ("SYNTHETIC SDE", "Bouygues Energies et Services", "Réseau départemental"),
    ("SYNTHETIC Tesla", "Tesla", "Tesla Supercharger"),
    ("SYNTHETIC Ionity", "Ionity", "Ionity"),
    ("SYNTHETIC TotalEnergies", "TotalEnergies", "TotalEnergies"),
    ("SYNTHETIC Electra", "Electra", "Electra"),
    ("SYNTHETIC Lidl", "Lidl", "Lidl"),
]
IMPLANTATION = [
    "Voirie",
    "Parking public",
    "Parking privé à usage public",
    "Parking privé réservé à la clientèle",
    "Station dédiée à la recharge rapide",
]
PMR = ["Accessible mais non réservé PMR", "Accessibilité inconnue", "Non accessible", "Réservé PMR"]


def load_communes() -> tuple[list[tuple[str, str, str, str]], list[int]]:
    rows, weights = [], []
    with gzip.open(COMMUNES, "rt", encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["type"] != "commune-actuelle" or not r["population"]:
                continue
            dep = r["departement"]
            region = r["region"]
            if region not in REGION_BOX:
                continue
            rows.append(
                (r["code_insee"], r["nom"], (r["codes_postaux"].split() or [""])[0], region)
            )
            weights.append(int(r["population"]) + 50)
            del dep
    return rows, list(accumulate(weights))


def siren_of(amenageur: str, _draw: int) -> str:
    """The aménageur's SIREN: one per company, as in the real file (a SIREN names a legal
    entity; a random one per row made every station a distinct operator identity, 36,000
    operators where the real file has a few thousand at most). `_draw` is the random number
    each row drew for it before, still drawn so that every other value stays what it was."""
    return f"{100_000_000 + zlib.crc32(amenageur.encode()) % 900_000_000}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, default=36_000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--defect-rate", type=float, default=0.005)
    ap.add_argument("--out", default=str(ROOT / "bench" / "data" / "irve-national-SYNTHETIC.csv"))
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    fields = [f["name"] for f in json.loads(SCHEMA.read_text(encoding="utf-8"))["fields"]]
    communes, cum = load_communes()
    total = cum[-1]
    pw_cum = list(accumulate(w for _, w, _ in POWER_CLASSES))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    points = defects = 0
    last_pdc = ""
    with out.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(fields + CONSOLIDATED)
        for s in range(args.stations):
            insee, nom, cp, region = communes[bisect.bisect(cum, rng.randrange(total))]
            x0, y0, x1, y1 = REGION_BOX[region]
            lon, lat = round(rng.uniform(x0, x1), 6), round(rng.uniform(y0, y1), 6)
            r = rng.random()
            size = (
                1
                if r < 0.33
                else 2
                if r < 0.62
                else rng.randint(3, 12)
                if r < 0.96
                else rng.randint(14, 32)
            )
            kw, _, dc = POWER_CLASSES[bisect.bisect(pw_cum, rng.randrange(pw_cum[-1]))]
            amen, oper, ens = rng.choice(OPERATORS)
            sid = f"FRSYNP{s:07d}"
            # A station's own fields are drawn once: the real file repeats them on each of its
            # rows (drawn per point, one station had up to 32 addresses and opening hours).
            station = {
                "implantation_station": IMPLANTATION[
                    4 if dc and rng.random() < 0.5 else rng.randrange(4)
                ],
                "adresse_station": f"{rng.randint(1, 120)} rue de la Gare {cp} {nom}",
                "condition_acces": "Accès libre" if rng.random() < 0.9 else "Accès réservé",
                "horaires": "24/7" if rng.random() < 0.85 else "Mo-Sa 08:00-20:00",
                "accessibilite_pmr": rng.choice(PMR),
                "date_mise_en_service": f"20{rng.randint(15, 25)}-{rng.randint(1, 12):02d}-01",
            }
            for p in range(size):
                pdc = f"FRSYNE{s:07d}{p:03d}"
                row = {
                    "nom_amenageur": amen,
                    "siren_amenageur": siren_of(amen, rng.randrange(10**8, 10**9)),
                    "contact_amenageur": "contact@example.org",
                    "nom_operateur": oper,
                    "contact_operateur": "support@example.org",
                    "telephone_operateur": "0100000000",
                    "nom_enseigne": ens,
                    "id_station_itinerance": sid,
                    "id_station_local": "",
                    "nom_station": f"{nom} - borne {s}",
                    **station,
                    "code_insee_commune": insee,
                    "coordonneesXY": f"[{lon}, {lat}]",
                    "nbre_pdc": str(size),
                    "id_pdc_itinerance": pdc,
                    "id_pdc_local": "",
                    "puissance_nominale": f"{kw:g}",
                    "prise_type_ef": str(not dc and rng.random() < 0.5).lower(),
                    "prise_type_2": str(not dc).lower(),
                    "prise_type_combo_ccs": str(dc).lower(),
                    "prise_type_chademo": str(dc and rng.random() < 0.2).lower(),
                    "prise_type_autre": "false",
                    "gratuit": str(rng.random() < 0.08).lower(),
                    "paiement_acte": "true",
                    "paiement_cb": str(dc or rng.random() < 0.4).lower(),
                    "paiement_autre": "true",
                    "tarification": f"{rng.choice([0.35, 0.45, 0.59])} €/kWh",
                    "reservation": str(rng.random() < 0.1).lower(),
                    "restriction_gabarit": "Aucune",
                    "station_deux_roues": "false",
                    "raccordement": "Direct",
                    "num_pdl": "",
                    "observations": "SYNTHETIC DATA - not a real charging point",
                    "date_maj": "2026-10-01",
                    "cable_t2_attache": "false",
                }
                if rng.random() < args.defect_rate:
                    defects += 1
                    kind = rng.randrange(5)
                    if kind == 0:
                        row["puissance_nominale"] = f"{kw * 1000:g}"  # W instead of kW
                    elif kind == 1:
                        row["coordonneesXY"] = f"[{lat}, {lon}]"  # swapped
                    elif kind == 2 and last_pdc:
                        row["id_pdc_itinerance"] = last_pdc  # duplicated id
                    elif kind == 3:
                        row["nom_station"] = ""  # empty mandatory field
                    else:
                        row["prise_type_2"] = "peut-être"  # bad boolean
                last_pdc = pdc
                w.writerow([row.get(f, "") for f in fields] + [lon, lat, cp, nom, "True", "True"])
                points += 1
    print(
        f"{out}: {args.stations:,} stations, {points:,} points, {defects:,} defects (SYNTHETIC)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
