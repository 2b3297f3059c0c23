"""The charger's log of a booking is a column of the booking (reservations.events)

Revision ID: 0029
Revises: 0028

sql/schema/0029_booking_event_log.sql: reservations.events (jsonb array of {at, message,
payload}) filled from reservation_events, which becomes a view over it; every function that
logged rows appends to the column in the statement of its transition. The downgrade puts the
table back, filled from the column, and 0027's functions.
"""

from wattsup.migrations import run_sql_file

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0029_booking_event_log.sql")


def downgrade() -> None:
    run_sql_file("schema/0029_booking_event_log_down.sql")
