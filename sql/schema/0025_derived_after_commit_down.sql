-- Undo 0025: 0015's refresh_after_import() (sql/import/merge.sql's import_merge() refreshes in
-- its own transaction by default, as before 0025). A rebuild still pending is done first:
-- before 0025 nothing would do it until an import changed something.
DO $$
BEGIN
    IF (SELECT derived_pending FROM app_meta) THEN
        PERFORM refresh_after_import();
    END IF;
END;
$$;
CREATE OR REPLACE FUNCTION refresh_after_import() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE app_meta SET data_version = data_version + 1, data_changed_at = now();
    PERFORM analyze_network();
    PERFORM tiles.refresh_clusters();
    PERFORM tiles.refresh_facets();
    PERFORM tiles.refresh_station_cards();
END;
$$;
DROP FUNCTION refresh_derived_done();
DROP FUNCTION refresh_derived_facets();
DROP FUNCTION refresh_derived_clusters();
ALTER TABLE app_meta DROP COLUMN derived_pending;
