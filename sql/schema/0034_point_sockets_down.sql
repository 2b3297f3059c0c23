-- Back to 0033: 0030's booking_reserve and booking_start(uuid), as pg_get_functiondef prints
-- them, then no point_sockets().
CREATE OR REPLACE FUNCTION public.booking_reserve(p_user uuid, p_point uuid, p_vehicle uuid, p_hold_minutes double precision, p_sim_speed double precision)
 RETURNS TABLE(reservation_id uuid, station_ids uuid[], completed uuid[])
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_connectors text[];
    v_point charge_points;
    v_swept uuid[];
    v_completed uuid[];
    v_rid uuid := gen_random_uuid();
    v_expires timestamptz := now() + p_hold_minutes * interval '1 minute';
    v_at timestamptz;
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

    v_at := clock_timestamp();
    INSERT INTO reservations (id, user_id, vehicle_id, charge_point_id, expires_at, sim_speed,
                              events)
    VALUES (v_rid, p_user, p_vehicle, p_point, v_expires, p_sim_speed,
            jsonb_build_array(
                booking_event(v_at, 'ReserveNow',
                              jsonb_build_object('connectorId', 1, 'expiryDate', v_expires,
                                                 'idTag', booking_id_tag(p_user),
                                                 'reservationId', v_rid)),
                booking_event(v_at, 'StatusNotification', '{"status": "Reserved"}')));

    RETURN QUERY SELECT v_rid, array_prepend(v_point.station_id, v_swept), v_completed;
END;
$function$

;
CREATE OR REPLACE FUNCTION public.booking_start(p_rid uuid)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_at timestamptz := clock_timestamp();
    p record;
BEGIN
    SELECT c.*, r.sim_speed,
           v.id IS NULL OR v.connectors && x.sockets AS fits
      INTO p
      FROM reservations r
      JOIN charge_points cp ON cp.id = r.charge_point_id
      LEFT JOIN vehicles v ON v.id = r.vehicle_id,
           LATERAL (SELECT array_remove(
                       ARRAY[CASE WHEN cp.prise_type_ef THEN 'ef' END,
                             CASE WHEN cp.prise_type_2 THEN 'type_2' END,
                             CASE WHEN cp.prise_type_combo_ccs THEN 'combo_ccs' END,
                             CASE WHEN cp.prise_type_chademo THEN 'chademo' END,
                             CASE WHEN cp.prise_type_autre THEN 'autre' END], NULL)
                    AS sockets) x,
           charge_plan(cp.puissance_nominale::double precision, x.sockets,
                       coalesce(v.connectors, ARRAY['type_2']),
                       coalesce(v.battery_kwh::double precision, 60.0),
                       coalesce(nullif(v.max_ac_kw, 0)::double precision, 11.0),
                       coalesce(v.max_dc_kw::double precision, 0.0),
                       extract(hour FROM v_at AT TIME ZONE 'Europe/Paris')::integer,
                       random()) AS c
     WHERE r.id = p_rid;
    IF NOT p.fits THEN
        RAISE EXCEPTION 'connector_incompatible' USING ERRCODE = 'WUREF';
    END IF;
    PERFORM booking_start(
        p_rid,
        charge_hours_to(p.battery_kwh, p.start_soc, p.power_kw, p.is_dc, p.target_soc)
            * 3600 / p.sim_speed,
        p.battery_kwh, p.start_soc, p.target_soc, p.power_kw, p.is_dc);
END;
$function$

;
DROP FUNCTION point_sockets(charge_points);
