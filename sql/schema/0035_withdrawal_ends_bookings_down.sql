-- Back to 0034: 0033's reservations_follow_connector and 0030's
-- charge_points_cancel_on_out_of_service (as pg_get_functiondef prints them), no
-- trigger on withdrawal. merge.sql stays as this revision left it (its locking is harmless).
DROP TRIGGER charge_points_cancel_on_withdrawal ON charge_points;
DROP FUNCTION charge_points_cancel_on_withdrawal();
CREATE OR REPLACE FUNCTION public.charge_points_cancel_on_out_of_service()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    IF NEW.operational_status = 'out_of_service'
       AND OLD.operational_status IS DISTINCT FROM 'out_of_service' THEN
        PERFORM cancel_reservations_for_point(NEW.id, 'point_out_of_service');
        UPDATE charge_points SET connector_status = 'Unavailable', connector_status_at = now()
         WHERE id = NEW.id AND connector_status <> 'Unavailable';
    ELSIF OLD.operational_status = 'out_of_service'
          AND NEW.operational_status <> 'out_of_service' THEN
        UPDATE charge_points SET connector_status = 'Available', connector_status_at = now()
         WHERE id = NEW.id AND connector_status = 'Unavailable';
    END IF;
    RETURN NULL;
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
$function$

;
-- The withdrawn points' connectors as 0034 left them.
ALTER TABLE charge_points DISABLE TRIGGER charge_points_connector_guard;
UPDATE charge_points SET connector_status = 'Available'
 WHERE withdrawn_at IS NOT NULL AND connector_status = 'Unavailable'
   AND operational_status <> 'out_of_service';
ALTER TABLE charge_points ENABLE TRIGGER charge_points_connector_guard;
