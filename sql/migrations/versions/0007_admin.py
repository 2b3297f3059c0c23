"""Admin edits: exact cluster refresh of the cells a station touches

Revision ID: 0007
Revises: 0006
"""

from wattsup.migrations import run_sql_file

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0007_admin.sql")


def downgrade() -> None:
    run_sql_file("schema/0007_admin_down.sql")
