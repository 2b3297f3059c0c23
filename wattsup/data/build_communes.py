"""Rebuild communes.csv.gz from the official commune list (COG) published on npm as
@etalab/decoupage-administratif. Run: `npm pack @etalab/decoupage-administratif && tar xzf
etalab-*.tgz && python wattsup/data/build_communes.py package/data/communes.json`.

The CSV keeps every commune type (current, delegated, associated, municipal arrondissement)
because real IRVE files use all of them."""

import csv
import gzip
import json
import sys
from pathlib import Path


def main(src: str) -> None:
    rows = json.loads(Path(src).read_text(encoding="utf-8"))
    out = Path(__file__).with_name("communes.csv.gz")
    with gzip.open(out, "wt", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["code_insee", "nom", "type", "departement", "region", "codes_postaux", "population"]
        )
        for r in sorted(rows, key=lambda r: (r["code"], r["type"])):
            w.writerow(
                [
                    r["code"],
                    r["nom"],
                    r["type"],
                    r.get("departement", ""),
                    r.get("region", ""),
                    " ".join(r.get("codesPostaux", [])),
                    r.get("population", ""),
                ]
            )
    print(f"{len(rows)} communes -> {out}")


if __name__ == "__main__":
    main(sys.argv[1])
