"""Vector tiles: tile functions and precomputed clusters

Revision ID: 0002
Revises: 0001
"""

from wattsup.migrations import run_sql_file

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0002_tiles.sql")


def downgrade() -> None:
    run_sql_file("schema/0002_tiles_down.sql")
