"""Derived tile tables: a whole rebuild of the clusters and facets in less time

Revision ID: 0023
Revises: 0022

tiles.refresh_clusters() reads each zoom from the one below only and builds its key once;
tiles.refresh_facets() reads the view tiles.facet_rows with a parallel CREATE TABLE AS. Same
rows as before (see the SQL file).
"""

from wattsup.migrations import run_sql_file

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0023_derived_refresh.sql")


def downgrade() -> None:
    run_sql_file("schema/0023_derived_refresh_down.sql")
