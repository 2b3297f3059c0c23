-- Back to 0005's view: one line per spelling.
CREATE OR REPLACE VIEW analytics.points_by_operator AS
SELECT s.operateur,
       count(DISTINCT s.station_id)::integer AS stations,
       count(p.id)::integer                  AS points,
       (count(p.id) FILTER (WHERE p.operational_status = 'in_service'))::integer
           AS points_in_service
FROM analytics.stations s
JOIN charge_points p ON p.station_id = s.station_id AND p.withdrawn_at IS NULL
GROUP BY s.operateur
ORDER BY points DESC, s.operateur;
COMMENT ON VIEW analytics.points_by_operator IS 'Stations and points (not withdrawn) by operator.';
