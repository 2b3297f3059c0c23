"""A point withdrawn ends its open booking, whoever withdraws it

Revision ID: 0035
Revises: 0034

sql/schema/0035_withdrawal_ends_bookings.sql: a trigger cancels the booking (or stops the
charge) of a point when it is withdrawn, as a full snapshot does to points its file no longer
lists; a booking made meanwhile is refused. Re-applies sql/import/merge.sql, which locks those
bookings before the points. The downgrade drops the trigger and puts 0033's connector trigger
function back; the merge stays (its locking is harmless without the trigger).
"""

from wattsup.migrations import run_sql_file

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0035_withdrawal_ends_bookings.sql")
    run_sql_file("import/merge.sql")


def downgrade() -> None:
    run_sql_file("schema/0035_withdrawal_ends_bookings_down.sql")
