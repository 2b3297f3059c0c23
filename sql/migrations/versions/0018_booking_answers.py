"""Booking transitions answered in one statement

Revision ID: 0018
Revises: 0017

booking_reserve_answer / _start_answer / _stop_answer / _cancel_answer run the 0011
transition and read, in the same statement, the booking with its charger log, the receipt's
inputs, the tiles to invalidate and the data version (type booking_answer); the API sends
each one outside a transaction, so it is its own. A partial index finds completed charges
still without a receipt for the sweeper; sweep_reservations() keeps its generic plan
(it was re-planned on every call). Downgrade drops and resets them (0011's functions stay).
"""

from wattsup.migrations import run_sql_file

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0018_booking_answers.sql")


def downgrade() -> None:
    run_sql_file("schema/0018_booking_answers_down.sql")
