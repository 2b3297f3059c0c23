-- A point withdrawn ends its open booking, whoever withdraws it.
--
-- The back office cancelled the booking of a point or station it withdrew (api/admin_network.py),
-- but a full national snapshot that no longer lists a point (sql/import/merge.sql, step 5)
-- only set withdrawn_at: the driver kept a booking, or a charge, on a point gone from the map
-- and the network. Now the database ends it, as it does for a point taken out of service
-- (0004's charge_points_cancel_on_out_of_service):
--
-- - The trigger below cancels the point's booking, or stops its charge, with the reason
--   'point_withdrawn' (CancelReservation / StopTransaction(Other)), and the connector of a
--   withdrawn point is Unavailable, as its log already said (booking_point_closed()). The back office cancels first, with its own reason
--   ('station_withdrawn' for a whole station), so the trigger finds nothing left there.
-- - A booking being made while an import withdraws its point: booking_reserve read the point
--   before the import committed, and the connector's update (reservations_follow_connector)
--   waited for the import's lock on the point's row. It now sees the point withdrawn and
--   refuses the booking (point_not_found, as booking_reserve does for a withdrawn point).
-- - merge.sql (re-applied by this revision) locks the open bookings of the points it is about
--   to withdraw before it touches those points, the order of every other writer (a booking
--   transition, the sweeper: a booking's row, then its point's). The points it changed just
--   before are locked already, so a deadlock is still possible there: the importer then runs
--   the merge again (wattsup/importer/engine.py _merge), not failing a whole file.

-- Withdrawn: the booking ended, the connector Unavailable (as out of service, 0030); back in
-- the network (a later snapshot lists it again): Available, unless out of service.
CREATE FUNCTION charge_points_cancel_on_withdrawal() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.withdrawn_at IS NOT NULL THEN
        -- Most withdrawn points have no open booking: one index probe
        -- (reservations_one_open_per_point), not a sweep, for each.
        IF EXISTS (SELECT 1 FROM reservations r
                   WHERE r.charge_point_id = NEW.id AND r.status IN ('reserved', 'charging'))
        THEN
            PERFORM cancel_reservations_for_point(NEW.id, 'point_withdrawn');
        END IF;
        UPDATE charge_points SET connector_status = 'Unavailable', connector_status_at = now()
         WHERE id = NEW.id AND connector_status <> 'Unavailable';
    ELSE
        UPDATE charge_points SET connector_status = 'Available', connector_status_at = now()
         WHERE id = NEW.id AND connector_status = 'Unavailable'
           AND operational_status <> 'out_of_service';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER charge_points_cancel_on_withdrawal
AFTER UPDATE OF withdrawn_at ON charge_points
FOR EACH ROW WHEN ((OLD.withdrawn_at IS NULL) <> (NEW.withdrawn_at IS NULL))
EXECUTE FUNCTION charge_points_cancel_on_withdrawal();

-- 0030's, but a withdrawn point back in service stays Unavailable (it is out of the network).
CREATE OR REPLACE FUNCTION charge_points_cancel_on_out_of_service() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.operational_status = 'out_of_service'
       AND OLD.operational_status IS DISTINCT FROM 'out_of_service' THEN
        PERFORM cancel_reservations_for_point(NEW.id, 'point_out_of_service');
        UPDATE charge_points SET connector_status = 'Unavailable', connector_status_at = now()
         WHERE id = NEW.id AND connector_status <> 'Unavailable';
    ELSIF OLD.operational_status = 'out_of_service'
          AND NEW.operational_status <> 'out_of_service' AND NEW.withdrawn_at IS NULL THEN
        UPDATE charge_points SET connector_status = 'Available', connector_status_at = now()
         WHERE id = NEW.id AND connector_status = 'Unavailable';
    END IF;
    RETURN NULL;
END;
$$;

-- The bookings that 0034 left open on points a full snapshot had withdrawn end now, as the
-- trigger ends them from here on.
SELECT cancel_reservations_for_point(cp.id, 'point_withdrawn')
  FROM charge_points cp
 WHERE cp.withdrawn_at IS NOT NULL
   AND EXISTS (SELECT 1 FROM reservations r
               WHERE r.charge_point_id = cp.id AND r.status IN ('reserved', 'charging'));

-- The other points already withdrawn: Unavailable. A write of the connector status outside
-- a trigger, which 0028's guard refuses: this once, with the guard off, as 0030 did for the
-- points out of service.
ALTER TABLE charge_points DISABLE TRIGGER charge_points_connector_guard;
UPDATE charge_points SET connector_status = 'Unavailable'
 WHERE withdrawn_at IS NOT NULL AND connector_status = 'Available';
ALTER TABLE charge_points ENABLE TRIGGER charge_points_connector_guard;

-- 0033's: a booking ending on a withdrawn point leaves it Unavailable, and a new booking is
-- refused on a point withdrawn meanwhile (see above).
CREATE OR REPLACE FUNCTION reservations_follow_connector() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_withdrawn boolean;
BEGIN
    UPDATE charge_points SET
        connector_status = CASE NEW.status WHEN 'reserved' THEN 'Reserved'
                                           WHEN 'charging' THEN
                                               CASE WHEN NEW.suspended_at IS NULL
                                                    THEN 'Charging' ELSE 'SuspendedEV' END
                                           ELSE CASE WHEN operational_status = 'out_of_service'
                                                          OR withdrawn_at IS NOT NULL
                                                     THEN 'Unavailable'
                                                     ELSE 'Available' END END,
        connector_status_at = now()
    WHERE id = NEW.charge_point_id
    RETURNING withdrawn_at IS NOT NULL INTO v_withdrawn;
    IF TG_OP = 'INSERT' AND v_withdrawn THEN
        RAISE EXCEPTION 'point_not_found' USING ERRCODE = 'WUREF';
    END IF;
    RETURN NULL;
END;
$$;
