-- Undo 0018: the one-statement booking answers (0011's functions stay).
ALTER FUNCTION sweep_reservations(uuid, uuid) RESET plan_cache_mode;
DROP INDEX reservations_unreceipted;
DROP FUNCTION booking_cancel_answer(uuid, uuid);
DROP FUNCTION booking_stop_answer(uuid, uuid);
DROP FUNCTION booking_start_answer(uuid, uuid, double precision, double precision,
    double precision, double precision, double precision, boolean);
DROP FUNCTION booking_reserve_answer(uuid, uuid, uuid, double precision, double precision);
DROP FUNCTION booking_answer_of(uuid, uuid[], uuid[]);
DROP TYPE booking_answer;
