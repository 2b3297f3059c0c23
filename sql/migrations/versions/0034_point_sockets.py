"""One definition of a point's sockets (point_sockets)

Revision ID: 0034
Revises: 0033

sql/schema/0034_point_sockets.sql: point_sockets(charge_points) names a point's sockets as
the vehicles' connectors do; booking_reserve's compatibility check and booking_start's plan
use it (the station sheet too, api/stations.py). The downgrade puts 0030's functions back.
"""

from wattsup.migrations import run_sql_file

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0034_point_sockets.sql")


def downgrade() -> None:
    run_sql_file("schema/0034_point_sockets_down.sql")
