"""Reservations, charger sessions and their OCPP event log

Revision ID: 0004
Revises: 0003
"""

from wattsup.migrations import run_sql_file

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0004_reservations.sql")


def downgrade() -> None:
    run_sql_file("schema/0004_reservations_down.sql")
