-- Two costs of the booking transitions that bought nothing (bench/reservations.py).
--
-- 1. The inline sweep of a transition runs only when something is due.
--
-- Every transition (0011) first ran sweep_reservations(point, driver), so that a no-show or a
-- finished charge of the same point or driver ends now rather than at the scheduler's next
-- tick. That call was a third of PostgreSQL's time in booking_claim and booking_reserve
-- (bench/reservations.py --function-times), almost always to find nothing: two UPDATEs and an
-- INSERT planned and started, and the SET plan_cache_mode of 0018, which makes PostgreSQL save
-- and restore its settings around every call (5% of its CPU under the booking bench).
--
-- booking_sweep() asks the same question first: is an open booking of this point or of this
-- driver past its end? There is at most one open booking of each (the unique indexes of
-- 0004), so that reads at most two index entries. The sweep runs, unchanged, only when the
-- answer is yes; its predicate is the same, at the same now() (the transaction's), so what
-- a transition ends is what it ended before. plpgsql, not an SQL function: an SQL function
-- holding a subquery is not inlined and is planned anew at every call.
CREATE FUNCTION booking_sweep(p_point uuid, p_user uuid,
                              OUT station_ids uuid[], OUT completed uuid[])
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM reservations r
     WHERE r.status IN ('reserved', 'charging')
       AND (r.charge_point_id = p_point OR r.user_id = p_user)
       AND CASE r.status WHEN 'reserved' THEN r.expires_at ELSE r.ends_at END <= now();
    IF NOT FOUND THEN
        station_ids := '{}';
        completed := '{}';
        RETURN;
    END IF;
    SELECT coalesce(array_agg(s.station_id), '{}'),
           coalesce(array_agg(s.reservation_id) FILTER (WHERE s.new_status = 'completed'), '{}')
      INTO station_ids, completed
      FROM sweep_reservations(p_point, p_user) s;
END;
$$;

-- The transitions of 0011 with that sweep; nothing else changes.
CREATE OR REPLACE FUNCTION booking_reserve(
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
$$;

CREATE OR REPLACE FUNCTION booking_claim(p_user uuid, p_rid uuid, p_expect text)
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
    SELECT * INTO v_swept, v_completed FROM booking_sweep(v_point, p_user);
    SELECT r.status INTO v_status FROM reservations r WHERE r.id = p_rid FOR UPDATE;
    IF v_status <> p_expect THEN
        RAISE EXCEPTION 'invalid_transition' USING ERRCODE = 'WUREF', DETAIL = v_status;
    END IF;
    RETURN QUERY SELECT array_prepend(v_station, v_swept), v_completed;
END;
$$;

-- 2. The tiles a transition invalidates are computed by the API, from where the stations are.
--
-- booking_answer_of() answered the tiles of each changed station (tiles.tiles_of_station(),
-- ~60 us each, a fifth of its time and 7% of PostgreSQL's CPU per book→start→stop cycle).
-- Which tiles draw a station is a pure function of its position: the API computes it from
-- the position (wattsup/tile_cache.py tiles_of_point(), the same arithmetic on the same
-- doubles, cached per position; tests/test_tiles_invalidation.py holds the two to the same
-- tiles for every station of the sample data). The answer now carries the changed stations'
-- positions (station_xy, [[x, y], ...] in EPSG:3857, in the order of station_ids) instead.
-- An API process still running the code of 0025 calls the *_answer functions without
-- p_tiles and gets the tiles as before (the default), so an upgrade can migrate first and
-- restart the API after.
ALTER TYPE booking_answer ADD ATTRIBUTE station_xy double precision[];

DROP FUNCTION booking_reserve_answer(uuid, uuid, uuid, double precision, double precision);
DROP FUNCTION booking_start_answer(uuid, uuid, double precision, double precision,
                                   double precision, double precision, double precision,
                                   boolean);
DROP FUNCTION booking_stop_answer(uuid, uuid);
DROP FUNCTION booking_cancel_answer(uuid, uuid);
DROP FUNCTION booking_answer_of(uuid, uuid[], uuid[]);

CREATE FUNCTION booking_answer_of(
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

CREATE FUNCTION booking_reserve_answer(
    p_user uuid, p_point uuid, p_vehicle uuid,
    p_hold_minutes double precision, p_sim_speed double precision,
    p_tiles boolean DEFAULT true)
RETURNS booking_answer LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    SELECT * INTO v FROM booking_reserve(p_user, p_point, p_vehicle, p_hold_minutes, p_sim_speed);
    RETURN booking_answer_of(v.reservation_id, v.station_ids, v.completed, p_tiles);
END;
$$;

CREATE FUNCTION booking_start_answer(
    p_user uuid, p_rid uuid, p_duration_s double precision, p_battery_kwh double precision,
    p_start_soc double precision, p_target_soc double precision,
    p_power_kw double precision, p_is_dc boolean,
    p_tiles boolean DEFAULT true)
RETURNS booking_answer LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    SELECT * INTO v FROM booking_claim(p_user, p_rid, 'reserved');
    PERFORM booking_start(p_rid, p_duration_s, p_battery_kwh, p_start_soc, p_target_soc,
                          p_power_kw, p_is_dc);
    RETURN booking_answer_of(p_rid, v.station_ids, v.completed, p_tiles);
END;
$$;

CREATE FUNCTION booking_stop_answer(p_user uuid, p_rid uuid, p_tiles boolean DEFAULT true)
RETURNS booking_answer LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    SELECT * INTO v FROM booking_stop(p_user, p_rid);
    RETURN booking_answer_of(p_rid, v.station_ids, v.completed, p_tiles);
END;
$$;

CREATE FUNCTION booking_cancel_answer(p_user uuid, p_rid uuid, p_tiles boolean DEFAULT true)
RETURNS booking_answer LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    SELECT * INTO v FROM booking_cancel(p_user, p_rid);
    RETURN booking_answer_of(p_rid, v.station_ids, v.completed, p_tiles);
END;
$$;
