-- Reservations, charger sessions and their OCPP event log (placeholder until this part lands)
SELECT 1;
