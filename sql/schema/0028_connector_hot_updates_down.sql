-- Back to 0027: the partial index of not-available points names connector_status again (so
-- connector updates are no longer HOT), and the cluster layers are 0014's.
DROP TRIGGER charge_points_connector_guard_insert ON charge_points;
DROP TRIGGER charge_points_connector_guard ON charge_points;
DROP FUNCTION charge_points_connector_guard();
ALTER TABLE charge_points RESET (fillfactor);
DROP INDEX charge_points_out_of_service;
CREATE INDEX charge_points_not_available ON charge_points (station_id)
WHERE withdrawn_at IS NULL
  AND (operational_status <> 'in_service' OR connector_status <> 'Available');

CREATE OR REPLACE FUNCTION tiles.clusters_filtered(z integer, x integer, y integer, ff tiles.filter)
RETURNS bytea LANGUAGE plpgsql STABLE PARALLEL SAFE
-- The planner cannot estimate the mask tests (it assumes 0.5% of rows match, then sorts
-- and loops where a quarter of France matches): hash joins and hash aggregates throughout,
-- which fit in memory; no parallel workers (their start-up costs more than they save on a
-- tile). A tile's bounds differ per call, so each call is planned for its own bounds (a
-- low-zoom tile scans the table, a high-zoom one uses the index).
SET work_mem = '64MB' SET enable_sort = off SET enable_nestloop = off
SET max_parallel_workers_per_gather = 0 SET plan_cache_mode = 'force_custom_plan'
AS $$
DECLARE
    bounds geometry := ST_TileEnvelope(z, x, y);
    n integer := tiles.cells_per_tile();
    cs double precision := tiles.cell_size(z);
    need integer := tiles.facets_required(ff);
    forbid integer := tiles.facets_excluded(ff);
    sockets integer := coalesce((
        SELECT bit_or(CASE c WHEN 'ef' THEN 1 WHEN 'type_2' THEN 2 WHEN 'combo_ccs' THEN 4
                             WHEN 'chademo' THEN 8 WHEN 'autre' THEN 16 ELSE 0 END)
        FROM unnest(ff.connectors) c), -1);
    min_power double precision := ff.min_power;
    available_only boolean := coalesce(ff.available_now, false);
    open_ok boolean[] := tiles.open_classes(ff.open_now, coalesce(ff.at, tiles.now()));
    mvt bytea;
BEGIN
    SELECT ST_AsMVT(t, 'clusters', tiles.extent(), 'geom') INTO mvt FROM (
        WITH unavailable AS MATERIALIZED (
            -- Live, and few: booked, charging, faulted or out of service (partial index).
            SELECT cp.id FROM charge_points cp
            WHERE cp.withdrawn_at IS NULL
              AND (cp.operational_status <> 'in_service' OR cp.connector_status <> 'Available')
        ), st AS MATERIALIZED (
            SELECT f.station_id AS id, min(f.px) AS px, min(f.py) AS py, count(*) AS points,
                   count(*) FILTER (WHERE u.id IS NULL) AS available,
                   max(f.power_kw) AS max_power
            FROM tiles.point_facets f LEFT JOIN unavailable u ON u.id = f.point_id
            WHERE f.geom && bounds
              AND (f.bits & need) = need
              AND (f.bits & forbid) = 0
              AND (sockets = -1 OR (f.bits & sockets) <> 0)
              AND (min_power IS NULL OR f.power_kw >= min_power)
              AND (NOT available_only OR u.id IS NULL)
              AND (open_ok IS NULL OR open_ok[f.opening])
            GROUP BY f.station_id
        ), placed AS MATERIALIZED (
            SELECT st.*, floor((st.px + 20037508.342789244) / cs)::integer AS cx,
                   floor((20037508.342789244 - st.py) / cs)::integer AS cy
            FROM st
        ), cells AS MATERIALIZED (
            SELECT cx, cy, count(*) AS k, sum(points) AS points, sum(available) AS available,
                   max(max_power) AS max_power, avg(px) AS mx, avg(py) AS my,
                   min(px) AS xmin, min(py) AS ymin, max(px) AS xmax, max(py) AS ymax
            FROM placed
            WHERE cx BETWEEN x * n AND x * n + n - 1 AND cy BETWEEN y * n AND y * n + n - 1
            GROUP BY cx, cy
        ), best AS (
            -- The member nearest the centroid, by a hash aggregate rather than a sort:
            -- arrays compare element by element, so the smallest [distance, x, y] wins.
            SELECT p.cx, p.cy, min(ARRAY[(p.px - c.mx) ^ 2 + (p.py - c.my) ^ 2, p.px, p.py]) AS b
            FROM placed p JOIN cells c USING (cx, cy)
            GROUP BY p.cx, p.cy
        )
        SELECT ST_AsMVTGeom(ST_Point(b.b[2], b.b[3], 3857), bounds, tiles.extent(),
                            tiles.buffer(), true) AS geom,
               ((z::bigint << 40) | (c.cx::bigint << 20) | c.cy) AS cluster_id,
               -- Integers, as in the unfiltered tiles (a sum is numeric, which MVT writes as
               -- a string).
               c.k::integer AS point_count, tiles.abbreviate(c.k) AS point_count_abbreviated,
               c.k::integer AS stations, c.points::integer AS charge_points,
               c.available::integer AS available, c.max_power::float8 AS max_power_kw,
               tiles.expansion_zoom(z, c.xmin, c.ymin, c.xmax, c.ymax) AS expansion_zoom
        FROM cells c JOIN best b USING (cx, cy)
        ORDER BY c.k DESC
        LIMIT tiles.max_features()
    ) t;
    RETURN mvt;
END;
$$;

CREATE OR REPLACE FUNCTION tiles.clusters_layer(z integer, x integer, y integer) RETURNS bytea
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    bounds geometry := ST_TileEnvelope(z, x, y);
    n integer := tiles.cells_per_tile();
    mvt bytea;
BEGIN
    SELECT ST_AsMVT(t, 'clusters', tiles.extent(), 'geom') INTO mvt FROM (
        SELECT ST_AsMVTGeom(c.geom, bounds, tiles.extent(), tiles.buffer(), true) AS geom,
               ((z::bigint << 40) | (c.cell_x::bigint << 20) | c.cell_y) AS cluster_id,
               c.stations AS point_count,
               tiles.abbreviate(c.stations) AS point_count_abbreviated,
               c.stations, c.charge_points,
               c.charge_points - coalesce(u.unavailable, 0) AS available,
               c.max_power_kw::float8 AS max_power_kw, c.expansion_zoom
        FROM tiles.clusters c
        LEFT JOIN (
            -- Live: the tile's points that are not available now, per cell.
            SELECT tiles.cell_x(ST_X(s.geom), z) AS cx, tiles.cell_y(ST_Y(s.geom), z) AS cy,
                   count(*)::integer AS unavailable
            FROM charge_points cp JOIN stations s ON s.id = cp.station_id
            WHERE cp.withdrawn_at IS NULL
              AND (cp.operational_status <> 'in_service'
                   OR cp.connector_status <> 'Available')
              AND s.withdrawn_at IS NULL AND s.geom && bounds
            GROUP BY 1, 2
        ) u ON u.cx = c.cell_x AND u.cy = c.cell_y
        WHERE c.zoom = z
          AND c.cell_x BETWEEN x * n AND x * n + n - 1
          AND c.cell_y BETWEEN y * n AND y * n + n - 1
        ORDER BY c.stations DESC
        LIMIT tiles.max_features()
    ) t;
    RETURN mvt;
END;
$$;

DROP FUNCTION tiles.unavailable_points();
