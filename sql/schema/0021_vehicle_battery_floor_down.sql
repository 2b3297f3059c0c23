ALTER TABLE vehicles DROP CONSTRAINT vehicles_battery_kwh_check,
    ADD CONSTRAINT vehicles_battery_kwh_check CHECK (battery_kwh > 0 AND battery_kwh <= 300);
