"""The inline sweep of a booking transition only when something is due

Revision ID: 0026
Revises: 0025

sql/schema/0026_booking_fast_paths.sql: booking_sweep(), which asks whether an open booking of
the point or driver is past its end and calls sweep_reservations() only then;
booking_reserve() and booking_claim() use it. The downgrade puts 0011's bodies back.
"""

from wattsup.migrations import run_sql_file

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0026_booking_fast_paths.sql")


def downgrade() -> None:
    run_sql_file("schema/0026_booking_fast_paths_down.sql")
