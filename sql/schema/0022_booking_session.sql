-- The session check of a booking request, inside the booking's own statement.
--
-- Every signed-in request re-reads its user (api/security.py: token_version, disabled_at,
-- deleted_at), so that "log out everywhere", a password change or an account disabled by an
-- admin ends every session at once. For the booking transitions that read was a round trip
-- of its own before the transition's statement (~12% of a booking's CPU in the API and in
-- PostgreSQL, bench/reservations.py). The API now hands the access token's claims to the
-- statement instead (api/booking.py): this function runs first in it, and refuses the whole
-- statement (SQLSTATE WUREF, code not_authenticated: the same 401 as the user lookup) before
-- any lock is taken or anything is written.
CREATE FUNCTION booking_session_user(p_user uuid, p_token_version integer)
RETURNS uuid LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM 1 FROM users u
     WHERE u.id = p_user AND u.token_version = p_token_version
       AND u.disabled_at IS NULL AND u.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'not_authenticated' USING ERRCODE = 'WUREF';
    END IF;
    RETURN p_user;
END;
$$;
