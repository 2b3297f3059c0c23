"""Station cards: the unfiltered stations layer from a precomputed row per station

Revision ID: 0015
Revises: 0014

Adds tiles.station_cards (what a station's feature shows that only an import or an admin
edit changes), rebuilt by refresh_after_import() and tiles.refresh_cells_of_station() through
tiles.refresh_station_cards(). tiles.stations_layer() draws an unfiltered tile from the cards
and reads only the live part (available, status, status_at) from the points; a filtered tile
goes to tiles.stations_filtered(), the 0014 layer. Downgrade puts back the 0014 layer and the
0012 refresh functions.
"""

from wattsup.migrations import run_sql_file

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("schema/0015_station_cards.sql")


def downgrade() -> None:
    run_sql_file("schema/0015_station_cards_down.sql")
