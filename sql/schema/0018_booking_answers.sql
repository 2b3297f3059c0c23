-- Booking transitions answered in one statement.
--
-- A transition used to be a transaction of 3 to 6 round trips (BEGIN, the 0011 function(s),
-- a fetch, COMMIT), then one query for the tiles to invalidate and one to read the booking
-- back. Each function here runs a whole transition of 0011 (same functions, so the same
-- advisory locks point-then-driver, checks, refusals and OCPP events) and then reads, in the
-- same statement, everything the API answers and does after the commit: the booking with its
-- charger log, what the receipt needs, the tiles that draw the changed stations and the data
-- version of their cache keys. The API sends it on a connection outside any transaction, so
-- the statement is its own transaction (pg_advisory_xact_lock holds until its end) and the
-- tiles are invalidated after it has committed.

CREATE TYPE booking_answer AS (
    booking           reservations,  -- the row as it is after the transition
    id_pdc_itinerance text,
    station_id        uuid,
    nom_station       text,
    event_log         text,          -- JSON array of {at, message, payload}, in order
    point_kw          double precision,
    pricing           text,
    address           text,
    tiles             integer[],     -- [[z, x, y], ...] of tiles.tiles_of_station
    data_version      bigint,
    completed         uuid[]         -- charges the inline sweep completed (no receipt yet)
);

-- The answer for booking p_rid after a change of the stations p_stations. plpgsql, not SQL:
-- its queries are planned once per connection (tiles_of_station is costly to plan). The tiles
-- station by station, not one DISTINCT over all: a tile drawn by two of them comes twice (the
-- caller dedupes), and a hash sized for unnest's 1,000-row guess cost 4x the query; at
-- every zoom served, tiles_of_station's default (a zoom given as a parameter made its cached
-- generic plan 7x slower: ~420 against ~60 us).
CREATE FUNCTION booking_answer_of(
    p_rid uuid, p_stations uuid[], p_completed uuid[])
RETURNS booking_answer LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_station uuid;
    v_tiles integer[] := '{}';
BEGIN
    FOREACH v_station IN ARRAY p_stations LOOP
        v_tiles := v_tiles || (SELECT coalesce(array_agg(ARRAY[t.z, t.x, t.y]), '{}')
                                 FROM tiles.tiles_of_station(v_station) AS t);
    END LOOP;
    -- One assignment of a whole row: SELECT … INTO eleven fields of the composite cost
    -- ~10x more (0.5 ms) in PostgreSQL 15.
    RETURN (
        SELECT ROW(r, cp.id_pdc_itinerance, cp.station_id, s.nom_station,
                   (SELECT coalesce(jsonb_agg(jsonb_build_object('at', e.at,
                                                                 'message', e.message,
                                                                 'payload', e.payload)
                                              ORDER BY e.at, e.id), '[]')::text
                      FROM reservation_events e WHERE e.reservation_id = r.id),
                   cp.puissance_nominale::float8, cp.tarification, s.adresse_station,
                   v_tiles, (SELECT m.data_version FROM app_meta m), p_completed
               )::booking_answer
          FROM reservations r
          JOIN charge_points cp ON cp.id = r.charge_point_id
          JOIN stations s ON s.id = cp.station_id
         WHERE r.id = p_rid);
END;
$$;

-- Book (booking_reserve of 0011) and answer.
CREATE FUNCTION booking_reserve_answer(
    p_user uuid, p_point uuid, p_vehicle uuid,
    p_hold_minutes double precision, p_sim_speed double precision)
RETURNS booking_answer LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    SELECT * INTO v FROM booking_reserve(p_user, p_point, p_vehicle, p_hold_minutes, p_sim_speed);
    RETURN booking_answer_of(v.reservation_id, v.station_ids, v.completed);
END;
$$;

-- Claim a reserved booking and start its charge with the plan the simulator drew (from the
-- inputs the API read just before: the point and the vehicle), then answer.
CREATE FUNCTION booking_start_answer(
    p_user uuid, p_rid uuid, p_duration_s double precision, p_battery_kwh double precision,
    p_start_soc double precision, p_target_soc double precision,
    p_power_kw double precision, p_is_dc boolean)
RETURNS booking_answer LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    SELECT * INTO v FROM booking_claim(p_user, p_rid, 'reserved');
    PERFORM booking_start(p_rid, p_duration_s, p_battery_kwh, p_start_soc, p_target_soc,
                          p_power_kw, p_is_dc);
    RETURN booking_answer_of(p_rid, v.station_ids, v.completed);
END;
$$;

-- The driver stops the charge (booking_stop), then answer. The closing log and the receipt
-- are computed by the API from the answer (api/charger_sim.py, from ended_at) and written by
-- booking_finish right after; a stop whose receipt never came (the process died in between)
-- is finished by the sweeper (it finds them by the index reservations_unreceipted below).
CREATE FUNCTION booking_stop_answer(p_user uuid, p_rid uuid)
RETURNS booking_answer LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    SELECT * INTO v FROM booking_stop(p_user, p_rid);
    RETURN booking_answer_of(p_rid, v.station_ids, v.completed);
END;
$$;

-- The driver cancels (booking_cancel), then answer.
CREATE FUNCTION booking_cancel_answer(p_user uuid, p_rid uuid)
RETURNS booking_answer LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    SELECT * INTO v FROM booking_cancel(p_user, p_rid);
    RETURN booking_answer_of(p_rid, v.station_ids, v.completed);
END;
$$;

-- Completed charges still without their receipt (normally none: only a stop whose process
-- died between its two statements), for the sweeper to finish.
CREATE INDEX reservations_unreceipted ON reservations (ended_at)
    WHERE status = 'completed' AND receipt IS NULL;

-- The inline sweep of every transition (0004) was planned anew on each call: with the point
-- and driver known, PostgreSQL's plan cache kept preferring a custom plan, ~0.25 ms of
-- planning for a 30 us query that finds nothing due. Its generic plan (the due indexes, the
-- point/driver as a filter) serves the scheduler's sweep of everything as well.
ALTER FUNCTION sweep_reservations(uuid, uuid) SET plan_cache_mode = force_generic_plan;
