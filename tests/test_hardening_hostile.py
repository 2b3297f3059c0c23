"""The hostile CSV corpus of the hardening issue, each file imported by `wattsup import` in a
process of its own, as an admin or a cron job would, with the process's peak RSS measured.

Every file of the issue's list is here: wrong encodings, a binary file, a 1 GiB line,
unbalanced quotes, formula injection in text fields, columns missing or reordered, 10^6 empty
lines, coordinates as NaN/Infinity, SQL in every field (plus an empty file, a 64 MiB header
line and a stray byte past the encoding sniff). For each: a clear job result (succeeded with
the good rows kept and the bad ones rejected with a reason, or failed with a message saying
why), nothing executed, and a peak RSS under the ceiling below. tests/test_import.py has the
smaller cases the importer was built against; this is the corpus at full size.

The 1 GiB file is written to the test's temporary directory (about 2 s) and removed at once.
"""

from __future__ import annotations

import csv
import io
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import DATA, ROOT, make_test_env
from tests.fixtures_accounts import create_user, sign_in
from wattsup.config import Settings

# Peak RSS (VmHWM) an import process may reach on any file of the corpus, whatever its size.
# A plain import of the two-row official example peaks near 36 MiB on the reference machine
# (interpreter, asyncpg, the commune list); the reader holds at most one 1 MiB line and a
# 64 KiB chunk, and rows go to PostgreSQL in batches. So: no hostile file may cost more than
# OVER_BASELINE_MIB over that plain import, and none may pass CEILING_MIB at all. The 1 GiB
# line held whole would be 1,024 MiB; even the 64 MiB header line would break the bound.
CEILING_MIB = 128
OVER_BASELINE_MIB = 32

GIB = 1 << 30
SQL = "'); DROP TABLE stations; --"
FORMULAS = ("=cmd|' /C calc'!A0", "+SUM(1;1)", "-2+3", "@SUM(A1)", '=HYPERLINK("http://x")')

with (DATA / "exemple-valide-statique.csv").open(encoding="utf-8", newline="") as _fh:
    _reader = csv.reader(_fh)
    HEADER = next(_reader)
    GOOD = next(r for r in _reader if r[0] == "Société X")
TEXT_FIELDS = (
    "nom_amenageur",
    "contact_amenageur",
    "nom_operateur",
    "contact_operateur",
    "nom_enseigne",
    "id_station_local",
    "nom_station",
    "adresse_station",
    "id_pdc_local",
    "tarification",
    "condition_acces",
    "horaires",
    "accessibilite_pmr",
    "restriction_gabarit",
    "observations",
)


def row(n: int, **changes: str) -> list[str]:
    """The official example's good row, with its own station and point ids."""
    out = list(GOOD)
    out[HEADER.index("id_station_itinerance")] = f"FRHOS{n:09d}"
    out[HEADER.index("id_pdc_itinerance")] = f"FRHOSE{n:09d}"
    for key, value in changes.items():
        out[HEADER.index(key)] = value
    return out


def csv_text(*rows: list[str], header: list[str] = HEADER) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


@dataclass
class Hostile:
    name: str
    build: Callable[[Path, int], Path]
    status: str
    # Failed: a piece of the job's error. Succeeded: the good rows that must be there.
    error: str = ""
    inserted: int = 0
    rejected_at_least: int = 0
    reason: str = ""  # a piece of some reject's reason


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def gigabyte_line(path: Path, n: int) -> Path:
    """A good row, one line of 1 GiB of text, a good row."""
    head = csv_text(row(n)).encode()
    chunk = b"x" * (8 << 20)
    with path.open("wb") as fh:
        fh.write(head)
        for _ in range(GIB // len(chunk)):
            fh.write(chunk)
        fh.write(b"\n")
        fh.write(csv_text(row(n + 1)).split("\n", 1)[1].encode())
    return path


def huge_header(path: Path, n: int) -> Path:
    with path.open("wb") as fh:
        fh.write(b"nom_amenageur," + b"y" * (64 << 20) + b"\n")
        fh.write(csv_text(row(n)).split("\n", 1)[1].encode())
    return path


def empty_lines(path: Path, n: int) -> Path:
    text = csv_text(row(n))
    with path.open("wb") as fh:
        fh.write(text.encode())
        fh.write(b"\n" * 1_000_000)
        fh.write(b"\r\n" * 10_000)
        fh.write(csv_text(row(n + 1)).split("\n", 1)[1].encode())
    return path


def unbalanced_quotes(path: Path, n: int) -> Path:
    """A quote that never closes swallows the lines after it into one field, up to the
    reader's 1 MiB field limit; then reading resumes. 80,000 short lines (1.3 MB) follow it,
    so the limit is hit and the lines past it come out as (rejected) rows."""
    first = csv_text(row(n))
    rest = csv_text(row(n + 1)).split("\n", 1)[1]
    with path.open("wb") as fh:
        fh.write(first.encode())
        fh.write(b'Soci\xc3\xa9t\xc3\xa9 Z,"never closed,1,2\n')
        fh.write(b"a,b,c,d,e,f,g,h\n" * 80_000)
        fh.write(rest.encode())
    return path


def formulas(path: Path, n: int) -> Path:
    kept = row(n, **dict(zip(TEXT_FIELDS, FORMULAS * 3, strict=False)))
    refused = row(n + 1, puissance_nominale=FORMULAS[0], coordonneesXY=FORMULAS[4])
    return _write(path, csv_text(kept, refused).encode())


def reordered(path: Path, n: int) -> Path:
    order = list(range(len(HEADER)))
    random.Random(9).shuffle(order)
    rows = [row(n), row(n + 1, nom_station="Réordonnée")]
    return _write(
        path,
        csv_text(
            *[[r[i] for i in order] for r in rows], header=[HEADER[i] for i in order]
        ).encode(),
    )


def missing_columns(path: Path, n: int) -> Path:
    drop = {HEADER.index("coordonneesXY"), HEADER.index("puissance_nominale")}
    keep = [i for i in range(len(HEADER)) if i not in drop]
    r = row(n)
    return _write(path, csv_text([r[i] for i in keep], header=[HEADER[i] for i in keep]).encode())


def not_finite(path: Path, n: int) -> Path:
    bad = [
        row(n + 1, coordonneesXY="[NaN, 45.0]"),
        row(n + 2, coordonneesXY="[2.35, Infinity]"),
        row(n + 3, coordonneesXY="[-Infinity, 45]"),
        row(n + 4, coordonneesXY="[1e999, 45]"),
        row(n + 5, coordonneesXY="[nan,nan]"),
        row(n + 6, puissance_nominale="NaN"),
        row(n + 7, puissance_nominale="Infinity"),
        row(n + 8, puissance_nominale="1e999"),
    ]
    return _write(path, csv_text(row(n), *bad).encode())


def sql_everywhere(path: Path, n: int) -> Path:
    everywhere = [SQL] * len(HEADER)
    in_text = row(n, **dict.fromkeys(TEXT_FIELDS, SQL))
    quoted = row(n + 1, nom_station='"; SELECT pg_sleep(30); --', adresse_station="\\x00'||'")
    return _write(path, csv_text(everywhere, in_text, quoted).encode())


def stray_byte(path: Path, n: int) -> Path:
    """Valid UTF-8 for the first 64 KiB (the encoding sniff), then a Windows-1252 byte."""
    with path.open("wb") as fh:
        fh.write(csv_text(row(n)).encode())
        fh.write(b"\n" * 70_000)
        last = csv_text(row(n + 1, nom_station="Cafe")).split("\n", 1)[1].encode()
        fh.write(last.replace(b"Cafe", b"Caf\xe9"))
    return path


CORPUS = [
    Hostile(
        "binary",
        lambda p, n: _write(p, bytes(range(256)) * 4096),
        "failed",
        error="fichier binaire",
    ),
    Hostile(
        "undecodable (neither UTF-8 nor Windows-1252)",
        lambda p, n: _write(p, csv_text(row(n)).encode() + b"\x81\x8d\x8f\x90\x9d\n"),
        "failed",
        error="encodage de texte inconnu",
    ),
    Hostile(
        "Windows-1252",
        lambda p, n: _write(p, csv_text(row(n)).encode("cp1252")),
        "succeeded",
        inserted=1,
    ),
    Hostile(
        "UTF-16",
        lambda p, n: _write(p, csv_text(row(n)).encode("utf-16")),
        "succeeded",
        inserted=1,
    ),
    Hostile("stray byte past the sniff", stray_byte, "succeeded", inserted=2),
    Hostile("empty", lambda p, n: _write(p, b""), "failed", error="fichier vide"),
    Hostile(
        "1 GiB line",
        gigabyte_line,
        "succeeded",
        inserted=2,
        rejected_at_least=1,
        reason="ligne de plus de",
    ),
    Hostile("64 MiB header line", huge_header, "failed", error="ligne d'en-tête de plus de 1 MiB"),
    Hostile(
        "unbalanced quote + 80,000 lines",
        unbalanced_quotes,
        "succeeded",
        inserted=2,
        rejected_at_least=1,
        reason="ligne CSV illisible",
    ),
    Hostile("formula injection", formulas, "succeeded", inserted=1, rejected_at_least=1),
    Hostile("columns reordered", reordered, "succeeded", inserted=2),
    Hostile("columns missing", missing_columns, "failed", error="colonnes obligatoires manquantes"),
    Hostile("10^6 empty lines", empty_lines, "succeeded", inserted=2),
    Hostile(
        "NaN / Infinity",
        not_finite,
        "succeeded",
        inserted=1,
        rejected_at_least=8,
        reason="pas des nombres finis",
    ),
    Hostile(
        "SQL in every field",
        sql_everywhere,
        "succeeded",
        inserted=2,
        rejected_at_least=1,
    ),
]


# `wattsup import` as the CLI runs it, then the process's own high-water mark. VmHWM belongs
# to the memory of the program after exec. getrusage's ru_maxrss does not do here: it also
# counts the pytest process's peak, which a vfork()ed child inherits until its exec.
MEASURED_IMPORT = """
import sys
import wattsup.cli
code = wattsup.cli.main(["import", sys.argv[1], "--quiet"])
status = open("/proc/self/status").read()
print("peak-kib", next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM:")))
sys.exit(code)
"""


def _import_measured(settings: Settings, path: Path) -> tuple[int, str, float]:
    """Run `wattsup import` on `path`; return (peak RSS in KiB, its output, seconds)."""
    env = {**make_test_env(), "DATABASE_URL": settings.database_url}
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", MEASURED_IMPORT, str(path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        errors="replace",
    )
    output = out.stdout + out.stderr
    assert out.returncode in (0, 1), output  # succeeded or failed, never a crash
    peak = re.search(r"^peak-kib (\d+)$", out.stdout, re.MULTILINE)
    assert peak, output
    return int(peak.group(1)), output, time.monotonic() - started


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for file in tmp_path.iterdir():  # the 1 GiB file must not outlive the test
        file.unlink()


async def test_hostile_corpus_clear_results_bounded_memory(
    scratch: asyncpg.Connection, scratch_settings: Settings, corpus_dir: Path
) -> None:
    baseline_kib, output, _ = _import_measured(
        scratch_settings, DATA / "exemple-valide-statique.csv"
    )
    assert "import succeeded" in output, output
    ceiling_kib = min(CEILING_MIB << 10, baseline_kib + (OVER_BASELINE_MIB << 10))
    figures = []
    for number, hostile in enumerate(CORPUS):
        path = hostile.build(corpus_dir / f"hostile-{number}.csv", 100 * (number + 1))
        size = path.stat().st_size
        peak_kib, output, seconds = _import_measured(scratch_settings, path)
        path.unlink()
        job_id = re.search(r"job ([0-9a-f-]{36})", output)
        assert job_id, (hostile.name, output)
        job = await scratch.fetchrow(
            "SELECT status, error, inserted, rejected FROM import_jobs WHERE id = $1::uuid",
            job_id.group(1),
        )
        figures.append((hostile.name, size, peak_kib, seconds, job["status"], job["rejected"]))
        label = f"{hostile.name}: {dict(job)}"
        assert job["status"] == hostile.status, label
        assert peak_kib <= ceiling_kib, f"{label}: peak RSS {peak_kib >> 10} MiB"
        if hostile.status == "failed":
            assert hostile.error in (job["error"] or ""), label
            continue
        assert job["inserted"] == hostile.inserted, label
        assert job["rejected"] >= hostile.rejected_at_least, label
        if hostile.reason:
            reasons = await scratch.fetch(
                "SELECT reason FROM import_rejects WHERE job_id = $1::uuid", job_id.group(1)
            )
            assert any(hostile.reason in r["reason"] for r in reasons), (label, reasons)

    print(
        f"\n[hostile corpus] plain import peak RSS {baseline_kib >> 10} MiB; ceiling "
        f"{ceiling_kib >> 10} MiB"
    )
    for name, size, peak, seconds, status, rejected in figures:
        print(
            f"  {name:<46} {size:>14,} B  peak {peak >> 10:>4} MiB  {seconds:5.1f} s  "
            f"{status}, {rejected} rejected"
        )
    worst = max(figures, key=lambda f: f[2])
    print(f"[hostile corpus] highest peak: {worst[2] >> 10} MiB ({worst[0]})")


async def test_hostile_text_is_stored_verbatim_never_run_and_neutralised_in_the_rejects_csv(
    scratch: asyncpg.Connection, scratch_settings: Settings, corpus_dir: Path
) -> None:
    from api.app import create_app
    from wattsup.importer.engine import import_file

    report = await import_file(scratch_settings, sql_everywhere(corpus_dir / "sql.csv", 1))
    assert report.status == "succeeded" and report.inserted == 2, report
    # Nothing ran: the tables are all there, and the text is data, byte for byte.
    assert await scratch.fetchval("SELECT to_regclass('stations') IS NOT NULL")
    stored = await scratch.fetchrow(
        "SELECT s.nom_station, s.adresse_station FROM stations s JOIN charge_points p "
        "ON p.station_id = s.id WHERE p.id_pdc_itinerance = $1",
        row(1)[HEADER.index("id_pdc_itinerance")],
    )
    assert tuple(stored) == (SQL, SQL)

    report = await import_file(scratch_settings, formulas(corpus_dir / "formulas.csv", 10))
    assert report.status == "succeeded" and report.inserted == 1 and report.rejected == 1
    kept = await scratch.fetchval(
        "SELECT s.nom_station FROM stations s JOIN charge_points p ON p.station_id = s.id "
        "WHERE p.id_pdc_itinerance = $1",
        row(10)[HEADER.index("id_pdc_itinerance")],
    )
    assert kept == dict(zip(TEXT_FIELDS, FORMULAS * 3, strict=False))["nom_station"]

    admin = await create_user(scratch, role="admin")
    async with AsyncTestClient(app=create_app(scratch_settings)) as client:
        await sign_in(client, admin["email"], admin["password"])
        r = await client.get(f"/api/admin/imports/{report.job_id}/rejects.csv")
        assert r.status_code == 200, r.text
        cells: list[Any] = [c for line in csv.reader(io.StringIO(r.text)) for c in line]
        # The rejected formulas are in the file, each behind a quote: a spreadsheet shows
        # them as text and runs nothing.
        assert any(c == "'" + FORMULAS[0] for c in cells), cells
        assert any(c == "'" + FORMULAS[4] for c in cells), cells
        assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
        # The JSON view gives the value as it was, in a JSON string.
        r = await client.get(f"/api/admin/imports/{report.job_id}/rejects")
        values = {item["value"] for item in r.json()["items"]}
        assert FORMULAS[0] in values, values
