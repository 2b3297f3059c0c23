DROP FUNCTION booking_session_user(uuid, integer);
