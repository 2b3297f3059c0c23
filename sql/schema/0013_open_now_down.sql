-- Undo 0013: no opening week, no open_now filter; the 0012 facets and the 0002 filter rules.
-- The clusters layer of a filtered tile (z <= cluster_max_zoom). Same cells, same counts and
-- same representative rule as the unfiltered clusters of 0002/0010 (the matching station
-- nearest the matching members' centroid; ties go to the westernmost, not the lowest id),
-- over the matching stations only.
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
    need integer := tiles.tri(ff.free, 32) | tiles.tri(ff.pay_as_you_go, 128)
        | tiles.tri(ff.card, 512) | tiles.tri(ff.t2_cable, 2048)
        | tiles.tri(ff.open_24_7, 8192) | tiles.tri(ff.pmr, 32768)
        | tiles.tri(ff.free_access, 131072) | tiles.tri(ff.two_wheeler, 524288);
    sockets integer := coalesce((
        SELECT bit_or(CASE c WHEN 'ef' THEN 1 WHEN 'type_2' THEN 2 WHEN 'combo_ccs' THEN 4
                             WHEN 'chademo' THEN 8 WHEN 'autre' THEN 16 ELSE 0 END)
        FROM unnest(ff.connectors) c), -1);
    min_power double precision := ff.min_power;
    available_only boolean := coalesce(ff.available_now, false);
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
              AND (sockets = -1 OR (f.bits & sockets) <> 0)
              AND (min_power IS NULL OR f.power_kw >= min_power)
              AND (NOT available_only OR u.id IS NULL)
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

-- The facets of every listed point (p_station NULL), or of one station's points.
CREATE OR REPLACE FUNCTION tiles.refresh_facets(p_station uuid DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_station IS NULL THEN
        -- A whole rebuild: the spatial index is built once after the rows (~3x faster
        -- than growing it row by row).
        TRUNCATE tiles.point_facets;
        DROP INDEX tiles.point_facets_geom;
    ELSE
        DELETE FROM tiles.point_facets WHERE station_id = p_station;
    END IF;
    INSERT INTO tiles.point_facets
    SELECT cp.id, s.id, s.geom, ST_X(s.geom), ST_Y(s.geom), cp.puissance_nominale,
           (CASE WHEN cp.prise_type_ef THEN 1 ELSE 0 END)
         | (CASE WHEN cp.prise_type_2 THEN 2 ELSE 0 END)
         | (CASE WHEN cp.prise_type_combo_ccs THEN 4 ELSE 0 END)
         | (CASE WHEN cp.prise_type_chademo THEN 8 ELSE 0 END)
         | (CASE WHEN cp.prise_type_autre THEN 16 ELSE 0 END)
         | tiles.tri(cp.gratuit, 32) | tiles.tri(cp.paiement_acte, 128)
         | tiles.tri(cp.paiement_cb, 512) | tiles.tri(cp.cable_t2_attache, 2048)
         | tiles.tri(s.is_24_7, 8192)
         | tiles.tri(s.accessibilite_pmr IN ('Réservé PMR', 'Accessible mais non réservé PMR'),
                     32768)
         | tiles.tri(s.condition_acces = 'Accès libre', 131072)
         | tiles.tri(s.station_deux_roues, 524288)
    FROM charge_points cp JOIN stations s ON s.id = cp.station_id
    WHERE cp.withdrawn_at IS NULL AND s.withdrawn_at IS NULL
      AND (p_station IS NULL OR s.id = p_station)
    -- Neighbours on neighbouring pages: a tile reads few pages at high zoom.
    ORDER BY ST_GeoHash(s.geom_4326, 8), s.id;
    IF p_station IS NULL THEN
        CREATE INDEX point_facets_geom ON tiles.point_facets USING gist (geom);
        ANALYZE tiles.point_facets;
    END IF;
END;
$$;

DROP FUNCTION tiles.open_classes(boolean, timestamptz);
ALTER TABLE tiles.point_facets DROP COLUMN opening;
DROP TABLE tiles.opening_classes;

ALTER TYPE tiles.filter DROP ATTRIBUTE at, DROP ATTRIBUTE open_now;
CREATE OR REPLACE FUNCTION tiles.parse_filter(f jsonb) RETURNS tiles.filter
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ROW((f->>'min_power')::numeric,
               CASE WHEN f ? 'connectors' THEN
                   ARRAY(SELECT jsonb_array_elements_text(f->'connectors')) END,
               (f->>'free')::boolean, (f->>'pay_as_you_go')::boolean, (f->>'card')::boolean,
               (f->>'t2_cable')::boolean, (f->>'available_now')::boolean,
               (f->>'open_24_7')::boolean, (f->>'pmr')::boolean, (f->>'free_access')::boolean,
               (f->>'two_wheeler')::boolean)::tiles.filter
$$;

-- Does a charging point pass the filters? A NULL filter field means "no condition".
-- connectors: any of the listed types; booleans: true requires, false excludes.
CREATE OR REPLACE FUNCTION tiles.point_matches(cp charge_points, s stations, f tiles.filter)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT cp.withdrawn_at IS NULL
       AND (f.min_power IS NULL OR cp.puissance_nominale >= f.min_power)
       AND (f.connectors IS NULL OR
            ('ef' = ANY (f.connectors) AND cp.prise_type_ef) OR
            ('type_2' = ANY (f.connectors) AND cp.prise_type_2) OR
            ('combo_ccs' = ANY (f.connectors) AND cp.prise_type_combo_ccs) OR
            ('chademo' = ANY (f.connectors) AND cp.prise_type_chademo) OR
            ('autre' = ANY (f.connectors) AND cp.prise_type_autre))
       AND (f.free IS NULL OR cp.gratuit IS NOT DISTINCT FROM f.free)
       AND (f.pay_as_you_go IS NULL OR cp.paiement_acte IS NOT DISTINCT FROM f.pay_as_you_go)
       AND (f.card IS NULL OR cp.paiement_cb IS NOT DISTINCT FROM f.card)
       AND (f.t2_cable IS NULL OR cp.cable_t2_attache IS NOT DISTINCT FROM f.t2_cable)
       AND (f.available_now IS NULL OR NOT f.available_now OR tiles.point_available(cp))
       AND (f.open_24_7 IS NULL OR s.is_24_7 = f.open_24_7)
       AND (f.pmr IS NULL OR (s.accessibilite_pmr IN ('Réservé PMR',
            'Accessible mais non réservé PMR')) IS NOT DISTINCT FROM f.pmr)
       AND (f.free_access IS NULL OR (s.condition_acces = 'Accès libre')
            IS NOT DISTINCT FROM f.free_access)
       AND (f.two_wheeler IS NULL OR s.station_deux_roues IS NOT DISTINCT FROM f.two_wheeler)
$$;

DROP FUNCTION tiles.open_at(bit, text, timestamptz);
DROP FUNCTION tiles.week_quarter(timestamptz, text);
DROP FUNCTION tiles.now();
ALTER TABLE stations DROP COLUMN opening_week, DROP COLUMN time_zone;
DROP FUNCTION parse_opening_hours(text, boolean);
DROP FUNCTION irve_time_zone(text);
