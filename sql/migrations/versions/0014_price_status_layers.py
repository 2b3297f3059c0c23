"""Price-unknown filter, the stations layer's status_at, tiles.stations() as a dispatcher

Revision ID: 0014
Revises: 0013

Adds price_unknown to tiles.filter (the tile server's `free=unknown`), in parse_filter,
point_matches and, through tiles.facets_required / tiles.facets_excluded, clusters_filtered.
Splits tiles.stations() into tiles.clusters_layer(), tiles.clusters_filtered() and
tiles.stations_layer(); the stations layer gains status_at (its points' oldest status time,
epoch seconds). Downgrade puts back the 0012/0013 versions.
"""

from wattsup.migrations import run_sql_file

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0014_price_status_layers.sql")


def downgrade() -> None:
    run_sql_file("schema/0014_price_status_layers_down.sql")
