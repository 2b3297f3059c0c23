-- One operator written two ways in the national file ("Bouygues Energies et Services" and
-- "BOUYGUES ENERGIES ET SERVICES") was two lines of the dashboard's "points by operator"
-- and of the BI view behind it. Grouped by the name folded to lower case and trimmed, it is
-- one line, under the spelling most of its points use.
CREATE OR REPLACE VIEW analytics.points_by_operator AS
SELECT mode() WITHIN GROUP (ORDER BY s.operateur) AS operateur,
       count(DISTINCT s.station_id)::integer AS stations,
       count(p.id)::integer                  AS points,
       (count(p.id) FILTER (WHERE p.operational_status = 'in_service'))::integer
           AS points_in_service
FROM analytics.stations s
JOIN charge_points p ON p.station_id = s.station_id AND p.withdrawn_at IS NULL
GROUP BY lower(btrim(s.operateur))
ORDER BY points DESC, operateur;
COMMENT ON VIEW analytics.points_by_operator IS
    'Stations and points (not withdrawn) by operator (names compared without case).';
