"""Charge physics in the database: a start and a stop are one statement each

Revision ID: 0027
Revises: 0026

sql/schema/0027_charge_physics.sql: the formulas of api/charger_sim.py as SQL functions
(charge_hours_to, charge_soc_at, charge_power_at, charge_energy_kwh, charge_meter_values),
charge_plan() and booking_start(p_rid), which draw a charge's plan from its point and car, a
three-argument booking_start_answer() that uses them, and a trigger that writes an ended
charge's closing log and receipt (booking_close_charge) in the statement that ends it. The
downgrade drops them; 0026's functions were left in place.
"""

from wattsup.migrations import run_sql_file

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0027_charge_physics.sql")


def downgrade() -> None:
    run_sql_file("schema/0027_charge_physics_down.sql")
