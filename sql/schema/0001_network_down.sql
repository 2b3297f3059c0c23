DROP FUNCTION IF EXISTS import_merge(uuid, boolean);
DROP FUNCTION IF EXISTS import_merge(uuid, boolean, boolean);
DROP FUNCTION IF EXISTS import_staging_ddl();
-- The first-load path of sql/import/merge.sql, which 0001 applies as it is today.
DROP FUNCTION IF EXISTS import_first_load_begin();
DROP FUNCTION IF EXISTS import_first_load_batch();
DROP FUNCTION IF EXISTS import_upsert_stations(regclass);
DROP FUNCTION IF EXISTS import_drop_keys(boolean);
DROP FUNCTION IF EXISTS import_insert_points();
DROP FUNCTION IF EXISTS import_insert_points(regclass, regclass);
DROP FUNCTION IF EXISTS import_insert_points(regclass, regclass, boolean);
DROP FUNCTION IF EXISTS import_insert_points(regclass, boolean);
DROP FUNCTION IF EXISTS import_rebuild_keys();
DROP FUNCTION IF EXISTS import_station_rows(regclass, text, regclass);
DROP FUNCTION IF EXISTS import_station_rows(regclass, text);
DROP FUNCTION IF EXISTS refresh_after_import();
DROP TABLE IF EXISTS import_rejects, import_jobs, communes, charge_points, stations, operators,
    app_meta;
-- Extensions are left in place: other databases objects (or a DBA) may rely on them.
