"""The importer against a real PostGIS: row rules, end to end, idempotence, updates,
withdrawal, a killed import, bounded memory, hostile files."""

from __future__ import annotations

import asyncio
import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from tests.conftest import DATA, ROOT, make_test_env, migrate_database
from tests.fixtures_network import wait_import_idle
from tests.fixtures_reservations import hold_points
from wattsup.config import Settings
from wattsup.importer import engine
from wattsup.importer import rows as row_rules
from wattsup.importer.engine import ImportAlreadyRunning, claim_job, import_file
from wattsup.importer.rows import STAGING_COLUMNS, parser_for

HEADER = next(csv.reader((DATA / "exemple-valide-statique.csv").open(encoding="utf-8")))
GOOD = next(
    r
    for r in csv.reader((DATA / "exemple-valide-statique.csv").open(encoding="utf-8"))
    if r[0] == "Société X"
)


def row_with(**changes: str) -> list[str]:
    row = list(GOOD)
    for key, value in changes.items():
        row[HEADER.index(key)] = value
    return row


def parse(**changes: str):  # type: ignore[no-untyped-def]
    parser = parser_for(HEADER, frozenset({"75056", "97411"}))
    return parser.parse(7, row_with(**changes))


def reasons(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    out: dict[str, str] = {}
    for _, sev, field, _, reason, _ in result.issues:
        out[field] = (out[field] + " | " if field in out else "") + f"{sev}:{reason}"
    return out


# --- row rules (no database) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "needle"),
    [
        ({"id_pdc_itinerance": ""}, "id_pdc_itinerance", "rejected:champ obligatoire vide"),
        ({"id_station_itinerance": ""}, "id_station_itinerance", "rejected:champ obligatoire vide"),
        ({"coordonneesXY": ""}, "coordonneesXY", "rejected:champ obligatoire vide"),
        (
            {"coordonneesXY": "[-73.98, 40.75]"},
            "coordonneesXY",
            "rejected:position (-73.98, 40.75) hors de France",
        ),
        (
            {"coordonneesXY": "[NaN, 2]"},
            "coordonneesXY",
            "rejected:les coordonnées ne sont pas des nombres finis",
        ),
        (
            {"coordonneesXY": "Paris"},
            "coordonneesXY",
            "rejected:attendu : « [longitude, latitude] »",
        ),
        ({"puissance_nominale": ""}, "puissance_nominale", "rejected:champ obligatoire vide"),
        (
            {"puissance_nominale": "beaucoup"},
            "puissance_nominale",
            "rejected:pas un nombre : « beaucoup »",
        ),
        (
            {"puissance_nominale": "5000000"},
            "puissance_nominale",
            "rejected:puissance hors limites",
        ),
        (
            {"prise_type_2": "peut-être"},
            "prise_type_2",
            "rejected:pas un booléen (attendu : true/false, oui/non, 1/0)",
        ),
        ({"prise_type_ef": ""}, "prise_type_ef", "rejected:champ obligatoire vide"),
        ({"nom_station": ""}, "nom_station", "rejected:champ obligatoire vide"),
    ],
)
def test_unusable_rows_are_rejected_with_field_and_reason(
    changes: dict[str, str], field: str, needle: str
) -> None:
    result = parse(**changes)
    assert result.record is None
    assert needle in reasons(result)[field]
    assert all(issue[0] == 7 for issue in result.issues), "line number kept"


@pytest.mark.parametrize(
    ("changes", "field", "needle", "column", "value"),
    [
        (
            {"puissance_nominale": "22000"},
            "puissance_nominale",
            "lue en W, convertie en 22 kW",
            "puissance_nominale",
            22.0,
        ),
        ({"puissance_nominale": "3,7kW"}, None, None, "puissance_nominale", 3.7),
        ({"coordonneesXY": "[48.85, 2.35]"}, "coordonneesXY", "latitude inversées", "lon", 2.35),
        ({"date_maj": "31/12/2024"}, "date_maj", "écrite jj/mm/aaaa", "date_maj", "2024-12-31"),
        ({"gratuit": "OUI"}, None, None, "gratuit", True),
        ({"paiement_cb": "0"}, None, None, "paiement_cb", False),
        ({"paiement_cb": "bof"}, "paiement_cb", "pas un booléen", "paiement_cb", None),
        ({"condition_acces": "accès LIBRE"}, None, None, "condition_acces", "Accès libre"),
        (
            {"accessibilite_pmr": "oui"},
            "accessibilite_pmr",
            "pas une valeur admise (attendu : Réservé PMR,",
            "accessibilite_pmr",
            None,
        ),
        (
            {"code_insee_commune": "99999"},
            "code_insee_commune",
            "absent de la liste officielle des communes",
            "code_insee_commune",
            "99999",
        ),
        (
            {"code_insee_commune": "7505"},
            "code_insee_commune",
            "zéro initial perdu ; lu comme 07505",
            "code_insee_commune",
            "07505",
        ),
        ({"horaires": "24/7"}, None, None, "is_24_7", True),
        ({"horaires": "Mo-Fr 08:00-18:00"}, None, None, "is_24_7", False),
    ],
)
def test_fixable_values_are_normalised_and_kept(  # type: ignore[no-untyped-def]
    changes, field, needle, column, value
) -> None:
    result = parse(**changes)
    assert result.record is not None, result.issues
    got = result.record[STAGING_COLUMNS.index(column)]
    assert (got.isoformat() if hasattr(got, "isoformat") else got) == value
    if field:
        assert needle in reasons(result)[field]
        assert "rejected:" not in reasons(result)[field]


def test_legacy_v1_is_recognised_and_mapped() -> None:
    with (DATA / "bornes-irve-2018-v1.csv").open(encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh, delimiter=";")
        parser = parser_for(next(rows), frozenset())
        first = parser.parse(2, next(rows))
    assert "v1" in parser.description and "cable_t2_attache" in parser.description
    rec = dict(zip(STAGING_COLUMNS, first.record or (), strict=True))
    assert rec["id_pdc_itinerance"] == "FR*E24*E10166*P1"
    assert rec["prise_type_2"] is True and rec["prise_type_ef"] is True
    assert rec["puissance_nominale"] == 22.0
    assert rec["is_24_7"] is False  # "Accès libre" is not an opening hours text


# --- end to end ----------------------------------------------------------------------------


async def counts(conn: asyncpg.Connection) -> dict[str, int]:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM stations WHERE withdrawn_at IS NULL) AS stations,"
        " (SELECT count(*) FROM charge_points WHERE withdrawn_at IS NULL) AS points"
    )
    assert row is not None
    return dict(row)


async def test_defects_file_end_to_end(scratch, scratch_settings: Settings) -> None:  # type: ignore[no-untyped-def]
    report = await import_file(scratch_settings, DATA / "irve-v2-defects.csv")
    assert report.status == "succeeded"
    assert report.rows_read == 14
    assert report.rejected == 6
    assert report.duplicates == 1
    assert report.inserted == 7
    assert await counts(scratch) == {"stations": 4, "points": 7}
    power = await scratch.fetchval(
        "SELECT puissance_nominale FROM charge_points WHERE id_pdc_itinerance = 'FRWUPE0001'"
    )
    assert float(power) == 50.0, "the last of the duplicated rows wins"
    assert (
        float(
            await scratch.fetchval(
                "SELECT puissance_nominale FROM charge_points "
                "WHERE id_pdc_itinerance = 'FRWUPE0002'"
            )
        )
        == 22.0
    )
    x, y = await scratch.fetchrow(
        "SELECT ST_X(geom_4326), ST_Y(geom_4326) FROM stations "
        "WHERE id_station_itinerance = 'FRWUPP0002'"
    )
    assert (x, y) == (2.352222, 48.856614), "swapped coordinates put back"
    rejects = await scratch.fetch(
        "SELECT line, field, reason FROM import_rejects WHERE job_id = $1 AND "
        "severity = 'rejected' ORDER BY line",
        report.job_id,
    )
    assert [(r["line"], r["field"]) for r in rejects] == [
        (5, "id_pdc_itinerance"),
        (6, "coordonneesXY"),
        (7, "prise_type_2"),
        (8, "puissance_nominale"),
        (9, "coordonneesXY"),
        (10, "nom_station"),
    ]
    dup = await scratch.fetchval(
        "SELECT reason FROM import_rejects "
        "WHERE job_id = $1 AND line = 2 AND reason LIKE 'doublon%'",
        report.job_id,
    )
    assert "remplacé par la ligne 14" in dup
    job = await scratch.fetchrow("SELECT * FROM import_jobs WHERE id = $1", report.job_id)
    assert job["status"] == "succeeded" and job["rows_read"] == 14 and job["rejected"] == 6
    assert job["finished_at"] is not None
    # Commune and postcode come from the official list when the file only has the code.
    reunion = await scratch.fetchrow(
        "SELECT commune, code_postal FROM stations WHERE id_station_itinerance = 'FRWUPP0006'"
    )
    assert reunion["commune"] == "Saint-Denis"  # INSEE 97411


# Every index and constraint of the network tables, and those of other tables that point at
# them, as the catalog describes them.
NETWORK_SCHEMA = """
SELECT array_agg(d ORDER BY d) FROM (
    SELECT indexdef AS d FROM pg_indexes
    WHERE schemaname = 'public' AND tablename IN ('stations', 'charge_points')
    UNION ALL
    SELECT format('%s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
    FROM pg_constraint
    WHERE conrelid IN ('stations'::regclass, 'charge_points'::regclass)
       OR confrelid IN ('stations'::regclass, 'charge_points'::regclass)
) t
"""


async def test_first_load_rebuilds_every_index_and_constraint(  # type: ignore[no-untyped-def]
    scratch, scratch_settings: Settings
) -> None:
    """Into an empty network, the merge drops the secondary indexes and the foreign keys of
    stations and charge_points and rebuilds them after the rows (sql/import/merge.sql): the
    schema after it is the schema before, the rebuilt constraints hold, and the next import
    (not a first load) finds them in place."""
    index_oids = (
        "SELECT array_agg(indexrelid::integer ORDER BY indexrelid) FROM pg_index "
        "WHERE indrelid IN ('stations'::regclass, 'charge_points'::regclass)"
    )
    before = await scratch.fetchval(NETWORK_SCHEMA)
    assert any("FOREIGN KEY" in d for d in before) and any("gist" in d for d in before)
    oids = await scratch.fetchval(index_oids)
    first = await import_file(scratch_settings, DATA / "irve-v2-defects.csv")
    assert first.status == "succeeded" and first.inserted == 7
    assert await scratch.fetchval(index_oids) != oids, "the first-load path ran (new indexes)"
    assert await scratch.fetchval(NETWORK_SCHEMA) == before
    with pytest.raises(asyncpg.UniqueViolationError):
        await scratch.execute(
            "INSERT INTO charge_points (id_pdc_itinerance, station_id, puissance_nominale) "
            "SELECT id_pdc_itinerance, station_id, 1 FROM charge_points LIMIT 1"
        )
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await scratch.execute(
            "INSERT INTO charge_points (id_pdc_itinerance, station_id, puissance_nominale) "
            "VALUES ('FRWUPE9999', gen_random_uuid(), 1)"
        )
    again = await import_file(scratch_settings, DATA / "irve-v2-defects.csv")
    assert (again.status, again.inserted, again.unchanged) == ("succeeded", 0, 7)
    assert await scratch.fetchval(NETWORK_SCHEMA) == before


# What an import leaves in the network tables, without generated ids and timestamps (of a
# withdrawal, whether, not when): each station (with its operator's identity) and each point
# (with its station's id), by id.
NETWORK_CONTENT = """
SELECT (SELECT array_agg(to_jsonb(s) - 'id' - 'operator_id' - 'created_at' - 'updated_at'
                         - 'withdrawn_at'
                         || jsonb_build_object('operator', o.identity_key,
                                               'withdrawn', s.withdrawn_at IS NOT NULL)
                         ORDER BY s.id_station_itinerance)
        FROM stations s LEFT JOIN operators o ON o.id = s.operator_id) AS stations,
       (SELECT array_agg(to_jsonb(cp) - 'id' - 'station_id' - 'created_at' - 'updated_at'
                         - 'status_changed_at' - 'connector_status_at' - 'withdrawn_at'
                         || jsonb_build_object('station', s.id_station_itinerance,
                                               'withdrawn', cp.withdrawn_at IS NOT NULL)
                         ORDER BY cp.id_pdc_itinerance)
        FROM charge_points cp JOIN stations s ON s.id = cp.station_id) AS points,
       (SELECT array_agg(identity_key ORDER BY identity_key) FROM operators) AS operators
"""


def batches_file(tmp_path: Path) -> Path:
    """Rows that cross batches of a few rows: a station whose rows disagree on its fields
    (and on its operator) over several batches; points duplicated across and within batches,
    one moving to another station; a station (S3) and operators seen only in superseded rows;
    a station (S7) whose last row in the file is superseded; a rejected row."""

    def row(pdc: str, station: str, name: str, amenageur: str, power: str = "22") -> list[str]:
        return row_with(
            id_pdc_itinerance=f"FRWUPE{pdc}",
            id_station_itinerance=f"FRWUPP{station}",
            nom_station=name,
            nom_amenageur=amenageur,
            adresse_station=f"{len(name)} rue {name} 75001 Paris",
            puissance_nominale=power,
        )

    rows = [
        row("0001", "0001", "S1 a", "A1"),
        row("0002", "0001", "S1 b", "A2"),
        row("0003", "0002", "S2", "A1"),
        row("0004", "0001", "S1 c", "A3", "50"),
        row("0005", "0003", "S3 superseded", "A4"),
        row("0099", "0004", "S4", "A5", ""),  # rejected: no power
        row("0006", "0004", "S4", "A5"),
        row("0002", "0002", "S2", "A1", "11"),  # P2 moves to S2
        row("0001", "0001", "S1 d", "A6", "7.4"),
        row("0007", "0005", "S5", "A1"),
        row("0005", "0004", "S4", "A5", "3.7"),  # S3 is left with no row
        row("0010", "0007", "S7 first", "A7"),
        row("0011", "0007", "S7 superseded", "A9"),
        row("0011", "0008", "S8", "A7"),  # S7's last row in the file was superseded
        row("0012", "0005", "S5 bis", "A1"),
        row("0012", "0005", "S5 ter", "A8"),  # duplicated within a batch
        row("0013", "0001", "S1 e", "A1"),
    ]
    out = tmp_path / "batches.csv"
    with out.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([HEADER, *rows])
    return out


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 10_000])
async def test_pipelined_first_load_equals_the_merge_at_the_end(  # type: ignore[no-untyped-def]
    scratch, scratch_settings: Settings, tmp_path: Path, monkeypatch, batch_rows: int
) -> None:
    """A first load upserts its stations batch by batch while the next batch is parsed
    (import_first_load_batch()); it must leave exactly what the merge of the whole file at the
    end leaves (the path of every other import): same stations, points, operators, counters
    and rejects, whatever the batches."""
    source = batches_file(tmp_path)
    monkeypatch.setattr(engine, "PIPELINED_FIRST_LOAD", False)
    reference = await import_file(scratch_settings, source, full=True)
    expected = await scratch.fetchrow(NETWORK_CONTENT)
    expected_rejects = await scratch.fetch(REJECTS, reference.job_id)
    await scratch.execute("TRUNCATE charge_points, stations, operators CASCADE")

    monkeypatch.setattr(engine, "PIPELINED_FIRST_LOAD", True)
    monkeypatch.setattr(engine, "BATCH_ROWS", batch_rows)
    sent: list[int] = []
    send_batch = engine._send_batch

    async def counted(conn, batch, pending):  # type: ignore[no-untyped-def]
        sent.append(len(batch))
        return await send_batch(conn, batch, pending)

    monkeypatch.setattr(engine, "_send_batch", counted)
    report = await import_file(scratch_settings, source, full=True)
    assert report.status == "succeeded"
    assert await scratch.fetchrow(NETWORK_CONTENT) == expected
    assert await scratch.fetch(REJECTS, report.job_id) == expected_rejects
    counters = ("rows_read", "inserted", "updated", "unchanged", "withdrawn", "rejected")
    assert [getattr(report, c) for c in (*counters, "duplicates", "warnings")] == [
        getattr(reference, c) for c in (*counters, "duplicates", "warnings")
    ]
    assert (report.inserted, report.duplicates, report.rejected) == (11, 5, 1)
    stations = await scratch.fetch(
        "SELECT s.id_station_itinerance, s.nom_station, o.nom_amenageur FROM stations s "
        "JOIN operators o ON o.id = s.operator_id ORDER BY 1"
    )
    assert [tuple(r) for r in stations] == [
        ("FRWUPP0001", "S1 e", "A1"),
        ("FRWUPP0002", "S2", "A1"),
        ("FRWUPP0004", "S4", "A5"),
        ("FRWUPP0005", "S5 ter", "A8"),
        ("FRWUPP0007", "S7 first", "A7"),
        ("FRWUPP0008", "S8", "A7"),
    ], "each station from its last row left; S3 (superseded rows only) is not in the file"
    assert sorted(await scratch.fetchval("SELECT array_agg(nom_amenageur) FROM operators")) == [
        "A1",
        "A5",
        "A7",
        "A8",
    ], "no operator named by superseded or earlier rows only"
    assert sum(sent) == 16 and max(sent) == min(batch_rows, 16), "the rows went in batches"
    again = await import_file(scratch_settings, source, full=True)
    assert (again.inserted, again.updated, again.withdrawn, again.unchanged) == (0, 0, 0, 11)
    assert await scratch.fetchrow(NETWORK_CONTENT) == expected


REJECTS = (
    "SELECT line, severity, field, value, reason, id_pdc_itinerance FROM import_rejects "
    "WHERE job_id = $1 ORDER BY line, field, reason"
)


async def test_reimport_is_idempotent_and_updates_changed_rows(  # type: ignore[no-untyped-def]
    scratch, scratch_settings: Settings, tmp_path: Path
) -> None:
    first = await import_file(scratch_settings, DATA / "irve-v2-defects.csv")
    version = await scratch.fetchval("SELECT data_version FROM app_meta")
    again = await import_file(scratch_settings, DATA / "irve-v2-defects.csv")
    assert (again.inserted, again.updated, again.withdrawn) == (0, 0, 0)
    assert again.unchanged == first.inserted
    assert await scratch.fetchval("SELECT data_version FROM app_meta") == version, (
        "an import that changes nothing must not invalidate the tile cache"
    )
    # One changed power → exactly one updated row.
    text = (DATA / "irve-v2-defects.csv").read_text(encoding="utf-8").splitlines()
    rows = list(csv.reader(text))
    rows[2][HEADER.index("puissance_nominale")] = "11"  # FRWUPE0002
    changed = tmp_path / "changed.csv"
    with changed.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    third = await import_file(scratch_settings, changed)
    assert (third.inserted, third.updated) == (0, 1)
    assert (
        float(
            await scratch.fetchval(
                "SELECT puissance_nominale FROM charge_points "
                "WHERE id_pdc_itinerance = 'FRWUPE0002'"
            )
        )
        == 11.0
    )
    assert await scratch.fetchval("SELECT data_version FROM app_meta") == version + 1


async def test_full_snapshot_withdraws_missing_points_never_deletes(  # type: ignore[no-untyped-def]
    scratch, scratch_settings: Settings, tmp_path: Path
) -> None:
    await import_file(scratch_settings, DATA / "irve-v2-defects.csv")
    rows = list(csv.reader((DATA / "irve-v2-defects.csv").open(encoding="utf-8", newline="")))
    # Drop FRWUPE0014 (the only point of station FRWUPP0006) and FRWUPE0003.
    kept = [
        r for r in rows if r[HEADER.index("id_pdc_itinerance")] not in {"FRWUPE0014", "FRWUPE0003"}
    ]
    smaller = tmp_path / "smaller.csv"
    with smaller.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(kept)
    partial = await import_file(scratch_settings, smaller)  # not --full: nothing withdrawn
    assert partial.withdrawn == 0
    # A driver holds FRWUPE0014: its withdrawal ends the booking (migration 0035), which
    # would otherwise stay open on a point gone from the network.
    point = await scratch.fetchval(
        "SELECT id FROM charge_points WHERE id_pdc_itinerance = 'FRWUPE0014'"
    )
    (booking,) = await hold_points(scratch, [point])
    full = await import_file(scratch_settings, smaller, full=True)
    assert full.withdrawn == 2
    ended = await scratch.fetchrow(
        "SELECT status, end_reason, events->-2 AS cancel, events->-1 AS last "
        "FROM reservations WHERE id = $1",
        booking,
    )
    assert (ended["status"], ended["end_reason"]) == ("cancelled", "point_withdrawn")
    assert json.loads(ended["cancel"])["payload"] == {
        "reservationId": str(booking),
        "reason": "point_withdrawn",
    }
    assert json.loads(ended["last"])["payload"] == {"status": "Unavailable"}
    assert await scratch.fetchval("SELECT count(*) FROM charge_points") == 7, "never deleted"
    withdrawn = await scratch.fetchval(
        "SELECT withdrawn_at IS NOT NULL FROM stations WHERE id_station_itinerance = 'FRWUPP0006'"
    )
    assert withdrawn, "a station with no point left is withdrawn"
    back = await import_file(scratch_settings, DATA / "irve-v2-defects.csv")
    assert back.updated == 2, "a withdrawn point that comes back is restored"
    assert (
        await scratch.fetchval("SELECT connector_status FROM charge_points WHERE id = $1", point)
        == "Available"
    ), "Unavailable while withdrawn, Available again once back"
    assert await counts(scratch) == {"stations": 4, "points": 7}


async def test_a_merge_that_meets_a_deadlock_runs_again(  # type: ignore[no-untyped-def]
    scratch, scratch_settings: Settings, tmp_path: Path, caplog
) -> None:
    """A full snapshot changes FRWUPE0002 and withdraws FRWUPE0014, which has an open
    booking. Another session (a booking transition, as it locks them: the booking, then a
    point) holds that booking and then wants FRWUPE0002, which the merge holds: a deadlock.
    PostgreSQL aborts the merge (the other session waits longer before it looks); the engine
    undoes the merge alone and runs it again once the other has committed. The import
    succeeds: a whole national file is not lost to a booking's bad timing."""
    await import_file(scratch_settings, DATA / "irve-v2-defects.csv")
    rows = list(csv.reader((DATA / "irve-v2-defects.csv").open(encoding="utf-8", newline="")))
    pdc, price = HEADER.index("id_pdc_itinerance"), HEADER.index("tarification")
    for r in rows:
        if r[pdc] == "FRWUPE0002":
            r[price] = "0,50 € / kWh"
    changed = tmp_path / "changed.csv"
    with changed.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(r for r in rows if r[pdc] != "FRWUPE0014")
    withdrawn = await scratch.fetchval(
        "SELECT id FROM charge_points WHERE id_pdc_itinerance = 'FRWUPE0014'"
    )
    (booking,) = await hold_points(scratch, [withdrawn])

    other = await asyncpg.connect(scratch_settings.database_url)
    try:
        await other.execute("SET deadlock_timeout = '30s'")  # the merge's check fires first
        tx = other.transaction()
        await tx.start()
        await other.execute("SELECT 1 FROM reservations WHERE id = $1 FOR UPDATE", booking)
        importing = asyncio.create_task(import_file(scratch_settings, changed, full=True))
        # The merge has changed FRWUPE0002 and waits for the booking.
        for _ in range(400):
            if await scratch.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE '%import_merge(%' AND pid <> pg_backend_pid()"
            ):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the merge never waited for the booking")
        with caplog.at_level("WARNING", logger="wattsup.import"):
            # Waits for the merge's lock until PostgreSQL aborts the merge, then goes on.
            await other.execute(
                "UPDATE charge_points SET updated_at = now() WHERE id_pdc_itinerance = 'FRWUPE0002'"
            )
            await tx.commit()
            report = await importing
    finally:
        await other.close()
    assert "the merge met a deadlock; merging again" in caplog.text
    assert report.status == "succeeded" and report.withdrawn == 1 and report.updated == 1
    assert (
        await scratch.fetchval(
            "SELECT tarification FROM charge_points WHERE id_pdc_itinerance = 'FRWUPE0002'"
        )
        == "0,50 € / kWh"
    )
    assert (
        await scratch.fetchval("SELECT end_reason FROM reservations WHERE id = $1", booking)
        == "point_withdrawn"
    )


async def test_a_rejected_or_cut_short_row_keeps_the_stored_point(  # type: ignore[no-untyped-def]
    scratch, scratch_settings: Settings, tmp_path: Path
) -> None:
    """A full snapshot withdraws the points missing from the file, not those whose row it
    rejected (a typo in the power); and a row cut short (a truncated file's last line) is
    rejected, not read as empty cells that would blank the stored point."""
    await import_file(scratch_settings, DATA / "irve-v2-defects.csv")
    point_sql = (
        "SELECT cp.puissance_nominale, cp.withdrawn_at, s.date_maj, s.date_mise_en_service, "
        "s.raccordement FROM charge_points cp JOIN stations s ON s.id = cp.station_id "
        "WHERE cp.id_pdc_itinerance = $1"
    )
    before = {i: await scratch.fetchrow(point_sql, i) for i in ("FRWUPE0003", "FRWUPE0014")}
    rows = list(csv.reader((DATA / "irve-v2-defects.csv").open(encoding="utf-8", newline="")))
    assert rows[3][HEADER.index("id_pdc_itinerance")] == "FRWUPE0003"
    rows[3][HEADER.index("puissance_nominale")] = "abc"
    assert rows[-1][HEADER.index("id_pdc_itinerance")] == "FRWUPE0014"
    rows[-1] = rows[-1][:25]  # the file ends mid-row, with no final line break
    truncated = tmp_path / "truncated.csv"
    with truncated.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    truncated.write_bytes(truncated.read_bytes().rstrip(b"\r\n"))

    report = await import_file(scratch_settings, truncated, full=True)
    assert report.status == "succeeded" and report.withdrawn == 0
    for pdc in ("FRWUPE0003", "FRWUPE0014"):
        assert await scratch.fetchrow(point_sql, pdc) == before[pdc], pdc
    rejects = {
        r["id_pdc_itinerance"]: r["reason"]
        for r in await scratch.fetch(
            "SELECT id_pdc_itinerance, reason FROM import_rejects "
            "WHERE job_id = $1 AND severity = 'rejected'",
            report.job_id,
        )
    }
    assert "FRWUPE0003" in rejects
    assert "la ligne a 25 colonnes, l'en-tête 40 : ligne tronquée" in rejects["FRWUPE0014"]


async def test_only_one_import_at_a_time(scratch, scratch_settings: Settings) -> None:  # type: ignore[no-untyped-def]
    job = await claim_job(
        scratch_settings, file_name="a.csv", file_size=1, full=False, source="cli", created_by=None
    )
    with pytest.raises(ImportAlreadyRunning) as exc:
        await claim_job(
            scratch_settings,
            file_name="b.csv",
            file_size=1,
            full=False,
            source="cli",
            created_by=None,
        )
    assert exc.value.job_id == job
    from wattsup.importer import engine

    await engine._held_locks.pop(job).close()  # the claiming process "dies"
    nxt = await claim_job(
        scratch_settings, file_name="c.csv", file_size=1, full=False, source="cli", created_by=None
    )
    status = await scratch.fetchval("SELECT status FROM import_jobs WHERE id = $1", job)
    assert status == "failed", "a job whose process died is marked failed on the next claim"
    await engine._held_locks.pop(nxt).close()


async def test_a_claim_waits_out_a_rebuild_that_holds_the_lock(  # type: ignore[no-untyped-def]
    scratch, scratch_settings: Settings
) -> None:
    """The lock held with no job running: the tail of an import (its derived tile tables
    rebuilt after its commit) or the sweeper's repair. A claim waits for it, then is refused
    if it outlasts the wait."""
    holder = await asyncpg.connect(scratch_settings.database_url)
    await holder.execute("SELECT pg_advisory_lock($1)", engine.IMPORT_LOCK_KEY)
    try:
        with pytest.raises(ImportAlreadyRunning) as exc:
            await claim_job(
                scratch_settings,
                file_name="a.csv",
                file_size=1,
                full=False,
                source="cli",
                created_by=None,
                wait_s=0.2,
            )
        assert exc.value.job_id.int == 0
        assert await scratch.fetchval("SELECT count(*) FROM import_jobs") == 0
        # The tests' own wait for an import's end sees the holder too.
        with pytest.raises(AssertionError, match="still holds the lock"):
            await wait_import_idle(scratch, within=0.2)

        async def release_soon() -> None:
            await asyncio.sleep(0.5)
            await holder.execute("SELECT pg_advisory_unlock($1)", engine.IMPORT_LOCK_KEY)

        release = asyncio.create_task(release_soon())
        t0 = time.monotonic()
        job = await claim_job(
            scratch_settings,
            file_name="b.csv",
            file_size=1,
            full=False,
            source="cli",
            created_by=None,
        )
        await release
        assert time.monotonic() - t0 >= 0.4, "claimed while the rebuild still held the lock"
        assert await scratch.fetchval("SELECT status FROM import_jobs WHERE id = $1", job) == (
            "running"
        )
        await engine._held_locks.pop(job).close()
    finally:
        await holder.close()


def synth(tmp_path: Path, stations: int) -> Path:
    out = tmp_path / f"synth-{stations}.csv"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "synth_irve.py"),
            "--stations",
            str(stations),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    return out


@pytest.mark.parametrize("first_load", [False, True])
async def test_killed_import_leaves_old_data_intact_and_can_rerun(  # type: ignore[no-untyped-def]
    scratch, scratch_settings: Settings, tmp_path: Path, first_load: bool
) -> None:
    """Killed mid-file, an import leaves the data as it was; a first load (its stations
    already going into their table batch by batch, the keys and indexes dropped) leaves the
    network empty with its schema whole."""
    if not first_load:
        await import_file(scratch_settings, DATA / "irve-v2-defects.csv")
    before = await counts(scratch)
    schema = await scratch.fetchval(NETWORK_SCHEMA)
    big = synth(tmp_path, 12_000)
    env = {**make_test_env(), "DATABASE_URL": scratch_settings.database_url}
    proc = subprocess.Popen(  # noqa: ASYNC220 - started, then watched from the event loop
        [sys.executable, "-m", "wattsup.cli", "import", str(big), "--full", "--quiet"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until it is mid-file
            rows = await scratch.fetchval(
                "SELECT rows_read FROM import_jobs WHERE status = 'running'"
            )
            # (A first load: past a few batches, already in the tables.)
            if rows and rows > (25_000 if first_load else 5_000):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the import never got going")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert await counts(scratch) == before, "nothing of the killed import landed"
    assert await scratch.fetchval(NETWORK_SCHEMA) == schema
    report = await import_file(scratch_settings, big, full=True)
    assert report.status == "succeeded"
    statuses = [
        r["status"]
        for r in await scratch.fetch("SELECT status FROM import_jobs ORDER BY started_at")
    ]
    assert (
        statuses == ["failed", "succeeded"] if first_load else ["succeeded", "failed", "succeeded"]
    )
    after = await counts(scratch)
    assert after["points"] == report.inserted


def test_memory_stays_flat_when_the_file_grows(tmp_path: Path, scratch_settings: Settings) -> None:
    """Peak RSS of an import of N rows vs 5N rows: streaming means (nearly) the same."""
    env = {**make_test_env(), "DATABASE_URL": scratch_settings.database_url}
    peaks = []
    for stations in (3_000, 15_000):
        path = synth(tmp_path, stations)
        # VmHWM: the child's own high-water mark. getrusage's ru_maxrss would also count the
        # pytest process's peak, which the child inherits across fork until its exec, and
        # hide whatever the importer does.
        code = (
            "import sys; import wattsup.cli as c;"
            "assert c.main(['import', sys.argv[1], '--quiet']) == 0;"
            "print(next(l.split()[1] for l in open('/proc/self/status') "
            "if l.startswith('VmHWM:')))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        peaks.append(int(out.stdout.strip().splitlines()[-1]))
    small, large = peaks
    # An importer holding its rows would need ~100 MB more for the 12,000 extra stations.
    assert 20_000 < small < 120_000, f"implausible peak RSS {small} KiB"
    assert large < small * 1.15, f"peak RSS grew with the file: {small} KiB → {large} KiB"


# --- hostile files -------------------------------------------------------------------------


async def test_hostile_files_give_a_clear_result_and_keep_good_rows(  # type: ignore[no-untyped-def]
    scratch, scratch_settings: Settings, tmp_path: Path
) -> None:
    good = (DATA / "exemple-valide-statique.csv").read_bytes()
    head, *lines = good.decode("utf-8").splitlines(keepends=True)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 100)
    r = await import_file(scratch_settings, binary)
    assert r.status == "failed" and "fichier binaire" in (r.error or "")

    latin = tmp_path / "latin1.csv"
    latin.write_bytes(good.decode("utf-8").encode("cp1252"))
    r = await import_file(scratch_settings, latin)
    assert r.status == "succeeded" and r.inserted == 2 and r.warnings >= 1
    name = await scratch.fetchval(
        "SELECT nom_operateur FROM operators WHERE nom_operateur LIKE 'Soci%' LIMIT 1"
    )
    assert name == "Société Y", "transcoded, not mangled"

    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes(
        good.decode("utf-8").replace("FRA68E680210015", "FRA68E680210016").encode("utf-16")
    )
    r = await import_file(scratch_settings, utf16)
    assert r.status == "succeeded" and r.inserted == 1

    monster = tmp_path / "monster.csv"
    with monster.open("wb") as fh:
        fh.write(head.encode())
        fh.write(lines[0].replace("FRA68E680210015", "FRA68E680210017").encode())
        fh.write(b"x" * (8 << 20) + b"\n")  # an 8 MiB line
        fh.write(b'"unbalanced,quote\n')
        fh.write(b"\n" * 200_000)
        fh.write(lines[0].replace("FRA68E680210015", "FRA68E680210018").encode())
    r = await import_file(scratch_settings, monster)
    assert r.status == "succeeded", r.error
    assert r.inserted == 1 and r.rejected >= 1
    # The line after the unbalanced quote is swallowed by the quoted field: CSV rules.
    assert (
        await scratch.fetchval(
            "SELECT count(*) FROM charge_points WHERE id_pdc_itinerance = 'FRA68E680210017'"
        )
        == 1
    )

    missing = tmp_path / "missing.csv"
    missing.write_text("a;b;c\n1;2;3\n", encoding="utf-8")
    r = await import_file(scratch_settings, missing)
    assert r.status == "failed" and "colonnes obligatoires manquantes" in (r.error or "")

    sql = tmp_path / "sql.csv"
    evil = (
        lines[0]
        .replace("Picpus", "'); DROP TABLE stations; --")
        .replace("FRA68E680210015", "FRA68E680210019")
    )
    sql.write_text(head + evil, encoding="utf-8")
    r = await import_file(scratch_settings, sql)
    assert r.status == "succeeded"
    assert (
        await scratch.fetchval(
            "SELECT nom_station FROM stations s JOIN charge_points p ON p.station_id = s.id "
            "WHERE id_pdc_itinerance = 'FRA68E680210019'"
        )
        == "'); DROP TABLE stations; --"
    )


def test_cli_import_prints_the_report(scratch_settings: Settings) -> None:
    env = {**make_test_env(), "DATABASE_URL": scratch_settings.database_url}
    out = subprocess.run(
        [sys.executable, "-m", "wattsup.cli", "import", str(DATA / "bornes-irve-2018-v1.csv")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "import succeeded" in out.stdout and "v1" in out.stdout
    assert "rejected 2" in out.stdout


async def test_imported_sample_fixture(imported_sample, pool) -> None:  # type: ignore[no-untyped-def]
    assert [r.status for r in imported_sample] == ["succeeded"] * 3
    assert await pool.fetchval("SELECT count(*) FROM stations WHERE withdrawn_at IS NULL") > 200


@pytest.mark.parametrize(
    ("station", "station_issues"),
    [
        ({}, {"code_insee_commune"}),  # the example's 75001 is a postcode
        (
            {"siren_amenageur": "12", "code_insee_commune": "7505", "date_maj": "hier"},
            {"siren_amenageur", "code_insee_commune", "date_maj"},
        ),
        (
            {"coordonneesXY": "[48.856614, 2.352222]", "code_insee_commune": "75056"},
            {"coordonneesXY"},
        ),
        ({"nom_station": "", "code_insee_commune": "75056"}, {"nom_station"}),
        (
            {"coordonneesXY": "Paris", "id_station_itinerance": "", "code_insee_commune": "75056"},
            {"coordonneesXY", "id_station_itinerance"},
        ),
    ],
)
def test_a_row_parses_the_same_after_a_row_of_its_station(
    station: dict[str, str], station_issues: set[str]
) -> None:
    """The station's cells are read once for a run of rows that repeat them (V2Rows keeps
    the last station), and a point's booleans once per combination: each row must still get
    its own line, its own point's fields, and the station's and booleans' issues again under
    its line and id, exactly as a parser that never saw them before gives them."""
    points = [
        {"id_pdc_itinerance": "FRWUPE0001"},
        {"id_pdc_itinerance": "FRWUPE0002", "puissance_nominale": "22000"},
        {"id_pdc_itinerance": "", "tarification": "x" * 2100},
        {"id_pdc_itinerance": "FRWUPE0004", "gratuit": "bof", "prise_type_2": ""},
        {"id_pdc_itinerance": "FRWUPE0005", "observations": "ok"},
        # The same booleans as FRWUPE0004: read once (V2Rows keeps each combination seen).
        {"id_pdc_itinerance": "FRWUPE0006", "gratuit": "bof", "prise_type_2": ""},
    ]
    warm = parser_for(HEADER, frozenset({"75056", "97411"}))
    reads: list[tuple[str, ...]] = []
    read_station = warm._station  # type: ignore[union-attr]

    def counted(cells: tuple[str, ...]):  # type: ignore[no-untyped-def]
        reads.append(cells)
        return read_station(cells)

    warm._station = counted  # type: ignore[method-assign,union-attr]
    for n, point in enumerate(points):
        cells = row_with(**station, **point)
        fresh = parser_for(HEADER, frozenset({"75056", "97411"})).parse(10 + n, list(cells))
        got = warm.parse(10 + n, list(cells))
        assert got.record == fresh.record
        assert sorted(got.issues, key=repr) == sorted(fresh.issues, key=repr)
        assert all(
            i[0] == 10 + n and i[5] == (point["id_pdc_itinerance"] or None) for i in got.issues
        )
        assert station_issues <= {i[2] for i in got.issues}, "the station's issues, on each row"
        if point.get("gratuit") == "bof":
            assert {"gratuit", "prise_type_2"} <= {i[2] for i in got.issues}, "and the point's"
    assert len(reads) == 1, "the station's cells were read once for its six rows"
    warm.parse(20, row_with(**station, adresse_station="2 rue Neuve 75001 Paris"))
    assert len(reads) == 2, "another station's cells are read"


def test_memoised_converters_compute_once_and_stay_bounded(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A converter's memo (powers, dates, INSEE codes, hours, enums, a point's booleans)
    computes a raw value once, and keeps no more than MEMO_MAX of them whatever the file."""
    monkeypatch.setattr(row_rules, "MEMO_MAX", 2)
    calls: list[str] = []
    memo = row_rules._Memo(lambda raw: calls.append(raw) or raw.upper())
    assert [memo[r] for r in ("a", "a", "b", "c", "c", "a")] == ["A", "A", "B", "C", "C", "A"]
    assert calls == ["a", "b", "c", "c"], "kept ones computed once, the rest each time"
    assert len(memo) == 2


# --- fingerprints: a re-import skips the rules for rows it imported as they are ------------


def test_fingerprints_skip_a_known_row_and_never_a_corrected_one() -> None:
    # (The example row's 75001 is a postcode, not a commune: it would warn.)
    good = row_with(code_insee_commune="75056")
    parser = parser_for(HEADER, frozenset({"75056", "97411"}))
    record = parser.parse(7, list(good)).record
    assert record is not None
    got = dict(zip(STAGING_COLUMNS, record, strict=True))
    assert got["skipped"] is False and got["point_fp"] and got["station_fp"]
    # Another parser (another process: the hashes must not depend on it) that knows them.
    known = parser_for(HEADER, frozenset({"75056", "97411"}))
    known.remember({got["point_fp"]}, {got["station_fp"]})
    skipped = dict(zip(STAGING_COLUMNS, known.parse(9, list(good)).record or (), strict=True))
    assert skipped["skipped"] is True and known.skipped == 1
    assert (skipped["line"], skipped["id_pdc_itinerance"], skipped["nom_station"]) == (
        9,
        got["id_pdc_itinerance"],
        None,
    )
    # One cell changed, of the point or of the station: validated again.
    for field in ("tarification", "adresse_station"):
        changed = row_with(code_insee_commune="75056", **{field: "autre"})
        assert known.parse(9, changed).record[-1] is False  # type: ignore[index]
    # A row that needed a correction has no fingerprint (its warnings are reported again).
    warned = parser.parse(7, row_with(code_insee_commune="75056", siren_amenageur="12"))
    assert warned.issues and warned.record is not None and warned.record[-3:] == (None, None, False)
    # Other rules (another commune list, even of the same size) hash differently: nothing
    # is skipped.
    for communes in ({"75056"}, {"75056", "97412"}):
        other = parser_for(HEADER, frozenset(communes))
        other.remember({got["point_fp"]}, {got["station_fp"]})
        assert other.parse(9, list(good)).record[-1] is False  # type: ignore[index]


def _rows_of(path: Path) -> list[list[str]]:
    """The rows of a file, with a real commune code (the example row's 75001 would warn on
    every row, and a row with a warning is always validated again)."""
    insee = HEADER.index("code_insee_commune")
    rows = list(csv.reader(path.open(encoding="utf-8", newline="")))[1:]
    return [[*r[:insee], "75056", *r[insee + 1 :]] for r in rows]


def _renamed_s4(rows: list[list[str]]) -> list[list[str]]:
    i, name = HEADER.index("id_station_itinerance"), HEADER.index("nom_station")
    return [[*r[:name], "S4 renamed", *r[name + 1 :]] if r[i] == "FRWUPP0004" else r for r in rows]


def _new_power(rows: list[list[str]]) -> list[list[str]]:
    power = HEADER.index("puissance_nominale")
    return [[*r[:power], "43", *r[power + 1 :]] if n == 2 else r for n, r in enumerate(rows)]


def _edit_by_admin() -> list[str]:
    return [
        "UPDATE charge_points SET tarification = 'edited' WHERE id_pdc_itinerance = 'FRWUPE0006'",
        "UPDATE stations SET nom_station = 'edited' WHERE id_station_itinerance = 'FRWUPP0002'",
    ]


@pytest.mark.parametrize(
    ("scenario", "change", "between"),
    [
        ("the same file", lambda rows: rows, None),
        # Stations' last rows and duplicates' surviving rows all change.
        ("its rows reversed", lambda rows: rows[::-1], None),
        ("a station renamed on every row", _renamed_s4, None),
        ("a point's power changed", _new_power, None),
        ("the same file after an admin's edits", lambda rows: rows, _edit_by_admin),
        ("the same file after a snapshot without one point", lambda rows: rows, "withdraw"),
    ],
)
async def test_fingerprints_change_nothing_but_the_time_taken(  # type: ignore[no-untyped-def]
    scratch, scratch_settings: Settings, tmp_path: Path, monkeypatch, scenario, change, between
) -> None:
    """File A, then file B: with the fingerprints (known rows skipped, unvalidated) the network,
    the stored fingerprints, the counters and the rejects are exactly what validating every
    row gives; for B = A, known rows were skipped."""
    a = tmp_path / "a.csv"
    with a.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([HEADER, *_rows_of(batches_file(tmp_path))])
    b = tmp_path / "b.csv"
    with b.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([HEADER, *change(_rows_of(a))])
    without_p06 = tmp_path / "without.csv"
    with without_p06.open("w", encoding="utf-8", newline="") as fh:
        pdc = HEADER.index("id_pdc_itinerance")
        csv.writer(fh).writerows([HEADER, *(r for r in _rows_of(a) if r[pdc] != "FRWUPE0006")])
    parsers: list[object] = []

    def recording_parser_for(header, insee_codes):  # type: ignore[no-untyped-def]
        parsers.append(parser_for(header, insee_codes))
        return parsers[-1]

    monkeypatch.setattr(engine, "parser_for", recording_parser_for)
    outcomes = []
    for skip in (False, True):
        monkeypatch.setattr(engine, "SKIP_UNCHANGED_ROWS", skip)
        await scratch.execute("TRUNCATE charge_points, stations, operators CASCADE")
        assert (await import_file(scratch_settings, a, full=True)).status == "succeeded"
        if between == "withdraw":
            assert (await import_file(scratch_settings, without_p06, full=True)).withdrawn == 1
        elif between is not None:
            for statement in between():
                await scratch.execute(statement)
        parsers.clear()
        report = await import_file(scratch_settings, b, full=True)
        assert report.status == "succeeded", report.error
        counters = ("rows_read", "inserted", "updated", "unchanged", "withdrawn", "rejected")
        outcomes.append(
            (
                await scratch.fetchrow(NETWORK_CONTENT),
                [getattr(report, c) for c in (*counters, "duplicates", "warnings")],
                [tuple(r) for r in await scratch.fetch(REJECTS, report.job_id)],
            )
        )
        skipped = parsers[0].skipped  # type: ignore[attr-defined]
        if not skip:
            assert skipped == 0
        elif scenario == "the same file":
            # Every surviving row without a warning: not the rejected one, not the duplicates'
            # superseded rows (their station or point is stored from another row).
            assert skipped >= 6, skipped
        elif between is not None:
            assert skipped > 0, "the rows nobody edited were still skipped"
    assert outcomes[1] == outcomes[0], scenario
    if between == "withdraw":
        assert outcomes[1][1][2] >= 1, "the withdrawn point came back as an update"
    if between is not None and between != "withdraw":
        edited = await scratch.fetchval(
            "SELECT count(*) FROM charge_points cp JOIN stations s ON s.id = cp.station_id "
            "WHERE cp.tarification = 'edited' OR s.nom_station = 'edited'"
        )
        assert edited == 0, "the file's values are back"


# The derived tile tables as values, to compare two states: the clusters, the facets (with
# their opening hours, not the ids of their classes) and the station cards.
DERIVED = """
SELECT (SELECT md5(string_agg(c::text, ';' ORDER BY zoom, cell_x, cell_y))
        FROM tiles.clusters c) AS clusters,
       (SELECT md5(string_agg(concat_ws('|', f.point_id, f.station_id, ST_AsEWKT(f.geom),
                                        f.power_kw, f.bits, oc.week, oc.time_zone), ';'
                              ORDER BY f.point_id))
        FROM tiles.point_facets f LEFT JOIN tiles.opening_classes oc ON oc.id = f.opening)
        AS facets,
       (SELECT md5(string_agg(k::text, ';' ORDER BY station_id)) FROM tiles.station_cards k)
        AS cards,
       (SELECT count(*) FROM tiles.clusters) AS cluster_rows
"""


async def _pending_and_version(conn: asyncpg.Connection) -> tuple[bool, int]:
    row = await conn.fetchrow("SELECT derived_pending, data_version FROM app_meta")
    assert row is not None
    return row["derived_pending"], row["data_version"]


async def test_derived_tables_follow_the_commit_and_a_lost_rebuild_is_repaired(  # type: ignore[no-untyped-def]
    scratch, scratch_settings: Settings, monkeypatch
) -> None:
    """An import rebuilds the derived tile tables after its commit, two chains on two
    connections (engine._rebuild_derived): the same rows as the whole rebuild in one
    transaction. An import that dies between its commit and that rebuild leaves them pending
    and the data version where it was; the sweeper's repair rebuilds them (not while an import
    holds the import lock), and so does the next import, even of an unchanged file."""
    from litestar import Litestar

    from api.scheduler import sweeper_lifespan
    from tests.fixtures_hardening import wait_for

    async def _repaired() -> bool:
        return not (await _pending_and_version(scratch))[0]

    defects, sample = DATA / "irve-v2-defects.csv", DATA / "exemple-valide-statique.csv"
    _, version = await _pending_and_version(scratch)
    report = await import_file(scratch_settings, defects)
    assert report.status == "succeeded" and report.inserted == 7
    assert await _pending_and_version(scratch) == (False, version + 1)
    after_import = dict(await scratch.fetchrow(DERIVED))
    assert after_import["cluster_rows"] > 0
    await scratch.execute("SELECT refresh_after_import()")
    assert dict(await scratch.fetchrow(DERIVED)) == after_import, "same as in one transaction"
    version += 2

    async def lost(*_: object) -> bool:
        return False  # the process died before the rebuild (or the rebuild failed)

    # The process dies after the commit: the network is new, the tiles are the old ones.
    monkeypatch.setattr(engine, "_rebuild_derived", lost)
    report = await import_file(scratch_settings, sample)
    assert report.status == "succeeded" and report.inserted > 0
    assert await _pending_and_version(scratch) == (True, version)
    assert dict(await scratch.fetchrow(DERIVED)) == after_import
    assert await _job_phase(scratch, report.job_id) == ("succeeded", "refreshing")

    # Not while an import runs (it holds the lock and rebuilds them itself).
    holder = await asyncpg.connect(scratch_settings.database_url)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", engine.IMPORT_LOCK_KEY)
        assert not await engine.repair_pending_derived(scratch)
        assert (await _pending_and_version(scratch))[0]
    finally:
        await holder.close()

    # The sweeper of an API process repairs it on its next tick (its bookings' sweep drops
    # tiles in the app's Redis, as in an API process).
    app = Litestar(route_handlers=[])
    app.state.settings = scratch_settings
    app.state.redis = aioredis.from_url(scratch_settings.redis_url)
    lifespan = sweeper_lifespan(0.05)(app)
    await lifespan.__aenter__()
    try:
        await wait_for(_repaired, within=20)
    finally:
        await lifespan.__aexit__(None, None, None)
        await app.state.redis.aclose()
    assert await _pending_and_version(scratch) == (False, version + 1)
    repaired = dict(await scratch.fetchrow(DERIVED))
    assert repaired != after_import, "the tiles follow the new network"
    assert await _job_phase(scratch, report.job_id) == ("succeeded", "done")
    assert not await engine.repair_pending_derived(scratch), "nothing left to do"

    # Lost again; then an import of the same file, which changes nothing, rebuilds them.
    lost_job = (await import_file(scratch_settings, defects, full=True)).job_id
    assert await _pending_and_version(scratch) == (True, version + 1)
    assert await _job_phase(scratch, lost_job) == ("succeeded", "refreshing")
    monkeypatch.undo()
    again = await import_file(scratch_settings, defects, full=True)
    assert (again.status, again.inserted, again.updated, again.withdrawn) == (
        "succeeded",
        0,
        0,
        0,
    )
    assert await _pending_and_version(scratch) == (False, version + 2)
    assert await _job_phase(scratch, lost_job) == ("succeeded", "done")
    assert await _job_phase(scratch, again.job_id) == ("succeeded", "done")
    rebuilt = dict(await scratch.fetchrow(DERIVED))
    assert rebuilt != repaired, "the sample's points were withdrawn from the tiles"
    await scratch.execute("SELECT refresh_after_import()")
    assert dict(await scratch.fetchrow(DERIVED)) == rebuilt


async def _job_phase(conn: asyncpg.Connection, job_id: object) -> tuple[str, str]:
    row = await conn.fetchrow("SELECT status, phase FROM import_jobs WHERE id = $1", job_id)
    assert row is not None
    return row["status"], row["phase"]


async def test_an_import_into_a_database_not_yet_migrated_to_0025(  # type: ignore[no-untyped-def]
    scratch, scratch_settings: Settings
) -> None:
    """New code before `wattsup migrate` (a rolling deploy): at 0024 import_merge() has two
    arguments and refreshes the derived tile tables in its own transaction, as then."""
    migrate_database(scratch_settings.database_url, "--downgrade", "0024")
    try:
        assert await scratch.fetchval("SELECT to_regprocedure('refresh_derived_done()')") is None
        version = await scratch.fetchval("SELECT data_version FROM app_meta")
        await scratch.execute("TRUNCATE tiles.clusters")
        report = await import_file(scratch_settings, DATA / "irve-v2-defects.csv")
        assert (report.status, report.inserted) == ("succeeded", 7), report.error
        assert await scratch.fetchval("SELECT data_version FROM app_meta") == version + 1
        assert await scratch.fetchval("SELECT count(*) FROM tiles.clusters") > 0
        assert await _job_phase(scratch, report.job_id) == ("succeeded", "done")
    finally:
        migrate_database(scratch_settings.database_url)
    assert await scratch.fetchval("SELECT NOT derived_pending FROM app_meta")
