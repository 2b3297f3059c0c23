"""Booking transitions as SQL functions (one round trip per transition)

Revision ID: 0011
Revises: 0010

Adds booking_reserve/claim/start/stop/cancel/finish of sql/schema/0011_booking.sql; the
tables, indexes and triggers of 0004 are unchanged and stay the last word on double bookings.
"""

from wattsup.migrations import run_sql_file

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0011_booking.sql")


def downgrade() -> None:
    run_sql_file("schema/0011_booking_down.sql")
