-- Hierarchical cluster refresh: tiles.refresh_clusters() in one pass per zoom over the cells
-- of the zoom below instead of over every station, and tiles.refresh_cells_at() (admin edits)
-- by the same rule. Replaces the functions of 0002_tiles.sql and 0007_admin.sql.
--
-- Cells halve at each zoom and the cell sizes are the world width over powers of two, so the
-- divisions are exact: the cell at zoom z is the finest cell index shifted right by
-- (cluster_max_zoom - z), bit for bit what tiles.cell_x/cell_y compute at z. Counts, sums,
-- maximum power and member bounds therefore aggregate up from the finest zoom.
--
-- Where a cluster is drawn (always on one of its stations, so no point sits on a grid
-- corner):
--   at the finest cluster zoom, on the member nearest the members' centroid (ties: the
--   smallest station id), as before;
--   at each coarser zoom, on the representative of one of its (up to four) sub-cells: the
--   one nearest the members' centroid (ties: smallest x, then y).
-- So a cluster that splits when zooming in leaves one of its parts exactly where it was,
-- and the refresh never revisits the stations. (Filtered clusters, computed per tile by
-- tiles.stations(), are drawn on the member nearest their centroid.)

CREATE OR REPLACE FUNCTION tiles.refresh_clusters() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    zz integer;
    top integer := tiles.cluster_max_zoom();
BEGIN
    TRUNCATE tiles.clusters;
    -- One row per cell and zoom: the cell's totals, member coordinate sums (for the
    -- centroid), representative and expansion zoom. The expansion zoom (tiles.expansion_zoom:
    -- the first zoom where the members' bounds span two cells) follows the hierarchy too: a
    -- cell with two or more occupied sub-cells splits at the next zoom, a cell with one splits
    -- where that sub-cell does, and a finest-zoom cell at cluster_max_zoom + 1.
    CREATE TEMP TABLE IF NOT EXISTS tile_levels (
        zoom integer, cx integer, cy integer, n bigint, pts bigint, mp numeric,
        sx double precision, sy double precision, rx double precision, ry double precision,
        geom geometry, ez integer) ON COMMIT DROP;
    TRUNCATE tile_levels;
    INSERT INTO tile_levels
    SELECT DISTINCT ON (cx, cy) top, cx, cy, n, pts, mp, sx, sy, x, y, geom, top + 1
    FROM (
        SELECT a.*, count(*) OVER w AS n, sum(a.points) OVER w AS pts,
               max(a.max_power) OVER w AS mp, sum(a.x) OVER w AS sx, sum(a.y) OVER w AS sy
        FROM (
            SELECT s.id, s.geom, ST_X(s.geom) AS x, ST_Y(s.geom) AS y,
                   tiles.cell_x(ST_X(s.geom), top) AS cx, tiles.cell_y(ST_Y(s.geom), top) AS cy,
                   count(*) AS points, max(cp.puissance_nominale) AS max_power
            FROM stations s
            JOIN charge_points cp ON cp.station_id = s.id AND cp.withdrawn_at IS NULL
            WHERE s.withdrawn_at IS NULL
            GROUP BY s.id
        ) a
        WINDOW w AS (PARTITION BY a.cx, a.cy)
    ) q
    ORDER BY cx, cy, (x - sx / n) ^ 2 + (y - sy / n) ^ 2, id;
    FOR zz IN REVERSE top - 1 .. 0 LOOP
        INSERT INTO tile_levels
        SELECT DISTINCT ON (pcx, pcy) zz, pcx, pcy, n, pts, mp, sx, sy, rx, ry, geom,
               CASE WHEN k > 1 THEN zz + 1 ELSE ez END
        FROM (
            SELECT l.cx >> 1 AS pcx, l.cy >> 1 AS pcy, l.rx, l.ry, l.geom, l.ez,
                   count(*) OVER w AS k, sum(l.n) OVER w AS n, sum(l.pts) OVER w AS pts,
                   max(l.mp) OVER w AS mp, sum(l.sx) OVER w AS sx, sum(l.sy) OVER w AS sy
            FROM tile_levels l
            WHERE l.zoom = zz + 1
            WINDOW w AS (PARTITION BY l.cx >> 1, l.cy >> 1)
        ) q
        ORDER BY pcx, pcy, (rx - sx / n) ^ 2 + (ry - sy / n) ^ 2, rx, ry;
    END LOOP;
    INSERT INTO tiles.clusters
    SELECT zoom, cx, cy, geom, n, pts, mp, ez FROM tile_levels;
    TRUNCATE tile_levels;
    ANALYZE tiles.clusters;
END;
$$;

-- The cells holding one point, at every cluster zoom, by the rule above: finest zoom first,
-- each coarser cell choosing among the rows just written for its sub-cells.
CREATE OR REPLACE FUNCTION tiles.refresh_cells_at(px double precision, py double precision)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    zz integer;
    top integer := tiles.cluster_max_zoom();
    cx integer;
    cy integer;
    size double precision;
    box geometry;
BEGIN
    FOR zz IN REVERSE top .. 0 LOOP
        cx := tiles.cell_x(px, zz);
        cy := tiles.cell_y(py, zz);
        size := tiles.cell_size(zz);
        box := ST_MakeEnvelope(-20037508.342789244 + cx * size, 20037508.342789244 - (cy + 1) * size,
                               -20037508.342789244 + (cx + 1) * size, 20037508.342789244 - cy * size,
                               3857);
        DELETE FROM tiles.clusters WHERE zoom = zz AND cell_x = cx AND cell_y = cy;
        INSERT INTO tiles.clusters
        WITH member AS (
            SELECT s.id, s.geom, ST_X(s.geom) AS x, ST_Y(s.geom) AS y,
                   count(*)::integer AS points, max(cp.puissance_nominale) AS max_power
            FROM stations s
            JOIN charge_points cp ON cp.station_id = s.id AND cp.withdrawn_at IS NULL
            WHERE s.withdrawn_at IS NULL AND s.geom && box
              -- The envelope is closed; the cell is half-open like cell_x/cell_y.
              AND tiles.cell_x(ST_X(s.geom), zz) = cx AND tiles.cell_y(ST_Y(s.geom), zz) = cy
            GROUP BY s.id
        ), cell AS (
            SELECT count(*) AS n, sum(points) AS pts, max(max_power) AS mp,
                   sum(x) / count(*) AS mx, sum(y) / count(*) AS my,
                   min(x) AS x0, min(y) AS y0, max(x) AS x1, max(y) AS y1
            FROM member HAVING count(*) > 0
        )
        SELECT zz, cx, cy, r.geom, c.n, c.pts, c.mp,
               tiles.expansion_zoom(zz, c.x0, c.y0, c.x1, c.y1)
        FROM cell c
        CROSS JOIN LATERAL (
            SELECT m.geom FROM member m WHERE zz = top
            ORDER BY (m.x - c.mx) ^ 2 + (m.y - c.my) ^ 2, m.id
            LIMIT 1
        ) r
        UNION ALL
        SELECT zz, cx, cy, r.geom, c.n, c.pts, c.mp,
               tiles.expansion_zoom(zz, c.x0, c.y0, c.x1, c.y1)
        FROM cell c
        CROSS JOIN LATERAL (
            SELECT k.geom FROM tiles.clusters k
            WHERE zz < top AND k.zoom = zz + 1
              AND k.cell_x BETWEEN 2 * cx AND 2 * cx + 1
              AND k.cell_y BETWEEN 2 * cy AND 2 * cy + 1
            ORDER BY (ST_X(k.geom) - c.mx) ^ 2 + (ST_Y(k.geom) - c.my) ^ 2,
                     ST_X(k.geom), ST_Y(k.geom)
            LIMIT 1
        ) r;
    END LOOP;
END;
$$;

-- Clusters already stored were placed by the previous rule: place them by this one, and
-- make cached tiles unreachable (their keys carry the data version).
SELECT tiles.refresh_clusters();
UPDATE app_meta SET data_version = data_version + 1, data_changed_at = now();
