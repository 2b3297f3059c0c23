-- A whole rebuild of the derived tile tables (refresh_after_import()) in less time, the same
-- rows (a test compares them with the rules of 0010 and 0013):
--
-- tiles.refresh_clusters(): each zoom now reads only the zoom below, kept in its own small
-- temporary table, instead of scanning every zoom written so far (the 0010 loop read the
-- growing tile_levels table 12 times); each zoom's cells go straight into tiles.clusters,
-- whose key is built once after the rows instead of grown row by row; and the finest zoom
-- counts each station's points before joining the stations (36k rows joined, not 157k).
-- National synthetic data: ~690 -> ~500 ms.
--
-- tiles.refresh_facets(): the facet rows are a view, tiles.facet_rows, that a whole rebuild
-- reads with a parallel CREATE TABLE AS (join, bit masks and the geohash sort on two cores;
-- an INSERT ... SELECT is never parallel in PostgreSQL 15) before copying them into
-- tiles.point_facets in that order; one station's refresh reads the same view. ~830 -> ~770 ms.
--
-- An import runs on one core while it parses the file and PostgreSQL stores the rows on the
-- other; these rebuilds come after the last row, when the importing process waits: the second
-- core is free for the parallel workers.

CREATE OR REPLACE FUNCTION tiles.refresh_clusters() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    zz integer;
    top integer := tiles.cluster_max_zoom();
BEGIN
    TRUNCATE tiles.clusters;
    ALTER TABLE tiles.clusters DROP CONSTRAINT clusters_pkey;
    -- The finest zoom: one row per occupied cell, with its totals, member coordinate sums
    -- (for the centroid), representative (rx, ry, geom: the member nearest the centroid,
    -- ties to the smallest station id) and expansion zoom (0010 says why each rule).
    CREATE TEMP TABLE tile_level ON COMMIT DROP AS
    SELECT DISTINCT ON (cx, cy) cx, cy, n, pts, mp, sx, sy, x AS rx, y AS ry, geom,
           top + 1 AS ez
    FROM (
        SELECT a.*, count(*) OVER w AS n, sum(a.points) OVER w AS pts,
               max(a.max_power) OVER w AS mp, sum(a.x) OVER w AS sx, sum(a.y) OVER w AS sy
        FROM (
            SELECT s.id, s.geom, ST_X(s.geom) AS x, ST_Y(s.geom) AS y,
                   tiles.cell_x(ST_X(s.geom), top) AS cx, tiles.cell_y(ST_Y(s.geom), top) AS cy,
                   p.points, p.max_power
            FROM stations s
            -- The points counted per station before the join (36k rows joined, not 157k).
            JOIN (SELECT station_id, count(*) AS points, max(puissance_nominale) AS max_power
                  FROM charge_points WHERE withdrawn_at IS NULL
                  GROUP BY station_id) p ON p.station_id = s.id
            WHERE s.withdrawn_at IS NULL
        ) a
        WINDOW w AS (PARTITION BY a.cx, a.cy)
    ) q
    ORDER BY cx, cy, (x - sx / n) ^ 2 + (y - sy / n) ^ 2, id;
    INSERT INTO tiles.clusters SELECT top, cx, cy, geom, n, pts, mp, ez FROM tile_level;
    -- Each coarser zoom from the one below: a cell's totals are its sub-cells' sums, its
    -- representative the sub-cell representative nearest its centroid.
    FOR zz IN REVERSE top - 1 .. 0 LOOP
        CREATE TEMP TABLE tile_level_up ON COMMIT DROP AS
        SELECT DISTINCT ON (pcx, pcy) pcx AS cx, pcy AS cy, n, pts, mp, sx, sy, rx, ry, geom,
               CASE WHEN k > 1 THEN zz + 1 ELSE ez END AS ez
        FROM (
            SELECT l.cx >> 1 AS pcx, l.cy >> 1 AS pcy, l.rx, l.ry, l.geom, l.ez,
                   count(*) OVER w AS k, sum(l.n) OVER w AS n, sum(l.pts) OVER w AS pts,
                   max(l.mp) OVER w AS mp, sum(l.sx) OVER w AS sx, sum(l.sy) OVER w AS sy
            FROM tile_level l
            WINDOW w AS (PARTITION BY l.cx >> 1, l.cy >> 1)
        ) q
        ORDER BY pcx, pcy, (rx - sx / n) ^ 2 + (ry - sy / n) ^ 2, rx, ry;
        DROP TABLE tile_level;
        ALTER TABLE tile_level_up RENAME TO tile_level;
        INSERT INTO tiles.clusters SELECT zz, cx, cy, geom, n, pts, mp, ez FROM tile_level;
    END LOOP;
    DROP TABLE tile_level;
    ALTER TABLE tiles.clusters ADD CONSTRAINT clusters_pkey PRIMARY KEY (zoom, cell_x, cell_y);
    ANALYZE tiles.clusters;
END;
$$;

-- The facets of every listed point, as tiles.point_facets holds them (0012 and 0013 say what
-- each column and bit is), plus the sort key of the table: neighbours on neighbouring pages,
-- so that a tile reads few pages at high zoom.
CREATE VIEW tiles.facet_rows AS
SELECT cp.id AS point_id, s.id AS station_id, s.geom, ST_X(s.geom) AS px, ST_Y(s.geom) AS py,
       cp.puissance_nominale::float8 AS power_kw,
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
     | tiles.tri(s.station_deux_roues, 524288) AS bits,
       oc.id AS opening,
       ST_GeoHash(s.geom_4326, 8) AS geohash
FROM charge_points cp JOIN stations s ON s.id = cp.station_id
LEFT JOIN tiles.opening_classes oc ON oc.week = s.opening_week AND oc.time_zone = s.time_zone
WHERE cp.withdrawn_at IS NULL AND s.withdrawn_at IS NULL;

CREATE OR REPLACE FUNCTION tiles.refresh_facets(p_station uuid DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_station IS NULL THEN
        -- A whole rebuild: the indexes are built once after the rows, sorted.
        TRUNCATE tiles.point_facets;
        DROP INDEX tiles.point_facets_geom;
        DROP INDEX tiles.point_facets_station;
        ALTER TABLE tiles.point_facets DROP CONSTRAINT point_facets_pkey;
        TRUNCATE tiles.opening_classes RESTART IDENTITY;
    ELSE
        DELETE FROM tiles.point_facets WHERE station_id = p_station;
    END IF;
    INSERT INTO tiles.opening_classes (week, time_zone)
    SELECT DISTINCT s.opening_week, s.time_zone FROM stations s
    WHERE s.withdrawn_at IS NULL AND s.opening_week IS NOT NULL
      AND (p_station IS NULL OR s.id = p_station)
    ON CONFLICT DO NOTHING;
    IF p_station IS NULL THEN
        CREATE TEMP TABLE facet_rows ON COMMIT DROP AS
        SELECT * FROM tiles.facet_rows ORDER BY geohash, station_id;
        INSERT INTO tiles.point_facets
        SELECT point_id, station_id, geom, px, py, power_kw, bits, opening FROM facet_rows;
        DROP TABLE facet_rows;
        ALTER TABLE tiles.point_facets ADD CONSTRAINT point_facets_pkey PRIMARY KEY (point_id);
        CREATE INDEX point_facets_station ON tiles.point_facets (station_id);
        CREATE INDEX point_facets_geom ON tiles.point_facets USING gist (geom);
        ANALYZE tiles.point_facets;
    ELSE
        INSERT INTO tiles.point_facets
        SELECT point_id, station_id, geom, px, py, power_kw, bits, opening
        FROM tiles.facet_rows WHERE station_id = p_station
        ORDER BY geohash;
    END IF;
END;
$$;
