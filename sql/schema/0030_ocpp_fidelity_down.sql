-- Back to 0029: its functions (as pg_get_functiondef prints them), and the points out of
-- service Available again (0029 left their connector alone).
DROP FUNCTION booking_log(reservations);
CREATE OR REPLACE FUNCTION public.charge_meter_values(p_battery_kwh double precision, p_start_soc double precision, p_target_soc double precision, p_power_kw double precision, p_is_dc boolean, p_sim_speed double precision, p_started timestamp with time zone, p_until timestamp with time zone)
 RETURNS TABLE(n integer, at timestamp with time zone, payload jsonb)
 LANGUAGE plpgsql
 IMMUTABLE PARALLEL SAFE
AS $function$
DECLARE
    v_total double precision := extract(epoch FROM p_until - p_started);
    v_step double precision := greatest(300 / p_sim_speed, v_total / 500);
    v_soc double precision;
BEGIN
    FOR k IN 1 .. least(500, ceil(v_total / v_step)::integer) LOOP
        EXIT WHEN k * v_step >= v_total;
        v_soc := charge_soc_at(p_battery_kwh, p_start_soc, p_target_soc, p_power_kw, p_is_dc,
                               p_sim_speed, k * v_step);
        n := k;
        at := p_started + k * v_step * interval '1 second';
        payload := jsonb_build_object(
            'energy_wh', round(charge_energy_kwh(p_battery_kwh, p_start_soc, v_soc) * 1000),
            'power_w', round(charge_power_at(p_power_kw, p_is_dc, p_target_soc, v_soc) * 1000),
            'soc', round(v_soc::numeric, 1));
        RETURN NEXT;
    END LOOP;
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
                                           ELSE 'Available' END,
        connector_status_at = now()
    WHERE id = NEW.charge_point_id;
    RETURN NULL;
END;
$function$
;
CREATE OR REPLACE FUNCTION public.charge_points_cancel_on_out_of_service()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    IF NEW.operational_status = 'out_of_service'
       AND OLD.operational_status IS DISTINCT FROM 'out_of_service' THEN
        PERFORM cancel_reservations_for_point(NEW.id, 'point_out_of_service');
    END IF;
    RETURN NULL;
END;
$function$
;
CREATE OR REPLACE FUNCTION public.cancel_reservations_for_point(p_point uuid, p_reason text)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
    n integer;
    m integer;
BEGIN
    PERFORM sweep_reservations(p_point, NULL);
    UPDATE reservations SET status = 'cancelled', ended_at = now(), end_reason = p_reason,
           events = events || booking_event(now(), 'CancelReservation',
                                             jsonb_build_object('reason', p_reason))
     WHERE charge_point_id = p_point AND status = 'reserved';
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE reservations SET status = 'completed', ended_at = clock_timestamp(),
           end_reason = p_reason
     WHERE charge_point_id = p_point AND status = 'charging';
    GET DIAGNOSTICS m = ROW_COUNT;
    RETURN n + m;
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
    -- OCPP 1.6 StopTransaction reasons: the driver's stop, the car full, the point taken out
    -- of service under it (cancel_reservations_for_point).
    v_reason text := CASE r.end_reason WHEN 'driver_stop' THEN 'Remote'
                                       WHEN 'point_out_of_service' THEN 'Other'
                                       ELSE 'EVDisconnected' END;
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
                    jsonb_build_object('meterStop', round(v_energy * 1000), 'reason', v_reason),
                    2, 0),
                   (r.ended_at, 'StatusNotification', '{"status": "Finishing"}', 3, 0),
                   (r.ended_at, 'StatusNotification', '{"status": "Available"}', 4, 0)) e;
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
CREATE OR REPLACE FUNCTION public.booking_start(p_rid uuid)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_at timestamptz := clock_timestamp();
    p record;
BEGIN
    SELECT c.*, r.sim_speed INTO p
      FROM reservations r
      JOIN charge_points cp ON cp.id = r.charge_point_id
      LEFT JOIN vehicles v ON v.id = r.vehicle_id,
           charge_plan(cp.puissance_nominale::double precision,
                       array_remove(ARRAY[CASE WHEN cp.prise_type_ef THEN 'ef' END,
                                          CASE WHEN cp.prise_type_2 THEN 'type_2' END,
                                          CASE WHEN cp.prise_type_combo_ccs THEN 'combo_ccs' END,
                                          CASE WHEN cp.prise_type_chademo THEN 'chademo' END,
                                          CASE WHEN cp.prise_type_autre THEN 'autre' END],
                                    NULL),
                       coalesce(v.connectors, ARRAY['type_2']),
                       coalesce(v.battery_kwh::double precision, 60.0),
                       coalesce(nullif(v.max_ac_kw, 0)::double precision, 11.0),
                       coalesce(v.max_dc_kw::double precision, 0.0),
                       extract(hour FROM v_at AT TIME ZONE 'Europe/Paris')::integer,
                       random()) AS c
     WHERE r.id = p_rid;
    PERFORM booking_start(
        p_rid,
        charge_hours_to(p.battery_kwh, p.start_soc, p.power_kw, p.is_dc, p.target_soc)
            * 3600 / p.sim_speed,
        p.battery_kwh, p.start_soc, p.target_soc, p.power_kw, p.is_dc);
END;
$function$
;
CREATE OR REPLACE FUNCTION public.booking_reserve(p_user uuid, p_point uuid, p_vehicle uuid, p_hold_minutes double precision, p_sim_speed double precision)
 RETURNS TABLE(reservation_id uuid, station_ids uuid[], completed uuid[])
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_connectors text[];
    v_point charge_points;
    v_swept uuid[];
    v_completed uuid[];
    v_rid uuid := gen_random_uuid();
    v_expires timestamptz := now() + p_hold_minutes * interval '1 minute';
    v_at timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(booking_lock_key('point', p_point));
    PERFORM pg_advisory_xact_lock(booking_lock_key('user', p_user));
    -- No-shows and finished charges of this point or driver end now, not at the next sweep.
    SELECT * INTO v_swept, v_completed FROM booking_sweep(p_point, p_user);

    SELECT v.connectors INTO v_connectors FROM vehicles v
     WHERE v.id = p_vehicle AND v.user_id = p_user;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vehicle_not_found' USING ERRCODE = 'WUREF';
    END IF;
    SELECT * INTO v_point FROM charge_points cp WHERE cp.id = p_point;
    IF NOT FOUND OR v_point.withdrawn_at IS NOT NULL THEN
        RAISE EXCEPTION 'point_not_found' USING ERRCODE = 'WUREF';
    END IF;
    IF v_point.operational_status <> 'in_service' THEN
        RAISE EXCEPTION 'point_out_of_service' USING ERRCODE = 'WUREF';
    END IF;
    IF v_point.reservation IS FALSE THEN  -- unknown (NULL) is bookable: the operator is silent
        RAISE EXCEPTION 'point_not_reservable' USING ERRCODE = 'WUREF';
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM unnest(v_connectors) c
        WHERE CASE c WHEN 'ef' THEN v_point.prise_type_ef
                     WHEN 'type_2' THEN v_point.prise_type_2
                     WHEN 'combo_ccs' THEN v_point.prise_type_combo_ccs
                     WHEN 'chademo' THEN v_point.prise_type_chademo
                     WHEN 'autre' THEN v_point.prise_type_autre END IS TRUE
    ) THEN
        RAISE EXCEPTION 'connector_incompatible' USING ERRCODE = 'WUREF';
    END IF;
    IF EXISTS (SELECT 1 FROM reservations r
               WHERE r.user_id = p_user AND r.status IN ('reserved', 'charging')) THEN
        RAISE EXCEPTION 'already_has_reservation' USING ERRCODE = 'WUREF';
    END IF;
    IF v_point.connector_status IS DISTINCT FROM 'Available'
       OR EXISTS (SELECT 1 FROM reservations r
                  WHERE r.charge_point_id = p_point AND r.status IN ('reserved', 'charging'))
    THEN
        RAISE EXCEPTION 'point_unavailable' USING ERRCODE = 'WUREF';
    END IF;

    v_at := clock_timestamp();
    INSERT INTO reservations (id, user_id, vehicle_id, charge_point_id, expires_at, sim_speed,
                              events)
    VALUES (v_rid, p_user, p_vehicle, p_point, v_expires, p_sim_speed,
            jsonb_build_array(
                booking_event(v_at, 'ReserveNow',
                              jsonb_build_object('expiryDate', v_expires, 'reservationId', v_rid)),
                booking_event(v_at, 'StatusNotification', '{"status": "Reserved"}')));

    RETURN QUERY SELECT v_rid, array_prepend(v_point.station_id, v_swept), v_completed;
END;
$function$
;
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
               booking_event(v_at, 'RemoteStartTransaction', '{"connectorId": 1}'),
               booking_event(v_at, 'StatusNotification', '{"status": "Preparing"}'),
               booking_event(v_at, 'StartTransaction',
                             jsonb_build_object('meterStart', 0, 'reservationId', p_rid)),
               booking_event(v_at, 'StatusNotification', '{"status": "Charging"}'))
     WHERE id = p_rid;
END;
$function$
;
DROP FUNCTION booking_point_closed(text);
DROP FUNCTION booking_id_tag(uuid);
DROP SEQUENCE charge_transaction_ids;

ALTER TABLE charge_points DISABLE TRIGGER charge_points_connector_guard;
UPDATE charge_points SET connector_status = 'Available'
 WHERE operational_status = 'out_of_service' AND connector_status = 'Unavailable';
ALTER TABLE charge_points ENABLE TRIGGER charge_points_connector_guard;
