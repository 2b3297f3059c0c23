-- Vector tiles (Martin / pg_tileserv "function source" style):
--   tiles.stations(z, x, y, params jsonb) RETURNS bytea   -- one MVT, layers clusters/stations
-- The SQL does all the work; tileserver/ is a thin caching pipe in front of it.
--
-- Constants, defined once (tiles.const()): extent 4096, buffer 64, clusters up to zoom 12,
-- individual stations from zoom 13, 8 cluster cells per tile side (512 tile units, 64 px on
-- a 512 px tile: the spacing of a supercluster radius), at most 3000 features a tile.
--
-- Clustering: a grid of cells anchored to absolute EPSG:3857 coordinates, aligned with
-- the tile grid (8 cells per tile side). A station belongs to exactly one cell per zoom, a
-- cell to exactly one tile, and the cluster is drawn ON one of its stations (the one nearest
-- the members' centroid), so: no cluster jumps across tile borders, no point sits on a grid
-- corner, and the sum over all tiles of a zoom equals the number of matching stations.
-- Unfiltered clusters are precomputed per zoom at import time (tiles.refresh_clusters(),
-- called by refresh_after_import()); their "available" counts are computed live from the
-- few points that are NOT available (partial index charge_points_not_available), so a booking
-- writes nothing here: no hot rows shared by every booking in France, no lock order to get
-- wrong. Filtered clusters are computed per tile from the GiST index.

CREATE SCHEMA IF NOT EXISTS tiles;

CREATE FUNCTION tiles.extent() RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS 'SELECT 4096';
CREATE FUNCTION tiles.buffer() RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS 'SELECT 64';
CREATE FUNCTION tiles.cluster_max_zoom() RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS 'SELECT 12';
CREATE FUNCTION tiles.cells_per_tile() RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS 'SELECT 8';
CREATE FUNCTION tiles.max_features() RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS 'SELECT 3000';

-- Size of a cluster cell at zoom z, in EPSG:3857 metres.
CREATE FUNCTION tiles.cell_size(z integer) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 40075016.685578488 / (2.0 ^ z * tiles.cells_per_tile())
$$;

-- Cell column (from the west) and row (from the north, like tile y) of a 3857 coordinate.
CREATE FUNCTION tiles.cell_x(px double precision, z integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT floor((px + 20037508.342789244) / tiles.cell_size(z))::integer
$$;
CREATE FUNCTION tiles.cell_y(py double precision, z integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT floor((20037508.342789244 - py) / tiles.cell_size(z))::integer
$$;

-- The zoom at which a cluster whose members span this box splits: the first zoom where the
-- box's corners fall in different cells (then at least two members do too). Cells halve at
-- each zoom, so a cell index at zoom k is the max-zoom index shifted right by (max - k): the
-- first differing zoom follows from the highest differing bit of the max-zoom indices.
CREATE FUNCTION tiles.split_zoom(a integer, b integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN a = b THEN tiles.cluster_max_zoom() + 1
                ELSE tiles.cluster_max_zoom() + 1
                     - length(ltrim(((a # b)::bit(32))::text, '0')) END
$$;

CREATE FUNCTION tiles.expansion_zoom(z integer, xmin double precision, ymin double precision,
                                     xmax double precision, ymax double precision)
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT greatest(z + 1, least(
        tiles.split_zoom(tiles.cell_x(xmin, tiles.cluster_max_zoom()),
                         tiles.cell_x(xmax, tiles.cluster_max_zoom())),
        tiles.split_zoom(tiles.cell_y(ymin, tiles.cluster_max_zoom()),
                         tiles.cell_y(ymax, tiles.cluster_max_zoom()))))
$$;

CREATE FUNCTION tiles.abbreviate(n bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN n >= 10000 THEN round(n / 1000.0)::text || 'k'
                WHEN n >= 1000 THEN round(n / 1000.0, 1)::text || 'k'
                ELSE n::text END
$$;

-- "Available now": listed, in service, and the charger says Available.
CREATE FUNCTION tiles.point_available(cp charge_points) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT cp.withdrawn_at IS NULL AND cp.operational_status = 'in_service'
       AND cp.connector_status = 'Available'
$$;

-- The filters of one request, typed: parsed once per tile from the jsonb the tile server
-- sends (validated there by tileserver/filters.py), so rows are tested with plain comparisons.
CREATE TYPE tiles.filter AS (
    min_power numeric, connectors text[], free boolean, pay_as_you_go boolean, card boolean,
    t2_cable boolean, available_now boolean, open_24_7 boolean, pmr boolean,
    free_access boolean, two_wheeler boolean);

CREATE FUNCTION tiles.parse_filter(f jsonb) RETURNS tiles.filter
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
CREATE FUNCTION tiles.point_matches(cp charge_points, s stations, f tiles.filter)
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

-- The points that are not available now (booked, charging, faulted, out of service): few,
-- and what the live "available" count of precomputed clusters subtracts.
CREATE INDEX charge_points_not_available ON charge_points (station_id)
WHERE withdrawn_at IS NULL
  AND (operational_status <> 'in_service' OR connector_status <> 'Available');

-- Precomputed unfiltered clusters, one row per occupied cell per zoom.
CREATE TABLE tiles.clusters (
    zoom           smallint NOT NULL,
    cell_x         integer NOT NULL,
    cell_y         integer NOT NULL,
    geom           geometry(Point, 3857) NOT NULL,
    stations       integer NOT NULL,
    charge_points  integer NOT NULL,
    max_power_kw   numeric NOT NULL,
    expansion_zoom smallint NOT NULL,
    PRIMARY KEY (zoom, cell_x, cell_y)
);

CREATE FUNCTION tiles.refresh_clusters() RETURNS void
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

-- One MVT for tile z/x/y with the filters in params (jsonb, validated by the tile server).
CREATE FUNCTION tiles.stations(z integer, x integer, y integer, params jsonb DEFAULT '{}')
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

-- Tiles whose content depends on a station, at every zoom (for exact cache invalidation):
-- up to the cluster zooms, the one tile holding its cell; from the station zooms on, every
-- tile whose buffered envelope contains it (a station near an edge is drawn by both tiles).
CREATE FUNCTION tiles.tiles_of_station(station uuid, max_zoom integer DEFAULT 20)
RETURNS TABLE (z integer, x integer, y integer)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH p AS (
        SELECT ST_X(geom) + 20037508.342789244 AS px, 20037508.342789244 - ST_Y(geom) AS py
        FROM stations WHERE id = station
    ), zooms AS (
        SELECT zz, 40075016.685578488 / 2 ^ zz AS ts,
               CASE WHEN zz > tiles.cluster_max_zoom()
                    THEN 40075016.685578488 / 2 ^ zz * tiles.buffer() / tiles.extent()
                    ELSE 0 END AS b
        FROM generate_series(0, max_zoom) zz
    )
    SELECT zz, tx, ty
    FROM p, zooms,
         generate_series(floor((px - b) / ts)::int, floor((px + b) / ts)::int) tx,
         generate_series(floor((py - b) / ts)::int, floor((py + b) / ts)::int) ty
$$;

CREATE OR REPLACE FUNCTION refresh_after_import() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE app_meta SET data_version = data_version + 1, data_changed_at = now();
    PERFORM tiles.refresh_clusters();
END;
$$;
