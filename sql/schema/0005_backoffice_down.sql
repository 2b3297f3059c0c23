-- Undo 0005: the analytics schema, the customer service tables, and this database's grants to
-- the BI role. The role itself is dropped only when no other database of the cluster still
-- grants it something (several databases may share one cluster).
DROP SCHEMA IF EXISTS analytics CASCADE;
DROP TABLE IF EXISTS support_answers;
DROP TABLE IF EXISTS contact_messages;
DROP TABLE IF EXISTS problem_reports;
DROP FUNCTION IF EXISTS support_check_status();
DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wattsup_bi') THEN
        REVOKE SELECT ON geometry_columns, spatial_ref_sys FROM wattsup_bi;
        BEGIN
            DROP ROLE wattsup_bi;
        EXCEPTION WHEN dependent_objects_still_exist THEN
            NULL;  -- still granted in another database: leave it
        END;
    END IF;
END
$do$;
