"""An import's derived tile tables rebuilt after its commit, two chains at once

Revision ID: 0025
Revises: 0024

sql/schema/0025_derived_after_commit.sql: app_meta.derived_pending, and the rebuild of the
derived tile tables split into two chains that can run on two connections at once
(refresh_derived_clusters(), refresh_derived_facets()) and the step that ends it
(refresh_derived_done(): the data version, nothing pending); refresh_after_import() runs the
three in one transaction. sql/import/merge.sql, re-applied here: import_merge() takes
p_refresh (default true, the rebuild in its own transaction as before), which the importer
passes as false. The downgrade puts 0015's refresh_after_import() back; import_merge()'s
default keeps its old behaviour there.
"""

from wattsup.migrations import run_sql_file

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0025_derived_after_commit.sql")
    run_sql_file("import/merge.sql")


def downgrade() -> None:
    run_sql_file("schema/0025_derived_after_commit_down.sql")
