"""Filtered clusters from precomputed point facets; statistics after every import

Revision ID: 0012
Revises: 0011

Adds tiles.point_facets (one narrow row per listed point, the filterable IRVE fields as
bits), tiles.refresh_facets() and tiles.clusters_filtered(); tiles.stations() calls the latter
for filtered cluster tiles. refresh_after_import() rebuilds the facets and ANALYZEs stations
and charge_points; tiles.refresh_cells_of_station() (admin edits) refreshes one station's
facets. Downgrade puts back the 0002/0007/0010 versions.
"""

from wattsup.migrations import run_sql_file

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0012_tile_facets.sql")


def downgrade() -> None:
    run_sql_file("schema/0012_tile_facets_down.sql")
