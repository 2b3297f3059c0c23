-- The unfiltered stations layer (z > cluster_max_zoom) from a precomputed row per station.
--
-- The 0014 stations layer joined each station of the tile to its points, tested every point
-- with tiles.point_matches() (a function call per point: it is not inlined) and aggregated
-- per station: 0.4 ms a z13 tile on the national data, the slowest unfiltered tile. Most of
-- what a station's feature shows changes only with an import or an admin edit (name,
-- operator, number of points, power, connectors, pricing, 24/7, PMR), so it is computed once
-- into tiles.station_cards, derived data like tiles.clusters and tiles.point_facets: rebuilt
-- by refresh_after_import() and, for one station, by tiles.refresh_cells_of_station() (admin
-- edits). What moves with every booking or status report stays live, read per station from
-- its points (index charge_points_station): the points available now, the status and
-- status_at (the oldest point status). Same features, same attributes. A filtered tile keeps
-- the per-point rule of 0014 (tiles.stations_filtered).
--
-- Measured from a client, one z13-16 tile after another on one connection (the database's
-- part of a tile, ~26 us of which is the round trip itself): 205 us with 0014, 92 us with
-- this migration. Of the ~110 us saved: the cards ~40, planning the layer's query once per
-- connection rather than per tile ~20, and not parsing an empty filter (the dispatcher,
-- below) ~75 (the parts overlap a little).
--
-- The cards come from tiles.point_facets (rebuilt just before them, one narrow row per
-- listed point), not from charge_points (an aggregate of 50 ms instead of 210 ms): the
-- rebuild adds ~0.18 s to an import of the national file.

CREATE TABLE tiles.station_cards (
    station_id   uuid NOT NULL,
    geom         geometry(Point, 3857) NOT NULL,
    name         text NOT NULL,
    operator     text,
    points       integer NOT NULL,
    max_power_kw double precision,
    power_class  text NOT NULL,
    connectors   text NOT NULL,
    pricing      text NOT NULL,
    is_24_7      boolean,
    pmr          boolean,
    CONSTRAINT station_cards_pkey PRIMARY KEY (station_id)
);
CREATE INDEX station_cards_geom ON tiles.station_cards USING gist (geom);

-- The cards of every listed station with a listed point (p_station NULL), or of one station.
-- Call after tiles.refresh_facets() of the same stations. Every value is the 0014 expression
-- over the same points: the facets carry the power as float8 of numeric(8, 2) (the power
-- class thresholds compare the same), the connectors present as bits 1-16 and gratuit as
-- "is yes" 32 / "is no" 64 (free: some yes, no no; unknown: neither; mixed: both; paid: no
-- yes, some no — bool_and / bool_or of 0014, which ignore NULLs).
CREATE FUNCTION tiles.refresh_station_cards(p_station uuid DEFAULT NULL) RETURNS void
-- Statistics of the position only (what the planner reads for the tile's bounds), on a small
-- sample as analyze_network(): 17 ms where a full ANALYZE took 105 ms of the ~0.18 s rebuild.
LANGUAGE plpgsql SET default_statistics_target = 30 AS $$
BEGIN
    IF p_station IS NULL THEN
        -- A whole rebuild: the indexes are built once after the rows (as refresh_facets).
        TRUNCATE tiles.station_cards;
        DROP INDEX tiles.station_cards_geom;
        ALTER TABLE tiles.station_cards DROP CONSTRAINT station_cards_pkey;
    ELSE
        DELETE FROM tiles.station_cards WHERE station_id = p_station;
    END IF;
    INSERT INTO tiles.station_cards
    SELECT s.id, s.geom, s.nom_station,
           coalesce(o.nom_enseigne, o.nom_operateur, o.nom_amenageur),
           p.points, p.max_power_kw,
           CASE WHEN p.max_power_kw <= 7.4 THEN 'slow'
                WHEN p.max_power_kw <= 22 THEN 'normal'
                WHEN p.max_power_kw <= 50 THEN 'fast'
                WHEN p.max_power_kw <= 150 THEN 'rapid'
                ELSE 'ultra' END,
           concat_ws(',',
               CASE WHEN p.bits & 1 <> 0 THEN 'ef' END,
               CASE WHEN p.bits & 2 <> 0 THEN 'type_2' END,
               CASE WHEN p.bits & 4 <> 0 THEN 'combo_ccs' END,
               CASE WHEN p.bits & 8 <> 0 THEN 'chademo' END,
               CASE WHEN p.bits & 16 <> 0 THEN 'autre' END),
           CASE p.bits & (32 | 64) WHEN 32 THEN 'free' WHEN 0 THEN 'unknown'
                                   WHEN 96 THEN 'mixed' ELSE 'paid' END,
           s.is_24_7,
           s.accessibilite_pmr IN ('Réservé PMR', 'Accessible mais non réservé PMR')
    FROM (
        SELECT f.station_id, count(*)::integer AS points, max(f.power_kw) AS max_power_kw,
               bit_or(f.bits) AS bits
        FROM tiles.point_facets f
        WHERE p_station IS NULL OR f.station_id = p_station
        GROUP BY f.station_id
    ) p
    JOIN stations s ON s.id = p.station_id
    LEFT JOIN operators o ON o.id = s.operator_id;
    IF p_station IS NULL THEN
        ALTER TABLE tiles.station_cards ADD CONSTRAINT station_cards_pkey PRIMARY KEY (station_id);
        CREATE INDEX station_cards_geom ON tiles.station_cards USING gist (geom);
        ANALYZE tiles.station_cards (geom);
    END IF;
END;
$$;

-- The stations layer of a filtered tile: the 0014 stations layer (a station drawn with its
-- matching points only), status_at truncated to the second as the unfiltered layer's.
CREATE FUNCTION tiles.stations_filtered(z integer, x integer, y integer, ff tiles.filter)
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
               -- Whole seconds, truncated (0014 rounded: a status at :59.6 came out a
               -- second later than it was).
               floor(extract(epoch FROM min(greatest(cp.status_changed_at,
                                                     cp.connector_status_at))))::bigint
                   AS status_at
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

-- The stations layer (z > cluster_max_zoom): a filtered tile as 0014, an unfiltered one from
-- the cards plus one probe of each station's points for what is live. Same features and
-- attributes either way (status_at included, in whole seconds truncated like a Unix time:
-- 0014 rounded to the nearest second).
CREATE OR REPLACE FUNCTION tiles.stations_layer(z integer, x integer, y integer, ff tiles.filter)
RETURNS bytea LANGUAGE plpgsql STABLE PARALLEL SAFE
-- One plan for every call: the query has the same shape at every zoom it serves (a tile's
-- stations by the GiST index, then each station's points by theirs), and planning it anew for
-- each tile (the default here) cost more than running it (~20 us of ~65).
SET plan_cache_mode = 'force_generic_plan'
AS $$
DECLARE
    bounds geometry := ST_TileEnvelope(z, x, y);
    mvt bytea;
BEGIN
    -- A row IS NULL when every field is: no filter at all.
    IF NOT (ff IS NULL) THEN
        RETURN tiles.stations_filtered(z, x, y, ff);
    END IF;
    SELECT ST_AsMVT(t, 'stations', tiles.extent(), 'geom') INTO mvt FROM (
        SELECT ST_AsMVTGeom(c.geom, bounds, tiles.extent(), tiles.buffer(), true) AS geom,
               c.station_id::text AS id, c.name, c.operator, c.points,
               c.points - live.unavailable AS available,
               c.max_power_kw, c.power_class, c.connectors, c.pricing, c.is_24_7, c.pmr,
               -- With no point available, every point is in `unavailable`: its bool_and's
               -- are over all the station's points, as in 0014.
               CASE WHEN c.points > live.unavailable THEN 'available'
                    WHEN live.all_out_of_service THEN 'out_of_service'
                    WHEN live.all_unknown THEN 'unknown'
                    ELSE 'occupied' END AS status,
               live.status_at
        FROM tiles.station_cards c
        CROSS JOIN LATERAL (
            SELECT (count(*) FILTER (WHERE cp.operational_status <> 'in_service'
                                        OR cp.connector_status <> 'Available'))::integer
                       AS unavailable,
                   bool_and(cp.operational_status = 'out_of_service') AS all_out_of_service,
                   bool_and(cp.operational_status = 'unknown') AS all_unknown,
                   floor(extract(epoch FROM min(greatest(cp.status_changed_at,
                                                         cp.connector_status_at))))::bigint
                       AS status_at
            FROM charge_points cp
            WHERE cp.station_id = c.station_id AND cp.withdrawn_at IS NULL
        ) live
        WHERE c.geom && ST_TileEnvelope(z, x, y,
                  margin => tiles.buffer()::double precision / tiles.extent())
        LIMIT tiles.max_features()
    ) t;
    RETURN mvt;
END;
$$;

-- The dispatcher of 0014, except that an unfiltered station tile does not parse its empty
-- filter: tiles.parse_filter() is a SQL function that PostgreSQL parses and plans again for
-- every tile (it is not inlined), ~75 us of a z13-16 tile that now takes ~65 us to draw.
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
    ELSIF f = '{}'::jsonb THEN
        mvt := tiles.stations_layer(z, x, y, NULL);
    ELSE
        mvt := tiles.stations_layer(z, x, y, tiles.parse_filter(f));
    END IF;
    RETURN coalesce(mvt, ''::bytea);
END;
$$;

CREATE OR REPLACE FUNCTION tiles.refresh_cells_of_station(station uuid) RETURNS void
LANGUAGE sql AS $$
    SELECT tiles.refresh_cells_at(ST_X(geom), ST_Y(geom)) FROM stations WHERE id = station;
    SELECT tiles.refresh_facets(station);
    SELECT tiles.refresh_station_cards(station);
$$;

CREATE OR REPLACE FUNCTION refresh_after_import() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE app_meta SET data_version = data_version + 1, data_changed_at = now();
    PERFORM analyze_network();
    PERFORM tiles.refresh_clusters();
    PERFORM tiles.refresh_facets();
    PERFORM tiles.refresh_station_cards();
END;
$$;

-- A database imported before this migration: its cards now; cached station tiles were drawn
-- by the same rule, so the data version stays.
SELECT tiles.refresh_station_cards();
