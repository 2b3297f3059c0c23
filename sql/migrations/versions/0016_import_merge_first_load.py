"""Import merge: the first-load path and the narrower point diff, re-applied to databases
migrated before

Revision ID: 0016
Revises: 0015

Migration 0001 applies sql/import/merge.sql, so a new database gets the current merge; this
one brings an existing database to it (as 0009 and 0010 did). The function's contract
(staging table, arguments, counters) is unchanged, so there is nothing to undo on
downgrade: the current merge stays.
"""

from wattsup.migrations import run_sql_file

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("import/merge.sql")


def downgrade() -> None:
    pass
