-- "Open now": each station's weekly opening, parsed once from `horaires`, tested per tile.
--
-- stations.opening_week is a bitmap of the week in the station's local time: 7 days x 96
-- quarter-hours, bit 0 (leftmost) = Monday 00:00-00:15, bit 671 = Sunday 23:45-24:00; NULL
-- when the hours are unknown (empty or not in the syntax below). stations.time_zone is the
-- station's IANA zone. Both are STORED generated columns: the import merge, the importer and
-- the admin edits write `horaires` / `code_insee_commune` as before and PostgreSQL derives
-- the rest (a change of parse_opening_hours() needs a migration that re-adds the columns).
--
-- A station is open at an instant when the bit of the instant's quarter-hour (local time) is
-- set: "open now" is decided at the start of the current quarter-hour, so a filtered tile
-- is the same for the whole quarter (the tile server keys its cache by quarter-hour).
-- Filters: open_now=true requires open, false requires closed; unknown hours match neither
-- (as every yes/no filter). The instant is the filter's `at` (the tile server sends the
-- start of the quarter it keys the cache with), else tiles.now().
--
-- Filtered clusters (0012) scan tiles.point_facets: a week bitmap per point would double
-- that narrow row, so each point carries the id of its station's (week, zone) pair in
-- tiles.opening_classes instead (a few hundred pairs at most), and a tile first decides which
-- classes are open at its instant, then tests one array element per point.

-- The subset of the OSM opening_hours syntax the IRVE schema asks for, and what is found in
-- its files:
--   24/7 | rule (';' rule)*          a rule overrides the days it names (OSM "normal rule")
--   rule  = [days] [times | 'off' | 'closed' | '24/7']
--   days  = day['-'day] (',' day['-'day])*     day = Mo Tu We Th Fr Sa Su (Fr-Mo wraps)
--   times = hh:mm-hh:mm ([','] hh:mm-hh:mm)*   end <= start runs past midnight; 24:00 ends a day
--   ', ' before a day starts an additional rule (adds to what is open, as in the schema's
--   own example "Mo-Fr 08:00-12:00,Mo-Fr 14:00-18:00,Th 08:00-18:00").
-- No days = every day; days without times = all day; PH/SH (holidays) rules are ignored (the
-- calendar is not modelled). Anything else (months, dates, sunrise, free text, 25:00) makes
-- the whole value unknown: NULL. `always` (stations.is_24_7, which also recognises "24h/24")
-- gives a week fully open, so open_24_7=true stations are always open now.
-- A quarter-hour is open when the station is open at its start: 08:05-19:50 opens at 08:15
-- and the 19:45 quarter is open.
CREATE FUNCTION parse_opening_hours(horaires text, always boolean DEFAULT false)
RETURNS bit(672) LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    names constant text[] := ARRAY['mo', 'tu', 'we', 'th', 'fr', 'sa', 'su'];
    zero_day constant text := repeat('0', 96);
    full_day constant bit(96) := repeat('1', 96)::bit(96);
    tok text[];
    n integer;
    i integer := 1;
    week bit(672) := repeat('0', 672)::bit(672);
    rules integer := 0;
    additional boolean := false;
    next_additional boolean;
    days boolean[];
    weekdays boolean;
    day_bits bit(96);
    spill bit(96);
    has_times boolean;
    is_off boolean;
    d1 integer;
    d2 integer;
    t1 integer;
    t2 integer;
    a integer;
    b integer;
    mask_all text;
    mask_day text;
    mask_spill text;
BEGIN
    IF always THEN
        RETURN repeat('1', 672)::bit(672);
    END IF;
    IF horaires IS NULL OR btrim(horaires) = '' THEN
        RETURN NULL;
    END IF;
    tok := ARRAY(SELECT lower(m[1]) FROM regexp_matches(
        horaires, '(24/7|[A-Za-z]+|\d{1,2}:\d{2}|[-,;]|\S)', 'g') AS m);
    n := cardinality(tok);
    WHILE i <= n LOOP
        IF tok[i] = ';' THEN  -- an empty rule
            i := i + 1;
            additional := false;
            CONTINUE;
        END IF;
        days := NULL;
        weekdays := false;
        day_bits := repeat('0', 96)::bit(96);
        spill := day_bits;
        has_times := false;
        is_off := false;
        -- Day selector.
        IF tok[i] = ANY (names) OR tok[i] IN ('ph', 'sh') THEN
            days := array_fill(false, ARRAY[7]);
            LOOP
                IF tok[i] IN ('ph', 'sh') THEN
                    i := i + 1;
                ELSIF tok[i] = ANY (names) THEN
                    d1 := array_position(names, tok[i]);
                    d2 := d1;
                    i := i + 1;
                    IF tok[i] = '-' THEN
                        d2 := array_position(names, tok[i + 1]);
                        IF d2 IS NULL THEN
                            RETURN NULL;
                        END IF;
                        i := i + 2;
                    END IF;
                    weekdays := true;
                    LOOP
                        days[d1] := true;
                        EXIT WHEN d1 = d2;
                        d1 := d1 % 7 + 1;
                    END LOOP;
                ELSE
                    RETURN NULL;
                END IF;
                EXIT WHEN tok[i] IS DISTINCT FROM ','
                    OR NOT coalesce(tok[i + 1] = ANY (names) OR tok[i + 1] IN ('ph', 'sh'), false);
                i := i + 1;
            END LOOP;
        END IF;
        -- Times, off, or 24/7.
        IF tok[i] = '24/7' THEN
            has_times := true;
            day_bits := full_day;
            i := i + 1;
        ELSIF tok[i] IN ('off', 'closed') THEN
            is_off := true;
            i := i + 1;
        ELSE
            WHILE coalesce(tok[i] ~ '^\d', false) LOOP
                IF tok[i + 1] IS DISTINCT FROM '-' OR NOT coalesce(tok[i + 2] ~ '^\d', false) THEN
                    RETURN NULL;
                END IF;
                t1 := split_part(tok[i], ':', 1)::integer * 60 + split_part(tok[i], ':', 2)::integer;
                t2 := split_part(tok[i + 2], ':', 1)::integer * 60
                      + split_part(tok[i + 2], ':', 2)::integer;
                IF split_part(tok[i], ':', 1)::integer > 23 OR split_part(tok[i], ':', 2)::integer > 59
                   OR split_part(tok[i + 2], ':', 2)::integer > 59 OR t2 > 1440 THEN
                    RETURN NULL;
                END IF;
                a := ceil(t1 / 15.0)::integer;
                b := ceil(t2 / 15.0)::integer;
                IF t2 > t1 THEN
                    IF b > a THEN
                        day_bits := day_bits | (repeat('0', a) || repeat('1', b - a)
                                                || repeat('0', 96 - b))::bit(96);
                    END IF;
                ELSE  -- past midnight: the rest of the day, then the next morning
                    day_bits := day_bits | (repeat('0', a) || repeat('1', 96 - a))::bit(96);
                    spill := spill | (repeat('1', b) || repeat('0', 96 - b))::bit(96);
                END IF;
                has_times := true;
                i := i + 3;
                IF tok[i] = ',' AND coalesce(tok[i + 1] ~ '^\d', false) THEN
                    i := i + 1;
                END IF;
            END LOOP;
        END IF;
        IF days IS NULL AND NOT has_times AND NOT is_off THEN
            RETURN NULL;  -- neither days nor times: not a rule
        END IF;
        -- End of the rule: the end of the value, ';', or ',' before a day (additional rule).
        next_additional := false;
        IF i <= n THEN
            IF tok[i] = ';' THEN
                i := i + 1;
            ELSIF tok[i] = ',' AND coalesce(tok[i + 1] = ANY (names)
                                            OR tok[i + 1] IN ('ph', 'sh'), false) THEN
                next_additional := true;
                i := i + 1;
            ELSE
                RETURN NULL;
            END IF;
        END IF;
        IF days IS NULL OR weekdays THEN  -- a holidays-only rule changes nothing
            days := coalesce(days, array_fill(true, ARRAY[7]));
            IF NOT has_times AND NOT is_off THEN
                day_bits := full_day;
            END IF;
            mask_all := '';
            mask_day := '';
            mask_spill := '';
            FOR d1 IN 1 .. 7 LOOP
                mask_all := mask_all || CASE WHEN days[d1] THEN full_day::text ELSE zero_day END;
                mask_day := mask_day || CASE WHEN days[d1] THEN day_bits::text ELSE zero_day END;
                -- The spill of the day before (Sunday's spills into Monday).
                mask_spill := mask_spill
                    || CASE WHEN days[(d1 + 5) % 7 + 1] THEN spill::text ELSE zero_day END;
            END LOOP;
            IF is_off OR NOT additional THEN
                week := week & ~mask_all::bit(672);
            END IF;
            IF NOT is_off THEN
                week := week | mask_day::bit(672) | mask_spill::bit(672);
            END IF;
            rules := rules + 1;
        END IF;
        additional := next_additional;
    END LOOP;
    IF rules = 0 THEN
        RETURN NULL;
    END IF;
    RETURN week;
END;
$$;

-- The IANA zone of a station from its INSEE commune code: the overseas departments and
-- collectivities by their prefix, metropolitan France (and a missing code) Europe/Paris.
-- French Polynesia spans three zones; Tahiti's is used for all of it.
CREATE FUNCTION irve_time_zone(code_insee text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE left(code_insee, 3)
        WHEN '971' THEN 'America/Guadeloupe'
        WHEN '972' THEN 'America/Martinique'
        WHEN '973' THEN 'America/Cayenne'
        WHEN '974' THEN 'Indian/Reunion'
        WHEN '975' THEN 'America/Miquelon'
        WHEN '976' THEN 'Indian/Mayotte'
        WHEN '977' THEN 'America/St_Barthelemy'
        WHEN '978' THEN 'America/Marigot'
        WHEN '986' THEN 'Pacific/Wallis'
        WHEN '987' THEN 'Pacific/Tahiti'
        WHEN '988' THEN 'Pacific/Noumea'
        ELSE 'Europe/Paris' END
$$;

ALTER TABLE stations
    ADD COLUMN opening_week bit(672)
        GENERATED ALWAYS AS (parse_opening_hours(horaires, is_24_7)) STORED,
    ADD COLUMN time_zone text NOT NULL
        GENERATED ALWAYS AS (irve_time_zone(code_insee_commune)) STORED;

-- The clock of the "open now" filter: now(), unless the setting wattsup.now holds an
-- instant (tests and reproductions: SET wattsup.now = '2026-03-02 10:00+01').
CREATE FUNCTION tiles.now() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(nullif(current_setting('wattsup.now', true), '')::timestamptz, now())
$$;

-- The quarter-hour of the week (0 = Monday 00:00-00:15 local time) of an instant in a zone.
CREATE FUNCTION tiles.week_quarter(at timestamptz, time_zone text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (extract(isodow FROM l)::integer - 1) * 96 + extract(hour FROM l)::integer * 4
           + extract(minute FROM l)::integer / 15
    FROM (SELECT at AT TIME ZONE time_zone AS l) t
$$;

-- Open at that instant? NULL when the hours are unknown.
CREATE FUNCTION tiles.open_at(week bit(672), time_zone text, at timestamptz) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT get_bit(week, tiles.week_quarter(at, time_zone)) = 1
$$;

-- The filter type gains open_now and the instant it is decided at.
ALTER TYPE tiles.filter ADD ATTRIBUTE open_now boolean, ADD ATTRIBUTE at timestamptz;

-- STABLE now: the text -> timestamptz cast of `at` depends on the session's TimeZone when the
-- text has no offset (the tile server always sends one).
CREATE OR REPLACE FUNCTION tiles.parse_filter(f jsonb) RETURNS tiles.filter
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT ROW((f->>'min_power')::numeric,
               CASE WHEN f ? 'connectors' THEN
                   ARRAY(SELECT jsonb_array_elements_text(f->'connectors')) END,
               (f->>'free')::boolean, (f->>'pay_as_you_go')::boolean, (f->>'card')::boolean,
               (f->>'t2_cable')::boolean, (f->>'available_now')::boolean,
               (f->>'open_24_7')::boolean, (f->>'pmr')::boolean, (f->>'free_access')::boolean,
               (f->>'two_wheeler')::boolean, (f->>'open_now')::boolean,
               (f->>'at')::timestamptz)::tiles.filter
$$;

-- Does a charging point pass the filters? A NULL filter field means "no condition".
-- connectors: any of the listed types; booleans: true requires, false excludes.
-- STABLE now: open_now without `at` is decided at tiles.now().
CREATE OR REPLACE FUNCTION tiles.point_matches(cp charge_points, s stations, f tiles.filter)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT cp.withdrawn_at IS NULL
       AND (f.min_power IS NULL OR cp.puissance_nominale >= f.min_power)
       AND (f.connectors IS NULL OR
            ('ef' = ANY (f.connectors) AND cp.prise_type_ef) OR
            ('type_2' = ANY (f.connectors) AND cp.prise_type_2) OR
            ('combo_ccs' = ANY (f.connectors) AND cp.prise_type_combo_ccs) OR
            ('chademo' = ANY (f.connectors) AND cp.prise_type_chademo) OR
            ('autre' = ANY (f.connectors) AND cp.prise_type_autre))
       AND (f.free IS NULL OR cp.gratuit IS NOT DISTINCT FROM f.free)
       AND (f.pay_as_you_go IS NULL OR cp.paiement_acte IS NOT DISTINCT FROM f.pay_as_you_go)
       AND (f.card IS NULL OR cp.paiement_cb IS NOT DISTINCT FROM f.card)
       AND (f.t2_cable IS NULL OR cp.cable_t2_attache IS NOT DISTINCT FROM f.t2_cable)
       AND (f.available_now IS NULL OR NOT f.available_now OR tiles.point_available(cp))
       AND (f.open_24_7 IS NULL OR s.is_24_7 = f.open_24_7)
       AND (f.pmr IS NULL OR (s.accessibilite_pmr IN ('Réservé PMR',
            'Accessible mais non réservé PMR')) IS NOT DISTINCT FROM f.pmr)
       AND (f.free_access IS NULL OR (s.condition_acces = 'Accès libre')
            IS NOT DISTINCT FROM f.free_access)
       AND (f.two_wheeler IS NULL OR s.station_deux_roues IS NOT DISTINCT FROM f.two_wheeler)
       AND (f.open_now IS NULL OR tiles.open_at(s.opening_week, s.time_zone,
            coalesce(f.at, tiles.now())) IS NOT DISTINCT FROM f.open_now)
$$;

-- The distinct (week, zone) pairs of the listed stations; a point's facets carry its id.
CREATE TABLE tiles.opening_classes (
    id        integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    week      bit(672) NOT NULL,
    time_zone text NOT NULL,
    UNIQUE (week, time_zone)
);
ALTER TABLE tiles.point_facets ADD COLUMN opening integer;  -- NULL: hours unknown

-- As in 0012, plus the opening class of each point's station.
CREATE OR REPLACE FUNCTION tiles.refresh_facets(p_station uuid DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_station IS NULL THEN
        -- A whole rebuild: the indexes are built once after the rows, sorted (the spatial
        -- one ~3x faster than growing it row by row; with the two b-trees, 1.46 s -> 1.16 s
        -- for the national file).
        TRUNCATE tiles.point_facets;
        DROP INDEX tiles.point_facets_geom;
        DROP INDEX tiles.point_facets_station;
        ALTER TABLE tiles.point_facets DROP CONSTRAINT point_facets_pkey;
        TRUNCATE tiles.opening_classes RESTART IDENTITY;
    ELSE
        DELETE FROM tiles.point_facets WHERE station_id = p_station;
    END IF;
    INSERT INTO tiles.opening_classes (week, time_zone)
    SELECT DISTINCT s.opening_week, s.time_zone FROM stations s
    WHERE s.withdrawn_at IS NULL AND s.opening_week IS NOT NULL
      AND (p_station IS NULL OR s.id = p_station)
    ON CONFLICT DO NOTHING;
    INSERT INTO tiles.point_facets
    SELECT cp.id, s.id, s.geom, ST_X(s.geom), ST_Y(s.geom), cp.puissance_nominale,
           (CASE WHEN cp.prise_type_ef THEN 1 ELSE 0 END)
         | (CASE WHEN cp.prise_type_2 THEN 2 ELSE 0 END)
         | (CASE WHEN cp.prise_type_combo_ccs THEN 4 ELSE 0 END)
         | (CASE WHEN cp.prise_type_chademo THEN 8 ELSE 0 END)
         | (CASE WHEN cp.prise_type_autre THEN 16 ELSE 0 END)
         | tiles.tri(cp.gratuit, 32) | tiles.tri(cp.paiement_acte, 128)
         | tiles.tri(cp.paiement_cb, 512) | tiles.tri(cp.cable_t2_attache, 2048)
         | tiles.tri(s.is_24_7, 8192)
         | tiles.tri(s.accessibilite_pmr IN ('Réservé PMR', 'Accessible mais non réservé PMR'),
                     32768)
         | tiles.tri(s.condition_acces = 'Accès libre', 131072)
         | tiles.tri(s.station_deux_roues, 524288),
           oc.id
    FROM charge_points cp JOIN stations s ON s.id = cp.station_id
    LEFT JOIN tiles.opening_classes oc
           ON oc.week = s.opening_week AND oc.time_zone = s.time_zone
    WHERE cp.withdrawn_at IS NULL AND s.withdrawn_at IS NULL
      AND (p_station IS NULL OR s.id = p_station)
    -- Neighbours on neighbouring pages: a tile reads few pages at high zoom.
    ORDER BY ST_GeoHash(s.geom_4326, 8), s.id;
    IF p_station IS NULL THEN
        ALTER TABLE tiles.point_facets ADD CONSTRAINT point_facets_pkey PRIMARY KEY (point_id);
        CREATE INDEX point_facets_station ON tiles.point_facets (station_id);
        CREATE INDEX point_facets_geom ON tiles.point_facets USING gist (geom);
        ANALYZE tiles.point_facets;
    END IF;
END;
$$;

-- Which opening classes pass open_now at that instant: element i is class i's answer
-- (false for an unused id: no gaps, no NULLs, so a lookup is a direct offset), NULL when
-- open_now is not asked.
-- (Its own enable_sort: called from clusters_filtered, which turns sorts off, it would
-- otherwise cost a disabled sort and be JIT-compiled where JIT is on.)
CREATE FUNCTION tiles.open_classes(open_now boolean, at timestamptz) RETURNS boolean[]
LANGUAGE sql STABLE PARALLEL SAFE SET enable_sort = on AS $$
    SELECT CASE WHEN open_now IS NOT NULL THEN ARRAY(
        SELECT coalesce(tiles.open_at(oc.week, oc.time_zone, at) = open_now, false)
        FROM generate_series(1, (SELECT max(id) FROM tiles.opening_classes)) g
        LEFT JOIN tiles.opening_classes oc ON oc.id = g
        ORDER BY g) END
$$;

-- The clusters layer of a filtered tile (z <= cluster_max_zoom). Same cells, same counts and
-- same representative rule as the unfiltered clusters of 0002/0010 (the matching station
-- nearest the matching members' centroid; ties go to the westernmost, not the lowest id),
-- over the matching stations only. As in 0012, plus open_now (0013): one array element per point.
CREATE OR REPLACE FUNCTION tiles.clusters_filtered(z integer, x integer, y integer, ff tiles.filter)
RETURNS bytea LANGUAGE plpgsql STABLE PARALLEL SAFE
-- The planner cannot estimate the mask tests (it assumes 0.5% of rows match, then sorts
-- and loops where a quarter of France matches): hash joins and hash aggregates throughout,
-- which fit in memory; no parallel workers (their start-up costs more than they save on a
-- tile). A tile's bounds differ per call, so each call is planned for its own bounds (a
-- low-zoom tile scans the table, a high-zoom one uses the index).
SET work_mem = '64MB' SET enable_sort = off SET enable_nestloop = off
SET max_parallel_workers_per_gather = 0 SET plan_cache_mode = 'force_custom_plan'
AS $$
DECLARE
    bounds geometry := ST_TileEnvelope(z, x, y);
    n integer := tiles.cells_per_tile();
    cs double precision := tiles.cell_size(z);
    need integer := tiles.tri(ff.free, 32) | tiles.tri(ff.pay_as_you_go, 128)
        | tiles.tri(ff.card, 512) | tiles.tri(ff.t2_cable, 2048)
        | tiles.tri(ff.open_24_7, 8192) | tiles.tri(ff.pmr, 32768)
        | tiles.tri(ff.free_access, 131072) | tiles.tri(ff.two_wheeler, 524288);
    sockets integer := coalesce((
        SELECT bit_or(CASE c WHEN 'ef' THEN 1 WHEN 'type_2' THEN 2 WHEN 'combo_ccs' THEN 4
                             WHEN 'chademo' THEN 8 WHEN 'autre' THEN 16 ELSE 0 END)
        FROM unnest(ff.connectors) c), -1);
    min_power double precision := ff.min_power;
    available_only boolean := coalesce(ff.available_now, false);
    open_ok boolean[] := tiles.open_classes(ff.open_now, coalesce(ff.at, tiles.now()));
    mvt bytea;
BEGIN
    SELECT ST_AsMVT(t, 'clusters', tiles.extent(), 'geom') INTO mvt FROM (
        WITH unavailable AS MATERIALIZED (
            -- Live, and few: booked, charging, faulted or out of service (partial index).
            SELECT cp.id FROM charge_points cp
            WHERE cp.withdrawn_at IS NULL
              AND (cp.operational_status <> 'in_service' OR cp.connector_status <> 'Available')
        ), st AS MATERIALIZED (
            SELECT f.station_id AS id, min(f.px) AS px, min(f.py) AS py, count(*) AS points,
                   count(*) FILTER (WHERE u.id IS NULL) AS available,
                   max(f.power_kw) AS max_power
            FROM tiles.point_facets f LEFT JOIN unavailable u ON u.id = f.point_id
            WHERE f.geom && bounds
              AND (f.bits & need) = need
              AND (sockets = -1 OR (f.bits & sockets) <> 0)
              AND (min_power IS NULL OR f.power_kw >= min_power)
              AND (NOT available_only OR u.id IS NULL)
              AND (open_ok IS NULL OR open_ok[f.opening])
            GROUP BY f.station_id
        ), placed AS MATERIALIZED (
            SELECT st.*, floor((st.px + 20037508.342789244) / cs)::integer AS cx,
                   floor((20037508.342789244 - st.py) / cs)::integer AS cy
            FROM st
        ), cells AS MATERIALIZED (
            SELECT cx, cy, count(*) AS k, sum(points) AS points, sum(available) AS available,
                   max(max_power) AS max_power, avg(px) AS mx, avg(py) AS my,
                   min(px) AS xmin, min(py) AS ymin, max(px) AS xmax, max(py) AS ymax
            FROM placed
            WHERE cx BETWEEN x * n AND x * n + n - 1 AND cy BETWEEN y * n AND y * n + n - 1
            GROUP BY cx, cy
        ), best AS (
            -- The member nearest the centroid, by a hash aggregate rather than a sort:
            -- arrays compare element by element, so the smallest [distance, x, y] wins.
            SELECT p.cx, p.cy, min(ARRAY[(p.px - c.mx) ^ 2 + (p.py - c.my) ^ 2, p.px, p.py]) AS b
            FROM placed p JOIN cells c USING (cx, cy)
            GROUP BY p.cx, p.cy
        )
        SELECT ST_AsMVTGeom(ST_Point(b.b[2], b.b[3], 3857), bounds, tiles.extent(),
                            tiles.buffer(), true) AS geom,
               ((z::bigint << 40) | (c.cx::bigint << 20) | c.cy) AS cluster_id,
               -- Integers, as in the unfiltered tiles (a sum is numeric, which MVT writes as
               -- a string).
               c.k::integer AS point_count, tiles.abbreviate(c.k) AS point_count_abbreviated,
               c.k::integer AS stations, c.points::integer AS charge_points,
               c.available::integer AS available, c.max_power::float8 AS max_power_kw,
               tiles.expansion_zoom(z, c.xmin, c.ymin, c.xmax, c.ymax) AS expansion_zoom
        FROM cells c JOIN best b USING (cx, cy)
        ORDER BY c.k DESC
        LIMIT tiles.max_features()
    ) t;
    RETURN mvt;
END;
$$;

-- A database imported before this migration: its facets with their opening classes.
SELECT tiles.refresh_facets();
