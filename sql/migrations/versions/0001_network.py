"""The IRVE network: operators, stations, charging points, communes, import jobs.

Revision ID: 0001
Revises:
"""

from wattsup.migrations import load_communes, run_sql_file

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0001_network.sql")
    run_sql_file("import/merge.sql")
    load_communes()


def downgrade() -> None:
    run_sql_file("schema/0001_network_down.sql")
