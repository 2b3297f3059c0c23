-- The connector status changes without touching an index: HOT updates of charge_points.
--
-- Every booking moves its point's connector status three times (Reserved, Charging,
-- Available: reservations_follow_connector of 0004). Until here each of those updates wrote a
-- new version of the row into all four indexes of charge_points and checked the unique
-- id_pdc_itinerance again, because connector_status appeared in the predicate of the partial
-- index charge_points_not_available, and PostgreSQL makes an update "heap-only" (HOT: no index
-- entry, the new version chained to the old one on the same page) only when no column that any
-- index mentions has changed. Those index writes were ~13% of PostgreSQL's CPU in a
-- book→start→stop cycle, and left charge_points with dead index entries for vacuum to chase.
--
-- The clusters need that index to find the few points that are not available among all of
-- France's. They now find them where they already are indexed:
-- - out of service: charge_points_out_of_service, whose predicate names operational_status
--   only (an admin's rare change, which may well be a non-HOT update);
-- - booked or charging: the open reservations, reservations_one_open_per_point of 0004.
-- A connector is not Available exactly while its point has an open reservation: the status is
-- written only by reservations_follow_connector, from the reservation's own status. That was
-- so by convention; charge_points_connector_guard below makes it an invariant (a direct write
-- is refused: the simulated charger has no fault of its own, an admin takes a point out of use
-- through operational_status, as the fault stop of 0027 does). So the clusters and the
-- stations layer, which still reads connector_status on each row (tiles.point_available), can
-- never disagree. tiles.unavailable_points() says it once for both cluster layers.
--
-- fillfactor 90 leaves room on each page for the new versions: HOT needs the new version on
-- the same page as the old one. It applies to pages written from now on (an import, or rows
-- that move); existing full pages get their room back as vacuum and page pruning clear the
-- versions that a first non-HOT update moved away.

DROP INDEX charge_points_not_available;
CREATE INDEX charge_points_out_of_service ON charge_points (station_id)
WHERE withdrawn_at IS NULL AND operational_status <> 'in_service';
ALTER TABLE charge_points SET (fillfactor = 90);

-- Only a booking moves the connector: reservations_follow_connector runs as a trigger
-- (pg_trigger_depth() = 1), a statement of a client or of a function it calls at depth 0.
-- WHEN keeps the check out of the booking path (no function call there).
CREATE FUNCTION charge_points_connector_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'connector status % of point % is not written directly: it follows the '
                    'point''s booking (take a point out of use with operational_status)',
                    NEW.connector_status, NEW.id
        USING ERRCODE = 'WU409';
END;
$$;
CREATE TRIGGER charge_points_connector_guard BEFORE UPDATE OF connector_status ON charge_points
FOR EACH ROW WHEN (pg_trigger_depth() = 0
                   AND NEW.connector_status IS DISTINCT FROM OLD.connector_status)
EXECUTE FUNCTION charge_points_connector_guard();
CREATE TRIGGER charge_points_connector_guard_insert BEFORE INSERT ON charge_points
FOR EACH ROW WHEN (NEW.connector_status <> 'Available')
EXECUTE FUNCTION charge_points_connector_guard();

-- The points that are not available now: out of service, booked or charging. Few, and each
-- branch is an index scan.
CREATE FUNCTION tiles.unavailable_points() RETURNS TABLE (id uuid, station_id uuid)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT cp.id, cp.station_id FROM charge_points cp
    WHERE cp.withdrawn_at IS NULL AND cp.operational_status <> 'in_service'
    UNION
    SELECT cp.id, cp.station_id
    FROM reservations r JOIN charge_points cp ON cp.id = r.charge_point_id
    WHERE r.status IN ('reserved', 'charging') AND cp.withdrawn_at IS NULL
$$;

-- 0014's, with the unavailable points from tiles.unavailable_points().
CREATE OR REPLACE FUNCTION tiles.clusters_filtered(z integer, x integer, y integer, ff tiles.filter)
RETURNS bytea LANGUAGE plpgsql STABLE PARALLEL SAFE
-- As in 0014: hash joins and aggregates, no workers, planned for each tile's own bounds.
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
            SELECT u.id FROM tiles.unavailable_points() u
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
            SELECT p.cx, p.cy, min(ARRAY[(p.px - c.mx) ^ 2 + (p.py - c.my) ^ 2, p.px, p.py]) AS b
            FROM placed p JOIN cells c USING (cx, cy)
            GROUP BY p.cx, p.cy
        )
        SELECT ST_AsMVTGeom(ST_Point(b.b[2], b.b[3], 3857), bounds, tiles.extent(),
                            tiles.buffer(), true) AS geom,
               ((z::bigint << 40) | (c.cx::bigint << 20) | c.cy) AS cluster_id,
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

-- 0014's, with the unavailable points from tiles.unavailable_points().
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
            FROM tiles.unavailable_points() up JOIN stations s ON s.id = up.station_id
            WHERE s.withdrawn_at IS NULL AND s.geom && bounds
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
