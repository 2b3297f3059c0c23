-- The import's merge: from the session's temporary table `import_staging` (filled by COPY,
-- one row per valid CSV row) into operators, stations and charge_points, set-based.
-- Runs inside the import's single transaction: if anything fails, nothing of the file lands.
--
-- Change detection compares the source columns of each staged row with the stored row; an
-- unchanged point is not written at all, which is what makes a re-import cheap. Cheaper
-- still, a row whose raw cells hash to what is stored (0020_import_fingerprints.sql) arrives
-- `skipped`, with only its line and identifiers: it is not validated, compared or written,
-- and counts as unchanged; the hashes of the other rows are stored as they are merged.
-- Returns the counters the job reports.

-- The fingerprints this merge stores (sql/schema/0020_import_fingerprints.sql says what they
-- are). Declared here, not only by 0020: migration 0001 installs this file as it is today, so
-- a database at any revision whose merge is this one has the columns it writes.
ALTER TABLE charge_points ADD COLUMN IF NOT EXISTS import_fp bigint;
ALTER TABLE stations ADD COLUMN IF NOT EXISTS import_fp bigint;

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
        tarification text, reservation boolean, cable_t2_attache boolean, observations text,
        point_fp bigint, station_fp bigint, skipped boolean NOT NULL DEFAULT false
    ) ON COMMIT DROP'
$$;

-- The first load, pipelined with the parse (wattsup/importer/engine.py): into an empty network
-- every station and point is new, so each batch's stations and points can go into their
-- tables while Python parses the next batch, on the core the parse leaves idle, instead of all
-- at the end (a station's generated columns cost ~13 us: ST_Transform, opening hours, time
-- zone). The points go in with their keys and indexes down but for the unique IRVE id: a
-- point repeated in the file keeps its first row there, its id is noted, and import_merge()
-- puts its last row in, having found its rows among the noted ids only instead of grouping
-- every staged row by id (~0.1 s), and with no id index left to rebuild (~0.12 s). (Upserted
-- batch by batch instead, with every key up, the points cost PostgreSQL more than the parse
-- costs Python: the load then waited on the server.)
--
-- One row per station of p_source (a staging-shaped table): the station fields of its last
-- row there, with the key of its operator identity (the expression of operators.identity_key),
-- as the temporary table p_target. The last line of each station (line numbers are unique)
-- is a hash aggregate of two narrow columns, then a hash of those lines probed by every staged
-- row. (Written as a join, the planner hashed the wide staged rows instead: ~230 ms ->
-- ~145 ms.)
DROP FUNCTION IF EXISTS import_station_rows(regclass, text, regclass);
CREATE OR REPLACE FUNCTION import_station_rows(p_source regclass, p_target text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($q$
        CREATE TEMP TABLE %I ON COMMIT DROP AS
        SELECT p.id_station_itinerance, p.id_station_local,
               md5(coalesce(p.nom_amenageur, '') || chr(31) || coalesce(p.siren_amenageur, '') ||
                   chr(31) || coalesce(p.contact_amenageur, '') || chr(31) ||
                   coalesce(p.nom_operateur, '') || chr(31) || coalesce(p.contact_operateur, '') ||
                   chr(31) || coalesce(p.telephone_operateur, '') || chr(31) ||
                   coalesce(p.nom_enseigne, '')) AS operator_key,
               p.nom_amenageur, p.siren_amenageur, p.contact_amenageur, p.nom_operateur,
               p.contact_operateur, p.telephone_operateur, p.nom_enseigne,
               p.nom_station, p.implantation_station, p.adresse_station, p.code_insee_commune,
               p.commune, p.code_postal, p.nbre_pdc, p.condition_acces, p.horaires, p.is_24_7,
               p.accessibilite_pmr, p.restriction_gabarit, p.station_deux_roues, p.raccordement,
               p.num_pdl, p.date_mise_en_service, p.date_maj, p.lon, p.lat, p.station_fp
        FROM %s p
        -- A station whose last row was skipped (fingerprints) is stored as that row says.
        WHERE p.line IN (SELECT max(line) FROM %s GROUP BY id_station_itinerance)
          AND NOT p.skipped$q$,
        p_target, p_source, p_source);
END;
$$;

-- A first load's keys: the primary and unique keys and the indexes of stations and
-- charge_points, and the foreign keys from and to them, read from the catalog into
-- import_rebuild (so an index or key a later migration adds is rebuilt the same way), then
-- dropped; import_rebuild_keys() rebuilds them after the rows. p_keep_ids keeps the unique
-- keys (the IRVE ids of stations and points: the pipelined load's per-batch upsert of the
-- stations and its insert of the points use them). Returns false, having dropped nothing,
-- when we do not own the tables.
DROP FUNCTION IF EXISTS import_drop_keys(boolean);
CREATE FUNCTION import_drop_keys(p_keep_ids boolean) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    ddl text;
BEGIN
    CREATE TEMP TABLE import_rebuild ON COMMIT DROP AS
    SELECT 1 AS step, format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass,
                             c.conname, pg_get_constraintdef(c.oid)) AS create_ddl,
           format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass,
                  c.conname) AS drop_ddl
    FROM pg_constraint c
    WHERE c.conrelid IN ('stations'::regclass, 'charge_points'::regclass)
      AND (c.contype = 'p' OR (c.contype = 'u' AND NOT p_keep_ids))
    UNION ALL
    SELECT 1, pg_get_indexdef(i.indexrelid), format('DROP INDEX %s', i.indexrelid::regclass)
    FROM pg_index i
    WHERE i.indrelid IN ('stations'::regclass, 'charge_points'::regclass)
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
    UNION ALL
    -- Foreign keys last: validated once the rows and the indexes are in.
    SELECT 2, format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass,
                     c.conname, pg_get_constraintdef(c.oid)),
           format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname)
    FROM pg_constraint c
    WHERE c.contype = 'f'
      AND (c.conrelid IN ('stations'::regclass, 'charge_points'::regclass)
           OR c.confrelid IN ('stations'::regclass, 'charge_points'::regclass));
    FOR ddl IN SELECT drop_ddl FROM import_rebuild ORDER BY step DESC LOOP
        EXECUTE ddl;
    END LOOP;
    RETURN true;
EXCEPTION WHEN insufficient_privilege THEN
    RETURN false;  -- the function's subtransaction undid what was dropped
END;
$$;

-- A first load's points (every one new) from `rows` (staging-shaped): inserted in file order
-- (a station's points together, as the tiles read them; no diff, no sort). Returns how many
-- points went in. p_note_repeats (a pipelined batch, the unique key on the id up): a point
-- already in, from an earlier row of the file, is left as it is and its id noted in
-- import_repeated_ids, once per extra row.
DROP FUNCTION IF EXISTS import_insert_points(regclass, regclass);
DROP FUNCTION IF EXISTS import_insert_points(regclass, regclass, boolean);
CREATE OR REPLACE FUNCTION import_insert_points(
    rows regclass, p_note_repeats boolean DEFAULT false)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    inserted integer;
BEGIN
    EXECUTE format($q$
    %s
    INSERT INTO charge_points (
        id_pdc_itinerance, id_pdc_local, station_id, puissance_nominale, prise_type_ef,
        prise_type_2, prise_type_combo_ccs, prise_type_chademo, prise_type_autre, gratuit,
        paiement_acte, paiement_cb, paiement_autre, tarification, reservation,
        cable_t2_attache, observations, import_fp)
    SELECT p.id_pdc_itinerance, p.id_pdc_local, s.id,
           round(p.puissance_nominale::numeric, 2), p.prise_type_ef, p.prise_type_2,
           p.prise_type_combo_ccs, p.prise_type_chademo, p.prise_type_autre, p.gratuit,
           p.paiement_acte, p.paiement_cb, p.paiement_autre, p.tarification,
           p.reservation, p.cable_t2_attache, p.observations, p.point_fp
    FROM %s p
    JOIN stations s USING (id_station_itinerance)
    %s$q$,
        CASE WHEN p_note_repeats THEN 'WITH inserted AS (' ELSE '' END,
        rows,
        -- The rows' ids less those inserted (each once): the repeats, with multiplicity.
        CASE WHEN p_note_repeats THEN format(
            $r$ON CONFLICT (id_pdc_itinerance) DO NOTHING RETURNING id_pdc_itinerance)
            INSERT INTO import_repeated_ids
            SELECT id_pdc_itinerance FROM %s
            EXCEPT ALL SELECT id_pdc_itinerance FROM inserted$r$, rows)
             ELSE '' END);
    GET DIAGNOSTICS inserted = ROW_COUNT;
    RETURN inserted;
END;
$$;

-- After a first load's rows: the keys import_drop_keys() dropped, rebuilt.
CREATE OR REPLACE FUNCTION import_rebuild_keys() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    ddl text;
BEGIN
    FOR ddl IN SELECT create_ddl FROM import_rebuild ORDER BY step LOOP
        EXECUTE ddl;
    END LOOP;
    DROP TABLE import_rebuild;
END;
$$;

-- import_first_load_begin(), once, after import_staging is created: when the network is
-- empty (and we own its tables), drops the keys, indexes and foreign keys of stations and
-- charge_points and of the tables that point at them, except the unique keys on their IRVE ids
-- that each batch's upsert and insert use; import_merge() rebuilds them
-- after the rows, as pg_restore does (one sort each, one anti-join per foreign key). Returns
-- whether the import goes this way; it takes the tables' locks until the commit, which on an
-- empty network keeps nothing worth reading from anyone, and everything rolls back with the
-- import.
CREATE OR REPLACE FUNCTION import_first_load_begin() RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM stations) OR EXISTS (SELECT 1 FROM charge_points) THEN
        RETURN false;
    END IF;
    IF NOT import_drop_keys(true) THEN
        RETURN false;  -- not the owner of the tables: the ordinary path
    END IF;
    -- The batches' upserts write the import's fingerprints (0020's triggers stand aside).
    PERFORM set_config('wattsup.importing', 'on', true);
    -- Each batch is copied here, then moved to import_staging by import_first_load_batch().
    CREATE TEMP TABLE import_batch (LIKE import_staging INCLUDING DEFAULTS) ON COMMIT DROP;
    -- Operators this import created: one that ends up named by no station (a station's
    -- batch-time last row was not its last row in the file) is deleted by import_merge().
    CREATE TEMP TABLE import_new_operators (id uuid) ON COMMIT DROP;
    -- Points repeated in the file (import_insert_points() notes them).
    CREATE TEMP TABLE import_repeated_ids (id_pdc_itinerance text) ON COMMIT DROP;
    -- How many rows were staged (import_merge() need not count the wide staged rows).
    CREATE TEMP TABLE import_staged ON COMMIT DROP AS SELECT 0::bigint AS n;
    RETURN true;
END;
$$;

-- One batch of a first load (rows in import_batch, lines after every earlier batch's): moved
-- to import_staging, and its stations upserted from their last row in the batch, so that
-- after the last batch each station holds its last row in the file, as import_merge() would
-- have written it. What differs from that is put right by import_merge(): stations whose
-- last rows were superseded duplicates, and operators no station names.
CREATE OR REPLACE FUNCTION import_first_load_batch() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    staged bigint;
BEGIN
    INSERT INTO import_staging SELECT * FROM import_batch;
    GET DIAGNOSTICS staged = ROW_COUNT;
    UPDATE import_staged SET n = n + staged;
    PERFORM import_station_rows('import_batch', 'import_batch_stations');
    PERFORM import_upsert_stations('import_batch_stations');
    DROP TABLE import_batch_stations;
    PERFORM import_insert_points('import_batch', p_note_repeats => true);
    TRUNCATE import_batch;
END;
$$;

-- Upsert of a first load's stations from `rows` (one row per station, the columns of
-- import_stations in import_merge()): their operators first (recorded in
-- import_new_operators), then the stations, with the same derived values as import_merge().
CREATE OR REPLACE FUNCTION import_upsert_stations(rows regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($q$
        WITH created AS (
            INSERT INTO operators (nom_amenageur, siren_amenageur, contact_amenageur,
                                   nom_operateur, contact_operateur, telephone_operateur,
                                   nom_enseigne)
            SELECT DISTINCT ON (operator_key) nom_amenageur, siren_amenageur,
                   contact_amenageur, nom_operateur, contact_operateur, telephone_operateur,
                   nom_enseigne
            FROM %1$s st
            WHERE NOT EXISTS (SELECT 1 FROM operators o WHERE o.identity_key = st.operator_key)
            ON CONFLICT (identity_key) DO NOTHING
            RETURNING id)
        INSERT INTO import_new_operators SELECT id FROM created$q$, rows);
    EXECUTE format($q$
        INSERT INTO stations (
            id_station_itinerance, id_station_local, operator_id, nom_station,
            implantation_station, adresse_station, code_insee_commune, commune, code_postal,
            nbre_pdc, condition_acces, horaires, is_24_7, accessibilite_pmr,
            restriction_gabarit, station_deux_roues, raccordement, num_pdl,
            date_mise_en_service, date_maj, geom_4326, import_fp)
        SELECT st.id_station_itinerance, st.id_station_local, o.id, st.nom_station,
               st.implantation_station, st.adresse_station, st.code_insee_commune,
               -- The commune's name and postcode looked up only for a row without them (a
               -- LEFT JOIN hashed the 37k communes again for each batch: ~11 of its ~48 ms).
               coalesce(st.commune, (SELECT c.nom FROM communes c
                                     WHERE c.code_insee = st.code_insee_commune)),
               coalesce(st.code_postal, substring(st.adresse_station FROM '(\d{5})'),
                        (SELECT c.codes_postaux[1] FROM communes c
                         WHERE c.code_insee = st.code_insee_commune)),
               st.nbre_pdc, st.condition_acces, st.horaires, st.is_24_7, st.accessibilite_pmr,
               st.restriction_gabarit, st.station_deux_roues, st.raccordement, st.num_pdl,
               st.date_mise_en_service, st.date_maj,
               ST_SetSRID(ST_MakePoint(st.lon, st.lat), 4326), st.station_fp
        FROM %1$s st
        JOIN operators o ON o.identity_key = st.operator_key
        ON CONFLICT (id_station_itinerance) DO UPDATE SET
            id_station_local = excluded.id_station_local, operator_id = excluded.operator_id,
            nom_station = excluded.nom_station,
            implantation_station = excluded.implantation_station,
            adresse_station = excluded.adresse_station,
            code_insee_commune = excluded.code_insee_commune, commune = excluded.commune,
            code_postal = excluded.code_postal, nbre_pdc = excluded.nbre_pdc,
            condition_acces = excluded.condition_acces, horaires = excluded.horaires,
            is_24_7 = excluded.is_24_7, accessibilite_pmr = excluded.accessibilite_pmr,
            restriction_gabarit = excluded.restriction_gabarit,
            station_deux_roues = excluded.station_deux_roues,
            raccordement = excluded.raccordement, num_pdl = excluded.num_pdl,
            date_mise_en_service = excluded.date_mise_en_service,
            date_maj = excluded.date_maj, geom_4326 = excluded.geom_4326,
            import_fp = excluded.import_fp$q$, rows);
END;
$$;

-- p_refresh: true, the derived tile tables are rebuilt in this transaction
-- (refresh_after_import()); false, the network tables are analysed and
-- app_meta.derived_pending is set, and the caller rebuilds them once this transaction has
-- committed (wattsup/importer/engine.py, sql/schema/0025_derived_after_commit.sql says why).
DROP FUNCTION IF EXISTS import_merge(uuid, boolean);
CREATE OR REPLACE FUNCTION import_merge(p_job uuid, p_full boolean, p_refresh boolean DEFAULT true,
    OUT inserted integer, OUT updated integer, OUT unchanged integer,
    OUT withdrawn integer, OUT duplicates integer)
LANGUAGE plpgsql AS $$
DECLARE
    total integer;
    stats_target text := current_setting('default_statistics_target');
    first_load boolean;
    -- A first load pipelined with the parse (import_first_load_begin() said yes): the
    -- stations are in their table already; what is left is below.
    loaded boolean := to_regclass('pg_temp.import_batch') IS NOT NULL;
BEGIN
    -- Sorts and hashes of a national file fit in memory with this; the default 4 MB spills
    -- them to disk. LOCAL: only for this transaction.
    SET LOCAL work_mem = '256MB';
    -- The merge writes the fingerprints itself: 0020's triggers clear them on other edits.
    PERFORM set_config('wattsup.importing', 'on', true);
    -- Temporary tables have no statistics until analysed; without them the planner picks
    -- nested loops over 150k rows. Row counts and rough distributions are all it needs
    -- here: a 3,000-row sample (target 10) analyses in ~20 ms, the default in ~300 ms.
    -- Put back before refresh_after_import(), whose ANALYZEs last beyond this import.
    PERFORM set_config('default_statistics_target', '10', true);
    ANALYZE import_staging;

    -- 1. Duplicated id_pdc_itinerance inside the file: the last row wins; the others
    --    (import_superseded) are reported with the line that superseded them, then dropped.
    IF loaded THEN
        first_load := true;
        -- The batches noted the repeated ids: the staged rows of those ids are read once,
        -- into a small table that the rest of the put-right below reads.
        CREATE TEMP TABLE import_dup_rows ON COMMIT DROP AS
        SELECT * FROM import_staging
        WHERE id_pdc_itinerance IN (SELECT id_pdc_itinerance FROM import_repeated_ids);
        CREATE TEMP TABLE import_dups ON COMMIT DROP AS
        SELECT id_pdc_itinerance, max(line) AS last_line
        FROM import_dup_rows GROUP BY id_pdc_itinerance;
        ANALYZE import_dups;  -- a handful: probed by the points' id index, not a scan
        CREATE TEMP TABLE import_superseded ON COMMIT DROP AS
        SELECT s.line, s.id_pdc_itinerance, s.id_station_itinerance, d.last_line
        FROM import_dup_rows s JOIN import_dups d USING (id_pdc_itinerance)
        WHERE s.line <> d.last_line;
    ELSE
        CREATE TEMP TABLE import_dups ON COMMIT DROP AS
        SELECT id_pdc_itinerance, max(line) AS last_line
        FROM import_staging GROUP BY id_pdc_itinerance HAVING count(*) > 1;
        -- Usually a handful: with their count known, the join below hashes them and probes
        -- the staged rows once, instead of hashing every staged row.
        ANALYZE import_dups;
        CREATE TEMP TABLE import_superseded ON COMMIT DROP AS
        SELECT s.line, s.id_pdc_itinerance, s.id_station_itinerance, d.last_line
        FROM import_staging s JOIN import_dups d USING (id_pdc_itinerance)
        WHERE s.line <> d.last_line;
    END IF;
    INSERT INTO import_rejects (job_id, line, severity, field, value, reason, id_pdc_itinerance)
    SELECT p_job, line, 'warning', 'id_pdc_itinerance', id_pdc_itinerance,
           format('doublon d''id_pdc_itinerance : remplacé par la ligne %s', last_line),
           id_pdc_itinerance
    FROM import_superseded;
    GET DIAGNOSTICS duplicates = ROW_COUNT;

    IF loaded THEN
        -- Every row's point is in (a duplicated one once, from its first row), and each
        -- station holds its last row in the file: right, but for the points duplicated in
        -- the file, which take their last row; for a station with superseded rows, whose
        -- fields come from its last row left (as import_stations below) and which is not in
        -- the file when none is left; and for operators no station names any more (a
        -- station's last row in an earlier batch). The staged rows are read once more here,
        -- for those stations' rows left (each pass a hash probe of a few ids). (Read step by
        -- step as for the other imports, the wide staging table was scanned eight times:
        -- ~0.3 s of the national file's ~2.4 s tail.)
        SELECT n - duplicates INTO inserted FROM import_staged;
        updated := 0;
        total := inserted;
        IF duplicates > 0 THEN
            CREATE TEMP TABLE import_dup_stations ON COMMIT DROP AS
            SELECT DISTINCT id_station_itinerance FROM import_superseded;
            CREATE TEMP TABLE import_dup_station_src ON COMMIT DROP AS
            SELECT * FROM import_staging s
            WHERE s.id_station_itinerance IN
                  (SELECT id_station_itinerance FROM import_dup_stations)
              AND s.line NOT IN (SELECT line FROM import_superseded);
            -- The duplicated points again, from their last rows.
            DELETE FROM import_dup_rows r USING import_superseded x WHERE r.line = x.line;
            DELETE FROM charge_points cp USING import_dups d
            WHERE cp.id_pdc_itinerance = d.id_pdc_itinerance;
            PERFORM import_insert_points('import_dup_rows');
            PERFORM import_station_rows('import_dup_station_src', 'import_dup_station_rows');
            PERFORM import_upsert_stations('import_dup_station_rows');
            DELETE FROM stations s USING import_dup_stations d
            WHERE s.id_station_itinerance = d.id_station_itinerance
              AND NOT EXISTS (SELECT 1 FROM import_dup_station_src p
                              WHERE p.id_station_itinerance = d.id_station_itinerance);
        END IF;
        DELETE FROM operators o USING import_new_operators n
        WHERE o.id = n.id AND NOT EXISTS (SELECT 1 FROM stations s WHERE s.operator_id = o.id);
        -- Then the keys rebuilt.
        PERFORM import_rebuild_keys();
        ALTER TABLE import_staging RENAME TO import_points;
        DROP TABLE import_batch, import_new_operators, import_repeated_ids, import_staged,
            import_dup_rows;
    ELSE
        IF duplicates > 0 THEN
            DELETE FROM import_staging s USING import_superseded x WHERE s.line = x.line;
        END IF;
        ALTER TABLE import_staging RENAME TO import_points;
        -- The statistics stay with the table: worth refreshing only when the duplicates were
        -- a noticeable share of the file.
        IF duplicates * 20 > (SELECT reltuples FROM pg_class
                              WHERE oid = 'import_points'::regclass) THEN
            ANALYZE import_points;
        END IF;

        -- 2. Stations: the station fields of its last row in the file.
        PERFORM import_station_rows('import_points', 'import_stations');
        ANALYZE import_stations;

        -- 3. Operators: one row per distinct identity.
        INSERT INTO operators (nom_amenageur, siren_amenageur, contact_amenageur, nom_operateur,
                               contact_operateur, telephone_operateur, nom_enseigne)
        SELECT DISTINCT ON (operator_key) nom_amenageur, siren_amenageur, contact_amenageur,
               nom_operateur, contact_operateur, telephone_operateur, nom_enseigne
        FROM import_stations st
        -- Known identities are skipped by an anti-join first: ON CONFLICT alone would try (and
        -- undo) a speculative insertion for each of them, which is what a re-import mostly is.
        WHERE NOT EXISTS (SELECT 1 FROM operators o WHERE o.identity_key = st.operator_key)
        ON CONFLICT (identity_key) DO NOTHING;

        -- Insert the new stations, update only those whose source changed (or that come back).
        -- A diff first, then plain INSERT/UPDATE: ON CONFLICT DO UPDATE would lock every
        -- existing row even when nothing changed, which is what a re-import mostly is.
        CREATE TEMP TABLE import_station_diff ON COMMIT DROP AS
        WITH src AS (
            SELECT st.id_station_itinerance, st.id_station_local, o.id AS operator_id,
                   st.nom_station, st.implantation_station, st.adresse_station,
                   st.code_insee_commune, coalesce(st.commune, c.nom) AS commune,
                   coalesce(st.code_postal, substring(st.adresse_station FROM '(\d{5})'),
                            c.codes_postaux[1]) AS code_postal,
                   st.nbre_pdc, st.condition_acces, st.horaires, st.is_24_7, st.accessibilite_pmr,
                   st.restriction_gabarit, st.station_deux_roues, st.raccordement, st.num_pdl,
                   st.date_mise_en_service, st.date_maj,
                   ST_SetSRID(ST_MakePoint(st.lon, st.lat), 4326) AS geom_4326, st.station_fp
            FROM import_stations st
            JOIN operators o ON o.identity_key = st.operator_key
            LEFT JOIN communes c ON c.code_insee = st.code_insee_commune
        )
        SELECT src.*, s.id AS existing_id,
               -- Field-by-field comparison of the source columns: cheaper than hashing the row
               -- text, and exact. (ST_X/ST_Y: geometry `=` only compares bounding boxes.)
               (s.id IS NOT NULL AND (
                   s.withdrawn_at IS NOT NULL
                   OR (s.id_station_local, s.operator_id, s.nom_station, s.implantation_station,
                       s.adresse_station, s.code_insee_commune, s.commune, s.code_postal,
                       s.nbre_pdc, s.condition_acces, s.horaires, s.is_24_7, s.accessibilite_pmr,
                       s.restriction_gabarit, s.station_deux_roues, s.raccordement, s.num_pdl,
                       s.date_mise_en_service, s.date_maj, ST_X(s.geom_4326), ST_Y(s.geom_4326))
                      IS DISTINCT FROM
                      (src.id_station_local, src.operator_id, src.nom_station,
                       src.implantation_station, src.adresse_station, src.code_insee_commune,
                       src.commune, src.code_postal, src.nbre_pdc, src.condition_acces,
                       src.horaires, src.is_24_7, src.accessibilite_pmr, src.restriction_gabarit,
                       src.station_deux_roues, src.raccordement, src.num_pdl,
                       src.date_mise_en_service, src.date_maj, ST_X(src.geom_4326),
                       ST_Y(src.geom_4326)))) AS changed
        FROM src
        LEFT JOIN stations s USING (id_station_itinerance);

        -- First load (no station and no point at all, e.g. `just up` or a new deployment):
        -- every row is an insert, so the indexes and keys of stations and charge_points, and the
        -- foreign keys from and to them, are dropped here and rebuilt once after the rows, as
        -- pg_restore does. Per-row upkeep of them was ~1.2 s of a ~4.5 s national first load
        -- (the foreign key checks alone ~0.7 s: one lookup and row lock per point); a rebuild
        -- sorts once and a foreign key is validated by one anti-join. The definitions are read
        -- from the catalog, so an index or key a later migration adds is rebuilt the same way.
        -- The DDL locks these tables (and the empty ones whose foreign keys point at them:
        -- reservations, reports...) until the commit, which on an empty network keeps nothing
        -- worth reading from anyone; it rolls back with the import like the rest. Not the owner
        -- of the tables: the ordinary path.
        first_load := NOT EXISTS (SELECT 1 FROM stations)
                      AND NOT EXISTS (SELECT 1 FROM charge_points);
        IF first_load THEN
            first_load := import_drop_keys(false);
        END IF;

        INSERT INTO stations (
            id_station_itinerance, id_station_local, operator_id, nom_station, implantation_station,
            adresse_station, code_insee_commune, commune, code_postal, nbre_pdc, condition_acces,
            horaires, is_24_7, accessibilite_pmr, restriction_gabarit, station_deux_roues,
            raccordement, num_pdl, date_mise_en_service, date_maj, geom_4326, import_fp)
        SELECT id_station_itinerance, id_station_local, operator_id, nom_station,
               implantation_station, adresse_station, code_insee_commune, commune, code_postal,
               nbre_pdc, condition_acces, horaires, is_24_7, accessibilite_pmr, restriction_gabarit,
               station_deux_roues, raccordement, num_pdl, date_mise_en_service, date_maj,
               geom_4326, station_fp
        FROM import_station_diff WHERE existing_id IS NULL;

        UPDATE stations s SET
            id_station_local = d.id_station_local, operator_id = d.operator_id,
            nom_station = d.nom_station, implantation_station = d.implantation_station,
            adresse_station = d.adresse_station, code_insee_commune = d.code_insee_commune,
            commune = d.commune, code_postal = d.code_postal, nbre_pdc = d.nbre_pdc,
            condition_acces = d.condition_acces, horaires = d.horaires, is_24_7 = d.is_24_7,
            accessibilite_pmr = d.accessibilite_pmr, restriction_gabarit = d.restriction_gabarit,
            station_deux_roues = d.station_deux_roues, raccordement = d.raccordement,
            num_pdl = d.num_pdl, date_mise_en_service = d.date_mise_en_service,
            date_maj = d.date_maj, geom_4326 = d.geom_4326, import_fp = d.station_fp,
            withdrawn_at = NULL, updated_at = now()
        FROM import_station_diff d
        WHERE d.changed AND s.id = d.existing_id;
        -- An unchanged station whose last row differs from the one hashed before (another
        -- spelling of the same values, a row with a warning, a hash from older rules).
        UPDATE stations s SET import_fp = d.station_fp
        FROM import_station_diff d
        WHERE NOT d.changed AND s.id = d.existing_id AND s.import_fp IS DISTINCT FROM d.station_fp;

        -- 4. Charging points.
        IF first_load THEN
            -- Every point is new: no diff to build; then the keys rebuilt.
            inserted := import_insert_points('import_points');
            PERFORM import_rebuild_keys();
            updated := 0;
        ELSE
            -- New points inserted; existing ones updated when one of their own fields changed.
            -- A row counts as "updated" when its point or its station changed. Only those rows
            -- are kept: a re-import mostly has none, and writing every unchanged point into the
            -- diff was a third of its cost.
            CREATE TEMP TABLE import_point_diff ON COMMIT DROP AS
            SELECT * FROM (
            SELECT p.id_pdc_itinerance, p.id_pdc_local, s.id AS station_id,
                   round(p.puissance_nominale::numeric, 2) AS puissance_nominale,
                   p.prise_type_ef, p.prise_type_2, p.prise_type_combo_ccs, p.prise_type_chademo,
                   p.prise_type_autre, p.gratuit, p.paiement_acte, p.paiement_cb, p.paiement_autre,
                   p.tarification, p.reservation, p.cable_t2_attache, p.observations,
                   p.point_fp, cp.id AS existing_id, cp.import_fp IS DISTINCT FROM p.point_fp
                   AS new_fp,
                   (cp.id IS NOT NULL AND (
                       cp.withdrawn_at IS NOT NULL
                       OR (cp.id_pdc_local, cp.station_id, cp.puissance_nominale, cp.prise_type_ef,
                           cp.prise_type_2, cp.prise_type_combo_ccs, cp.prise_type_chademo,
                           cp.prise_type_autre, cp.gratuit, cp.paiement_acte, cp.paiement_cb,
                           cp.paiement_autre, cp.tarification, cp.reservation, cp.cable_t2_attache,
                           cp.observations)
                          IS DISTINCT FROM
                          (p.id_pdc_local, s.id, round(p.puissance_nominale::numeric, 2),
                           p.prise_type_ef, p.prise_type_2, p.prise_type_combo_ccs,
                           p.prise_type_chademo, p.prise_type_autre, p.gratuit, p.paiement_acte,
                           p.paiement_cb, p.paiement_autre, p.tarification, p.reservation,
                           p.cable_t2_attache, p.observations))) AS changed,
                   coalesce(sd.changed, false) AS station_changed
            FROM import_points p
            JOIN stations s USING (id_station_itinerance)
            LEFT JOIN import_station_diff sd USING (id_station_itinerance)
            LEFT JOIN charge_points cp USING (id_pdc_itinerance)
            -- A skipped row's point is as stored (its station may have changed: counted below).
            WHERE NOT p.skipped
            ) d
            WHERE existing_id IS NULL OR changed OR station_changed OR new_fp;

            INSERT INTO charge_points (
                id_pdc_itinerance, id_pdc_local, station_id, puissance_nominale, prise_type_ef,
                prise_type_2, prise_type_combo_ccs, prise_type_chademo, prise_type_autre, gratuit,
                paiement_acte, paiement_cb, paiement_autre, tarification, reservation,
                cable_t2_attache, observations, import_fp)
            SELECT id_pdc_itinerance, id_pdc_local, station_id, puissance_nominale, prise_type_ef,
                   prise_type_2, prise_type_combo_ccs, prise_type_chademo, prise_type_autre,
                   gratuit,
                   paiement_acte, paiement_cb, paiement_autre, tarification, reservation,
                   cable_t2_attache, observations, point_fp
            FROM import_point_diff WHERE existing_id IS NULL
            -- In key order, the unique index on id_pdc_itinerance grows at its right edge
            -- instead of taking each row on a random leaf page: ~2.3 s -> ~1.8 s for 157k new
            -- points, sort included (the diff comes out of hash joins, in no useful order).
            ORDER BY id_pdc_itinerance;
            GET DIAGNOSTICS inserted = ROW_COUNT;

            UPDATE charge_points cp SET
                id_pdc_local = d.id_pdc_local, station_id = d.station_id,
                puissance_nominale = d.puissance_nominale, prise_type_ef = d.prise_type_ef,
                prise_type_2 = d.prise_type_2, prise_type_combo_ccs = d.prise_type_combo_ccs,
                prise_type_chademo = d.prise_type_chademo, prise_type_autre = d.prise_type_autre,
                gratuit = d.gratuit, paiement_acte = d.paiement_acte, paiement_cb = d.paiement_cb,
                paiement_autre = d.paiement_autre, tarification = d.tarification,
                reservation = d.reservation, cable_t2_attache = d.cable_t2_attache,
                observations = d.observations, import_fp = d.point_fp, withdrawn_at = NULL,
                updated_at = now()
            FROM import_point_diff d
            WHERE d.changed AND cp.id = d.existing_id;
            -- An unchanged point whose row was hashed differently before (as for stations).
            UPDATE charge_points cp SET import_fp = d.point_fp
            FROM import_point_diff d
            WHERE NOT d.changed AND d.new_fp AND cp.id = d.existing_id;
            SELECT count(*) INTO updated FROM import_point_diff
            WHERE existing_id IS NOT NULL AND (changed OR station_changed);
            -- A skipped row whose station another row changed counts as updated, as it would
            -- have parsed.
            IF EXISTS (SELECT 1 FROM import_station_diff WHERE changed) THEN
                updated := updated + (SELECT count(*) FROM import_points p
                                      JOIN import_station_diff sd USING (id_station_itinerance)
                                      WHERE p.skipped AND sd.changed);
            END IF;
        END IF;
        SELECT count(*) INTO total FROM import_points;
    END IF;
    unchanged := total - inserted - updated;

    -- 5. A full national snapshot: points missing from it are withdrawn (never deleted: a
    --    reservation history may point to them). A point whose row is in the file but was
    --    rejected (import_rejects, stored before the merge) is not missing: it keeps what
    --    the network holds, as it would in a partial import.
    withdrawn := 0;
    -- (A first load has nothing to withdraw: every point and station came with the file.)
    IF p_full AND NOT first_load THEN
        CREATE TEMP TABLE import_withdrawn ON COMMIT DROP AS
        SELECT cp.id FROM charge_points cp
        WHERE cp.withdrawn_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM import_points p
                          WHERE p.id_pdc_itinerance = cp.id_pdc_itinerance)
          AND NOT EXISTS (SELECT 1 FROM import_rejects r
                          WHERE r.job_id = p_job AND r.severity = 'rejected'
                            AND r.id_pdc_itinerance = cp.id_pdc_itinerance);
        -- Their open bookings end with them (the trigger of 0035). Those bookings' rows are
        -- locked before these points', the order of a booking transition and of the sweeper.
        -- The points changed above are locked already: a deadlock with a booking on one of
        -- them stays possible, and the engine runs the merge again if it is the victim
        -- (wattsup/importer/engine.py _merge).
        PERFORM 1 FROM reservations r JOIN import_withdrawn w ON w.id = r.charge_point_id
         WHERE r.status IN ('reserved', 'charging')
         ORDER BY r.id FOR UPDATE OF r;
        UPDATE charge_points cp SET withdrawn_at = now(), updated_at = now()
        FROM import_withdrawn w WHERE cp.id = w.id;
        GET DIAGNOSTICS withdrawn = ROW_COUNT;
        DROP TABLE import_withdrawn;
    END IF;
    -- A station left with no point in service list is withdrawn too.
    IF NOT first_load THEN
        UPDATE stations s SET withdrawn_at = now(), updated_at = now()
        WHERE s.withdrawn_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM charge_points cp
                          WHERE cp.station_id = s.id AND cp.withdrawn_at IS NULL);
    END IF;

    PERFORM set_config('default_statistics_target', stats_target, true);
    IF NOT p_refresh THEN
        -- A rebuild left pending by a process that died after its commit is done now too.
        IF inserted + updated + withdrawn > 0 OR (SELECT derived_pending FROM app_meta) THEN
            PERFORM analyze_network();  -- the rebuild's plans need the new row counts
            UPDATE app_meta SET derived_pending = true;
        END IF;
    ELSIF inserted + updated + withdrawn > 0 THEN
        PERFORM refresh_after_import();
    END IF;
    DROP TABLE import_points, import_dups, import_superseded;
    DROP TABLE IF EXISTS import_stations, import_station_diff, import_point_diff,
        import_dup_stations, import_dup_station_rows, import_dup_station_src;
END;
$$;
