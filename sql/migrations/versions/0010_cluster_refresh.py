"""Hierarchical cluster refresh: each zoom aggregated from the zoom below it

Revision ID: 0010
Revises: 0009

tiles.refresh_clusters() and tiles.refresh_cells_at() replaced (CREATE OR REPLACE) by the
versions of sql/schema/0010_cluster_refresh.sql; the clusters already stored are recomputed
by the new rule. Downgrade puts back the functions of 0002/0007 and recomputes them again.

It also re-applies sql/import/merge.sql (new points inserted in key order), like 0009: same
contract, so on downgrade the current merge stays.
"""

from wattsup.migrations import run_sql_file

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0010_cluster_refresh.sql")
    run_sql_file("import/merge.sql")


def downgrade() -> None:
    run_sql_file("schema/0010_cluster_refresh_down.sql")
