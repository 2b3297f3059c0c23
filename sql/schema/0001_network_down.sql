DROP FUNCTION IF EXISTS import_merge(uuid, boolean);
DROP FUNCTION IF EXISTS import_staging_ddl();
DROP FUNCTION IF EXISTS refresh_after_import();
DROP TABLE IF EXISTS import_rejects, import_jobs, communes, charge_points, stations, operators,
    app_meta;
-- Extensions are left in place: other databases objects (or a DBA) may rely on them.
