-- Back to 0026: the API draws the plan and writes the closing log and receipt
-- (booking_finish, which 0027 left in place). Receipts written meanwhile stay.
CREATE INDEX reservations_unreceipted ON reservations (ended_at)
    WHERE status = 'completed' AND receipt IS NULL;
DROP TRIGGER reservations_close_charge ON reservations;
DROP FUNCTION reservations_close_charge();
DROP FUNCTION booking_close_charge(reservations);
DROP FUNCTION charge_meter_values(double precision, double precision, double precision,
                                  double precision, boolean, double precision, timestamptz,
                                  timestamptz);
DROP FUNCTION booking_start_answer(uuid, uuid, boolean);
DROP FUNCTION booking_start(uuid);
DROP FUNCTION charge_plan(double precision, text[], text[], double precision, double precision,
                          double precision, integer, double precision);
DROP FUNCTION charge_energy_kwh(double precision, double precision, double precision);
DROP FUNCTION charge_power_at(double precision, boolean, double precision, double precision);
DROP FUNCTION charge_soc_at(double precision, double precision, double precision,
                            double precision, boolean, double precision, double precision);
DROP FUNCTION charge_hours_to(double precision, double precision, double precision, boolean,
                              double precision);

-- 0011's booking_start() and 0026's booking_answer_of(), as they were.
CREATE OR REPLACE FUNCTION booking_start(
    p_rid uuid, p_duration_s double precision, p_battery_kwh double precision,
    p_start_soc double precision, p_target_soc double precision,
    p_power_kw double precision, p_is_dc boolean)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_at timestamptz := clock_timestamp();
BEGIN
    INSERT INTO reservation_events (reservation_id, at, message, payload) VALUES
        (p_rid, v_at, 'RemoteStartTransaction', '{"connectorId": 1}'),
        (p_rid, v_at, 'StatusNotification', '{"status": "Preparing"}');
    UPDATE reservations SET status = 'charging', started_at = v_at,
           ends_at = v_at + p_duration_s * interval '1 second',
           battery_kwh = p_battery_kwh, start_soc = p_start_soc, target_soc = p_target_soc,
           power_kw = p_power_kw, is_dc = p_is_dc
     WHERE id = p_rid;
    INSERT INTO reservation_events (reservation_id, at, message, payload) VALUES
        (p_rid, v_at, 'StartTransaction',
         jsonb_build_object('meterStart', 0, 'reservationId', p_rid)),
        (p_rid, v_at, 'StatusNotification', '{"status": "Charging"}');
END;
$$;

CREATE OR REPLACE FUNCTION booking_answer_of(
    p_rid uuid, p_stations uuid[], p_completed uuid[], p_tiles boolean)
RETURNS booking_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_station uuid;
    v_tiles integer[] := '{}';
    v_xy double precision[];
BEGIN
    IF p_tiles THEN
        FOREACH v_station IN ARRAY p_stations LOOP
            v_tiles := v_tiles || (SELECT coalesce(array_agg(ARRAY[t.z, t.x, t.y]), '{}')
                                     FROM tiles.tiles_of_station(v_station) AS t);
        END LOOP;
    ELSE
        v_xy := (SELECT coalesce(array_agg(ARRAY[ST_X(s.geom), ST_Y(s.geom)] ORDER BY u.n),
                                 '{}')
                   FROM unnest(p_stations) WITH ORDINALITY AS u(id, n)
                   JOIN stations s ON s.id = u.id);
    END IF;
    RETURN (
        SELECT ROW(r, cp.id_pdc_itinerance, cp.station_id, s.nom_station,
                   (SELECT coalesce(jsonb_agg(jsonb_build_object('at', e.at,
                                                                 'message', e.message,
                                                                 'payload', e.payload)
                                              ORDER BY e.at, e.id), '[]')::text
                      FROM reservation_events e WHERE e.reservation_id = r.id),
                   cp.puissance_nominale::float8, cp.tarification, s.adresse_station,
                   v_tiles, (SELECT m.data_version FROM app_meta m), p_completed, v_xy
               )::booking_answer
          FROM reservations r
          JOIN charge_points cp ON cp.id = r.charge_point_id
          JOIN stations s ON s.id = cp.station_id
         WHERE r.id = p_rid);
END;
$$;

-- 0004's cancel_reservations_for_point(), which leaves a charge running.
CREATE OR REPLACE FUNCTION cancel_reservations_for_point(p_point uuid, p_reason text)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
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
    RETURN n;
END;
$$;
