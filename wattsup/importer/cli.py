"""`wattsup import PATH [--full]`: the engine with a progress bar on the terminal."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import uvloop

from wattsup.config import Settings
from wattsup.importer.engine import ImportAlreadyRunning, import_file


def _bar(snap: dict[str, Any]) -> None:
    size = snap.get("file_size") or 0
    done = min(snap["bytes_read"] / size, 1.0) if size else 0.0
    width = 30
    filled = int(done * width)
    eta = f"{snap['eta_s']:.0f}s" if snap.get("eta_s") is not None else "-"
    line = (
        f"\r[{'#' * filled}{'.' * (width - filled)}] {done * 100:5.1f}% "
        f"{snap['phase']:<10} rows {snap['rows_read']:>9,}  rejected {snap['rejected']:>6,}  "
        f"{snap['rows_per_s']:>7,} rows/s  ETA {eta:>5}"
    )
    sys.stderr.write(line)
    sys.stderr.flush()


def run_import_cli(settings: Settings, path: str, *, full: bool, quiet: bool) -> int:
    tmp: Path | None = None
    if path == "-":  # standard input: spool it to disk so the engine can stream it by bytes
        with tempfile.NamedTemporaryFile(delete=False, suffix=".csv") as fh:
            shutil.copyfileobj(sys.stdin.buffer, fh, 1 << 20)
            tmp = Path(fh.name)
    file = tmp or Path(path)
    if not file.is_file():
        print(f"wattsup import: no such file: {path}", file=sys.stderr)
        return 2
    show = not quiet and sys.stderr.isatty()
    try:
        # uvloop, as the API and tile servers run: the COPY of each batch goes through fewer
        # Python frames than with asyncio's own loop (a national file ~0.1-0.2 s sooner).
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            report = runner.run(
                import_file(settings, file, full=full, on_progress=_bar if show else None)
            )
    except ImportAlreadyRunning as exc:
        print(f"wattsup import: another import is running (job {exc.job_id})", file=sys.stderr)
        return 3
    finally:
        if tmp:
            tmp.unlink(missing_ok=True)
    if show:
        sys.stderr.write("\n")
    print(
        f"import {report.status}: {file.name} ({report.schema_detected or '?'})\n"
        f"  rows read {report.rows_read:,} · inserted {report.inserted:,} · updated "
        f"{report.updated:,} · unchanged {report.unchanged:,} · withdrawn {report.withdrawn:,}"
        f" · rejected {report.rejected:,} · duplicates {report.duplicates:,} · warnings "
        f"{report.warnings:,} · {report.seconds:.2f} s\n  job {report.job_id}"
    )
    if report.error:
        print(f"  error: {report.error}", file=sys.stderr)
    return 0 if report.status == "succeeded" else 1
