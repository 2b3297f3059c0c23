"""The connector status changes without touching an index (HOT updates of charge_points)

Revision ID: 0028
Revises: 0027

sql/schema/0028_connector_hot_updates.sql: the partial index charge_points_not_available,
whose predicate named connector_status, becomes charge_points_out_of_service (operational
status only); the cluster layers find the booked and charging points through the open
reservations (tiles.unavailable_points()); charge_points gets fillfactor 90. The downgrade
puts back 0014's cluster functions and the old index.
"""

from wattsup.migrations import run_sql_file

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0028_connector_hot_updates.sql")


def downgrade() -> None:
    run_sql_file("schema/0028_connector_hot_updates_down.sql")
