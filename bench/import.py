"""Importer benchmark: the national-size file from scratch, again unchanged, then with 1% of
its rows modified. Each import is the real command (`python -m wattsup.cli import FILE
--full`) run as a child process, as an operator would run it.

    .venv/bin/python bench/import.py                 # full run (~157k rows, SYNTHETIC file)
    .venv/bin/python bench/import.py --stations 5000 # smaller synthetic file
    .venv/bin/python bench/import.py --x10           # also a 10x file (ids shifted)

What it does, on its own scratch database (`wattsup_bench_import`, dropped, created and
migrated at each run):

1. Generates bench/data/irve-national-SYNTHETIC.csv with bench/synth_irve.py when missing
   (git-ignored; clearly synthetic rows, built from real distributions), and from it
   bench/data/irve-national-SYNTHETIC-1pct.csv, where 1% of the rows (seeded) have a new
   `tarification` or `puissance_nominale`.
2. scratch:   imports the file into the empty network tables;
   re-import: imports the same file again (must report 0 inserted, 0 updated);
   1% changed: imports the modified file (must report ~1% updated).
3. For each: rows read, wall seconds of the whole process (interpreter start included),
   rows/s end to end, the job's own phases from its progress notifications
   (`import_progress`: read+parse+COPY, merge SQL incl. cluster refresh, commit), the peak RSS
   of the import process (os.wait4 rusage of that child alone), and the job's counters.
Then the figures against the targets of issue 2.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv/bin/python"
if not PY.exists():
    PY = Path(sys.executable)
DATA = ROOT / "bench/data"
PG = "postgresql://postgres@127.0.0.1:5432"
DB = "wattsup_bench_import"
TARGET_ROWS_PER_S = 30_000.0
TARGET_REIMPORT_RATIO = 0.60
TARGET_RSS_MB = 250.0
PREVIOUS = "previous measurement: ~12,900 rows/s from scratch, re-import ~70%, RSS ~65 MB"


@dataclass
class Phase:
    name: str
    file: Path
    wall_s: float = 0.0
    rss_mb: float = 0.0
    returncode: int = 0
    job: dict[str, Any] = field(default_factory=dict)
    marks: dict[str, float] = field(default_factory=dict)  # phase -> job elapsed_s at entry

    @property
    def rows(self) -> int:
        return int(self.job.get("rows_read") or 0)

    @property
    def rate(self) -> float:
        return self.rows / self.wall_s if self.wall_s else float("nan")

    def split(self) -> tuple[float, float, float, float]:
        """(read+copy, merge, commit, outside the job) in seconds."""
        merging = self.marks.get("merging", float("nan"))
        committing = self.marks.get("committing", float("nan"))
        done = self.marks.get("done", float("nan"))
        return merging, committing - merging, done - committing, self.wall_s - done


# --------------------------------------------------------------------------- data


def ensure_files(stations: int) -> tuple[Path, Path]:
    DATA.mkdir(parents=True, exist_ok=True)
    default = stations == 36_000
    base = DATA / ("irve-national-SYNTHETIC.csv" if default else f"irve-SYNTHETIC-{stations}.csv")
    if not base.exists():
        print(f"generating {base.relative_to(ROOT)} (bench/synth_irve.py) …", flush=True)
        subprocess.run(
            [
                str(PY),
                str(ROOT / "bench/synth_irve.py"),
                "--stations",
                str(stations),
                "--out",
                str(base),
            ],
            check=True,
        )
    changed = base.with_name(base.stem + "-1pct.csv")
    if not changed.exists() or changed.stat().st_mtime < base.stat().st_mtime:
        n = modify_rows(base, changed, share=0.01, seed=7)
        print(f"wrote {changed.relative_to(ROOT)}: {n:,} rows modified", flush=True)
    return base, changed


def modify_rows(src: Path, dst: Path, *, share: float, seed: int) -> int:
    """Copy `src` with `share` of its data rows changed: new pricing text or new power."""
    rng = random.Random(seed)
    n = 0
    with (
        src.open(newline="", encoding="utf-8-sig") as fi,
        dst.open("w", newline="", encoding="utf-8") as fo,
    ):
        reader = csv.reader(fi)
        writer = csv.writer(fo)
        header = next(reader)
        writer.writerow(header)
        i_tarif = header.index("tarification")
        i_power = header.index("puissance_nominale")
        for row in reader:
            if len(row) == len(header) and rng.random() < share:
                if rng.random() < 0.5:
                    row[i_tarif] = f"{row[i_tarif]} (tarif révisé {n})".strip()
                else:
                    row[i_power] = "150" if row[i_power].strip() != "150" else "300"
                n += 1
            writer.writerow(row)
    return n


def scale_file(src: Path, dst: Path, times: int) -> None:
    """`times` copies of the rows, ids shifted per copy, positions kept (inside France)."""
    with (
        src.open(newline="", encoding="utf-8-sig") as fi,
        dst.open("w", newline="", encoding="utf-8") as fo,
    ):
        reader = csv.reader(fi)
        writer = csv.writer(fo)
        header = next(reader)
        writer.writerow(header)
        rows = list(reader)
        i_pdc = header.index("id_pdc_itinerance")
        i_sta = header.index("id_station_itinerance")
        for k in range(times):
            for row in rows:
                if k and len(row) == len(header):
                    row = list(row)
                    # FRSYNE0000000001 -> FRSYNE1000000001 ...: still schema-shaped, unique.
                    for i in (i_pdc, i_sta):
                        if len(row[i]) > 6:
                            row[i] = row[i][:5] + chr(ord("A") + k) + row[i][6:]
                writer.writerow(row)


# --------------------------------------------------------------------------- database


async def fresh_database(dsn: str) -> None:
    admin = await asyncpg.connect(f"{PG}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DB}"')
    finally:
        await admin.close()
    env = {**os.environ, "DATABASE_URL": dsn}
    subprocess.run(  # noqa: ASYNC221 - set-up, before any measurement
        [str(PY), "-m", "wattsup.cli", "migrate"],
        check=True,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )


async def run_import(dsn: str, phase: Phase) -> Phase:
    """Run the CLI import as a child; follow its progress notifications; wait4 its rusage."""
    conn = await asyncpg.connect(dsn)

    def on_notify(_c: object, _pid: int, _channel: str, payload: str) -> None:
        snap = json.loads(payload)
        phase.marks.setdefault(snap["phase"], float(snap["elapsed_s"]))

    await conn.add_listener("import_progress", on_notify)
    env = {**os.environ, "DATABASE_URL": dsn}
    cmd = [str(PY), "-m", "wattsup.cli", "import", str(phase.file), "--full", "--quiet"]
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryFile() as out_file:
        t0 = time.perf_counter()
        # Popen does not block; the wait runs in a thread, so the listener keeps receiving.
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out_file)  # noqa: ASYNC220
        # wait4: the rusage of this child alone (RUSAGE_CHILDREN would be a max over all).
        _pid, status, usage = await loop.run_in_executor(None, os.wait4, proc.pid, 0)
        phase.wall_s = time.perf_counter() - t0
        phase.returncode = os.waitstatus_to_exitcode(status)
        out_file.seek(0)
        out = out_file.read().decode()
    phase.rss_mb = usage.ru_maxrss / 1024  # Linux: KiB
    await asyncio.sleep(0.1)  # let the last notifications in
    row = await conn.fetchrow("SELECT * FROM import_jobs ORDER BY started_at DESC LIMIT 1")
    await conn.close()
    phase.job = dict(row) if row else {}
    if phase.returncode != 0 or phase.job.get("status") != "succeeded":
        print(out, file=sys.stderr)
        raise SystemExit(f"{phase.name}: import failed (exit {phase.returncode})")
    return phase


# --------------------------------------------------------------------------- report


def print_phase(p: Phase) -> None:
    read, merge, commit, outside = p.split()
    j = p.job
    print(
        f"{p.name:<11} {p.rows:>9,} {p.wall_s:>8.2f} {p.rate:>9,.0f} {read:>8.2f} {merge:>7.2f}"
        f" {commit:>7.2f} {outside:>7.2f} {p.rss_mb:>7.1f}   ins {j['inserted']:,} upd "
        f"{j['updated']:,} unch {j['unchanged']:,} wdr {j['withdrawn']:,} rej {j['rejected']:,}"
        f" dup {j['duplicates']:,}",
        flush=True,
    )


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, default=36_000, help="synthetic file size")
    ap.add_argument("--x10", action="store_true", help="also import a 10x file from scratch")
    args = ap.parse_args()

    base, changed = ensure_files(args.stations)
    dsn = f"{PG}/{DB}"
    await fresh_database(dsn)
    print(
        f"\nbench/import.py on {DB} ({os.cpu_count()} CPUs); file {base.name} "
        f"({base.stat().st_size / 1e6:.1f} MB, SYNTHETIC); each import = "
        "`python -m wattsup.cli import FILE --full` as a child process\n",
        flush=True,
    )
    print(
        f"{'phase':<11} {'rows':>9} {'wall s':>8} {'rows/s':>9} {'read+cp':>8} {'merge':>7}"
        f" {'commit':>7} {'startup':>7} {'RSS MB':>7}   job counters"
    )
    scratch = print_and(await run_import(dsn, Phase("scratch", base)))
    again = print_and(await run_import(dsn, Phase("re-import", base)))
    modified = print_and(await run_import(dsn, Phase("1% changed", changed)))
    big: Phase | None = None
    if args.x10:
        x10 = base.with_name(base.stem + "-x10.csv")
        if not x10.exists():
            print(f"writing {x10.relative_to(ROOT)} …", flush=True)
            scale_file(base, x10, 10)
        await fresh_database(dsn)
        big = print_and(await run_import(dsn, Phase("x10 scratch", x10)))

    ratio = again.wall_s / scratch.wall_s
    print("\ncolumns: wall s = the whole process; read+cp = parse, validate and COPY to staging;")
    print("merge = import_merge() incl. cluster refresh; startup = interpreter, imports, claim.")
    assert again.job["inserted"] == 0 and again.job["updated"] == 0, "re-import changed rows"
    print(f"\ntargets (issue 2) — {PREVIOUS}")
    print(
        f"  from scratch: {scratch.rate:,.0f} rows/s end to end (target >= "
        f"{TARGET_ROWS_PER_S:,.0f}): {verdict(scratch.rate >= TARGET_ROWS_PER_S)}"
    )
    print(
        f"  unchanged re-import: {again.wall_s:.2f} s = {ratio * 100:.0f}% of scratch (target <= "
        f"{TARGET_REIMPORT_RATIO * 100:.0f}%): {verdict(ratio <= TARGET_REIMPORT_RATIO)}"
    )
    print(
        f"  1% changed: {modified.wall_s:.2f} s = {modified.wall_s / scratch.wall_s * 100:.0f}% "
        f"of scratch; updated {modified.job['updated']:,} rows"
    )
    peak = max(p.rss_mb for p in (scratch, again, modified))
    print(
        f"  peak RSS: {peak:.1f} MB (target <= {TARGET_RSS_MB:.0f}): "
        f"{verdict(peak <= TARGET_RSS_MB)}"
    )
    if big is not None:
        drift = big.rss_mb / scratch.rss_mb - 1
        print(
            f"  x10 file: {big.rate:,.0f} rows/s, RSS {big.rss_mb:.1f} MB ({drift * 100:+.0f}% vs "
            f"1x; target ±10%): {verdict(abs(drift) <= 0.10)}"
        )


def print_and(p: Phase) -> Phase:
    print_phase(p)
    return p


if __name__ == "__main__":
    asyncio.run(main())
