-- Import fingerprints: a re-import skips the rules for rows it has already imported as they
-- are (wattsup/importer/rows.py, V2Rows.fingerprints). The importer hashes each row's raw
-- cells twice: its point's cells (with both identifiers) and its station's cells (with the
-- station identifier), seeded by the rules' version. The merge stores them:
--   charge_points.import_fp  the point cells' hash of the row that wrote the point,
--   stations.import_fp       the station cells' hash of the station's last row,
-- NULL when that row had a warning (it is always validated again, so its warnings are
-- reported again). A row whose two hashes are both stored (on points and stations not
-- withdrawn) would be parsed into exactly what is stored: the importer stages it as
-- `skipped`, and the merge counts it unchanged without comparing it.
--
-- What makes a stored hash stale is not the file but an edit made elsewhere: an admin's
-- change to a point's or a station's IRVE fields clears its hash, so the next import
-- validates its rows again and puts the file's values back. The import itself writes these
-- columns with wattsup.importing = 'on' (transaction-local), which these triggers skip.
-- The columns, charge_points.import_fp and stations.import_fp (bigint), are declared by
-- sql/import/merge.sql, which writes them: 0001 installs it on a new database, and this
-- migration applies it before this file.

CREATE FUNCTION import_fp_clear() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.import_fp := NULL;
    RETURN NEW;
END;
$$;

CREATE TRIGGER charge_points_import_fp_clear
BEFORE UPDATE OF id_pdc_itinerance, id_pdc_local, station_id, puissance_nominale,
    prise_type_ef, prise_type_2, prise_type_combo_ccs, prise_type_chademo, prise_type_autre,
    gratuit, paiement_acte, paiement_cb, paiement_autre, tarification, reservation,
    cable_t2_attache, observations
ON charge_points FOR EACH ROW
WHEN (current_setting('wattsup.importing', true) IS DISTINCT FROM 'on')
EXECUTE FUNCTION import_fp_clear();

CREATE TRIGGER stations_import_fp_clear
BEFORE UPDATE OF id_station_itinerance, id_station_local, operator_id, nom_station,
    implantation_station, adresse_station, code_insee_commune, commune, code_postal, nbre_pdc,
    condition_acces, horaires, is_24_7, accessibilite_pmr, restriction_gabarit,
    station_deux_roues, raccordement, num_pdl, date_mise_en_service, date_maj, geom_4326
ON stations FOR EACH ROW
WHEN (current_setting('wattsup.importing', true) IS DISTINCT FROM 'on')
EXECUTE FUNCTION import_fp_clear();

-- sql/import/merge.sql, applied before this file, inserts a first load's points batch by
-- batch: import_insert_points(rows[, only]) and import_rebuild_keys() replace this one.
DROP FUNCTION IF EXISTS import_insert_points();
