DROP FUNCTION IF EXISTS tiles.refresh_cells_of_station(uuid);
DROP FUNCTION IF EXISTS tiles.refresh_cells_at(double precision, double precision);
