"""The simulated charger closer to OCPP 1.6: live MeterValues, Unavailable out of service

Revision ID: 0030
Revises: 0029

sql/schema/0030_ocpp_fidelity.sql: MeterValues every 10 simulated seconds; a running
charge's log read with its MeterValues so far (booking_log); a point out of service has an
Unavailable connector (and the IRVE dynamic export says so); an operator's cancel or stop
logs the reservationId, StopTransaction(Other) and the connector's Unavailable status. The
downgrade puts 0029's functions back.
"""

from wattsup.migrations import run_sql_file

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0030_ocpp_fidelity.sql")


def downgrade() -> None:
    run_sql_file("schema/0030_ocpp_fidelity_down.sql")
