-- Undo 0002: back to 0001's refresh_after_import(), then drop everything tiles own.
DROP TRIGGER IF EXISTS charge_points_follow_availability ON charge_points;
DROP INDEX IF EXISTS charge_points_not_available;
CREATE OR REPLACE FUNCTION refresh_after_import() RETURNS void
LANGUAGE sql AS $$
    UPDATE app_meta SET data_version = data_version + 1, data_changed_at = now();
$$;
DROP SCHEMA IF EXISTS tiles CASCADE;
