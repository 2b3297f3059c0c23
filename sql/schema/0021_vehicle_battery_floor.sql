-- A vehicle's battery holds at least 1 kWh, as the API and the page say: the old rule
-- (> 0) let 5e-324 kWh in, a charge that ends as it starts. A stored smaller one becomes 1.
UPDATE vehicles SET battery_kwh = 1 WHERE battery_kwh < 1;
ALTER TABLE vehicles DROP CONSTRAINT vehicles_battery_kwh_check,
    ADD CONSTRAINT vehicles_battery_kwh_check CHECK (battery_kwh >= 1 AND battery_kwh <= 300);
