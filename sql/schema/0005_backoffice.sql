-- Back office: problem reports, contact messages and their answers (customer service), and the
-- `analytics` schema: documented, read-only SQL views over the network and its use, for the
-- admin dashboard and for BI tools (Power BI, Metabase, QGIS) through the role `wattsup_bi`.
-- Applied by migration 0005 (sql/migrations/versions/0005_backoffice.py).

-- ---------------------------------------------------------------------------------------------
-- Customer service
-- ---------------------------------------------------------------------------------------------

-- A driver's report on a station: not working, blocked (by a car), payment refused, works
-- (road or maintenance works in progress), other. Open until an admin closes it; the map shows
-- a station's open reports with their date.
CREATE TABLE problem_reports (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    station_id  uuid NOT NULL REFERENCES stations(id),
    user_id     uuid REFERENCES users(id) ON DELETE SET NULL,
    category    text NOT NULL CHECK (category IN (
                    'not_working', 'blocked', 'payment_refused', 'works', 'other')),
    message     text NOT NULL DEFAULT '' CHECK (length(message) <= 2000),
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'closed')),
    -- What the reporter sees once an admin has closed the report.
    resolution  text CHECK (length(resolution) <= 2000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    closed_at   timestamptz,
    closed_by   uuid REFERENCES users(id) ON DELETE SET NULL,
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
-- The map asks "open reports of this station" on every station sheet.
CREATE INDEX problem_reports_open_station ON problem_reports (station_id, created_at DESC)
    WHERE status <> 'closed';
CREATE INDEX problem_reports_user ON problem_reports (user_id, created_at DESC);
CREATE INDEX problem_reports_queue ON problem_reports (status, created_at);
-- One open report per driver, station and category: a second tap adds nothing to the queue.
CREATE UNIQUE INDEX problem_reports_one_open ON problem_reports (user_id, station_id, category)
    WHERE status <> 'closed';

-- "Contact us", optionally about a station.
CREATE TABLE contact_messages (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid REFERENCES users(id) ON DELETE SET NULL,
    station_id  uuid REFERENCES stations(id),
    subject     text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
    message     text NOT NULL CHECK (length(message) BETWEEN 1 AND 5000),
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'closed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    closed_at   timestamptz,
    closed_by   uuid REFERENCES users(id) ON DELETE SET NULL,
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
CREATE INDEX contact_messages_user ON contact_messages (user_id, created_at DESC);
CREATE INDEX contact_messages_queue ON contact_messages (status, created_at);

-- Admins' answers, to a report or to a message (exactly one of the two).
CREATE TABLE support_answers (
    id          bigserial PRIMARY KEY,
    report_id   uuid REFERENCES problem_reports(id) ON DELETE CASCADE,
    message_id  uuid REFERENCES contact_messages(id) ON DELETE CASCADE,
    author_id   uuid REFERENCES users(id) ON DELETE SET NULL,
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 5000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((report_id IS NULL) <> (message_id IS NULL))
);
CREATE INDEX support_answers_report ON support_answers (report_id, created_at)
    WHERE report_id IS NOT NULL;
CREATE INDEX support_answers_message ON support_answers (message_id, created_at)
    WHERE message_id IS NOT NULL;

-- Status changes the database accepts: open → answered → closed (or open → closed); a closed
-- ticket stays closed (the driver files a new one), so the reporter's "resolved" never flips.
CREATE FUNCTION support_check_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'closed' AND NEW.status <> 'closed' THEN
        RAISE EXCEPTION 'a closed % cannot be reopened', TG_TABLE_NAME
            USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.status = 'answered' AND NEW.status = 'open' THEN
        RAISE EXCEPTION 'an answered % cannot go back to open', TG_TABLE_NAME
            USING ERRCODE = 'check_violation';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;
CREATE TRIGGER problem_reports_status BEFORE UPDATE ON problem_reports
    FOR EACH ROW EXECUTE FUNCTION support_check_status();
CREATE TRIGGER contact_messages_status BEFORE UPDATE ON contact_messages
    FOR EACH ROW EXECUTE FUNCTION support_check_status();

-- ---------------------------------------------------------------------------------------------
-- analytics: the views the dashboard reads and BI tools connect to
-- ---------------------------------------------------------------------------------------------
CREATE SCHEMA analytics;
COMMENT ON SCHEMA analytics IS
    'Watts Up: read-only views over the charging network and its use, for dashboards and BI '
    'tools. Connect with a login role member of wattsup_bi. Every view is documented '
    '(COMMENT ON VIEW / COLUMN).';

-- Reference: the 18 regions of the official geographic code (COG), by INSEE region code.
CREATE TABLE analytics.regions (
    code text PRIMARY KEY,
    nom  text NOT NULL
);
INSERT INTO analytics.regions (code, nom) VALUES
    ('01', 'Guadeloupe'), ('02', 'Martinique'), ('03', 'Guyane'), ('04', 'La Réunion'),
    ('06', 'Mayotte'), ('11', 'Île-de-France'), ('24', 'Centre-Val de Loire'),
    ('27', 'Bourgogne-Franche-Comté'), ('28', 'Normandie'), ('32', 'Hauts-de-France'),
    ('44', 'Grand Est'), ('52', 'Pays de la Loire'), ('53', 'Bretagne'),
    ('75', 'Nouvelle-Aquitaine'), ('76', 'Occitanie'), ('84', 'Auvergne-Rhône-Alpes'),
    ('93', 'Provence-Alpes-Côte d''Azur'), ('94', 'Corse');
COMMENT ON TABLE analytics.regions IS 'INSEE region codes and names (COG).';

-- Power classes, defined once: rank for sorting, label for charts.
CREATE FUNCTION analytics.power_class_rank(kw numeric) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN kw < 7.4 THEN 1 WHEN kw <= 22 THEN 2 WHEN kw < 50 THEN 3
                WHEN kw < 150 THEN 4 ELSE 5 END
$$;
CREATE FUNCTION analytics.power_class(kw numeric) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (ARRAY['< 7,4 kW', '7,4 à 22 kW', '22 à 50 kW', '50 à 150 kW', '≥ 150 kW'])
           [analytics.power_class_rank(kw)]
$$;
COMMENT ON FUNCTION analytics.power_class(numeric) IS
    'Power class label: < 7,4 kW (slow AC), 7,4 à 22 kW (AC), 22 à 50 kW, 50 à 150 kW (fast '
    'DC), ≥ 150 kW (high-power DC).';

CREATE VIEW analytics.stations AS
SELECT s.id                           AS station_id,
       s.id_station_itinerance,
       s.nom_station,
       coalesce(o.nom_operateur, o.nom_enseigne, o.nom_amenageur, 'Inconnu') AS operateur,
       o.nom_enseigne                 AS enseigne,
       o.nom_amenageur                AS amenageur,
       s.implantation_station,
       s.adresse_station,
       s.commune,
       s.code_insee_commune,
       c.departement,
       c.region                       AS region_code,
       coalesce(r.nom, 'Inconnue')    AS region,
       s.condition_acces,
       s.is_24_7,
       s.date_mise_en_service,
       coalesce(pc.points, 0)            AS points,
       coalesce(pc.points_in_service, 0) AS points_in_service,
       pc.max_power_kw,
       ST_X(s.geom_4326)              AS lon,
       ST_Y(s.geom_4326)              AS lat,
       s.geom_4326                    AS geom,
       s.withdrawn_at IS NOT NULL     AS withdrawn
FROM stations s
LEFT JOIN operators o ON o.id = s.operator_id
LEFT JOIN communes c ON c.code_insee = s.code_insee_commune
LEFT JOIN analytics.regions r ON r.code = c.region
LEFT JOIN (
    SELECT station_id,
           count(*)::integer AS points,
           (count(*) FILTER (WHERE operational_status = 'in_service'))::integer
               AS points_in_service,
           max(puissance_nominale) AS max_power_kw
    FROM charge_points
    WHERE withdrawn_at IS NULL
    GROUP BY station_id
) pc ON pc.station_id = s.id;
COMMENT ON VIEW analytics.stations IS
    'One row per station (withdrawn ones included, flagged), with its operator, commune, '
    'département, region, live point counts and position (lon/lat and a PostGIS point, '
    'EPSG:4326, for QGIS).';
COMMENT ON COLUMN analytics.stations.operateur IS
    'Operator as drivers know it: opérateur, else enseigne, else aménageur.';
COMMENT ON COLUMN analytics.stations.points IS 'Charging points not withdrawn.';
COMMENT ON COLUMN analytics.stations.points_in_service IS
    'Charging points not withdrawn and marked in service.';

CREATE VIEW analytics.charge_points AS
SELECT p.id                           AS point_id,
       p.id_pdc_itinerance,
       s.station_id,
       s.id_station_itinerance,
       s.nom_station,
       s.operateur,
       s.commune,
       s.code_insee_commune,
       s.departement,
       s.region,
       p.puissance_nominale           AS power_kw,
       analytics.power_class_rank(p.puissance_nominale) AS power_class_rank,
       analytics.power_class(p.puissance_nominale)      AS power_class,
       p.prise_type_ef, p.prise_type_2, p.prise_type_combo_ccs, p.prise_type_chademo,
       p.prise_type_autre,
       p.gratuit,
       p.paiement_cb,
       p.operational_status,
       p.connector_status,
       p.withdrawn_at IS NULL AND p.operational_status = 'in_service' AS in_service,
       s.date_mise_en_service,
       s.lon, s.lat, s.geom,
       p.withdrawn_at IS NOT NULL     AS withdrawn
FROM charge_points p
JOIN analytics.stations s ON s.station_id = p.station_id;
COMMENT ON VIEW analytics.charge_points IS
    'One row per charging point (withdrawn ones included, flagged) with its station, place, '
    'power class, connectors and status.';
COMMENT ON COLUMN analytics.charge_points.in_service IS
    'Not withdrawn and operational_status = in_service.';

-- The aggregates below count the live network: points not withdrawn.
CREATE VIEW analytics.points_by_power_class AS
SELECT analytics.power_class_rank(p.puissance_nominale) AS power_class_rank,
       analytics.power_class(p.puissance_nominale)      AS power_class,
       count(DISTINCT p.station_id)::integer            AS stations,
       count(*)::integer                                AS points,
       (count(*) FILTER (WHERE p.operational_status = 'in_service'))::integer
                                                        AS points_in_service
FROM charge_points p
WHERE p.withdrawn_at IS NULL
GROUP BY 1, 2
ORDER BY 1;
COMMENT ON VIEW analytics.points_by_power_class IS
    'Stations and points (not withdrawn) by power class; a station counts in every class it has.';

CREATE VIEW analytics.points_by_connector AS
SELECT k.connector,
       count(*)::integer AS points,
       (count(*) FILTER (WHERE p.operational_status = 'in_service'))::integer
           AS points_in_service
FROM charge_points p
CROSS JOIN LATERAL (VALUES ('Type 2', p.prise_type_2), ('Combo CCS', p.prise_type_combo_ccs),
                           ('CHAdeMO', p.prise_type_chademo), ('E/F (domestique)', p.prise_type_ef),
                           ('Autre', p.prise_type_autre)) AS k(connector, present)
WHERE p.withdrawn_at IS NULL AND k.present
GROUP BY k.connector
ORDER BY points DESC, k.connector;
COMMENT ON VIEW analytics.points_by_connector IS
    'Points (not withdrawn) offering each connector type; a point with two connectors counts '
    'under both.';

CREATE VIEW analytics.points_by_region AS
SELECT s.region_code,
       s.region,
       count(DISTINCT s.station_id)::integer AS stations,
       count(p.id)::integer                  AS points,
       (count(p.id) FILTER (WHERE p.operational_status = 'in_service'))::integer
           AS points_in_service
FROM analytics.stations s
JOIN charge_points p ON p.station_id = s.station_id AND p.withdrawn_at IS NULL
GROUP BY s.region_code, s.region
ORDER BY points DESC, s.region;
COMMENT ON VIEW analytics.points_by_region IS
    'Stations and points (not withdrawn) by region; "Inconnue" when the INSEE code is missing '
    'or not in the official list.';

CREATE VIEW analytics.points_by_operator AS
SELECT s.operateur,
       count(DISTINCT s.station_id)::integer AS stations,
       count(p.id)::integer                  AS points,
       (count(p.id) FILTER (WHERE p.operational_status = 'in_service'))::integer
           AS points_in_service
FROM analytics.stations s
JOIN charge_points p ON p.station_id = s.station_id AND p.withdrawn_at IS NULL
GROUP BY s.operateur
ORDER BY points DESC, s.operateur;
COMMENT ON VIEW analytics.points_by_operator IS 'Stations and points (not withdrawn) by operator.';

CREATE VIEW analytics.network_summary AS
SELECT (SELECT count(*) FROM stations WHERE withdrawn_at IS NULL)::integer AS stations,
       count(*)::integer AS points,
       (count(*) FILTER (WHERE operational_status = 'in_service'))::integer AS points_in_service,
       round(coalesce((count(*) FILTER (WHERE operational_status = 'in_service'))::numeric
             / nullif(count(*), 0), 0), 4) AS share_in_service,
       (SELECT count(*) FROM charge_points WHERE withdrawn_at IS NOT NULL)::integer
           AS points_withdrawn,
       round(coalesce(sum(puissance_nominale), 0), 1) AS installed_power_kw
FROM charge_points
WHERE withdrawn_at IS NULL;
COMMENT ON VIEW analytics.network_summary IS
    'One row: live stations and points, points in service and their share (0 to 1), withdrawn '
    'points, installed power.';

CREATE VIEW analytics.new_points_per_month AS
SELECT month, points, (sum(points) OVER (ORDER BY month))::integer AS cumulative_points
FROM (
    SELECT date_trunc('month', s.date_mise_en_service)::date AS month,
           count(*)::integer AS points
    FROM charge_points p
    JOIN stations s ON s.id = p.station_id
    WHERE p.withdrawn_at IS NULL
      AND s.date_mise_en_service IS NOT NULL
      AND s.date_mise_en_service <= current_date
    GROUP BY 1
) m
ORDER BY month;
COMMENT ON VIEW analytics.new_points_per_month IS
    'Points (not withdrawn) by month of their station''s commissioning date (date_mise_en_service;'
    ' missing or future dates left out), with the running total.';

CREATE VIEW analytics.problem_reports AS
SELECT r.id AS report_id, r.station_id, s.id_station_itinerance, s.nom_station, s.commune,
       s.region, r.category, r.status, r.created_at, r.closed_at,
       extract(epoch FROM r.closed_at - r.created_at) / 3600.0 AS hours_to_close,
       s.lon, s.lat
FROM problem_reports r
JOIN analytics.stations s ON s.station_id = r.station_id;
COMMENT ON VIEW analytics.problem_reports IS
    'Drivers'' problem reports (no personal data, no free text): category, status, delay to '
    'close.';

-- ---------------------------------------------------------------------------------------------
-- Use of the service: reservations and charges. Written against migration 0004 when it is
-- there; a database without it gets the same views, empty, so dashboards and BI models keep
-- their shape.
-- ---------------------------------------------------------------------------------------------
DO $do$
DECLARE
    has_reservations boolean := to_regclass('public.reservations') IS NOT NULL;
BEGIN
    IF has_reservations THEN
        EXECUTE $v$
        CREATE VIEW analytics.reservations AS
        SELECT r.id AS reservation_id, r.charge_point_id AS point_id, p.station_id,
               s.id_station_itinerance, s.nom_station, s.commune, s.region, s.operateur,
               r.status, r.created_at, r.created_at::date AS day,
               r.started_at, r.ended_at, r.end_reason, r.power_kw,
               -- The receipt (migration 0004) holds what was delivered.
               (r.receipt->>'energy_kwh')::numeric AS energy_kwh
        FROM reservations r
        JOIN charge_points p ON p.id = r.charge_point_id
        JOIN analytics.stations s ON s.station_id = p.station_id
        $v$;
    ELSE
        EXECUTE $v$
        CREATE VIEW analytics.reservations AS
        SELECT NULL::uuid AS reservation_id, NULL::uuid AS point_id, NULL::uuid AS station_id,
               NULL::text AS id_station_itinerance, NULL::text AS nom_station,
               NULL::text AS commune, NULL::text AS region, NULL::text AS operateur,
               NULL::text AS status, NULL::timestamptz AS created_at, NULL::date AS day,
               NULL::timestamptz AS started_at, NULL::timestamptz AS ended_at,
               NULL::text AS end_reason, NULL::double precision AS power_kw,
               NULL::numeric AS energy_kwh
        WHERE false
        $v$;
    END IF;
END
$do$;
COMMENT ON VIEW analytics.reservations IS
    'One row per reservation (no personal data): point, station, place, status (reserved, '
    'charging, completed, cancelled, expired), day it was made, charge start/end, end reason, '
    'charging power (kW) and energy delivered (kWh, from the receipt) when a charge took place.';

CREATE VIEW analytics.use_per_day AS
SELECT day,
       count(*)::integer AS reservations,
       (count(*) FILTER (WHERE energy_kwh IS NOT NULL OR status IN ('charging', 'completed')))
           ::integer AS charges,
       (count(*) FILTER (WHERE status = 'cancelled'))::integer AS cancelled,
       (count(*) FILTER (WHERE status = 'expired'))::integer AS expired,
       round(coalesce(sum(energy_kwh), 0), 3) AS energy_kwh
FROM analytics.reservations
GROUP BY day
ORDER BY day;
COMMENT ON VIEW analytics.use_per_day IS
    'Per day a reservation was made: reservations, charges (reservations that led to a charge),'
    ' cancellations, expiries (never used), energy delivered in kWh.';

CREATE VIEW analytics.use_summary AS
SELECT count(*)::integer AS reservations,
       (count(*) FILTER (WHERE energy_kwh IS NOT NULL OR status IN ('charging', 'completed')))
           ::integer AS charges,
       (count(*) FILTER (WHERE status = 'cancelled'))::integer AS cancelled,
       (count(*) FILTER (WHERE status = 'expired'))::integer AS expired,
       round(coalesce(sum(energy_kwh), 0), 3) AS energy_kwh,
       round(coalesce((count(*) FILTER (WHERE status = 'cancelled'))::numeric
             / nullif(count(*), 0), 0), 4) AS cancellation_rate,
       round(coalesce((count(*) FILTER (WHERE status = 'expired'))::numeric
             / nullif(count(*), 0), 0), 4) AS expiry_rate
FROM analytics.reservations;
COMMENT ON VIEW analytics.use_summary IS
    'One row: all-time reservations, charges, cancellations, expiries, energy (kWh), and the '
    'cancellation and expiry rates (0 to 1, over all reservations).';

CREATE VIEW analytics.busiest_stations AS
SELECT s.station_id, s.id_station_itinerance, s.nom_station, s.commune, s.region, s.operateur,
       count(r.reservation_id)::integer AS reservations,
       (count(r.reservation_id) FILTER (
           WHERE r.energy_kwh IS NOT NULL OR r.status IN ('charging', 'completed')))::integer
           AS charges,
       round(coalesce(sum(r.energy_kwh), 0), 3) AS energy_kwh,
       s.lon, s.lat, s.geom
FROM analytics.reservations r
JOIN analytics.stations s ON s.station_id = r.station_id
GROUP BY s.station_id, s.id_station_itinerance, s.nom_station, s.commune, s.region,
         s.operateur, s.lon, s.lat, s.geom
ORDER BY reservations DESC, energy_kwh DESC, s.nom_station;
COMMENT ON VIEW analytics.busiest_stations IS
    'Stations with at least one reservation, busiest first: reservations, charges, energy, '
    'position (for a map layer).';

-- ---------------------------------------------------------------------------------------------
-- Read-only role for BI tools. Roles belong to the whole cluster (several databases may share
-- it), so create it only if missing. It has no LOGIN: give it to a login role of your own
-- (docs/admin.md), never a password written here.
-- ---------------------------------------------------------------------------------------------
DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wattsup_bi') THEN
        CREATE ROLE wattsup_bi NOLOGIN;
    END IF;
END
$do$;
GRANT USAGE ON SCHEMA analytics TO wattsup_bi;
GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO wattsup_bi;
-- The views run with their owner's rights, so wattsup_bi needs nothing outside `analytics`
-- except PostGIS's catalog for QGIS to see the geometry columns.
GRANT SELECT ON geometry_columns, spatial_ref_sys TO wattsup_bi;
