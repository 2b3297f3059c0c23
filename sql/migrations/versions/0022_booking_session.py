"""The booking transitions check the session in their own statement

Revision ID: 0022
Revises: 0021

booking_session_user(user, token_version): the user lookup every signed-in request makes,
as a function the booking statements call first, so that a booking request is one round
trip to PostgreSQL instead of two (see the SQL file).
"""

from wattsup.migrations import run_sql_file

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0022_booking_session.sql")


def downgrade() -> None:
    run_sql_file("schema/0022_booking_session_down.sql")
