DROP TRIGGER IF EXISTS charge_points_follow_availability ON charge_points;
CREATE OR REPLACE FUNCTION refresh_after_import() RETURNS void
LANGUAGE sql AS $$
    UPDATE app_meta SET data_version = data_version + 1, data_changed_at = now();
$$;
DROP SCHEMA IF EXISTS tiles CASCADE;
