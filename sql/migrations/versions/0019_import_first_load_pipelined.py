"""Import merge: the first load pipelined with the parse, re-applied to databases migrated
before

Revision ID: 0019
Revises: 0018

sql/import/merge.sql gained import_first_load_begin(), import_first_load_batch() and
import_upsert_stations(), and import_station_rows(), import_drop_keys() and
import_insert_points() that its paths share: into an empty network, each batch's stations
are upserted while Python parses the next batch; import_merge() then inserts the points in
one statement and puts right what a batch could not know (stations whose last rows were
superseded duplicates). Migration 0001 applies the current file to a new database; this one
brings an existing database to it (as 0009 and 0016 did). import_merge()'s contract (staging table, arguments, counters) is
unchanged, so there is nothing to undo on downgrade: the current merge stays, and 0001's
downgrade drops it all.
"""

from wattsup.migrations import run_sql_file

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("import/merge.sql")


def downgrade() -> None:
    pass
