"""A full snapshot no longer withdraws the points whose rows it rejected

Revision ID: 0031
Revises: 0030

Re-applies sql/import/merge.sql (as 0009 did): a point whose row is in a full snapshot but
was rejected (a typo in its power, say) was treated as missing from the file and withdrawn,
its booking cancelled; it now keeps what the network holds. The function's contract is
unchanged, so there is nothing to undo on downgrade: the current merge stays.
"""

from wattsup.migrations import run_sql_file

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("import/merge.sql")


def downgrade() -> None:
    pass
