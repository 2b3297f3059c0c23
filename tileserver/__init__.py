"""The tile server: MVT tiles from PostGIS functions, cached in Redis, TileJSON and style."""
