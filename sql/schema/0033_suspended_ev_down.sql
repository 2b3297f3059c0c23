-- Back to 0032: 0030's functions (0029's sweep), as pg_get_functiondef prints them, the
-- connector's trigger on the status alone, and no full_at / suspended_at.
DROP TRIGGER reservations_follow_connector ON reservations;
CREATE OR REPLACE FUNCTION public.booking_start(p_rid uuid, p_duration_s double precision, p_battery_kwh double precision, p_start_soc double precision, p_target_soc double precision, p_power_kw double precision, p_is_dc boolean)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_at timestamptz := clock_timestamp();
BEGIN
    UPDATE reservations SET status = 'charging', started_at = v_at,
           ends_at = v_at + p_duration_s * interval '1 second',
           battery_kwh = p_battery_kwh, start_soc = p_start_soc, target_soc = p_target_soc,
           power_kw = p_power_kw, is_dc = p_is_dc,
           events = events || jsonb_build_array(
               booking_event(v_at, 'RemoteStartTransaction',
                             jsonb_build_object('connectorId', 1,
                                                'idTag', booking_id_tag(user_id))),
               booking_event(v_at, 'StatusNotification', '{"status": "Preparing"}'),
               booking_event(v_at, 'StartTransaction',
                             jsonb_build_object('connectorId', 1,
                                                'idTag', booking_id_tag(user_id),
                                                'meterStart', 0, 'reservationId', p_rid,
                                                'transactionId',
                                                nextval('charge_transaction_ids'))),
               booking_event(v_at, 'StatusNotification', '{"status": "Charging"}'))
     WHERE id = p_rid;
END;
$function$

;
CREATE OR REPLACE FUNCTION public.booking_close_charge(r reservations)
 RETURNS reservations
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_elapsed double precision := extract(epoch FROM r.ended_at - r.started_at);
    v_soc double precision := charge_soc_at(r.battery_kwh, r.start_soc, r.target_soc,
                                            r.power_kw, r.is_dc, r.sim_speed, v_elapsed);
    v_energy double precision := charge_energy_kwh(r.battery_kwh, r.start_soc, v_soc);
    v_minutes double precision := v_elapsed * r.sim_speed / 60;
    -- OCPP 1.6 StopTransaction reasons: the driver's stop from the app, the car full, and
    -- anything else (the operator: point out of service, withdrawn, account deleted).
    v_reason text := CASE r.end_reason WHEN 'driver_stop' THEN 'Remote'
                                       WHEN 'target_reached' THEN 'EVDisconnected'
                                       ELSE 'Other' END;
    v_last text := CASE WHEN booking_point_closed(r.end_reason) THEN 'Unavailable'
                        ELSE 'Available' END;
    -- The transactionId its StartTransaction got (none for a charge started before 0030).
    v_transaction bigint := (SELECT (e->'payload'->>'transactionId')::bigint
                               FROM jsonb_array_elements(r.events) e
                              WHERE e->>'message' = 'StartTransaction' LIMIT 1);
    p record;
BEGIN
    SELECT r.events || coalesce(jsonb_agg(booking_event(e.at, e.message, e.payload)
                                          ORDER BY e.part, e.n), '[]')
      INTO r.events
      FROM (SELECT m.at, 'MeterValues' AS message, m.payload, 0 AS part, m.n
              FROM charge_meter_values(r.battery_kwh, r.start_soc, r.target_soc, r.power_kw,
                                       r.is_dc, r.sim_speed, r.started_at, r.ended_at) m
            UNION ALL
            SELECT r.ended_at, 'StatusNotification', '{"status": "SuspendedEV"}', 1, 0
             WHERE v_soc >= r.target_soc - 0.05
            UNION ALL
            VALUES (r.ended_at, 'StopTransaction',
                    jsonb_build_object('idTag', booking_id_tag(r.user_id),
                                       'meterStop', round(v_energy * 1000), 'reason', v_reason,
                                       'transactionId', v_transaction),
                    2, 0),
                   (r.ended_at, 'StatusNotification', '{"status": "Finishing"}', 3, 0),
                   (r.ended_at, 'StatusNotification', jsonb_build_object('status', v_last),
                    4, 0)) e;
    SELECT cp.id_pdc_itinerance, cp.puissance_nominale::double precision AS kw,
           cp.tarification, s.nom_station, s.adresse_station
      INTO p
      FROM charge_points cp JOIN stations s ON s.id = cp.station_id
     WHERE cp.id = r.charge_point_id;
    r.receipt := jsonb_build_object(
        'energy_kwh', round(v_energy::numeric, 2),
        'duration_minutes', round(v_minutes::numeric, 1),
        'real_duration_seconds', round(v_elapsed::numeric, 1),
        'average_power_kw', CASE WHEN v_minutes > 0
                                 THEN round((v_energy / (v_minutes / 60))::numeric, 2)
                                 ELSE 0.0 END,
        'start_soc', r.start_soc,
        'end_soc', round(v_soc::numeric, 1),
        'point', p.id_pdc_itinerance,
        'point_power_kw', p.kw,
        'station', p.nom_station,
        'address', p.adresse_station,
        'pricing', p.tarification,
        'stop_reason', v_reason);
    RETURN r;
END;
$function$

;
CREATE OR REPLACE FUNCTION public.booking_log(r reservations)
 RETURNS text
 LANGUAGE plpgsql
 STABLE
AS $function$
BEGIN
    IF r.status <> 'charging' OR r.receipt IS NOT NULL THEN
        RETURN r.events::text;
    END IF;
    RETURN (r.events || coalesce(
        (SELECT jsonb_agg(booking_event(m.at, 'MeterValues', m.payload) ORDER BY m.n)
           FROM charge_meter_values(r.battery_kwh, r.start_soc, r.target_soc, r.power_kw,
                                    r.is_dc, r.sim_speed, r.started_at,
                                    least(now(), r.ends_at)) m), '[]'))::text;
END;
$function$

;
CREATE OR REPLACE FUNCTION public.reservations_follow_connector()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    UPDATE charge_points SET
        connector_status = CASE NEW.status WHEN 'reserved' THEN 'Reserved'
                                           WHEN 'charging' THEN 'Charging'
                                           ELSE CASE WHEN operational_status = 'out_of_service'
                                                     THEN 'Unavailable'
                                                     ELSE 'Available' END END,
        connector_status_at = now()
    WHERE id = NEW.charge_point_id;
    RETURN NULL;
END;
$function$

;
CREATE OR REPLACE FUNCTION public.sweep_reservations(p_point uuid DEFAULT NULL::uuid, p_user uuid DEFAULT NULL::uuid)
 RETURNS TABLE(reservation_id uuid, station_id uuid, new_status text)
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
BEGIN
    RETURN QUERY
    WITH expired AS (
        UPDATE reservations r SET status = 'expired', ended_at = r.expires_at,
               end_reason = 'noshow_timeout',
               events = r.events || booking_event(r.expires_at, 'StatusNotification',
                                                  '{"status": "Available"}')
        WHERE r.status = 'reserved' AND r.expires_at <= now()
          AND (p_point IS NULL OR r.charge_point_id = p_point OR r.user_id = p_user)
        RETURNING r.id, r.charge_point_id, r.status
    ), completed AS (
        UPDATE reservations r SET status = 'completed', ended_at = r.ends_at,
               end_reason = 'target_reached'
        WHERE r.status = 'charging' AND r.ends_at <= now()
          AND (p_point IS NULL OR r.charge_point_id = p_point OR r.user_id = p_user)
        RETURNING r.id, r.charge_point_id, r.status
    )
    SELECT x.id, cp.station_id, x.status
    FROM (SELECT id, charge_point_id, status FROM expired
          UNION ALL SELECT id, charge_point_id, status FROM completed) x
    JOIN charge_points cp ON cp.id = x.charge_point_id;
END;
$function$

;
CREATE TRIGGER reservations_follow_connector
AFTER INSERT OR UPDATE OF status ON reservations
FOR EACH ROW EXECUTE FUNCTION reservations_follow_connector();
-- A connector left SuspendedEV by a charge still running is Charging again, as 0032 shows it.
ALTER TABLE charge_points DISABLE TRIGGER charge_points_connector_guard;
UPDATE charge_points SET connector_status = 'Charging', connector_status_at = now()
 WHERE connector_status = 'SuspendedEV';
ALTER TABLE charge_points ENABLE TRIGGER charge_points_connector_guard;
DROP FUNCTION charge_reports(reservations, timestamptz);
ALTER TABLE reservations DROP COLUMN full_at, DROP COLUMN suspended_at;
DROP FUNCTION charge_suspended_seconds();
