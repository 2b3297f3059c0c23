"""Import fingerprints: a re-import skips the rules for the rows it imported as they are

Revision ID: 0020
Revises: 0019

charge_points.import_fp and stations.import_fp hold the hashes of the raw cells that wrote
them (sql/schema/0020_import_fingerprints.sql says what and why); triggers clear them when
an admin edits the IRVE fields. sql/import/merge.sql, re-applied here, stages skipped rows
and stores the hashes. Downgrade drops the triggers and forgets the hashes; the columns stay
for the merge that 0001 installs (see the down file).
"""

from wattsup.migrations import run_sql_file

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0020_import_fingerprints.sql")
    run_sql_file("import/merge.sql")


def downgrade() -> None:
    run_sql_file("schema/0020_import_fingerprints_down.sql")
