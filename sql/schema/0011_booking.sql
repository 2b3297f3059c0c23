-- Booking transitions as SQL functions: one round trip each instead of a dozen.
--
-- api/booking.py used to run the check-and-insert of a booking as ~15 statements (locks,
-- sweep, vehicle, point, open bookings, savepoint, insert, events), each a network round trip
-- and a wake-up of the API process. Here each transition is one function call, with the same
-- rules in the same order, under the same advisory locks, behind the same constraints of
-- 0004 (which stay the last word: a bug here still cannot store a double booking).
--
-- A refusal is RAISEd with SQLSTATE WUREF and the refusal's `code` as the message (its DETAIL
-- carries the booking's status for `invalid_transition`); api/booking.py turns it into the
-- problem+json the page shows, so the French texts stay in one place.
--
-- The charge physics (start SoC, taper, meter values, receipt) stay in Python
-- (api/charger_sim.py): the functions take the plan and the events it computed.

-- Lock key of a point or a driver for pg_advisory_xact_lock. Every booking takes the point's
-- lock, then the driver's: always in that order, so two bookings never wait on each other.
CREATE FUNCTION booking_lock_key(kind text, ident uuid) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT hashtextextended('wattsup:' || kind || ':' || ident::text, 0)
$$;

-- Book p_point for p_user's vehicle p_vehicle, if it is free now. Returns the new booking,
-- the stations whose availability changed (the booked one, and any the inline sweep freed),
-- and the charges that sweep completed (their receipts are written by the caller, in the
-- same transaction).
CREATE FUNCTION booking_reserve(
    p_user uuid, p_point uuid, p_vehicle uuid,
    p_hold_minutes double precision, p_sim_speed double precision)
RETURNS TABLE (reservation_id uuid, station_ids uuid[], completed uuid[])
LANGUAGE plpgsql AS $$
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
    SELECT coalesce(array_agg(s.station_id), '{}'),
           coalesce(array_agg(s.reservation_id) FILTER (WHERE s.new_status = 'completed'), '{}')
      INTO v_swept, v_completed
      FROM sweep_reservations(p_point, p_user) s;

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
$$;

-- Take p_user's booking p_rid for a transition from p_expect: sweep its point and driver,
-- lock the row, check the status. Returns the stations whose availability may change and
-- the charges the sweep completed.
CREATE FUNCTION booking_claim(p_user uuid, p_rid uuid, p_expect text)
RETURNS TABLE (station_ids uuid[], completed uuid[])
LANGUAGE plpgsql AS $$
DECLARE
    v_point uuid;
    v_station uuid;
    v_status text;
    v_swept uuid[];
    v_completed uuid[];
BEGIN
    SELECT r.charge_point_id, cp.station_id INTO v_point, v_station
      FROM reservations r JOIN charge_points cp ON cp.id = r.charge_point_id
     WHERE r.id = p_rid AND r.user_id = p_user;
    IF NOT FOUND THEN  -- someone else's booking is as unknown as a missing one (no IDOR)
        RAISE EXCEPTION 'reservation_not_found' USING ERRCODE = 'WUREF';
    END IF;
    SELECT coalesce(array_agg(s.station_id), '{}'),
           coalesce(array_agg(s.reservation_id) FILTER (WHERE s.new_status = 'completed'), '{}')
      INTO v_swept, v_completed
      FROM sweep_reservations(v_point, p_user) s;
    SELECT r.status INTO v_status FROM reservations r WHERE r.id = p_rid FOR UPDATE;
    IF v_status <> p_expect THEN
        RAISE EXCEPTION 'invalid_transition' USING ERRCODE = 'WUREF', DETAIL = v_status;
    END IF;
    RETURN QUERY SELECT array_prepend(v_station, v_swept), v_completed;
END;
$$;

-- Start the charge of a claimed booking with the plan the simulator drew. The OCPP flow:
-- RemoteStartTransaction → Preparing → StartTransaction → Charging, all at the start instant.
CREATE FUNCTION booking_start(
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

-- The driver stops their charge: claimed and ended in one call; the caller then writes the
-- charger's closing log and the receipt (booking_finish) in the same transaction.
CREATE FUNCTION booking_stop(p_user uuid, p_rid uuid)
RETURNS TABLE (station_ids uuid[], completed uuid[])
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT * FROM booking_claim(p_user, p_rid, 'charging');
    UPDATE reservations SET status = 'completed', ended_at = clock_timestamp(),
           end_reason = 'driver_stop'
     WHERE id = p_rid;
END;
$$;

-- The driver cancels a booking before its charge: claimed, cancelled and logged in one call.
CREATE FUNCTION booking_cancel(p_user uuid, p_rid uuid)
RETURNS TABLE (station_ids uuid[], completed uuid[])
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT * FROM booking_claim(p_user, p_rid, 'reserved');
    UPDATE reservations SET status = 'cancelled', ended_at = now(),
           end_reason = 'driver_cancel'
     WHERE id = p_rid;
    INSERT INTO reservation_events (reservation_id, at, message, payload) VALUES
        (p_rid, clock_timestamp(), 'CancelReservation', jsonb_build_object('reservationId', p_rid)),
        (p_rid, clock_timestamp(), 'StatusNotification', '{"status": "Available"}');
END;
$$;

-- The rest of an ended charge's log (MeterValues … StatusNotification Available, in the
-- order given) and its receipt, written at once. A charge that already has its receipt is
-- left alone, so a sweep and a stop racing for the same charge cannot log it twice.
CREATE FUNCTION booking_finish(p_rid uuid, p_events jsonb, p_receipt jsonb)
RETURNS boolean LANGUAGE plpgsql AS $$
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
$$;
