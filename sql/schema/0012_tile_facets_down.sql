-- Undo 0012: filtered clusters computed from stations and points again (0002).
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
        SELECT ST_AsMVT(t, 'clusters', tiles.extent(), 'geom') INTO mvt FROM (
            WITH st AS (
                SELECT s.id, ST_X(s.geom) AS px, ST_Y(s.geom) AS py, s.geom, count(*) AS points,
                       count(*) FILTER (WHERE tiles.point_available(cp)) AS available,
                       max(cp.puissance_nominale) AS max_power
                FROM stations s
                JOIN charge_points cp ON cp.station_id = s.id
                WHERE s.geom && bounds AND s.withdrawn_at IS NULL
                  AND tiles.point_matches(cp, s, ff)
                GROUP BY s.id
            ), cells AS (
                SELECT tiles.cell_x(px, z) AS cx, tiles.cell_y(py, z) AS cy, count(*) AS k,
                       sum(points) AS points, sum(available) AS available,
                       max(max_power) AS max_power, avg(px) AS mx, avg(py) AS my,
                       min(px) AS xmin, min(py) AS ymin, max(px) AS xmax, max(py) AS ymax
                FROM st GROUP BY 1, 2
            )
            SELECT DISTINCT ON (c.cx, c.cy)
                   ST_AsMVTGeom(st.geom, bounds, tiles.extent(), tiles.buffer(), true) AS geom,
                   ((z::bigint << 40) | (c.cx::bigint << 20) | c.cy) AS cluster_id,
                   c.k AS point_count, tiles.abbreviate(c.k) AS point_count_abbreviated,
                   c.k AS stations, c.points AS charge_points, c.available,
                   c.max_power::float8 AS max_power_kw,
                   tiles.expansion_zoom(z, c.xmin, c.ymin, c.xmax, c.ymax) AS expansion_zoom
            FROM cells c
            JOIN st ON tiles.cell_x(st.px, z) = c.cx AND tiles.cell_y(st.py, z) = c.cy
            WHERE c.cx BETWEEN x * n AND x * n + n - 1
              AND c.cy BETWEEN y * n AND y * n + n - 1
            ORDER BY c.cx, c.cy, (st.px - c.mx) ^ 2 + (st.py - c.my) ^ 2, st.id
            LIMIT tiles.max_features()
        ) t;
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
    SELECT tiles.refresh_cells_at(ST_X(geom), ST_Y(geom)) FROM stations WHERE id = station
$$;

CREATE OR REPLACE FUNCTION refresh_after_import() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE app_meta SET data_version = data_version + 1, data_changed_at = now();
    PERFORM tiles.refresh_clusters();
END;
$$;

DROP FUNCTION analyze_network();
DROP FUNCTION tiles.clusters_filtered(integer, integer, integer, tiles.filter);
DROP FUNCTION tiles.refresh_facets(uuid);
DROP TABLE tiles.point_facets;
DROP FUNCTION tiles.tri(boolean, integer);
