-- A car that reaches its target stops drawing before the charge ends, as OCPP 1.6 describes
-- it (issue 5: "taper → SuspendedEV near the target"): the charger reports
-- StatusNotification(SuspendedEV) when the battery is full, the connector stays SuspendedEV
-- while the car sits plugged in, and the transaction ends when it is unplugged
-- (StopTransaction(EVDisconnected) → Finishing → Available).
--
-- Until now SuspendedEV was logged at the same instant as the stop: no reader ever saw a
-- suspended charger. Now:
-- - A charge has `full_at`, when the battery reaches its target (the plan's time to it), and
--   ends charge_suspended_seconds() simulated seconds later (`ends_at`): the car is unplugged
--   two simulated minutes after it is full. The MeterValues of that tail say 0 W at the
--   target state of charge (charge_power_at() is 0 there since 0027).
-- - The log has SuspendedEV at `full_at`, in time order among the MeterValues: read while
--   the charge runs (booking_log) as when it ends (booking_close_charge).
-- - The connector moves to SuspendedEV when the sweep sees the car full (`suspended_at`, a
--   column of the booking, so that the booking's own trigger moves the connector as it does
--   for every other status: only a booking moves it, 0028). Reads do not wait for it: the
--   API's live state computes the charger's status from `full_at` (api/booking.py).
-- - A charge stopped before it is full (by the driver or the operator) never suspends.
-- - A charge started before this migration has no `full_at`: it ends as 0030 ended it.

-- Simulated seconds a full car stays plugged in before it is unplugged.
CREATE FUNCTION charge_suspended_seconds() RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 120.0::double precision $$;

ALTER TABLE reservations
    ADD COLUMN full_at timestamptz,       -- the battery at its target: SuspendedEV from then
    ADD COLUMN suspended_at timestamptz,  -- when the sweep moved the connector to SuspendedEV
    ADD CONSTRAINT reservations_full_in_charge
        CHECK (full_at IS NULL OR (started_at IS NOT NULL AND full_at >= started_at
                                   AND full_at <= ends_at)),
    ADD CONSTRAINT reservations_suspended_when_full
        CHECK (suspended_at IS NULL OR full_at IS NOT NULL);

-- 0030's, with the time the car is full and the plugged-in tail after it.
CREATE OR REPLACE FUNCTION booking_start(p_rid uuid, p_duration_s double precision,
                                         p_battery_kwh double precision,
                                         p_start_soc double precision,
                                         p_target_soc double precision,
                                         p_power_kw double precision, p_is_dc boolean)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_at timestamptz := clock_timestamp();
BEGIN
    UPDATE reservations SET status = 'charging', started_at = v_at,
           full_at = v_at + p_duration_s * interval '1 second',
           ends_at = v_at + (p_duration_s + charge_suspended_seconds() / sim_speed)
                            * interval '1 second',
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
$$;

-- The charger's reports of a charge from its start until p_until, in time order (`n`): the
-- MeterValues, and SuspendedEV once the car is full. A charge of 0030 (no full_at) has no
-- SuspendedEV here: booking_close_charge logs it at its end, as 0030 did. plpgsql: its query
-- is planned once per connection (an SQL function that cannot be inlined, as one called in
-- FROM with a row argument, is planned at every call: ~90 µs of each stop here).
CREATE FUNCTION charge_reports(r reservations, p_until timestamptz)
RETURNS TABLE (n bigint, at timestamptz, message text, payload jsonb)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT row_number() OVER (ORDER BY e.at, e.part, e.k), e.at, e.message, e.payload
      FROM (SELECT m.at, 'MeterValues' AS message, m.payload, 0 AS part, m.n AS k
              FROM charge_meter_values(r.battery_kwh, r.start_soc, r.target_soc, r.power_kw,
                                       r.is_dc, r.sim_speed, r.started_at, p_until) m
            UNION ALL
            SELECT r.full_at, 'StatusNotification', '{"status": "SuspendedEV"}', 1, 0
             WHERE r.full_at <= p_until) e;
END;
$$;

-- 0030's, with SuspendedEV once the car is full.
CREATE OR REPLACE FUNCTION booking_log(r reservations) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF r.status <> 'charging' OR r.receipt IS NOT NULL THEN
        RETURN r.events::text;
    END IF;
    RETURN (r.events || coalesce(
        (SELECT jsonb_agg(booking_event(c.at, c.message, c.payload) ORDER BY c.n)
           FROM charge_reports(r, least(now(), r.ends_at)) c), '[]'))::text;
END;
$$;

-- 0030's, with the reports of charge_reports() (SuspendedEV at the instant the car was full)
-- and the receipt's charging time apart from the session's: the average power is that of the
-- charging, not diluted by the minutes the full car stayed plugged in.
CREATE OR REPLACE FUNCTION booking_close_charge(r reservations) RETURNS reservations
LANGUAGE plpgsql AS $$
DECLARE
    v_elapsed double precision := extract(epoch FROM r.ended_at - r.started_at);
    v_soc double precision := charge_soc_at(r.battery_kwh, r.start_soc, r.target_soc,
                                            r.power_kw, r.is_dc, r.sim_speed, v_elapsed);
    v_energy double precision := charge_energy_kwh(r.battery_kwh, r.start_soc, v_soc);
    v_minutes double precision := v_elapsed * r.sim_speed / 60;
    v_charging double precision := extract(epoch FROM least(r.ended_at, coalesce(r.full_at,
                                                                             r.ended_at))
                                                      - r.started_at) * r.sim_speed / 60;
    -- OCPP 1.6 StopTransaction reasons: the driver's stop from the app, the car full (and
    -- then unplugged), and anything else (the operator: point out of service, withdrawn,
    -- account deleted).
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
      FROM (SELECT c.at, c.message, c.payload, 0 AS part, c.n
              FROM charge_reports(r, r.ended_at) c
            UNION ALL
            -- A charge of 0030, full at its end: SuspendedEV with the stop, as 0030 logged it.
            SELECT r.ended_at, 'StatusNotification', '{"status": "SuspendedEV"}', 1, 0
             WHERE r.full_at IS NULL AND v_soc >= r.target_soc - 0.05
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
        'charging_minutes', round(v_charging::numeric, 1),
        'real_duration_seconds', round(v_elapsed::numeric, 1),
        'average_power_kw', CASE WHEN v_charging > 0
                                 THEN round((v_energy / (v_charging / 60))::numeric, 2)
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
$$;

-- 0030's: a charging booking whose car is full (the sweep set suspended_at) is SuspendedEV.
CREATE OR REPLACE FUNCTION reservations_follow_connector() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE charge_points SET
        connector_status = CASE NEW.status WHEN 'reserved' THEN 'Reserved'
                                           WHEN 'charging' THEN
                                               CASE WHEN NEW.suspended_at IS NULL
                                                    THEN 'Charging' ELSE 'SuspendedEV' END
                                           ELSE CASE WHEN operational_status = 'out_of_service'
                                                     THEN 'Unavailable'
                                                     ELSE 'Available' END END,
        connector_status_at = now()
    WHERE id = NEW.charge_point_id;
    RETURN NULL;
END;
$$;

DROP TRIGGER reservations_follow_connector ON reservations;
CREATE TRIGGER reservations_follow_connector
AFTER INSERT OR UPDATE OF status, suspended_at ON reservations
FOR EACH ROW EXECUTE FUNCTION reservations_follow_connector();

-- 0029's, and the connectors of the charges whose car is full moved to SuspendedEV (a change
-- no tile shows, Charging and SuspendedEV being both "in use": not returned). Its own
-- statement, not a CTE of the one below: a charge full and due in the same sweep is only
-- completed.
CREATE OR REPLACE FUNCTION sweep_reservations(p_point uuid DEFAULT NULL, p_user uuid DEFAULT NULL)
RETURNS TABLE (reservation_id uuid, station_id uuid, new_status text)
LANGUAGE plpgsql SET plan_cache_mode = 'force_generic_plan' AS $$
BEGIN
    UPDATE reservations r SET suspended_at = now()
     WHERE r.status = 'charging' AND r.full_at <= now() AND r.suspended_at IS NULL
       AND r.ends_at > now()
       AND (p_point IS NULL OR r.charge_point_id = p_point OR r.user_id = p_user);
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
$$;
