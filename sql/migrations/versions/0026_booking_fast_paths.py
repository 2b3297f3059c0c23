"""Booking transitions: the inline sweep only when due; the tiles computed by the API

Revision ID: 0026
Revises: 0025

sql/schema/0026_booking_fast_paths.sql: booking_sweep(), which asks whether an open booking of
the point or driver is past its end and calls sweep_reservations() only then, used by
booking_reserve() and booking_claim(); the booking_answer type gains station_xy and the
*_answer functions p_tiles (default true, the tiles as before; false: the changed stations'
positions, from which the API computes the tiles). The downgrade puts back 0011's
booking_reserve() and booking_claim() and 0018's answer functions and type.
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
