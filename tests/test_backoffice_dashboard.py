"""Dashboard figures and analytics views on a real database: every figure the API returns is
checked against a direct count on the base tables, and each view exports as CSV."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from tests.fixtures_accounts import create_user

pytestmark = pytest.mark.usefixtures("imported_sample")


async def book(
    pool: asyncpg.Pool, user: UUID, point: UUID, end: str, energy: float | None = None
) -> UUID:
    """A reservation taken through the legal transitions of migration 0004 to `end`."""
    async with pool.acquire() as conn, conn.transaction():
        rid: UUID = await conn.fetchval(
            "INSERT INTO reservations (user_id, charge_point_id, expires_at, sim_speed)"
            " VALUES ($1, $2, now() + interval '30 minutes', 1) RETURNING id",
            user,
            point,
        )
        if end in ("cancelled", "expired"):
            await conn.execute(
                "UPDATE reservations SET status = $2, ended_at = now() WHERE id = $1", rid, end
            )
        elif end in ("charging", "completed"):
            await conn.execute(
                "UPDATE reservations SET status = 'charging', started_at = now(),"
                " ends_at = now() + interval '1 hour', power_kw = 22 WHERE id = $1",
                rid,
            )
            if end == "completed":
                await conn.execute(
                    "UPDATE reservations SET status = 'completed', ended_at = now(),"
                    " receipt = jsonb_build_object('energy_kwh', $2::float8) WHERE id = $1",
                    rid,
                    energy,
                )
    return rid


@pytest.fixture
async def some_use(pool: asyncpg.Pool) -> dict[str, Any]:
    """Bookings on two points of one station: 3 completed (30.5 kWh), 2 cancelled, 1 expired,
    1 still reserved."""
    points = await pool.fetch(
        "SELECT p.id, p.station_id FROM charge_points p WHERE p.withdrawn_at IS NULL"
        " AND p.operational_status = 'in_service' AND NOT EXISTS"
        " (SELECT 1 FROM reservations r WHERE r.charge_point_id = p.id)"
        " ORDER BY p.station_id LIMIT 1"
    )
    point = points[0]["id"]
    users = [(await create_user(pool))["id"] for _ in range(3)]
    for energy in (10.0, 12.5, 8.0):
        await book(pool, users[0], point, "completed", energy)
    await book(pool, users[0], point, "cancelled")
    await book(pool, users[1], point, "cancelled")
    await book(pool, users[1], point, "expired")
    await book(pool, users[2], point, "reserved")
    return {"station_id": points[0]["station_id"], "point": point}


async def test_dashboard_network_figures_match_the_tables(
    admin_client: Any, pool: asyncpg.Pool
) -> None:
    r = await admin_client.get("/api/admin/dashboard")
    assert r.status_code == 200, r.text
    d = r.json()
    live = "FROM charge_points WHERE withdrawn_at IS NULL"
    points = await pool.fetchval(f"SELECT count(*) {live}")
    in_service = await pool.fetchval(
        f"SELECT count(*) {live} AND operational_status = 'in_service'"
    )
    stations = await pool.fetchval("SELECT count(*) FROM stations WHERE withdrawn_at IS NULL")
    assert points > 290  # the real sample is loaded
    assert d["network"]["points"] == points
    assert d["network"]["stations"] == stations
    assert d["network"]["points_in_service"] == in_service
    assert d["network"]["share_in_service"] == pytest.approx(in_service / points, abs=1e-4)

    # Every breakdown adds up to the live points (connectors: to the connector flags).
    for key in ("by_power_class", "by_region", "by_operator"):
        assert sum(b["points"] for b in d[key]) == points, key
    flags = await pool.fetchval(
        "SELECT sum(prise_type_2::int + prise_type_combo_ccs::int + prise_type_chademo::int"
        f" + prise_type_ef::int + prise_type_autre::int) {live}"
    )
    assert sum(b["points"] for b in d["by_connector"]) == flags
    type2 = next(b for b in d["by_connector"] if b["label"] == "Type 2")
    assert type2["points"] == await pool.fetchval(f"SELECT count(*) {live} AND prise_type_2")

    fast = await pool.fetchval(
        f"SELECT count(*) {live} AND puissance_nominale >= 50 AND puissance_nominale < 150"
    )
    by_class = {b["label"]: b["points"] for b in d["by_power_class"]}
    assert by_class.get("50 à 150 kW", 0) == fast

    # Regions come from the official commune list.
    idf = await pool.fetchval(
        "SELECT count(*) FROM charge_points p JOIN stations s ON s.id = p.station_id"
        " JOIN communes c ON c.code_insee = s.code_insee_commune"
        " WHERE p.withdrawn_at IS NULL AND c.region = '11'"
    )
    by_region = {b["label"]: b["points"] for b in d["by_region"]}
    assert by_region.get("Île-de-France", 0) == idf

    dated = await pool.fetchval(
        "SELECT count(*) FROM charge_points p JOIN stations s ON s.id = p.station_id"
        " WHERE p.withdrawn_at IS NULL AND s.date_mise_en_service <= current_date"
    )
    months = d["new_points_per_month"]
    assert sum(m["points"] for m in months) == dated
    if months:
        assert months[-1]["cumulative_points"] == dated
        assert [m["month"] for m in months] == sorted(m["month"] for m in months)


async def test_dashboard_use_figures_match_the_reservations(
    admin_client: Any, pool: asyncpg.Pool, some_use: dict[str, Any]
) -> None:
    d = (await admin_client.get("/api/admin/dashboard", params={"days": 7})).json()
    counts = await pool.fetchrow(
        "SELECT count(*) AS n, count(*) FILTER (WHERE status = 'cancelled') AS cancelled,"
        " count(*) FILTER (WHERE status = 'expired') AS expired,"
        " count(*) FILTER (WHERE status IN ('charging', 'completed')) AS charges,"
        " coalesce(sum((receipt->>'energy_kwh')::numeric), 0) AS energy FROM reservations"
    )
    use = d["use"]
    assert use["reservations"] == counts["n"] >= 7
    assert use["cancelled"] == counts["cancelled"] >= 2
    assert use["expired"] == counts["expired"] >= 1
    assert use["charges"] == counts["charges"] >= 3
    assert use["energy_kwh"] == pytest.approx(float(counts["energy"]))
    assert use["cancellation_rate"] == pytest.approx(counts["cancelled"] / counts["n"], abs=1e-4)
    assert use["expiry_rate"] == pytest.approx(counts["expired"] / counts["n"], abs=1e-4)

    # Seven days, oldest first, today last, with today's bookings in it.
    days = d["use_per_day"]
    assert len(days) == 7 and days[-1]["day"] == date.today().isoformat()
    today = await pool.fetchval(
        "SELECT count(*) FROM reservations WHERE created_at::date = current_date"
    )
    assert days[-1]["reservations"] == today

    # The busiest station is the one we booked on (no other test books this much).
    busiest = d["busiest_stations"]
    top = await pool.fetchrow(
        "SELECT p.station_id, count(*) AS n FROM reservations r"
        " JOIN charge_points p ON p.id = r.charge_point_id GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
    )
    assert busiest[0]["station_id"] == str(top["station_id"])
    assert busiest[0]["reservations"] == top["n"]
    assert -180 <= busiest[0]["lon"] <= 180 and -90 <= busiest[0]["lat"] <= 90


async def test_analytics_views_are_documented_and_export_as_csv(
    admin_client: Any, pool: asyncpg.Pool
) -> None:
    views = (await admin_client.get("/api/admin/analytics")).json()
    names = {v["name"] for v in views}
    assert {
        "stations",
        "charge_points",
        "points_by_power_class",
        "use_per_day",
        "busiest_stations",
        "reservations",
    } <= names
    assert all(v["description"] for v in views), "every view carries a COMMENT"

    r = await admin_client.get("/api/admin/analytics/charge_points.csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    text = r.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == await pool.fetchval("SELECT count(*) FROM charge_points")
    assert "geom" not in rows[0] and "lon" in rows[0]  # positions as numbers, not EWKB
    assert "id_pdc_itinerance" in rows[0]

    r = await admin_client.get("/api/admin/analytics/points_by_region.csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert sum(int(x["points"]) for x in rows) == await pool.fetchval(
        "SELECT count(*) FROM charge_points WHERE withdrawn_at IS NULL"
    )


async def test_csv_export_only_serves_analytics_views(
    admin_client: Any, driver_client: Any
) -> None:
    for name in ("users.csv", "regions.csv", "stations", "pg_user.csv", "stations;drop.csv"):
        r = await admin_client.get(f"/api/admin/analytics/{name}")
        assert r.status_code == 404, name
        assert r.json()["code"] == "view_not_found"
    assert (await driver_client.get("/api/admin/analytics/stations.csv")).status_code == 403


async def test_bi_role_reads_analytics_and_nothing_else(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL ROLE wattsup_bi")
        assert await conn.fetchval("SELECT count(*) FROM analytics.stations") > 0
        assert await conn.fetchval("SELECT count(*) FROM analytics.use_summary") == 1
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchval("SELECT count(*) FROM users")
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL ROLE wattsup_bi")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM analytics.regions")


async def test_an_operator_spelled_two_ways_is_one_line(pool: asyncpg.Pool) -> None:
    """The national file spells some operators two ways ("Bouygues Energies et Services",
    "BOUYGUES ENERGIES ET SERVICES"): one line of points by operator (0032), under the
    spelling most of its points use, its stations and points added up."""
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()  # rolled back at the end: the other tests see the sample as loaded
        try:
            top = await conn.fetchrow(
                "SELECT operateur, stations, points FROM analytics.points_by_operator "
                "WHERE stations >= 2 ORDER BY points DESC LIMIT 1"
            )
            assert top is not None
            # One of its stations moves to a copy of its operator row, in capitals.
            station = await conn.fetchval(
                "SELECT station_id FROM analytics.stations WHERE operateur = $1 "
                "ORDER BY station_id LIMIT 1",
                top["operateur"],
            )
            await conn.execute(
                "WITH copy AS (INSERT INTO operators (nom_amenageur, nom_operateur, nom_enseigne)"
                "   SELECT o.nom_amenageur, upper($2) || ' ', o.nom_enseigne FROM operators o"
                "   JOIN stations s ON s.operator_id = o.id WHERE s.id = $1 RETURNING id) "
                "UPDATE stations SET operator_id = (SELECT id FROM copy) WHERE id = $1",
                station,
                top["operateur"],
            )
            spellings = await conn.fetchval(
                "SELECT count(DISTINCT operateur) FROM analytics.stations "
                "WHERE lower(btrim(operateur)) = lower($1)",
                top["operateur"],
            )
            assert spellings == 2
            rows = await conn.fetch(
                "SELECT * FROM analytics.points_by_operator "
                "WHERE lower(btrim(operateur)) = lower($1)",
                top["operateur"],
            )
            assert [(r["operateur"], r["stations"], r["points"]) for r in rows] == [
                (top["operateur"], top["stations"], top["points"])
            ]
        finally:
            await tx.rollback()
