"""Driver: saved filter profiles

Revision ID: 0008
Revises: 0007
"""

from wattsup.migrations import run_sql_file

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0008_filter_profiles.sql")


def downgrade() -> None:
    run_sql_file("schema/0008_filter_profiles_down.sql")
