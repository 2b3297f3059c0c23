"""Faster import merge: re-apply sql/import/merge.sql to databases migrated before it changed

Revision ID: 0009
Revises: 0008

Migration 0001 applies sql/import/merge.sql, so a new database gets the current merge; this
one brings an existing database to it. The function's contract (staging table, arguments,
counters) is unchanged, so there is nothing to undo on downgrade: the current merge stays.
"""

from wattsup.migrations import run_sql_file

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("import/merge.sql")


def downgrade() -> None:
    pass
