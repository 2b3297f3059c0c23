"""Driver features: saved filter profiles

Revision ID: 0006
Revises: 0005
"""

from wattsup.migrations import run_sql_file

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0006_driver.sql")


def downgrade() -> None:
    run_sql_file("schema/0006_driver_down.sql")
