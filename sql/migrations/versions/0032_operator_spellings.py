"""Points by operator: one line per operator, whatever the case of its name

Revision ID: 0032
Revises: 0031

sql/schema/0032_operator_spellings.sql: analytics.points_by_operator groups the operator's
name folded to lower case (the national file spells some operators two ways).
"""

from wattsup.migrations import run_sql_file

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0032_operator_spellings.sql")


def downgrade() -> None:
    run_sql_file("schema/0032_operator_spellings_down.sql")
