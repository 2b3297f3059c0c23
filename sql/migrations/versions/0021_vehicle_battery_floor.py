"""A vehicle's battery holds at least 1 kWh

Revision ID: 0021
Revises: 0020

The API and the page took 1 kWh as the floor in words only: the check was > 0, and the
stateful fuzzing stored 5e-324 kWh, whose charge is over before a driver can stop it.
Downgrade puts back the old check (the rows raised to 1 kWh stay).
"""

from wattsup.migrations import run_sql_file

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0021_vehicle_battery_floor.sql")


def downgrade() -> None:
    run_sql_file("schema/0021_vehicle_battery_floor_down.sql")
