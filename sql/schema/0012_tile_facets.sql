-- Filtered clusters from a compact, precomputed table of point facets.
--
-- A filtered cluster tile at low zoom covers most of France: the 0002 version joined every
-- station in the tile to its points and tested each point with tiles.point_matches (150-600 ms
-- at zooms 4-6 on the national data). Here every listed point is one narrow row of
-- tiles.point_facets: its station, the station's position, its power, and every filterable
-- IRVE field as bits (a yes/no/unknown field takes two bits, "is yes" and "is no", so that
-- "true requires true, false requires false, unknown matches neither" is one mask test). A
-- tile's filtered clusters are then one scan of that table, two hash aggregations (points to
-- stations, stations to cells) and a pick of each cell's representative.
--
-- The table is derived data, like tiles.clusters: rebuilt by refresh_after_import() and, for
-- one station, by tiles.refresh_cells_of_station() (admin edits). Availability is not in it:
-- it stays live, from the few points that are not available now (as in 0002).
--
-- refresh_after_import() also analyses stations and charge_points: without statistics (a
-- fresh database, or autovacuum off as on the test machine) the planner guessed 2 stations in
-- a z4 tile and probed the not-available index once per station (40 ms instead of 1 ms).

-- Bit layout of tiles.point_facets.bits.
--   connectors (present):  ef 1, type_2 2, combo_ccs 4, chademo 8, autre 16
--   yes / no pairs:        gratuit 32/64, paiement_acte 128/256, paiement_cb 512/1024,
--                          cable_t2_attache 2048/4096, is_24_7 8192/16384,
--                          PMR accessible 32768/65536, free access 131072/262144,
--                          two-wheeler 524288/1048576
CREATE FUNCTION tiles.tri(v boolean, yes integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN v THEN yes WHEN NOT v THEN yes << 1 ELSE 0 END
$$;

CREATE TABLE tiles.point_facets (
    point_id   uuid PRIMARY KEY,
    station_id uuid NOT NULL,
    geom       geometry(Point, 3857) NOT NULL,
    px         double precision NOT NULL,
    py         double precision NOT NULL,
    power_kw   double precision,
    bits       integer NOT NULL
);
CREATE INDEX point_facets_station ON tiles.point_facets (station_id);
CREATE INDEX point_facets_geom ON tiles.point_facets USING gist (geom);

-- The facets of every listed point (p_station NULL), or of one station's points.
CREATE FUNCTION tiles.refresh_facets(p_station uuid DEFAULT NULL) RETURNS void
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

-- The clusters layer of a filtered tile (z <= cluster_max_zoom). Same cells, same counts and
-- same representative rule as the unfiltered clusters of 0002/0010 (the matching station
-- nearest the matching members' centroid; ties go to the westernmost, not the lowest id),
-- over the matching stations only.
CREATE FUNCTION tiles.clusters_filtered(z integer, x integer, y integer, ff tiles.filter)
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

-- One MVT for tile z/x/y with the filters in params (jsonb, validated by the tile server).
CREATE OR REPLACE FUNCTION tiles.stations(z integer, x integer, y integer, params jsonb DEFAULT '{}')
RETURNS bytea
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    f jsonb := coalesce(params, '{}'::jsonb);
    ff tiles.filter := tiles.parse_filter(coalesce(params, '{}'::jsonb));
    bounds geometry := ST_TileEnvelope(z, x, y);
    n integer := tiles.cells_per_tile();
    mvt bytea;
BEGIN
    IF z <= tiles.cluster_max_zoom() AND f = '{}'::jsonb THEN
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
    ELSIF z <= tiles.cluster_max_zoom() THEN
        mvt := tiles.clusters_filtered(z, x, y, ff);
    ELSE
        SELECT ST_AsMVT(t, 'stations', tiles.extent(), 'geom') INTO mvt FROM (
            SELECT ST_AsMVTGeom(s.geom, bounds, tiles.extent(), tiles.buffer(), true) AS geom,
                   s.id::text AS id, s.nom_station AS name,
                   coalesce(o.nom_enseigne, o.nom_operateur, o.nom_amenageur) AS operator,
                   count(*)::integer AS points,
                   (count(*) FILTER (WHERE tiles.point_available(cp)))::integer AS available,
                   max(cp.puissance_nominale)::float8 AS max_power_kw,
                   CASE WHEN max(cp.puissance_nominale) <= 7.4 THEN 'slow'
                        WHEN max(cp.puissance_nominale) <= 22 THEN 'normal'
                        WHEN max(cp.puissance_nominale) <= 50 THEN 'fast'
                        WHEN max(cp.puissance_nominale) <= 150 THEN 'rapid'
                        ELSE 'ultra' END AS power_class,
                   concat_ws(',',
                       CASE WHEN bool_or(cp.prise_type_ef) THEN 'ef' END,
                       CASE WHEN bool_or(cp.prise_type_2) THEN 'type_2' END,
                       CASE WHEN bool_or(cp.prise_type_combo_ccs) THEN 'combo_ccs' END,
                       CASE WHEN bool_or(cp.prise_type_chademo) THEN 'chademo' END,
                       CASE WHEN bool_or(cp.prise_type_autre) THEN 'autre' END) AS connectors,
                   CASE WHEN bool_and(cp.gratuit) THEN 'free'
                        WHEN bool_or(cp.gratuit) IS NULL THEN 'unknown'
                        WHEN bool_or(cp.gratuit) THEN 'mixed' ELSE 'paid' END AS pricing,
                   s.is_24_7,
                   s.accessibilite_pmr IN ('Réservé PMR', 'Accessible mais non réservé PMR')
                       AS pmr,
                   CASE WHEN count(*) FILTER (WHERE tiles.point_available(cp)) > 0
                            THEN 'available'
                        WHEN bool_and(cp.operational_status = 'out_of_service')
                            THEN 'out_of_service'
                        WHEN bool_and(cp.operational_status = 'unknown') THEN 'unknown'
                        ELSE 'occupied' END AS status
            FROM stations s
            JOIN charge_points cp ON cp.station_id = s.id
            LEFT JOIN operators o ON o.id = s.operator_id
            WHERE s.geom && ST_TileEnvelope(z, x, y,
                      margin => tiles.buffer()::double precision / tiles.extent())
              AND s.withdrawn_at IS NULL
              AND tiles.point_matches(cp, s, ff)
            GROUP BY s.id, o.id
            LIMIT tiles.max_features()
        ) t;
    END IF;
    RETURN coalesce(mvt, ''::bytea);
END;
$$;

CREATE OR REPLACE FUNCTION tiles.refresh_cells_of_station(station uuid) RETURNS void
LANGUAGE sql AS $$
    SELECT tiles.refresh_cells_at(ST_X(geom), ST_Y(geom)) FROM stations WHERE id = station;
    SELECT tiles.refresh_facets(station);
$$;

CREATE OR REPLACE FUNCTION refresh_after_import() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE app_meta SET data_version = data_version + 1, data_changed_at = now();
    PERFORM analyze_network();
    PERFORM tiles.refresh_clusters();
    PERFORM tiles.refresh_facets();
END;
$$;

-- Statistics of what the hot queries filter and join on, after the network changed in bulk.
-- The columns the tiles, the station sheet and the bookings use only, on a 9,000-row sample
-- (target 30): ~50 ms on the national data where a full ANALYZE takes ~800 ms; autovacuum
-- (where it runs) completes the rest later.
CREATE FUNCTION analyze_network() RETURNS void
LANGUAGE plpgsql SET default_statistics_target = 30 AS $$
BEGIN
    ANALYZE stations (geom, withdrawn_at, operator_id, code_insee_commune);
    ANALYZE charge_points (station_id, withdrawn_at, operational_status, connector_status);
END;
$$;

-- A database imported before this migration: its facets and statistics now.
SELECT tiles.refresh_facets();
SELECT analyze_network();
