-- The import's merge: from the session's temporary table `import_staging` (filled by COPY,
-- one row per valid CSV row) into operators, stations and charge_points, set-based.
-- Runs inside the import's single transaction: if anything fails, nothing of the file lands.
--
-- Change detection: each row's source fields are hashed (md5 of the row text); a point whose
-- hash is unchanged is not written at all, which is what makes a re-import cheap.
-- Returns the counters the job reports.

CREATE OR REPLACE FUNCTION import_staging_ddl() RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'CREATE TEMP TABLE import_staging (
        line integer NOT NULL,
        id_pdc_itinerance text NOT NULL, id_pdc_local text,
        id_station_itinerance text NOT NULL, id_station_local text,
        nom_amenageur text, siren_amenageur text, contact_amenageur text, nom_operateur text,
        contact_operateur text, telephone_operateur text, nom_enseigne text,
        nom_station text, implantation_station text, adresse_station text,
        code_insee_commune text, commune text, code_postal text, nbre_pdc integer,
        condition_acces text, horaires text, is_24_7 boolean, accessibilite_pmr text,
        restriction_gabarit text, station_deux_roues boolean, raccordement text, num_pdl text,
        date_mise_en_service date, date_maj date, lon double precision, lat double precision,
        puissance_nominale double precision, prise_type_ef boolean, prise_type_2 boolean,
        prise_type_combo_ccs boolean, prise_type_chademo boolean, prise_type_autre boolean,
        gratuit boolean, paiement_acte boolean, paiement_cb boolean, paiement_autre boolean,
        tarification text, reservation boolean, cable_t2_attache boolean, observations text
    ) ON COMMIT DROP'
$$;

CREATE OR REPLACE FUNCTION import_merge(p_job uuid, p_full boolean,
    OUT inserted integer, OUT updated integer, OUT unchanged integer,
    OUT withdrawn integer, OUT duplicates integer)
LANGUAGE plpgsql AS $$
DECLARE
    total integer;
BEGIN
    -- 1. Duplicated id_pdc_itinerance inside the file: the last row wins; the others are
    --    reported with the line that superseded them.
    CREATE TEMP TABLE import_points ON COMMIT DROP AS
    SELECT DISTINCT ON (id_pdc_itinerance) *
    FROM import_staging
    ORDER BY id_pdc_itinerance, line DESC;

    INSERT INTO import_rejects (job_id, line, severity, field, value, reason, id_pdc_itinerance)
    SELECT p_job, s.line, 'warning', 'id_pdc_itinerance', s.id_pdc_itinerance,
           format('duplicate id_pdc_itinerance: superseded by line %s', p.line),
           s.id_pdc_itinerance
    FROM import_staging s
    JOIN import_points p USING (id_pdc_itinerance)
    WHERE s.line <> p.line;
    GET DIAGNOSTICS duplicates = ROW_COUNT;

    -- 2. Operators: one row per distinct identity.
    INSERT INTO operators (nom_amenageur, siren_amenageur, contact_amenageur, nom_operateur,
                           contact_operateur, telephone_operateur, nom_enseigne)
    SELECT DISTINCT nom_amenageur, siren_amenageur, contact_amenageur, nom_operateur,
           contact_operateur, telephone_operateur, nom_enseigne
    FROM import_points
    ON CONFLICT (identity_key) DO NOTHING;

    -- 3. Stations: the station fields of its last row in the file.
    CREATE TEMP TABLE import_stations ON COMMIT DROP AS
    SELECT DISTINCT ON (p.id_station_itinerance)
           p.id_station_itinerance, p.id_station_local, o.id AS operator_id, p.nom_station,
           p.implantation_station, p.adresse_station, p.code_insee_commune,
           coalesce(p.commune, c.nom) AS commune,
           coalesce(p.code_postal, substring(p.adresse_station FROM '(\d{5})'),
                    c.codes_postaux[1]) AS code_postal,
           p.nbre_pdc, p.condition_acces, p.horaires, p.is_24_7, p.accessibilite_pmr,
           p.restriction_gabarit, p.station_deux_roues, p.raccordement, p.num_pdl,
           p.date_mise_en_service, p.date_maj,
           ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326) AS geom_4326
    FROM import_points p
    JOIN operators o ON o.identity_key = md5(
        coalesce(p.nom_amenageur, '') || chr(31) || coalesce(p.siren_amenageur, '') || chr(31) ||
        coalesce(p.contact_amenageur, '') || chr(31) || coalesce(p.nom_operateur, '') ||
        chr(31) || coalesce(p.contact_operateur, '') || chr(31) ||
        coalesce(p.telephone_operateur, '') || chr(31) || coalesce(p.nom_enseigne, ''))
    LEFT JOIN communes c ON c.code_insee = p.code_insee_commune
    ORDER BY p.id_station_itinerance, p.line DESC;

    INSERT INTO stations AS s (
        id_station_itinerance, id_station_local, operator_id, nom_station, implantation_station,
        adresse_station, code_insee_commune, commune, code_postal, nbre_pdc, condition_acces,
        horaires, is_24_7, accessibilite_pmr, restriction_gabarit, station_deux_roues,
        raccordement, num_pdl, date_mise_en_service, date_maj, geom_4326, source_hash)
    SELECT st.*, md5(st::text) FROM import_stations st
    ON CONFLICT (id_station_itinerance) DO UPDATE SET
        id_station_local = EXCLUDED.id_station_local, operator_id = EXCLUDED.operator_id,
        nom_station = EXCLUDED.nom_station,
        implantation_station = EXCLUDED.implantation_station,
        adresse_station = EXCLUDED.adresse_station,
        code_insee_commune = EXCLUDED.code_insee_commune, commune = EXCLUDED.commune,
        code_postal = EXCLUDED.code_postal, nbre_pdc = EXCLUDED.nbre_pdc,
        condition_acces = EXCLUDED.condition_acces, horaires = EXCLUDED.horaires,
        is_24_7 = EXCLUDED.is_24_7, accessibilite_pmr = EXCLUDED.accessibilite_pmr,
        restriction_gabarit = EXCLUDED.restriction_gabarit,
        station_deux_roues = EXCLUDED.station_deux_roues,
        raccordement = EXCLUDED.raccordement, num_pdl = EXCLUDED.num_pdl,
        date_mise_en_service = EXCLUDED.date_mise_en_service, date_maj = EXCLUDED.date_maj,
        geom_4326 = EXCLUDED.geom_4326, source_hash = EXCLUDED.source_hash,
        withdrawn_at = NULL, updated_at = now()
    WHERE s.source_hash IS DISTINCT FROM EXCLUDED.source_hash OR s.withdrawn_at IS NOT NULL;

    -- 4. Charging points. A point's hash covers its own fields and its station's, so a row
    --    counts as updated when anything in it changed.
    WITH src AS (
        SELECT p.id_pdc_itinerance, p.id_pdc_local, s.id AS station_id,
               round(p.puissance_nominale::numeric, 2) AS puissance_nominale,
               p.prise_type_ef, p.prise_type_2, p.prise_type_combo_ccs, p.prise_type_chademo,
               p.prise_type_autre, p.gratuit, p.paiement_acte, p.paiement_cb, p.paiement_autre,
               p.tarification, p.reservation, p.cable_t2_attache, p.observations,
               s.source_hash AS station_hash
        FROM import_points p
        JOIN stations s USING (id_station_itinerance)
    ), up AS (
        INSERT INTO charge_points AS cp (
            id_pdc_itinerance, id_pdc_local, station_id, puissance_nominale, prise_type_ef,
            prise_type_2, prise_type_combo_ccs, prise_type_chademo, prise_type_autre, gratuit,
            paiement_acte, paiement_cb, paiement_autre, tarification, reservation,
            cable_t2_attache, observations, source_hash)
        SELECT id_pdc_itinerance, id_pdc_local, station_id, puissance_nominale, prise_type_ef,
               prise_type_2, prise_type_combo_ccs, prise_type_chademo, prise_type_autre,
               gratuit, paiement_acte, paiement_cb, paiement_autre, tarification, reservation,
               cable_t2_attache, observations,
               -- The line number is part of the row text: hash without it.
               md5(row(id_pdc_local, station_id, puissance_nominale, prise_type_ef,
                   prise_type_2, prise_type_combo_ccs, prise_type_chademo, prise_type_autre,
                   gratuit, paiement_acte, paiement_cb, paiement_autre, tarification,
                   reservation, cable_t2_attache, observations, station_hash)::text)
        FROM src
        ON CONFLICT (id_pdc_itinerance) DO UPDATE SET
            id_pdc_local = EXCLUDED.id_pdc_local, station_id = EXCLUDED.station_id,
            puissance_nominale = EXCLUDED.puissance_nominale,
            prise_type_ef = EXCLUDED.prise_type_ef, prise_type_2 = EXCLUDED.prise_type_2,
            prise_type_combo_ccs = EXCLUDED.prise_type_combo_ccs,
            prise_type_chademo = EXCLUDED.prise_type_chademo,
            prise_type_autre = EXCLUDED.prise_type_autre, gratuit = EXCLUDED.gratuit,
            paiement_acte = EXCLUDED.paiement_acte, paiement_cb = EXCLUDED.paiement_cb,
            paiement_autre = EXCLUDED.paiement_autre, tarification = EXCLUDED.tarification,
            reservation = EXCLUDED.reservation, cable_t2_attache = EXCLUDED.cable_t2_attache,
            observations = EXCLUDED.observations, source_hash = EXCLUDED.source_hash,
            withdrawn_at = NULL, updated_at = now()
        WHERE cp.source_hash IS DISTINCT FROM EXCLUDED.source_hash
           OR cp.withdrawn_at IS NOT NULL
        RETURNING (xmax = 0) AS is_new
    )
    SELECT count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE NOT is_new)
    INTO inserted, updated FROM up;

    SELECT count(*) INTO total FROM import_points;
    unchanged := total - inserted - updated;

    -- 5. A full national snapshot: points missing from it are withdrawn (never deleted: a
    --    reservation history may point to them).
    withdrawn := 0;
    IF p_full THEN
        UPDATE charge_points cp SET withdrawn_at = now(), updated_at = now()
        WHERE cp.withdrawn_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM import_points p
                          WHERE p.id_pdc_itinerance = cp.id_pdc_itinerance);
        GET DIAGNOSTICS withdrawn = ROW_COUNT;
    END IF;
    -- A station left with no point in service list is withdrawn too.
    UPDATE stations s SET withdrawn_at = now(), updated_at = now()
    WHERE s.withdrawn_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM charge_points cp
                      WHERE cp.station_id = s.id AND cp.withdrawn_at IS NULL);

    IF inserted + updated + withdrawn > 0 THEN
        PERFORM refresh_after_import();
    END IF;
    DROP TABLE import_points;
    DROP TABLE import_stations;
END;
$$;
