"""A full car is SuspendedEV before it is unplugged

Revision ID: 0033
Revises: 0032

sql/schema/0033_suspended_ev.sql: a charge has full_at (the battery at its target) and ends
two simulated minutes later; the log has SuspendedEV at full_at, the sweep moves the
connector to SuspendedEV, and the receipt's average power is over the charging time. The
downgrade puts 0030's functions back.
"""

from wattsup.migrations import run_sql_file

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0033_suspended_ev.sql")


def downgrade() -> None:
    run_sql_file("schema/0033_suspended_ev_down.sql")
