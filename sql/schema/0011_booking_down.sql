-- Undo 0011: api/booking.py of 0010 runs the transitions statement by statement.
DROP FUNCTION booking_finish(uuid, jsonb, jsonb);
DROP FUNCTION booking_cancel(uuid, uuid);
DROP FUNCTION booking_stop(uuid, uuid);
DROP FUNCTION booking_start(uuid, double precision, double precision, double precision,
                            double precision, double precision, boolean);
DROP FUNCTION booking_claim(uuid, uuid, text);
DROP FUNCTION booking_reserve(uuid, uuid, uuid, double precision, double precision);
DROP FUNCTION booking_lock_key(text, uuid);
