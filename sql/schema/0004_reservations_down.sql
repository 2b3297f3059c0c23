DROP TRIGGER IF EXISTS charge_points_cancel_on_out_of_service ON charge_points;
DROP FUNCTION IF EXISTS charge_points_cancel_on_out_of_service();
DROP FUNCTION IF EXISTS cancel_reservations_for_point(uuid, text);
DROP FUNCTION IF EXISTS sweep_reservations(uuid, uuid);
DROP TABLE IF EXISTS reservation_events, reservations;
DROP FUNCTION IF EXISTS reservations_follow_connector();
DROP FUNCTION IF EXISTS reservations_guard();
DROP FUNCTION IF EXISTS reservation_transition_allowed(text, text);
