-- Back to the cluster rule of 0002_tiles.sql and 0007_admin.sql (every zoom from the
-- stations, each cluster on the member nearest its centroid): their functions, verbatim.

CREATE OR REPLACE FUNCTION tiles.refresh_clusters() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    zz integer;
BEGIN
    TRUNCATE tiles.clusters;
    CREATE TEMP TABLE IF NOT EXISTS tile_station_agg (
        id uuid, geom geometry, x double precision, y double precision,
        points integer, max_power numeric) ON COMMIT DROP;
    TRUNCATE tile_station_agg;
    INSERT INTO tile_station_agg
    SELECT s.id, s.geom, ST_X(s.geom), ST_Y(s.geom), count(*), max(cp.puissance_nominale)
    FROM stations s JOIN charge_points cp ON cp.station_id = s.id AND cp.withdrawn_at IS NULL
    WHERE s.withdrawn_at IS NULL
    GROUP BY s.id;
    FOR zz IN 0 .. tiles.cluster_max_zoom() LOOP
        INSERT INTO tiles.clusters
        SELECT zz, cx, cy, geom, n, pts, mp,
               tiles.expansion_zoom(zz, xmin, ymin, xmax, ymax)
        FROM (
            -- One row per cell: the member nearest the members' centroid.
            SELECT DISTINCT ON (cx, cy) *
            FROM (
                SELECT a.id, a.geom, a.x, a.y, c.cx, c.cy,
                       count(*) OVER w AS n, sum(a.points) OVER w AS pts,
                       max(a.max_power) OVER w AS mp,
                       avg(a.x) OVER w AS mx, avg(a.y) OVER w AS my,
                       min(a.x) OVER w AS xmin, min(a.y) OVER w AS ymin,
                       max(a.x) OVER w AS xmax, max(a.y) OVER w AS ymax
                FROM tile_station_agg a,
                     LATERAL (SELECT tiles.cell_x(a.x, zz) AS cx,
                                     tiles.cell_y(a.y, zz) AS cy) c
                WINDOW w AS (PARTITION BY c.cx, c.cy)
            ) q
            ORDER BY cx, cy, (x - mx) ^ 2 + (y - my) ^ 2, id
        ) best;
    END LOOP;
    ANALYZE tiles.clusters;
END;
$$;

CREATE OR REPLACE FUNCTION tiles.refresh_cells_at(px double precision, py double precision)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    zz integer;
    cx integer;
    cy integer;
    size double precision;
    box geometry;
BEGIN
    FOR zz IN 0 .. tiles.cluster_max_zoom() LOOP
        cx := tiles.cell_x(px, zz);
        cy := tiles.cell_y(py, zz);
        size := tiles.cell_size(zz);
        box := ST_MakeEnvelope(-20037508.342789244 + cx * size, 20037508.342789244 - (cy + 1) * size,
                               -20037508.342789244 + (cx + 1) * size, 20037508.342789244 - cy * size,
                               3857);
        DELETE FROM tiles.clusters WHERE zoom = zz AND cell_x = cx AND cell_y = cy;
        INSERT INTO tiles.clusters
        SELECT zz, cx, cy, geom, n, pts, mp, tiles.expansion_zoom(zz, xmin, ymin, xmax, ymax)
        FROM (
            SELECT a.*, count(*) OVER () AS n, sum(a.points) OVER () AS pts,
                   max(a.max_power) OVER () AS mp,
                   avg(a.x) OVER () AS mx, avg(a.y) OVER () AS my,
                   min(a.x) OVER () AS xmin, min(a.y) OVER () AS ymin,
                   max(a.x) OVER () AS xmax, max(a.y) OVER () AS ymax
            FROM (
                SELECT s.id, s.geom, ST_X(s.geom) AS x, ST_Y(s.geom) AS y,
                       count(*)::integer AS points, max(cp.puissance_nominale) AS max_power
                FROM stations s
                JOIN charge_points cp ON cp.station_id = s.id AND cp.withdrawn_at IS NULL
                WHERE s.withdrawn_at IS NULL AND s.geom && box
                  -- The envelope is closed; the cell is half-open like cell_x/cell_y.
                  AND tiles.cell_x(ST_X(s.geom), zz) = cx AND tiles.cell_y(ST_Y(s.geom), zz) = cy
                GROUP BY s.id
            ) a
        ) q
        ORDER BY (x - mx) ^ 2 + (y - my) ^ 2, id
        LIMIT 1;
    END LOOP;
END;
$$;

SELECT tiles.refresh_clusters();
UPDATE app_meta SET data_version = data_version + 1, data_changed_at = now();
