-- Back to 0028: the log as rows of reservation_events (filled from the column, in its order)
-- and the functions of 0027 that wrote them (as pg_get_functiondef prints them).
DROP VIEW reservation_events;
CREATE TABLE reservation_events (
    id             bigserial PRIMARY KEY,
    reservation_id uuid NOT NULL REFERENCES reservations(id) ON DELETE CASCADE,
    at             timestamptz NOT NULL,
    message        text NOT NULL,
    payload        jsonb NOT NULL DEFAULT '{}'
);
INSERT INTO reservation_events (reservation_id, at, message, payload)
SELECT r.id, (e.ev->>'at')::timestamptz, e.ev->>'message', coalesce(e.ev->'payload', '{}')
  FROM reservations r CROSS JOIN LATERAL jsonb_array_elements(r.events) WITH ORDINALITY AS e(ev, n)
 ORDER BY r.id, e.n;
CREATE INDEX reservation_events_by_reservation ON reservation_events (reservation_id, at, id);

DROP FUNCTION booking_close_charge(reservations);
CREATE OR REPLACE FUNCTION public.booking_reserve(p_user uuid, p_point uuid, p_vehicle uuid, p_hold_minutes double precision, p_sim_speed double precision)
 RETURNS TABLE(reservation_id uuid, station_ids uuid[], completed uuid[])
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_connectors text[];
    v_point charge_points;
    v_swept uuid[];
    v_completed uuid[];
    v_rid uuid;
    v_expires timestamptz;
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

    INSERT INTO reservations (user_id, vehicle_id, charge_point_id, expires_at, sim_speed)
    VALUES (p_user, p_vehicle, p_point, now() + p_hold_minutes * interval '1 minute',
            p_sim_speed)
    RETURNING id, expires_at INTO v_rid, v_expires;
    INSERT INTO reservation_events (reservation_id, at, message, payload) VALUES
        (v_rid, clock_timestamp(), 'ReserveNow',
         jsonb_build_object('expiryDate', v_expires, 'reservationId', v_rid)),
        (v_rid, clock_timestamp(), 'StatusNotification', '{"status": "Reserved"}');

    RETURN QUERY SELECT v_rid, array_prepend(v_point.station_id, v_swept), v_completed;
END;
$function$

;

CREATE OR REPLACE FUNCTION public.booking_cancel(p_user uuid, p_rid uuid)
 RETURNS TABLE(station_ids uuid[], completed uuid[])
 LANGUAGE plpgsql
AS $function$
BEGIN
    RETURN QUERY SELECT * FROM booking_claim(p_user, p_rid, 'reserved');
    UPDATE reservations SET status = 'cancelled', ended_at = now(),
           end_reason = 'driver_cancel'
     WHERE id = p_rid;
    INSERT INTO reservation_events (reservation_id, at, message, payload) VALUES
        (p_rid, clock_timestamp(), 'CancelReservation', jsonb_build_object('reservationId', p_rid)),
        (p_rid, clock_timestamp(), 'StatusNotification', '{"status": "Available"}');
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
               end_reason = 'noshow_timeout'
        WHERE r.status = 'reserved' AND r.expires_at <= now()
          AND (p_point IS NULL OR r.charge_point_id = p_point OR r.user_id = p_user)
        RETURNING r.id, r.charge_point_id, r.status, r.expires_at AS at
    ), completed AS (
        UPDATE reservations r SET status = 'completed', ended_at = r.ends_at,
               end_reason = 'target_reached'
        WHERE r.status = 'charging' AND r.ends_at <= now()
          AND (p_point IS NULL OR r.charge_point_id = p_point OR r.user_id = p_user)
        RETURNING r.id, r.charge_point_id, r.status, r.ends_at AS at
    ), ev AS (
        INSERT INTO reservation_events (reservation_id, at, message, payload)
        SELECT e.id, e.at, 'StatusNotification', '{"status": "Available"}'::jsonb
        FROM expired e
        RETURNING 1
    )
    SELECT x.id, cp.station_id, x.status
    FROM (SELECT id, charge_point_id, status FROM expired
          UNION ALL SELECT id, charge_point_id, status FROM completed) x
    JOIN charge_points cp ON cp.id = x.charge_point_id;
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
    WITH c AS (
        UPDATE reservations SET status = 'cancelled', ended_at = now(), end_reason = p_reason
        WHERE charge_point_id = p_point AND status = 'reserved'
        RETURNING id
    ), ev AS (
        INSERT INTO reservation_events (reservation_id, at, message, payload)
        SELECT id, now(), 'CancelReservation', jsonb_build_object('reason', p_reason) FROM c
        RETURNING 1
    )
    SELECT count(*) INTO n FROM c;
    UPDATE reservations SET status = 'completed', ended_at = clock_timestamp(),
           end_reason = p_reason
     WHERE charge_point_id = p_point AND status = 'charging';
    GET DIAGNOSTICS m = ROW_COUNT;
    RETURN n + m;
END;
$function$

;

CREATE OR REPLACE FUNCTION public.booking_finish(p_rid uuid, p_events jsonb, p_receipt jsonb)
 RETURNS boolean
 LANGUAGE plpgsql
AS $function$
BEGIN
    UPDATE reservations SET receipt = p_receipt WHERE id = p_rid AND receipt IS NULL;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO reservation_events (reservation_id, at, message, payload)
    SELECT p_rid, e.at, e.message, coalesce(e.payload, '{}')
      FROM ROWS FROM (jsonb_to_recordset(p_events)
                          AS (at timestamptz, message text, payload jsonb))
           WITH ORDINALITY AS e(at, message, payload, n)
     ORDER BY e.n;
    RETURN true;
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
    INSERT INTO reservation_events (reservation_id, at, message, payload) VALUES
        (p_rid, v_at, 'RemoteStartTransaction', '{"connectorId": 1}'),
        (p_rid, v_at, 'StatusNotification', '{"status": "Preparing"}'),
        (p_rid, v_at, 'StartTransaction',
         jsonb_build_object('meterStart', 0, 'reservationId', p_rid)),
        (p_rid, v_at, 'StatusNotification', '{"status": "Charging"}');
    UPDATE reservations SET status = 'charging', started_at = v_at,
           ends_at = v_at + p_duration_s * interval '1 second',
           battery_kwh = p_battery_kwh, start_soc = p_start_soc, target_soc = p_target_soc,
           power_kw = p_power_kw, is_dc = p_is_dc
     WHERE id = p_rid;
END;
$function$

;

CREATE OR REPLACE FUNCTION public.booking_close_charge(r reservations)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_elapsed double precision := extract(epoch FROM r.ended_at - r.started_at);
    v_soc double precision := charge_soc_at(r.battery_kwh, r.start_soc, r.target_soc,
                                            r.power_kw, r.is_dc, r.sim_speed, v_elapsed);
    v_energy double precision := charge_energy_kwh(r.battery_kwh, r.start_soc, v_soc);
    v_minutes double precision := v_elapsed * r.sim_speed / 60;
    -- OCPP 1.6 StopTransaction reasons: the driver's stop, the car full, the point taken out
    -- of service under it (cancel_reservations_for_point below).
    v_reason text := CASE r.end_reason WHEN 'driver_stop' THEN 'Remote'
                                       WHEN 'point_out_of_service' THEN 'Other'
                                       ELSE 'EVDisconnected' END;
    p record;
BEGIN
    INSERT INTO reservation_events (reservation_id, at, message, payload)
    SELECT r.id, e.at, e.message, e.payload
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
                   (r.ended_at, 'StatusNotification', '{"status": "Available"}', 4, 0)) e
     ORDER BY e.part, e.n;
    SELECT cp.id_pdc_itinerance, cp.puissance_nominale::double precision AS kw,
           cp.tarification, s.nom_station, s.adresse_station
      INTO p
      FROM charge_points cp JOIN stations s ON s.id = cp.station_id
     WHERE cp.id = r.charge_point_id;
    RETURN jsonb_build_object(
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
END;
$function$

;

CREATE OR REPLACE FUNCTION public.reservations_close_charge()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    NEW.receipt := booking_close_charge(NEW);
    RETURN NEW;
END;
$function$

;

CREATE OR REPLACE FUNCTION public.booking_answer_of(p_rid uuid, p_stations uuid[], p_completed uuid[], p_tiles boolean)
 RETURNS booking_answer
 LANGUAGE plpgsql
 STABLE
AS $function$
DECLARE
    v_station uuid;
    v_tiles integer[] := '{}';
BEGIN
    IF p_tiles THEN
        FOREACH v_station IN ARRAY p_stations LOOP
            v_tiles := v_tiles || (SELECT coalesce(array_agg(ARRAY[t.z, t.x, t.y]), '{}')
                                     FROM tiles.tiles_of_station(v_station) AS t);
        END LOOP;
    END IF;
    RETURN (
        SELECT ROW(r, cp.id_pdc_itinerance, cp.station_id, s.nom_station,
                   (SELECT coalesce(json_agg(json_build_object('at', e.at,
                                                               'message', e.message,
                                                               'payload', e.payload)
                                             ORDER BY e.at, e.id)::text, '[]')
                      FROM reservation_events e WHERE e.reservation_id = r.id),
                   cp.puissance_nominale::float8, cp.tarification, s.adresse_station,
                   v_tiles, (SELECT m.data_version FROM app_meta m), p_completed,
                   CASE WHEN NOT p_tiles THEN
                       (SELECT coalesce(array_agg(ARRAY[ST_X(x.geom), ST_Y(x.geom)]
                                                  ORDER BY u.n), '{}')
                          FROM unnest(p_stations) WITH ORDINALITY AS u(id, n)
                          JOIN stations x ON x.id = u.id)
                   END
               )::booking_answer
          FROM reservations r
          JOIN charge_points cp ON cp.id = r.charge_point_id
          JOIN stations s ON s.id = cp.station_id
         WHERE r.id = p_rid);
END;
$function$

;

DROP FUNCTION booking_event(timestamptz, text, jsonb);
ALTER TABLE reservations DROP COLUMN events;
