"""A first load in less time: the derived tile tables rebuilt zoom by zoom and in parallel,
the points' unique id kept up

Revision ID: 0023
Revises: 0022

tiles.refresh_clusters() reads each zoom from the one below only and builds its key once;
tiles.refresh_facets() reads the view tiles.facet_rows with a parallel CREATE TABLE AS. Same
rows as before (sql/schema/0023_derived_refresh.sql). sql/import/merge.sql, re-applied here
(as 0019 and 0020 did), keeps the unique key on charge_points.id_pdc_itinerance up during a
pipelined first load and notes the repeated ids batch by batch; import_merge()'s contract is
unchanged, so its downgrade has nothing to undo.
"""

from wattsup.migrations import run_sql_file

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0023_derived_refresh.sql")
    run_sql_file("import/merge.sql")


def downgrade() -> None:
    run_sql_file("schema/0023_derived_refresh_down.sql")
