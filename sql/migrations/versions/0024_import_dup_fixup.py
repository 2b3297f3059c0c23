"""A first load's tail reads the wide staging table twice instead of eight times

Revision ID: 0024
Revises: 0023

sql/import/merge.sql, re-applied here (as 0019, 0020 and 0023 did): after a pipelined first
load, import_merge() copies the rows of the ids the batches noted as repeated, then the rows
of their stations, into two small tables and puts the duplicated points and their stations
right from those; the rows staged are counted batch by batch; and a batch's stations look
their commune up only when a row lacks its name or postcode. Same network, counters and
rejects (tests/test_import.py compares it with the merge of the whole file at the end);
import_merge()'s contract is unchanged, so the downgrade has nothing to undo.
"""

from wattsup.migrations import run_sql_file

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("import/merge.sql")


def downgrade() -> None:
    pass
