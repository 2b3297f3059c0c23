"""Open now: each station's weekly opening parsed from `horaires`, the open_now tile filter

Revision ID: 0013
Revises: 0012

Adds parse_opening_hours() (the OSM opening_hours subset of the IRVE schema) and
irve_time_zone() (zone from the INSEE code), the STORED generated columns
stations.opening_week (bit(672), a week of quarter-hours, NULL = unknown) and
stations.time_zone, tiles.now() (the filter's clock, overridable with the setting
wattsup.now), tiles.opening_classes and point_facets.opening for filtered clusters, and
open_now / at in tiles.filter, parse_filter, point_matches and clusters_filtered. Downgrade
puts back the 0002/0012 versions.
"""

from wattsup.migrations import run_sql_file

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0013_open_now.sql")


def downgrade() -> None:
    run_sql_file("schema/0013_open_now_down.sql")
