-- The triggers go, and every stored hash is forgotten. The columns stay: the merge of
-- sql/import/merge.sql (installed by 0001 and 0019) writes them, and an importer that sends
-- no hash stores NULL there, which skips nothing. 0001's downgrade drops them with the tables.
DROP TRIGGER charge_points_import_fp_clear ON charge_points;
DROP TRIGGER stations_import_fp_clear ON stations;
DROP FUNCTION import_fp_clear();
UPDATE charge_points SET import_fp = NULL WHERE import_fp IS NOT NULL;
UPDATE stations SET import_fp = NULL WHERE import_fp IS NOT NULL;
