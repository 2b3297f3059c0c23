-- Reservations and simulated charges.
--
-- Three states are kept apart: the booking's status (reserved → charging → completed, or
-- cancelled / expired), the charger's OCPP connector status (charge_points.connector_status)
-- and the point's operational state (charge_points.operational_status).
--
-- Invariants live here, behind the application's advisory locks:
-- - at most one open booking per point and per driver (partial unique indexes);
-- - a status may only move along the legal transitions (trigger → SQLSTATE WU409);
-- - the connector status follows the booking (trigger), so tiles and sheets see it at once.

CREATE TABLE reservations (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES users(id),
    vehicle_id      uuid REFERENCES vehicles(id) ON DELETE SET NULL,
    charge_point_id uuid NOT NULL REFERENCES charge_points(id),
    status          text NOT NULL DEFAULT 'reserved'
                    CHECK (status IN ('reserved', 'charging', 'completed', 'cancelled',
                                      'expired')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    started_at      timestamptz,
    -- When the simulated charge reaches its target (set at start from the physics).
    ends_at         timestamptz,
    ended_at        timestamptz,
    end_reason      text,
    sim_speed       double precision NOT NULL CHECK (sim_speed > 0),
    -- The charge plan, fixed at start: what the simulated car and charger agreed.
    battery_kwh     double precision,
    start_soc       double precision,
    target_soc      double precision,
    power_kw        double precision,
    is_dc           boolean,
    receipt         jsonb,
    CHECK (expires_at > created_at),
    CHECK (status <> 'charging' OR (started_at IS NOT NULL AND ends_at IS NOT NULL)),
    CHECK (status NOT IN ('completed', 'cancelled', 'expired') OR ended_at IS NOT NULL)
);
CREATE UNIQUE INDEX reservations_one_open_per_point ON reservations (charge_point_id)
    WHERE status IN ('reserved', 'charging');
CREATE UNIQUE INDEX reservations_one_open_per_user ON reservations (user_id)
    WHERE status IN ('reserved', 'charging');
CREATE INDEX reservations_user_history ON reservations (user_id, created_at DESC);
CREATE INDEX reservations_due ON reservations (expires_at) WHERE status = 'reserved';
CREATE INDEX reservations_charging_due ON reservations (ends_at) WHERE status = 'charging';

-- The charger's message log (OCPP 1.6 names), in order.
CREATE TABLE reservation_events (
    id             bigserial PRIMARY KEY,
    reservation_id uuid NOT NULL REFERENCES reservations(id) ON DELETE CASCADE,
    at             timestamptz NOT NULL,
    message        text NOT NULL,
    payload        jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX reservation_events_by_reservation ON reservation_events (reservation_id, at, id);

CREATE FUNCTION reservation_transition_allowed(old_status text, new_status text)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT old_status = new_status OR (old_status, new_status) IN (
        ('reserved', 'charging'), ('reserved', 'cancelled'), ('reserved', 'expired'),
        ('charging', 'completed'))
$$;

CREATE FUNCTION reservations_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.status <> 'reserved' THEN
        RAISE EXCEPTION 'a reservation starts as reserved, not %', NEW.status
            USING ERRCODE = 'WU409';
    END IF;
    IF TG_OP = 'UPDATE' AND NOT reservation_transition_allowed(OLD.status, NEW.status) THEN
        RAISE EXCEPTION 'illegal reservation transition % -> %', OLD.status, NEW.status
            USING ERRCODE = 'WU409';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER reservations_guard BEFORE INSERT OR UPDATE OF status ON reservations
FOR EACH ROW EXECUTE FUNCTION reservations_guard();

-- The connector status follows the booking (OCPP: Reserved, Charging, then Available).
CREATE FUNCTION reservations_follow_connector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE charge_points SET
        connector_status = CASE NEW.status WHEN 'reserved' THEN 'Reserved'
                                           WHEN 'charging' THEN 'Charging'
                                           ELSE 'Available' END,
        connector_status_at = now()
    WHERE id = NEW.charge_point_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER reservations_follow_connector
AFTER INSERT OR UPDATE OF status ON reservations
FOR EACH ROW EXECUTE FUNCTION reservations_follow_connector();

-- The sweep: no-shows expire and finished charges complete, on time, whoever runs it. Called
-- by the API's scheduler (one process at a time) and inline before a booking. Returns the
-- stations whose availability changed (for tile invalidation).
CREATE FUNCTION sweep_reservations(p_point uuid DEFAULT NULL, p_user uuid DEFAULT NULL)
RETURNS TABLE (reservation_id uuid, station_id uuid, new_status text)
LANGUAGE plpgsql AS $$
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
$$;

-- An admin taking a point out of service cancels its booking, with the reason.
CREATE FUNCTION cancel_reservations_for_point(p_point uuid, p_reason text)
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

CREATE FUNCTION charge_points_cancel_on_out_of_service() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.operational_status = 'out_of_service'
       AND OLD.operational_status IS DISTINCT FROM 'out_of_service' THEN
        PERFORM cancel_reservations_for_point(NEW.id, 'point_out_of_service');
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER charge_points_cancel_on_out_of_service
AFTER UPDATE OF operational_status ON charge_points
FOR EACH ROW EXECUTE FUNCTION charge_points_cancel_on_out_of_service();
