-- Back to 0026: the API draws the plan and writes the closing log and receipt
-- (booking_finish, which 0027 left in place). Receipts written meanwhile stay.
CREATE INDEX reservations_unreceipted ON reservations (ended_at)
    WHERE status = 'completed' AND receipt IS NULL;
DROP TRIGGER reservations_close_charge ON reservations;
DROP FUNCTION reservations_close_charge();
DROP FUNCTION booking_close_charge(reservations);
DROP FUNCTION charge_meter_values(double precision, double precision, double precision,
                                  double precision, boolean, double precision, timestamptz,
                                  timestamptz);
DROP FUNCTION booking_start_answer(uuid, uuid, boolean);
DROP FUNCTION booking_start(uuid);
DROP FUNCTION charge_plan(double precision, text[], text[], double precision, double precision,
                          double precision, integer, double precision);
DROP FUNCTION charge_energy_kwh(double precision, double precision, double precision);
DROP FUNCTION charge_power_at(double precision, boolean, double precision, double precision);
DROP FUNCTION charge_soc_at(double precision, double precision, double precision,
                            double precision, boolean, double precision, double precision);
DROP FUNCTION charge_hours_to(double precision, double precision, double precision, boolean,
                              double precision);
