-- The derived tile tables of an import are rebuilt after its network data commits, on two
-- connections at once, instead of inside its transaction on one core.
--
-- Why: a first load spends ~1.5 s rebuilding tiles.clusters, tiles.point_facets and
-- tiles.station_cards after its last row, one statement at a time, while the importing
-- process waits and the second core idles. The clusters read only the network tables; the
-- facets and then the station cards (which read the facets) are the other chain: run side by
-- side they take ~1 s (national synthetic file, 2 cores).
--
-- What it costs, and how it is bounded:
-- - For about a second after an import commits, tiles are drawn from the previous derived
--   tables (a reader waits on a table being rebuilt, as it waited on the import before). The
--   data version moves only once the rebuild is in (refresh_derived_done()), so no tile
--   drawn in between is cached under the new version.
-- - A process that dies between the two leaves app_meta.derived_pending set. Whoever runs
--   next repairs it: the next import (its merge counts a pending rebuild as a change) and the
--   API's sweeper (api/scheduler.py), which runs refresh_after_import() under the import lock
--   when no import is running.

ALTER TABLE app_meta ADD COLUMN derived_pending boolean NOT NULL DEFAULT false;

-- One of the two chains: the clusters (network tables only).
CREATE FUNCTION refresh_derived_clusters() RETURNS void
LANGUAGE plpgsql SET work_mem = '256MB' AS $$
BEGIN
    PERFORM tiles.refresh_clusters();
END;
$$;

-- The other chain: the facets, then the station cards (which read the facets).
CREATE FUNCTION refresh_derived_facets() RETURNS void
LANGUAGE plpgsql SET work_mem = '256MB' AS $$
BEGIN
    PERFORM tiles.refresh_facets();
    PERFORM tiles.refresh_station_cards();
END;
$$;

-- After both chains committed: the new data version (cached tiles of the old one are left to
-- expire), nothing pending any more, and the imports whose tiles were waiting done (the one
-- that rebuilt them, or one whose process died before: their SSE feeds end there).
CREATE FUNCTION refresh_derived_done() RETURNS void
LANGUAGE sql AS $$
    UPDATE app_meta SET data_version = data_version + 1, data_changed_at = now(),
        derived_pending = false;
    UPDATE import_jobs SET phase = 'done' WHERE status = 'succeeded' AND phase = 'refreshing';
$$;

-- The whole refresh in one transaction, one step after the other: the repair of a pending
-- rebuild, and an import_merge() asked to refresh in its own transaction.
CREATE OR REPLACE FUNCTION refresh_after_import() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analyze_network();
    PERFORM refresh_derived_clusters();
    PERFORM refresh_derived_facets();
    PERFORM refresh_derived_done();
END;
$$;
