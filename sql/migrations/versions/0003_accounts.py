"""Accounts: users, sessions, vehicles, password resets, filter profiles

Revision ID: 0003
Revises: 0002
"""

from wattsup.migrations import run_sql_file

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0003_accounts.sql")


def downgrade() -> None:
    run_sql_file("schema/0003_accounts_down.sql")
