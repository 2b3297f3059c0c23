"""A driver's saved map filters: validated by the tile server's parser, private, bounded."""

from __future__ import annotations

import uuid

from litestar import Litestar
from litestar.testing import AsyncTestClient


async def test_profiles_round_trip_into_tile_urls_and_stay_private(
    driver_client: AsyncTestClient[Litestar],
    admin_client: AsyncTestClient[Litestar],
    tile_client: AsyncTestClient[Litestar],
) -> None:
    body = {
        "name": "Ma Zoé",
        "filters": {"min_power": "22", "connectors": "type_2,combo_ccs", "available_now": "true"},
    }
    r = await driver_client.post("/api/me/filter-profiles", json=body)
    assert r.status_code == 201, r.text
    profile = r.json()
    assert profile["filters"] == {
        "min_power": 22.0,
        "connectors": ["combo_ccs", "type_2"],
        "available_now": True,
    }
    # What was saved works as tile filters.
    f = profile["filters"]
    query = f"min_power={f['min_power']}&connectors={','.join(f['connectors'])}&available_now=true"
    assert (await tile_client.get(f"/tiles/stations/6/32/22.pbf?{query}")).status_code in (200, 204)

    r = await driver_client.post("/api/me/filter-profiles", json=body)
    assert r.status_code == 409 and r.json()["code"] == "profile_name_taken"
    bad = {"name": "x", "filters": {"min_powr": "22"}}
    r = await driver_client.post("/api/me/filter-profiles", json=bad)
    assert r.status_code == 400 and r.json()["code"] == "unknown_filter"
    bad = {"name": "x", "filters": {}, "vehicle_id": str(uuid.uuid4())}
    assert (await driver_client.post("/api/me/filter-profiles", json=bad)).status_code == 404

    # Another driver (here an admin's own list) neither sees nor deletes it.
    assert (await admin_client.get("/api/me/filter-profiles")).json() == []
    pid = profile["id"]
    assert (await admin_client.delete(f"/api/me/filter-profiles/{pid}")).status_code == 404
    assert [p["name"] for p in (await driver_client.get("/api/me/filter-profiles")).json()] == [
        "Ma Zoé"
    ]
    assert (await driver_client.delete(f"/api/me/filter-profiles/{pid}")).status_code == 204
    assert (await driver_client.get("/api/me/filter-profiles")).json() == []
