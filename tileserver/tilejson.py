"""TileJSON 3.0.0 and a MapLibre style, built from the same constants as the tile route, with
absolute URLs from the forwarded host (so they work behind nginx, a CDN or locally)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, HttpMethod, Request, route

from tileserver.filters import parse_filters

ATTRIBUTION = "IRVE, data.gouv.fr, Licence Ouverte"
MIN_ZOOM, MAX_ZOOM, CLUSTER_MAX_ZOOM = 0, 20, 12
# The whole Web Mercator world: the network is not only mainland France (Guadeloupe,
# Martinique, Guyane, La Réunion, Mayotte, ...), and a client asks for no tile outside
# `bounds` (TileJSON 3.0.0), so a mainland box left the overseas stations off every map.
WORLD_BOUNDS = [-180.0, -85.0511, 180.0, 85.0511]

CLUSTER_FIELDS = {
    "cluster_id": "Number",
    "point_count": "Number",
    "point_count_abbreviated": "String",
    "stations": "Number",
    "charge_points": "Number",
    "available": "Number",
    "max_power_kw": "Number",
    "expansion_zoom": "Number",
}
STATION_FIELDS = {
    "id": "String",
    "name": "String",
    "operator": "String",
    "points": "Number",
    "available": "Number",
    "max_power_kw": "Number",
    "power_class": "String (slow, normal, fast, rapid, ultra)",
    "connectors": "String (comma list of ef, type_2, combo_ccs, chademo, autre)",
    "pricing": "String (free, paid, mixed, unknown)",
    "is_24_7": "Boolean",
    "pmr": "Boolean",
    "status": "String (available, occupied, out_of_service, unknown)",
    "status_at": "Number (epoch seconds of the oldest point status: how stale `status` may be)",
}
POWER_COLOURS = [
    "slow",
    "#7b8794",
    "normal",
    "#2f80ed",
    "fast",
    "#27ae60",
    "rapid",
    "#f2994a",
    "ultra",
    "#9b51e0",
]


def base_url(request: Request[Any, Any, Any]) -> str:
    proto = request.headers.get("x-forwarded-proto") or request.url.scheme
    host = request.headers.get("x-forwarded-host") or request.headers.get("host") or "localhost"
    return f"{proto.split(',')[0].strip()}://{host.split(',')[0].strip()}"


def _filter_suffix(request: Request[Any, Any, Any]) -> str:
    """The request's filters for the tile URLs, checked as the tile route checks them: an
    unknown or invalid one is a 400 here, not a TileJSON whose every tile answers 400."""
    parse_filters(request.query_params.dict())
    query = request.url.query
    return f"?{query}" if query else ""


def tilejson(request: Request[Any, Any, Any]) -> dict[str, Any]:
    suffix = _filter_suffix(request)
    return {
        "tilejson": "3.0.0",
        "name": "Watts Up — IRVE charging stations",
        "description": "French public EV charging network (IRVE): clusters up to zoom 12, "
        "stations from zoom 13.",
        "version": "1.0.0",
        "attribution": ATTRIBUTION,
        "scheme": "xyz",
        "tiles": [f"{base_url(request)}/tiles/stations/{{z}}/{{x}}/{{y}}.pbf{suffix}"],
        "minzoom": MIN_ZOOM,
        "maxzoom": MAX_ZOOM,
        "bounds": WORLD_BOUNDS,
        "center": [2.35, 46.6, 5],
        "vector_layers": [
            {
                "id": "clusters",
                "fields": CLUSTER_FIELDS,
                "minzoom": 0,
                "maxzoom": CLUSTER_MAX_ZOOM,
                "description": "Groups of stations (a grid of 8 x 8 cells per tile, anchored to "
                "EPSG:3857)",
            },
            {
                "id": "stations",
                "fields": STATION_FIELDS,
                "minzoom": CLUSTER_MAX_ZOOM + 1,
                "maxzoom": MAX_ZOOM,
                "description": "One feature per charging station",
            },
        ],
    }


def style(request: Request[Any, Any, Any]) -> dict[str, Any]:
    base = base_url(request)
    suffix = _filter_suffix(request)  # a filtered style draws the filtered tiles
    return {
        "version": 8,
        "name": "Watts Up stations",
        # Text labels need glyphs; this public font server is used when online (QGIS,
        # MapLibre). The driver page draws counts without glyphs so it also works offline.
        "glyphs": "https://demotiles.maplibre.org/font/{fontstack}/{range}.pbf",
        "sources": {
            "stations": {
                "type": "vector",
                "url": f"{base}/tiles/stations.json{suffix}",
                "attribution": ATTRIBUTION,
            }
        },
        "layers": [
            {"id": "background", "type": "background", "paint": {"background-color": "#f4f1ea"}},
            {
                "id": "clusters",
                "type": "circle",
                "source": "stations",
                "source-layer": "clusters",
                "paint": {
                    "circle-color": ["case", [">", ["get", "available"], 0], "#1b7f3b", "#6b7280"],
                    # Steps on the count, as a `case`: QGIS's style converter interpolates
                    # on the zoom only (it dropped an `interpolate` on point_count, and every
                    # cluster was drawn at one size); MapLibre reads both.
                    "circle-radius": [
                        "case",
                        [">=", ["get", "point_count"], 1000],
                        28,
                        [">=", ["get", "point_count"], 100],
                        20,
                        [">=", ["get", "point_count"], 10],
                        14,
                        10,
                    ],
                    "circle-stroke-color": "#ffffff",
                    "circle-stroke-width": 2,
                },
            },
            {
                "id": "cluster-count",
                "type": "symbol",
                "source": "stations",
                "source-layer": "clusters",
                "layout": {
                    "text-field": ["get", "point_count_abbreviated"],
                    "text-font": ["Open Sans Bold"],
                    "text-size": 12,
                },
                "paint": {"text-color": "#ffffff"},
            },
            {
                "id": "stations",
                "type": "circle",
                "source": "stations",
                "source-layer": "stations",
                "paint": {
                    "circle-color": ["match", ["get", "power_class"], *POWER_COLOURS, "#7b8794"],
                    "circle-radius": 8,
                    "circle-stroke-color": [
                        "match",
                        ["get", "status"],
                        "available",
                        "#1b7f3b",
                        "occupied",
                        "#b45309",
                        "#6b7280",
                    ],
                    "circle-stroke-width": 3,
                },
            },
        ],
    }


class TileJSONController(Controller):
    path = "/tiles"
    tags = ["tiles"]  # noqa: RUF012 - Litestar reads it as a class attribute

    # GET and HEAD, as the tiles (tileserver/tiles.py).
    @route(
        "/stations.json",
        http_method=[HttpMethod.GET, HttpMethod.HEAD],
        summary="TileJSON 3.0.0 of the stations tiles",
    )
    async def stations_tilejson(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        return tilejson(request)

    @route(
        "/style.json",
        http_method=[HttpMethod.GET, HttpMethod.HEAD],
        summary="MapLibre style (also loads in QGIS)",
    )
    async def style_json(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        return style(request)
