-- Undo 0015: the stations layer and the dispatcher of 0014 (every tile from the points), no
-- station cards; the refresh functions of 0012.
-- The stations layer (z > cluster_max_zoom): one feature per station with a matching point,
-- as in 0012, plus status_at.
CREATE OR REPLACE FUNCTION tiles.stations_layer(z integer, x integer, y integer, ff tiles.filter)
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

DROP FUNCTION tiles.stations_filtered(integer, integer, integer, tiles.filter);
DROP FUNCTION tiles.refresh_station_cards(uuid);
DROP TABLE tiles.station_cards;
