"""Import fingerprints: a re-import skips the rules for the rows it imported as they are

Revision ID: 0020
Revises: 0019

charge_points.import_fp and stations.import_fp hold the hashes of the raw cells that wrote
them (sql/schema/0020_import_fingerprints.sql says what and why); triggers clear them when
an admin edits the IRVE fields. sql/import/merge.sql, re-applied here, declares the columns,
stages skipped rows and stores the hashes; a first load's points now go in batch by batch too
(import_insert_points(rows[, only]) and import_rebuild_keys() replace import_insert_points()).
Downgrade drops the triggers and forgets the hashes; the columns stay for the merge that 0001
installs (see the down file).
"""

from wattsup.migrations import run_sql_file

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("import/merge.sql")  # first: it declares the columns the triggers clear
    run_sql_file("schema/0020_import_fingerprints.sql")


def downgrade() -> None:
    run_sql_file("schema/0020_import_fingerprints_down.sql")
