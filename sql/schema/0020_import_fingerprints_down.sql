-- The triggers go, and every stored hash is forgotten. The columns stay: sql/import/merge.sql
-- declares and writes them (0001 installs it as it is today), and an importer that sends no
-- hash stores NULL there, which skips nothing. 0001's downgrade drops them with the tables.
DROP TRIGGER charge_points_import_fp_clear ON charge_points;
DROP TRIGGER stations_import_fp_clear ON stations;
DROP FUNCTION import_fp_clear();
UPDATE charge_points SET import_fp = NULL WHERE import_fp IS NOT NULL;
UPDATE stations SET import_fp = NULL WHERE import_fp IS NOT NULL;
