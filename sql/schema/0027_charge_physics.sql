-- The charge physics move into the database: a start and a stop are one statement each.
--
-- Until 0026, api/charger_sim.py drew a charge's plan and wrote its closing log and receipt,
-- so a start was two statements (read the point and vehicle, then booking_start_answer with
-- the plan) and so was a stop (booking_stop_answer, then booking_finish with the log and
-- receipt computed from the ended_at it answered). Each extra statement is a round trip that
-- wakes both processes: on the 2-core machine of bench/reservations.py, dropping the two of
-- every book→start→stop cycle cut the API's CPU per request by ~10% and raised bookings/s by
-- ~5% (PostgreSQL's CPU per cycle stayed the same: the physics it now runs cost about what
-- the two statements did). It also left a window: a stop whose API
-- process died between its two statements kept a completed charge without receipt until the
-- sweeper wrote it.
--
-- Here:
-- - charge_hours_to(), charge_soc_at(), charge_power_at() and charge_energy_kwh() are the
--   formulas of api/charger_sim.py ChargePlan, which keeps them for the live state every read
--   computes from timestamps (tests/test_charger_sim.py holds the two to the same numbers);
-- - charge_plan() draws the plan as plan_charge() did, and booking_start(p_rid) draws it from
--   the point and vehicle of the booking, under the transition's locks;
-- - booking_close_charge() writes the rest of the log (MeterValues … Available) and returns
--   the receipt, from a trigger on the move charging → completed: the driver's stop, the
--   sweep's completion and any other path write them in the same statement, at once.

-- Simulated hours of charging from p_start_soc to p_soc (DC tapers above 80 %:
-- dSoC/dt = (100·P/B)·(1 − 0.04·(SoC − 80))).
CREATE FUNCTION charge_hours_to(p_battery_kwh double precision, p_start_soc double precision,
                                p_power_kw double precision, p_is_dc boolean,
                                p_soc double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT greatest(CASE WHEN p_is_dc THEN least(p_soc, 80.0) ELSE p_soc END - p_start_soc, 0.0)
           / 100 * p_battery_kwh / p_power_kw
         + CASE WHEN p_is_dc AND p_soc > 80.0
                THEN ln((1 - 0.04 * (greatest(p_start_soc, 80.0) - 80.0))
                        / greatest(1 - 0.04 * (p_soc - 80.0), 1e-6))
                     * p_battery_kwh / (4 * p_power_kw)
                ELSE 0.0 END
$$;

-- State of charge after p_elapsed_s real seconds of charging (p_sim_speed simulated seconds
-- per real second), never beyond the target.
CREATE FUNCTION charge_soc_at(p_battery_kwh double precision, p_start_soc double precision,
                              p_target_soc double precision, p_power_kw double precision,
                              p_is_dc boolean, p_sim_speed double precision,
                              p_elapsed_s double precision)
RETURNS double precision LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    t double precision := greatest(p_elapsed_s, 0.0) * p_sim_speed / 3600;  -- simulated hours
    t_flat double precision;
    k double precision;
    soc double precision;
BEGIN
    IF NOT p_is_dc OR p_target_soc <= 80.0 THEN
        soc := p_start_soc + 100 * p_power_kw * t / p_battery_kwh;
    ELSE
        t_flat := charge_hours_to(p_battery_kwh, p_start_soc, p_power_kw, p_is_dc, 80.0);
        IF t <= t_flat THEN
            soc := p_start_soc + 100 * p_power_kw * t / p_battery_kwh;
        ELSE
            -- exp() of a large negative number is an underflow error in PostgreSQL, 0 in Python.
            k := -4 * p_power_kw * (t - t_flat) / p_battery_kwh;
            soc := 80.0 + 25 * (1 - (1 - 0.04 * (greatest(p_start_soc, 80.0) - 80.0))
                                    * CASE WHEN k < -700 THEN 0.0 ELSE exp(k) END);
        END IF;
    END IF;
    RETURN least(soc, p_target_soc);
END;
$$;

-- Power (kW) the car draws at a state of charge.
CREATE FUNCTION charge_power_at(p_power_kw double precision, p_is_dc boolean,
                                p_target_soc double precision, p_soc double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_soc >= p_target_soc THEN 0.0
                WHEN p_is_dc AND p_soc > 80.0
                THEN p_power_kw * greatest(1 - 0.04 * (p_soc - 80.0), 0.2)
                ELSE p_power_kw END
$$;

CREATE FUNCTION charge_energy_kwh(p_battery_kwh double precision, p_start_soc double precision,
                                  p_soc double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT greatest(p_soc - p_start_soc, 0.0) / 100 * p_battery_kwh
$$;

-- The plan of a charge, from the point and the car, at a local hour, with a draw in [0, 1):
-- - start state of charge drawn in 10–40 %, target 80 % by day, 100 % at night (22:00–06:00,
--   the original specification's rule);
-- - DC when the point has more than 22 kW, a Combo CCS or CHAdeMO socket the car also has,
--   and the car a DC limit; power = min(point, car's AC or DC limit), at least 1 kW (a limit
--   of 0 is no limit: the point's power).
-- (plpgsql, like the functions below that are not one expression: an SQL function that
-- PostgreSQL cannot inline is planned anew at every call, ~0.1 ms each here.)
CREATE FUNCTION charge_plan(p_point_kw double precision, p_point_sockets text[],
                            p_vehicle_sockets text[], p_battery_kwh double precision,
                            p_max_ac_kw double precision, p_max_dc_kw double precision,
                            p_local_hour integer, p_draw double precision,
                            OUT battery_kwh double precision, OUT start_soc double precision,
                            OUT target_soc double precision, OUT power_kw double precision,
                            OUT is_dc boolean)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    battery_kwh := p_battery_kwh;
    start_soc := round((10 + 30 * p_draw)::numeric, 1);
    target_soc := CASE WHEN p_local_hour >= 22 OR p_local_hour < 6 THEN 100.0 ELSE 80.0 END;
    is_dc := p_point_kw > 22 AND p_max_dc_kw > 0
             AND (('combo_ccs' = ANY (p_point_sockets) AND 'combo_ccs' = ANY (p_vehicle_sockets))
                  OR ('chademo' = ANY (p_point_sockets) AND 'chademo' = ANY (p_vehicle_sockets)));
    power_kw := greatest(least(p_point_kw,
                               coalesce(nullif(CASE WHEN is_dc THEN p_max_dc_kw
                                                    ELSE p_max_ac_kw END, 0), p_point_kw)),
                         1.0);
END;
$$;

-- Two costs of the transitions, while they are being redefined:
-- - a start logged its four OCPP messages in two INSERTs around its UPDATE: one INSERT does
--   (they share one instant; their order is their ids'), ~15 us less;
-- - the answer's charger log was built as jsonb and printed as text: built as json (text
--   from the start) it costs ~13 us a call instead of ~20, and the changed stations'
--   positions come in the same query as the booking instead of one of their own.
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
$$;

CREATE OR REPLACE FUNCTION booking_answer_of(
    p_rid uuid, p_stations uuid[], p_completed uuid[], p_tiles boolean)
RETURNS booking_answer LANGUAGE plpgsql STABLE AS $$
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
$$;

-- Start a claimed booking's charge: the plan drawn from its point and car (a car deleted
-- since the booking charges as the default one: Type 2, 60 kWh, 11 kW AC), then 0011's
-- booking_start() with it.
CREATE FUNCTION booking_start(p_rid uuid) RETURNS void LANGUAGE plpgsql AS $$
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
$$;

-- Claim (booking_claim) and start (booking_start), then answer: one statement for a start.
-- 0026's booking_start_answer(), which takes the plan the API drew, stays for an API process
-- of 0026 during an upgrade (it needs its plan arguments, so a call cannot mistake the two).
CREATE FUNCTION booking_start_answer(p_user uuid, p_rid uuid, p_tiles boolean DEFAULT true)
RETURNS booking_answer LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    SELECT * INTO v FROM booking_claim(p_user, p_rid, 'reserved');
    PERFORM booking_start(p_rid);
    RETURN booking_answer_of(p_rid, v.station_ids, v.completed, p_tiles);
END;
$$;

-- MeterValues every five simulated minutes between the start and p_until (real times), at
-- most 500 of them: a charge too long for that is sampled more sparsely, over its whole
-- length.
CREATE FUNCTION charge_meter_values(p_battery_kwh double precision, p_start_soc double precision,
                                    p_target_soc double precision, p_power_kw double precision,
                                    p_is_dc boolean, p_sim_speed double precision,
                                    p_started timestamptz, p_until timestamptz)
RETURNS TABLE (n integer, at timestamptz, payload jsonb)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
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
$$;

-- The rest of an ended charge's log (MeterValues …, SuspendedEV if it reached its target,
-- StopTransaction, Finishing, Available) written now, and its receipt (CDR-like) returned.
-- `r` is the booking as it ends: its plan, started_at, ended_at and end_reason.
CREATE FUNCTION booking_close_charge(r reservations) RETURNS jsonb
LANGUAGE plpgsql AS $$
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
$$;

-- Whatever ends a charge (the driver's stop, the sweep at its planned end) writes its log and
-- receipt in the same statement. A receipt already there (an API process of 0026 racing the
-- upgrade) is left as it is.
CREATE FUNCTION reservations_close_charge() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.receipt := booking_close_charge(NEW);
    RETURN NEW;
END;
$$;
CREATE TRIGGER reservations_close_charge BEFORE UPDATE OF status ON reservations
FOR EACH ROW
WHEN (OLD.status = 'charging' AND NEW.status = 'completed' AND NEW.receipt IS NULL)
EXECUTE FUNCTION reservations_close_charge();

-- A point taken out of service under a charge stops it (the fault stop of issue 5's charger):
-- 0004's function cancelled the bookings not yet started and let a charge run on to its planned
-- end on a point out of service. What is already due ends first as it would have (the sweep);
-- the charge still running is completed now with the reason, its closing log and receipt
-- written by the trigger above (StopTransaction reason Other).
CREATE OR REPLACE FUNCTION cancel_reservations_for_point(p_point uuid, p_reason text)
RETURNS integer LANGUAGE plpgsql AS $$
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
$$;

-- Nothing is left for the sweeper to finish: 0018's index of completed charges without
-- receipt goes.
DROP INDEX reservations_unreceipted;

-- Charges an API process of 0026 stopped without writing their receipt yet (its second
-- statement had not come, or never will): written now, as its sweeper would have.
UPDATE reservations r SET receipt = booking_close_charge(r)
 WHERE r.status = 'completed' AND r.receipt IS NULL AND r.started_at IS NOT NULL;
