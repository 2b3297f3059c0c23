-- A driver's saved map filters ("my car": Combo CCS, 50 kW and more, available now…).
CREATE TABLE filter_profiles (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 60),
    -- The tile filters as the tile server reads them (tileserver/filters.py TileFilters).
    filters     jsonb NOT NULL CHECK (jsonb_typeof(filters) = 'object'),
    vehicle_id  uuid REFERENCES vehicles(id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, name)
);
CREATE INDEX filter_profiles_user ON filter_profiles (user_id);
