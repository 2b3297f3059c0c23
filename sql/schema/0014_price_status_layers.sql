-- The price-unknown filter, the station status's age on the map, and tiles.stations() as a
-- dispatcher.
--
-- * `free=unknown` (the driver's "prix inconnu"): points whose IRVE `gratuit` is empty. The
--   filter type gains price_unknown; the facet masks move into two small functions
--   (facets_required / facets_excluded) so that the next boolean filter replaces those, not
--   the whole clusters_filtered().
-- * The stations layer gains `status_at`: the oldest status time of the station's points
--   (epoch seconds). The page greys a station whose status is older than it can vouch for
--   (issue 6: "stale data greyed, never guessed green"), as the station sheet already does.
-- * tiles.stations() becomes a dispatcher over one function per layer (tiles.clusters_layer,
--   tiles.clusters_filtered, tiles.stations_layer), so a later migration replaces only the
--   layer it changes instead of the whole tile function (0012 and 0013 each had to copy it).

ALTER TYPE tiles.filter ADD ATTRIBUTE price_unknown boolean;

-- `free` is true, false or "unknown" (the tile server validates it); "unknown" is carried as
-- price_unknown with free left NULL (no condition on a known price).
CREATE OR REPLACE FUNCTION tiles.parse_filter(f jsonb) RETURNS tiles.filter
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT ROW((f->>'min_power')::numeric,
               CASE WHEN f ? 'connectors' THEN
                   ARRAY(SELECT jsonb_array_elements_text(f->'connectors')) END,
               CASE WHEN f->>'free' <> 'unknown' THEN (f->>'free')::boolean END,
               (f->>'pay_as_you_go')::boolean, (f->>'card')::boolean,
               (f->>'t2_cable')::boolean, (f->>'available_now')::boolean,
               (f->>'open_24_7')::boolean, (f->>'pmr')::boolean, (f->>'free_access')::boolean,
               (f->>'two_wheeler')::boolean, (f->>'open_now')::boolean,
               (f->>'at')::timestamptz,
               CASE WHEN f->>'free' = 'unknown' THEN true END)::tiles.filter
$$;

-- Does a charging point pass the filters? A NULL filter field means "no condition".
-- connectors: any of the listed types; booleans: true requires, false excludes;
-- price_unknown: the point's `gratuit` is empty.
CREATE OR REPLACE FUNCTION tiles.point_matches(cp charge_points, s stations, f tiles.filter)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT cp.withdrawn_at IS NULL
       AND (f.min_power IS NULL OR cp.puissance_nominale >= f.min_power)
       AND (f.connectors IS NULL OR
            ('ef' = ANY (f.connectors) AND cp.prise_type_ef) OR
            ('type_2' = ANY (f.connectors) AND cp.prise_type_2) OR
            ('combo_ccs' = ANY (f.connectors) AND cp.prise_type_combo_ccs) OR
            ('chademo' = ANY (f.connectors) AND cp.prise_type_chademo) OR
            ('autre' = ANY (f.connectors) AND cp.prise_type_autre))
       AND (f.free IS NULL OR cp.gratuit IS NOT DISTINCT FROM f.free)
       AND (f.price_unknown IS NULL OR (cp.gratuit IS NULL) = f.price_unknown)
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
       AND (f.open_now IS NULL OR tiles.open_at(s.opening_week, s.time_zone,
            coalesce(f.at, tiles.now())) IS NOT DISTINCT FROM f.open_now)
$$;

-- The facet bits (layout in 0012) a matching point must have all of...
CREATE FUNCTION tiles.facets_required(ff tiles.filter) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT tiles.tri(ff.free, 32) | tiles.tri(ff.pay_as_you_go, 128)
         | tiles.tri(ff.card, 512) | tiles.tri(ff.t2_cable, 2048)
         | tiles.tri(ff.open_24_7, 8192) | tiles.tri(ff.pmr, 32768)
         | tiles.tri(ff.free_access, 131072) | tiles.tri(ff.two_wheeler, 524288)
$$;

-- ...and none of: an unknown price is neither "is free" (32) nor "is paid" (64).
CREATE FUNCTION tiles.facets_excluded(ff tiles.filter) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN ff.price_unknown THEN 32 | 64 ELSE 0 END
$$;

-- The clusters layer of a filtered tile (z <= cluster_max_zoom). Same cells, same counts and
-- same representative rule as the unfiltered clusters of 0002/0010 (the matching station
-- nearest the matching members' centroid; ties go to the westernmost, not the lowest id),
-- over the matching stations only. As in 0013, with the masks from facets_required and
-- facets_excluded.
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


-- The clusters layer of an unfiltered tile: the precomputed cells (tiles.clusters, rebuilt
-- after each import) with live availability. Unchanged from 0012.
CREATE FUNCTION tiles.clusters_layer(z integer, x integer, y integer) RETURNS bytea
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

-- The stations layer (z > cluster_max_zoom): one feature per station with a matching point,
-- as in 0012, plus status_at.
CREATE FUNCTION tiles.stations_layer(z integer, x integer, y integer, ff tiles.filter)
RETURNS bytea LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    bounds geometry := ST_TileEnvelope(z, x, y);
    mvt bytea;
BEGIN
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
                    ELSE 'occupied' END AS status,
               -- How old the station's freshest-possible answer is: its oldest point status
               -- (epoch seconds), so that the page greys a status it can no longer vouch
               -- for. A timestamp, not an age: the tile stays cacheable.
               extract(epoch FROM min(greatest(cp.status_changed_at, cp.connector_status_at)))
                   ::bigint AS status_at
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
    RETURN mvt;
END;
$$;

-- One MVT for tile z/x/y with the filters in params (jsonb, validated by the tile server):
-- which layer answers it.
CREATE OR REPLACE FUNCTION tiles.stations(z integer, x integer, y integer, params jsonb DEFAULT '{}')
RETURNS bytea LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    f jsonb := coalesce(params, '{}'::jsonb);
    mvt bytea;
BEGIN
    IF z <= tiles.cluster_max_zoom() AND f = '{}'::jsonb THEN
        mvt := tiles.clusters_layer(z, x, y);
    ELSIF z <= tiles.cluster_max_zoom() THEN
        mvt := tiles.clusters_filtered(z, x, y, tiles.parse_filter(f));
    ELSE
        mvt := tiles.stations_layer(z, x, y, tiles.parse_filter(f));
    END IF;
    RETURN coalesce(mvt, ''::bytea);
END;
$$;
