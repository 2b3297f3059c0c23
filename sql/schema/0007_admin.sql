-- Admin edits of the network: keep the precomputed clusters exact without re-clustering
-- the whole country (tiles.refresh_clusters takes ~2 s on the national file and locks the
-- table). A station's create, move, withdrawal or point change only alters the one cell that
-- holds it at each cluster zoom, so only those cells are recomputed, by the same rule.

CREATE FUNCTION tiles.refresh_cells_at(px double precision, py double precision)
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

CREATE FUNCTION tiles.refresh_cells_of_station(station uuid) RETURNS void
LANGUAGE sql AS $$
    SELECT tiles.refresh_cells_at(ST_X(geom), ST_Y(geom)) FROM stations WHERE id = station
$$;
