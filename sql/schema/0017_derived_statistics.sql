-- Statistics of the derived tile tables on a small sample, as analyze_network() does for the
-- network (0012) and refresh_station_cards() for the cards (0015).
--
-- refresh_clusters() and refresh_facets() end with a plain ANALYZE of what they rebuilt:
-- at the default target (100, a 30,000-row sample) that was 108 ms for tiles.clusters and
-- 118 ms for tiles.point_facets on the national data, together ~4% of a first import. The
-- planner needs little from them (the cluster tiles look cells up by zoom and cell, the
-- filtered clusters are hash plans over a bounding box), so a 9,000-row sample (target 30)
-- does: 25 ms and 30 ms. Per-column targets, kept by the tables (the rebuilds drop indexes and
-- constraints, never columns), so the functions need not change.
ALTER TABLE tiles.clusters
    ALTER COLUMN zoom SET STATISTICS 30, ALTER COLUMN cell_x SET STATISTICS 30,
    ALTER COLUMN cell_y SET STATISTICS 30, ALTER COLUMN geom SET STATISTICS 30,
    ALTER COLUMN stations SET STATISTICS 30, ALTER COLUMN charge_points SET STATISTICS 30,
    ALTER COLUMN max_power_kw SET STATISTICS 30, ALTER COLUMN expansion_zoom SET STATISTICS 30;
ALTER TABLE tiles.point_facets
    ALTER COLUMN point_id SET STATISTICS 30, ALTER COLUMN station_id SET STATISTICS 30,
    ALTER COLUMN geom SET STATISTICS 30, ALTER COLUMN px SET STATISTICS 30,
    ALTER COLUMN py SET STATISTICS 30, ALTER COLUMN power_kw SET STATISTICS 30,
    ALTER COLUMN bits SET STATISTICS 30, ALTER COLUMN opening SET STATISTICS 30;
