"""The admin API: every admin route guarded (found by walking the route table), users,
stations and points with the importer's validation and exact tile refresh."""

from __future__ import annotations

import re
import unicodedata
import uuid
from typing import Any
from uuid import UUID

import mapbox_vector_tile
import mercantile
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.fixtures_accounts import create_user, sign_in
from wattsup.config import Settings

pytestmark = pytest.mark.usefixtures("imported_sample")


def _concrete(path: str) -> str:
    """A route template with every path parameter filled in."""
    return re.sub(r"\{[^}]+\}", lambda m: str(uuid.uuid4()) if "uuid" in m.group() else "x", path)


def admin_routes(app: Litestar) -> list[tuple[str, str]]:
    routes = []
    for route in app.routes:
        if not route.path.startswith("/api/admin"):
            continue
        for method in sorted(getattr(route, "methods", ())):
            if method not in {"HEAD", "OPTIONS"}:
                routes.append((method, route.path))
    return routes


async def test_every_admin_route_refuses_anonymous_and_drivers(
    settings: Settings, driver_client: AsyncTestClient[Litestar]
) -> None:
    from api.app import create_app

    app = create_app(settings)
    routes = admin_routes(app)
    # The walk must see the whole admin surface, or it proves nothing.
    paths = {p for _, p in routes}
    for expected in ("/api/admin/users", "/api/admin/stations", "/api/admin/imports"):
        assert any(p.startswith(expected) for p in paths), expected
    assert len(routes) >= 20, routes
    async with AsyncTestClient(app=app) as anonymous:
        for method, path in routes:
            url = _concrete(path)
            r = await anonymous.request(method, url, json={} if method != "GET" else None)
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.json()["code"] == "not_authenticated"
            r = await driver_client.request(method, url, json={} if method != "GET" else None)
            assert r.status_code == 403, (method, path, r.status_code)
            assert r.json()["code"] == "forbidden"


# ---------------------------------------------------------------------------------- users


async def test_users_search_view_role_disable_enable_delete(
    settings: Settings, pool: Any, admin_client: AsyncTestClient[Litestar]
) -> None:
    from api.app import create_app

    tag = uuid.uuid4().hex[:8]
    victim = await create_user(pool, email=f"zoé-{tag}@example.org")
    await pool.execute(
        "INSERT INTO vehicles (user_id, name, connectors) VALUES ($1, 'Zoé', '{type_2}')",
        victim["id"],
    )
    r = await admin_client.get("/api/admin/users", params={"q": f"zoé-{tag}"})
    assert r.status_code == 200
    page = r.json()
    assert page["total"] == 1 and page["items"][0]["email"] == victim["email"]
    assert (await admin_client.get("/api/admin/users", params={"q": "nobody-" + tag})).json()[
        "total"
    ] == 0

    detail = (await admin_client.get(f"/api/admin/users/{victim['id']}")).json()
    assert [v["name"] for v in detail["vehicles"]] == ["Zoé"]
    assert detail["user"]["role"] == "driver"

    async with AsyncTestClient(app=create_app(settings)) as victim_client:
        await sign_in(victim_client, victim["email"], victim["password"])
        assert (await victim_client.get("/api/me")).status_code == 200

        r = await admin_client.patch(f"/api/admin/users/{victim['id']}", json={"disabled": True})
        assert r.status_code == 200 and r.json()["disabled"] is True
        # Their session ends at once: the access token and the refresh path are both dead.
        assert (await victim_client.get("/api/me")).status_code == 401
        assert (await victim_client.post("/api/auth/refresh")).status_code == 401
        r = await victim_client.post(
            "/api/auth/login", json={"email": victim["email"], "password": victim["password"]}
        )
        assert r.status_code == 403 and r.json()["code"] == "account_disabled"

        r = await admin_client.patch(f"/api/admin/users/{victim['id']}", json={"disabled": False})
        assert r.json()["disabled"] is False
        await sign_in(victim_client, victim["email"], victim["password"])
        r = await admin_client.patch(f"/api/admin/users/{victim['id']}", json={"role": "admin"})
        assert r.json()["role"] == "admin"
        # The role travels in the token: the old one is refused, a new login sees the role.
        assert (await victim_client.get("/api/me")).status_code == 401
        await sign_in(victim_client, victim["email"], victim["password"])
        assert (await victim_client.get("/api/admin/users")).status_code == 200

    r = await admin_client.patch(f"/api/admin/users/{victim['id']}", json={"role": "superuser"})
    assert r.status_code == 400
    me = admin_client.user  # type: ignore[attr-defined]
    r = await admin_client.patch(f"/api/admin/users/{me['id']}", json={"disabled": True})
    assert r.status_code == 409 and r.json()["code"] == "cannot_modify_self"

    r = await admin_client.delete(f"/api/admin/users/{victim['id']}")
    assert r.status_code == 204
    row = await pool.fetchrow("SELECT email, first_name FROM users WHERE id = $1", victim["id"])
    assert row["email"].startswith("deleted-") and row["first_name"] is None
    vehicles = await pool.fetchval("SELECT count(*) FROM vehicles WHERE user_id = $1", victim["id"])
    assert vehicles == 0
    assert (await admin_client.delete(f"/api/admin/users/{victim['id']}")).status_code == 404
    assert (await admin_client.get(f"/api/admin/users/{uuid.uuid4()}")).status_code == 404


# ------------------------------------------------------------------------------- stations


def _station_body(tag: str, **over: Any) -> dict[str, Any]:
    body = {
        "id_station_itinerance": f"FRWUT{tag.upper()}",
        "nom_station": f"Station d'essai {tag}",
        "implantation_station": "voirie",
        "adresse_station": "1 rue de l'Essai 29200 Brest",
        "code_insee_commune": "29019",
        "commune": "Brest",
        "code_postal": "29200",
        "condition_acces": "Accès libre",
        "horaires": "24/7",
        "accessibilite_pmr": "Accessible mais non réservé PMR",
        "nom_operateur": "Opérateur d'essai",
        "nom_enseigne": f"Enseigne {tag}",
        "lon": -4.48,
        "lat": 48.39,
    }
    body.update(over)
    return body


async def _tile_names(tiles: AsyncTestClient[Litestar], lon: float, lat: float, z: int) -> set[str]:
    t = mercantile.tile(lon, lat, z)
    r = await tiles.get(f"/tiles/stations/{z}/{t.x}/{t.y}.pbf")
    if r.status_code == 204:
        return set()
    assert r.status_code == 200, r.text
    decoded = mapbox_vector_tile.decode(r.content)
    return {
        f["properties"].get("name", "") for f in decoded.get("stations", {}).get("features", [])
    }


async def test_an_admin_opens_an_account_and_its_owner_sets_the_password(  # type: ignore[no-untyped-def]
    admin_client: AsyncTestClient[Litestar], api_client, pool
) -> None:
    """The C of the users' CRUD: the admin gives an email and a role, never a password; the
    owner is mailed a link (the outbox) to choose one, and cannot sign in before."""
    email = f"invited-{uuid.uuid4().hex[:10]}@example.org"
    r = await admin_client.post(
        "/api/admin/users",
        json={"email": email.upper(), "first_name": "Camille", "role": "admin"},
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["email"], made["role"], made["first_name"]) == (email, "admin", "Camille")
    r = await admin_client.post("/api/admin/users", json={"email": email})
    assert r.status_code == 409 and r.json()["code"] == "email_taken"
    assert r.json()["errors"][0]["field"] == "email"
    r = await admin_client.post("/api/admin/users", json={"email": "nope"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "email"
    # No password yet: every sign-in is refused, as a wrong password is (no 500).
    r = await api_client.post("/api/auth/login", json={"email": email, "password": "!"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"
    body = await pool.fetchval(
        "SELECT body FROM email_outbox WHERE to_address = $1 ORDER BY id DESC LIMIT 1", email
    )
    assert "valable 7 jours" in body
    token = body.split("token=")[1].split(" ")[0]
    chosen = "une phrase choisie par Camille"
    r = await api_client.post(
        "/api/auth/password-reset/confirm", json={"token": token, "password": chosen}
    )
    assert r.status_code == 200, r.text
    await sign_in(api_client, email, chosen)
    assert (await api_client.get("/api/me")).json()["role"] == "admin"


async def test_station_crud_validates_like_the_importer_and_refreshes_tiles(
    admin_client: AsyncTestClient[Litestar], tile_client: AsyncTestClient[Litestar], pool: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    # Every bad field is named, with its reason, in one answer.
    r = await admin_client.post(
        "/api/admin/stations",
        json=_station_body(
            tag, implantation_station="Sur la lune", code_postal="2920", lon=-74.0, lat=40.7
        ),
    )
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "validation_failed"
    assert {e["field"] for e in problem["errors"]} == {"implantation_station", "code_postal", "lon"}
    r = await admin_client.post("/api/admin/stations", json={"nom_station": "x"})
    assert {e["field"] for e in r.json()["errors"]} >= {"id_station_itinerance", "lon", "lat"}

    # Warm the cache for the tile where the station will appear: it must not stay stale.
    assert f"Station d'essai {tag}" not in await _tile_names(tile_client, -4.48, 48.39, 15)

    r = await admin_client.post("/api/admin/stations", json=_station_body(tag))
    assert r.status_code == 201, r.text
    station = r.json()
    assert station["implantation_station"] == "Voirie"  # loose spelling, canonical value
    assert station["is_24_7"] is True and station["nom_enseigne"] == f"Enseigne {tag}"
    sid = station["id"]
    r = await admin_client.post("/api/admin/stations", json=_station_body(tag))
    assert r.status_code == 409  # same id_station_itinerance

    r = await admin_client.post(
        f"/api/admin/stations/{sid}/points",
        json={"id_pdc_itinerance": f"FRWUTE{tag.upper()}", "puissance_nominale": 22},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "prise_type_2"
    r = await admin_client.post(
        f"/api/admin/stations/{sid}/points",
        json={
            "id_pdc_itinerance": f"FRWUTE{tag.upper()}",
            "puissance_nominale": 22,
            "prise_type_2": True,
            "gratuit": False,
        },
    )
    assert r.status_code == 201, r.text
    point = r.json()
    assert point["operational_status"] == "in_service"
    # The same id again: a 409 that names the field to correct, for the form to mark it.
    r = await admin_client.post(
        f"/api/admin/stations/{sid}/points",
        json={
            "id_pdc_itinerance": f"FRWUTE{tag.upper()}",
            "puissance_nominale": 22,
            "prise_type_2": True,
        },
    )
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    assert r.json()["errors"] == [
        {"field": "id_pdc_itinerance", "reason": f"« FRWUTE{tag.upper()} » est déjà utilisé"}
    ]
    assert f"FRWUTE{tag.upper()}" in r.json()["detail"]

    # A station with a point is on the map at once (cluster cells and tiles refreshed).
    assert f"Station d'essai {tag}" in await _tile_names(tile_client, -4.48, 48.39, 15)
    clusters = await pool.fetchval("SELECT sum(stations) FROM tiles.clusters WHERE zoom = 5")
    live = await pool.fetchval(
        "SELECT count(DISTINCT s.id) FROM stations s JOIN charge_points cp "
        "ON cp.station_id = s.id AND cp.withdrawn_at IS NULL WHERE s.withdrawn_at IS NULL"
    )
    assert clusters == live

    # Move it to Lyon: gone from Brest's tile, present in Lyon's.
    r = await admin_client.patch(f"/api/admin/stations/{sid}", json={"lon": 4.835, "lat": 45.764})
    assert r.status_code == 200 and abs(r.json()["lon"] - 4.835) < 1e-9
    assert f"Station d'essai {tag}" not in await _tile_names(tile_client, -4.48, 48.39, 15)
    assert f"Station d'essai {tag}" in await _tile_names(tile_client, 4.835, 45.764, 15)
    r = await admin_client.patch(f"/api/admin/stations/{sid}", json={"code_insee_commune": "ABCDE"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "code_insee_commune"

    r = await admin_client.get(
        "/api/admin/stations", params={"q": f"essai {tag}", "sort": "power", "order": "desc"}
    )
    rows = r.json()["items"]
    assert [row["id"] for row in rows] == [sid]
    assert rows[0]["points"] == 1 and rows[0]["max_power_kw"] == 22

    # Out of service, then withdrawn. The status is no input of the cluster cells: they are
    # left alone (recomputing them reads all of France at zoom 0, ~1 s nationally).
    cells = "SELECT array_agg(c ORDER BY zoom, cell_x, cell_y)::text FROM tiles.clusters c"
    before = await pool.fetchval(cells)
    r = await admin_client.patch(
        f"/api/admin/points/{point['id']}", json={"operational_status": "out_of_service"}
    )
    assert r.json()["operational_status"] == "out_of_service"
    assert await pool.fetchval(cells) == before
    # Its power is one: every cell holding the station keeps its new highest power.
    r = await admin_client.patch(
        f"/api/admin/points/{point['id']}", json={"puissance_nominale": 350}
    )
    assert r.status_code == 200, r.text
    top = await pool.fetchval(
        "SELECT max(c.max_power_kw) FROM tiles.clusters c, stations s WHERE s.id = $1 "
        "AND c.zoom = tiles.cluster_max_zoom() AND c.cell_x = tiles.cell_x(ST_X(s.geom), c.zoom) "
        "AND c.cell_y = tiles.cell_y(ST_Y(s.geom), c.zoom)",
        UUID(sid),
    )
    assert top == 350
    r = await admin_client.get("/api/admin/stations", params={"q": tag, "status": "out_of_service"})
    assert r.json()["total"] == 1
    r = await admin_client.delete(f"/api/admin/stations/{sid}")
    assert r.status_code == 200 and r.json()["withdrawn"] is True
    assert all(p["withdrawn"] for p in r.json()["points"])
    assert f"Station d'essai {tag}" not in await _tile_names(tile_client, 4.835, 45.764, 15)
    assert (await admin_client.get(f"/api/admin/stations/{uuid.uuid4()}")).status_code == 404


async def test_every_station_sort_answers_and_names_sort_as_read(
    admin_client: AsyncTestClient[Litestar],
) -> None:
    for sort in ("name", "commune", "operator", "power", "points", "updated", "status"):
        for order in ("asc", "desc"):
            r = await admin_client.get(
                "/api/admin/stations", params={"sort": sort, "order": order, "per_page": 200}
            )
            assert r.status_code == 200, (sort, order, r.text)
    names = [
        row["nom_station"]
        for row in (
            await admin_client.get("/api/admin/stations", params={"sort": "name", "per_page": 200})
        ).json()["items"]
    ]
    # Case and accents folded, the rest by code point (the database's "C" order).
    folded = [
        "".join(c for c in unicodedata.normalize("NFD", n) if not unicodedata.combining(c)).lower()
        for n in names
    ]
    assert folded == sorted(folded), "case and accents do not decide the order"


async def test_list_filters_on_real_data(admin_client: AsyncTestClient[Litestar]) -> None:
    page1 = (await admin_client.get("/api/admin/stations", params={"per_page": 5})).json()
    assert len(page1["items"]) == 5 and page1["total"] > 100
    page2 = (
        await admin_client.get("/api/admin/stations", params={"per_page": 5, "page": 2})
    ).json()
    assert not {r["id"] for r in page1["items"]} & {r["id"] for r in page2["items"]}
    fast = (
        await admin_client.get(
            "/api/admin/stations", params={"min_power": 50, "sort": "power", "per_page": 200}
        )
    ).json()
    assert fast["items"] and all(r["max_power_kw"] >= 50 for r in fast["items"])
    powers = [r["max_power_kw"] for r in fast["items"]]
    assert powers == sorted(powers)
    r = await admin_client.get("/api/admin/stations", params={"sort": "nonsense"})
    assert r.status_code == 400


async def test_openapi_documents_every_route_and_its_errors(
    api_client: AsyncTestClient[Litestar],
) -> None:
    doc = (await api_client.get("/api/schema/openapi.json")).json()
    operations = [(p, m, op) for p, ops in doc["paths"].items() for m, op in ops.items()]
    assert len(operations) >= 60
    for path, method, op in operations:
        errors = {c for c in op["responses"] if c.startswith(("4", "5"))}
        assert {"400", "503"} <= errors, (method, path)
        for code in errors:
            content = op["responses"][code].get("content", {})
            assert "application/problem+json" in content, (method, path, code)
        if path.startswith("/api/admin"):
            assert {"401", "403"} <= errors, (method, path)
        if "{" in path:
            assert "404" in errors, (method, path)
    assert "413" in doc["paths"]["/api/admin/imports"]["post"]["responses"]


async def test_deleting_a_driver_frees_the_point_they_had_booked(
    settings: Settings, pool: Any, admin_client: AsyncTestClient[Litestar]
) -> None:
    from api.app import create_app

    victim = await create_user(pool)
    vehicle = await pool.fetchval(
        "INSERT INTO vehicles (user_id, name, connectors) VALUES ($1, 'Van', '{type_2}') "
        "RETURNING id",
        victim["id"],
    )
    point = await pool.fetchval(
        "SELECT cp.id FROM charge_points cp WHERE cp.prise_type_2 AND cp.withdrawn_at IS NULL "
        "AND cp.operational_status = 'in_service' AND cp.connector_status = 'Available' "
        "AND cp.reservation IS NOT FALSE AND NOT EXISTS (SELECT 1 FROM reservations r "
        "WHERE r.charge_point_id = cp.id AND r.status IN ('reserved', 'charging')) LIMIT 1"
    )
    async with AsyncTestClient(app=create_app(settings)) as victim_client:
        await sign_in(victim_client, victim["email"], victim["password"])
        r = await victim_client.post(
            "/api/reservations", json={"charge_point_id": str(point), "vehicle_id": str(vehicle)}
        )
        assert r.status_code == 201, r.text
    assert (await admin_client.delete(f"/api/admin/users/{victim['id']}")).status_code == 204
    row = await pool.fetchrow(
        "SELECT status, end_reason FROM reservations WHERE user_id = $1", victim["id"]
    )
    assert (row["status"], row["end_reason"]) == ("cancelled", "account_deleted")
    status = await pool.fetchval("SELECT connector_status FROM charge_points WHERE id = $1", point)
    assert status == "Available"


async def test_withdrawing_a_station_or_a_point_ends_its_bookings_with_that_reason(
    pool: Any, admin_client: AsyncTestClient[Litestar]
) -> None:
    """The back office's own reason is kept ('station_withdrawn' for a whole station), not
    the 'point_withdrawn' of the trigger that ends any withdrawn point's booking (0035)."""
    from tests.fixtures_reservations import hold_points

    tag = uuid.uuid4().hex[:8]
    sid = (await admin_client.post("/api/admin/stations", json=_station_body(tag))).json()["id"]
    points = []
    for n in (1, 2, 3):
        r = await admin_client.post(
            f"/api/admin/stations/{sid}/points",
            json={
                "id_pdc_itinerance": f"FRWUTE{tag.upper()}{n}",
                "puissance_nominale": 22,
                "prise_type_2": True,
            },
        )
        assert r.status_code == 201, r.text
        points.append(UUID(r.json()["id"]))
    bookings = await hold_points(pool, points)
    assert (await admin_client.delete(f"/api/admin/points/{points[0]}")).status_code == 200
    assert (await admin_client.delete(f"/api/admin/stations/{sid}")).status_code == 200
    ended = await pool.fetch(
        "SELECT r.status, r.end_reason, cp.connector_status FROM reservations r "
        "JOIN charge_points cp ON cp.id = r.charge_point_id "
        "WHERE r.id = ANY($1::uuid[]) ORDER BY cp.id_pdc_itinerance",
        bookings,
    )
    assert [tuple(r) for r in ended] == [
        ("cancelled", "point_withdrawn", "Unavailable"),
        ("cancelled", "station_withdrawn", "Unavailable"),
        ("cancelled", "station_withdrawn", "Unavailable"),
    ]
