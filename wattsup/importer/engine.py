"""The import engine: one CSV file → one job → the network tables, in one transaction.

    claim_job()  inserts the job row (one running import at a time, enforced by a unique
                 index) after marking failed any job whose process died;
    run_job()    streams the file: parse + validate each row → one COPY into a temporary
                 staging table, fed as the rows are parsed (the server stores them on the
                 other core meanwhile) → `import_merge()` (sql/import/merge.sql) → COMMIT
                 → the derived tile tables rebuilt, two chains at once (_rebuild_derived).

Why this shape:
- A killed or failed import leaves the previous data intact: everything it writes to the
  network tables happens in one transaction that commits only at the end.
- The derived tile tables (clusters, facets, station cards) are rebuilt after that commit,
  on two connections at once: inside it they ran one after the other on one core. A kill
  in between leaves them marked pending (app_meta.derived_pending), never half-written:
  the next import or the API's sweeper rebuilds them.
- "Is the running import alive?" is answered by PostgreSQL, not by a timer: the importing
  connection holds a session advisory lock for the job's whole life; the lock vanishes with
  the process, so a job marked running whose lock is free is dead.
- Progress goes to the job row and to `pg_notify('import_progress', …)` about twice a
  second, from a second connection, so any process (the SSE feed) can follow it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

import asyncpg
import msgspec

from wattsup.config import Settings
from wattsup.importer.normalize import FieldError
from wattsup.importer.reader import TOO_LONG_MARKER, CsvSource, FileRejected
from wattsup.importer.rows import STAGING_COLUMNS, Issue, RowParser, parser_for
from wattsup.pg import connect

log = logging.getLogger("wattsup.import")

# Arbitrary but fixed: the advisory lock key that marks "an import is running".
IMPORT_LOCK_KEY = 0x1AB0_0001
BATCH_ROWS = 10_000
# A first load inserts its stations and points batch by batch while the next batch is parsed
# (False: all at the end, as any other import; the tests compare the two).
PIPELINED_FIRST_LOAD = True
# Rows whose raw cells hash to what an earlier import stored are staged unvalidated (False:
# every row is validated; the tests compare the two).
SKIP_UNCHANGED_ROWS = True
PROGRESS_EVERY_S = 0.5
# Tries of the merge when PostgreSQL aborts it to break a deadlock (see _merge).
MERGE_ATTEMPTS = 3
REJECT_COLUMNS = ("job_id", "line", "severity", "field", "value", "reason", "id_pdc_itinerance")


class ImportAlreadyRunning(Exception):
    def __init__(self, job_id: UUID) -> None:
        super().__init__(f"an import is already running: {job_id}")
        self.job_id = job_id


class ImportReport(msgspec.Struct):
    job_id: UUID
    status: str
    schema_detected: str | None
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    withdrawn: int
    rejected: int
    duplicates: int
    warnings: int
    seconds: float
    error: str | None = None


ProgressCallback = Callable[[dict[str, Any]], None]

# Connections holding the lock, handed from claim_job to run_job within one process.
_held_locks: dict[UUID, asyncpg.Connection] = {}


# How long a claim waits for the import lock when no job is running. The holder is then the
# tail of an import (its job already "succeeded": the derived tile tables are rebuilt after
# the commit, ~1-2 s for the national file) or the sweeper repairing those tables: seconds of
# work that an admin should wait out, not be refused with "an import is running".
CLAIM_WAIT_S = 15.0


async def _take_lock(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", IMPORT_LOCK_KEY))


async def _wait_for_lock(conn: asyncpg.Connection, wait_s: float) -> bool:
    """The import lock, waiting at most `wait_s`. The lock is the session's: it outlives the
    transaction that only scopes the timeout."""
    try:
        async with conn.transaction():
            await conn.execute(f"SET LOCAL lock_timeout = {max(1, int(wait_s * 1000))}")
            await conn.execute("SELECT pg_advisory_lock($1)", IMPORT_LOCK_KEY)
    except asyncpg.LockNotAvailableError:
        return False
    return True


async def _running_job(conn: asyncpg.Connection) -> UUID | None:
    running: UUID | None = await conn.fetchval(
        "SELECT id FROM import_jobs WHERE status = 'running' ORDER BY started_at LIMIT 1"
    )
    return running


async def claim_job(
    settings: Settings,
    *,
    file_name: str,
    file_size: int | None,
    full: bool,
    source: Literal["cli", "http"],
    created_by: UUID | None,
    wait_s: float = CLAIM_WAIT_S,
) -> UUID:
    """Create the running job row, or raise ImportAlreadyRunning with the live job's id. With
    the lock taken and no job running, waits up to `wait_s` for it (see CLAIM_WAIT_S)."""
    conn = await connect(settings)
    try:
        if not await _take_lock(conn):
            running = await _running_job(conn)
            if running is not None or not await _wait_for_lock(conn, wait_s):
                running = running or await _running_job(conn)
                await conn.close()
                # UUID 0: a job still between its claim and its row, or a rebuild outlasting
                # the wait.
                raise ImportAlreadyRunning(running or UUID(int=0))
        # We hold the lock, so no live import exists: any job still marked running is dead.
        await conn.execute(
            "UPDATE import_jobs SET status = 'failed', phase = 'failed', finished_at = now(), "
            "error = 'interrompu : le processus d''import s''est arrêté avant la fin' "
            "WHERE status = 'running'"
        )
        job_id: UUID = await conn.fetchval(
            "INSERT INTO import_jobs (file_name, file_size, full_snapshot, source, created_by)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            file_name[:255],
            file_size,
            full,
            source,
            created_by,
        )
    except BaseException:
        if not conn.is_closed():
            await conn.close()
        raise
    _held_locks[job_id] = conn
    return job_id


class _Progress:
    """Counters of a running job, published to the row and to NOTIFY at a bounded rate."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        job_id: UUID,
        file_size: int | None,
        callback: ProgressCallback | None,
    ) -> None:
        self.conn = conn
        self.job_id = job_id
        self.file_size = file_size
        self.callback = callback
        self.t0 = time.monotonic()
        self.last = 0.0
        self.c: dict[str, Any] = {
            "phase": "reading",
            "bytes_read": 0,
            "rows_read": 0,
            "inserted": 0,
            "updated": 0,
            "unchanged": 0,
            "withdrawn": 0,
            "rejected": 0,
            "duplicates": 0,
            "warnings": 0,
        }

    def snapshot(self, status: str = "running") -> dict[str, Any]:
        elapsed = time.monotonic() - self.t0
        rate = self.c["rows_read"] / elapsed if elapsed > 0 else 0.0
        eta = None
        if self.file_size and self.c["bytes_read"] and status == "running":
            done = min(self.c["bytes_read"] / self.file_size, 1.0)
            eta = round(elapsed * (1 - done) / done, 1) if done > 0 else None
        return {
            "job_id": str(self.job_id),
            "status": status,
            **self.c,
            "file_size": self.file_size,
            "rows_per_s": round(rate),
            "eta_s": eta,
            "elapsed_s": round(elapsed, 2),
        }

    async def publish(self, *, force: bool = False, status: str = "running") -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        snap = self.snapshot(status)
        if self.callback:
            self.callback(snap)
        await self.conn.execute(
            """
            UPDATE import_jobs SET phase = $2, bytes_read = $3, rows_read = $4, inserted = $5,
                updated = $6, unchanged = $7, withdrawn = $8, rejected = $9, duplicates = $10,
                warnings = $11, heartbeat_at = now()
            WHERE id = $1
            """,
            self.job_id,
            self.c["phase"],
            self.c["bytes_read"],
            self.c["rows_read"],
            self.c["inserted"],
            self.c["updated"],
            self.c["unchanged"],
            self.c["withdrawn"],
            self.c["rejected"],
            self.c["duplicates"],
            self.c["warnings"],
        )
        await self.conn.execute("SELECT pg_notify('import_progress', $1)", json.dumps(snap))


async def run_job(
    settings: Settings,
    job_id: UUID,
    path: Path,
    *,
    on_progress: ProgressCallback | None = None,
) -> ImportReport:
    """Import `path` as job `job_id` (claimed by claim_job). Never raises for bad data: the
    report (and the job row) says what happened."""
    lock_conn = _held_locks.pop(job_id, None)
    if lock_conn is None:  # claimed in another call path of this process, or by a test
        lock_conn = await connect(settings)
        if not await _take_lock(lock_conn):
            await lock_conn.close()
            raise ImportAlreadyRunning(job_id)
    job = await lock_conn.fetchrow(
        "SELECT full_snapshot, file_size FROM import_jobs WHERE id = $1", job_id
    )
    assert job is not None, f"unknown import job {job_id}"
    size = job["file_size"] or path.stat().st_size  # noqa: ASYNC240 - one stat call
    progress = _Progress(lock_conn, job_id, size, on_progress)
    data_conn = await connect(settings)
    schema_detected: str | None = None
    status, error = "failed", None
    tiles_done = True
    try:
        schema_detected, pending = await _import(
            data_conn, lock_conn, progress, path, full=job["full_snapshot"]
        )
        status = "succeeded"
        # Committed: the derived tile tables follow (a failure here loses nothing: the
        # rebuild stays pending and is repaired, see _rebuild_derived()).
        if pending:
            tiles_done = await _rebuild_derived(settings, data_conn, progress)
    except (FileRejected, FieldError) as exc:
        error = f"fichier refusé : {exc}"
    except Exception as exc:
        log.exception("import %s failed", job_id)
        error = f"{type(exc).__name__}: {exc}"
    finally:
        await data_conn.close()
    # A rebuild left pending keeps the job "refreshing" until refresh_derived_done() (the
    # sweeper's repair or the next import) marks it done: the SSE feed ends then.
    progress.c["phase"] = (
        ("done" if tiles_done else "refreshing") if status == "succeeded" else "failed"
    )
    await progress.publish(force=True, status=status)
    await lock_conn.execute(
        "UPDATE import_jobs SET status = $2, finished_at = now(), error = $3, "
        "schema_detected = coalesce($4, schema_detected) WHERE id = $1",
        job_id,
        status,
        error,
        schema_detected,
    )
    await progress.publish(force=True, status=status)
    await lock_conn.close()  # releases the advisory lock
    c = progress.c
    return ImportReport(
        job_id=job_id,
        status=status,
        schema_detected=schema_detected,
        rows_read=c["rows_read"],
        inserted=c["inserted"],
        updated=c["updated"],
        unchanged=c["unchanged"],
        withdrawn=c["withdrawn"],
        rejected=c["rejected"],
        duplicates=c["duplicates"],
        warnings=c["warnings"],
        seconds=round(time.monotonic() - progress.t0, 3),
        error=error,
    )


async def _import(
    data_conn: asyncpg.Connection,
    lock_conn: asyncpg.Connection,
    progress: _Progress,
    path: Path,
    *,
    full: bool,
) -> tuple[str, bool]:
    job_id = progress.job_id
    insee_codes = frozenset(
        r["code_insee"] for r in await data_conn.fetch("SELECT code_insee FROM communes")
    )
    with path.open("rb") as raw:
        source = CsvSource(raw)
        parser = parser_for(source.header, insee_codes)
        if SKIP_UNCHANGED_ROWS:
            parser.remember(*await _stored_fingerprints(data_conn))
        schema_detected = f"{parser.description} ; séparateur « {source.delimiter} »"
        await lock_conn.execute(
            "UPDATE import_jobs SET schema_detected = $2 WHERE id = $1", job_id, schema_detected
        )
        file_issues: list[Issue] = []
        if source.encoding_warning:
            file_issues.append((1, "warning", "*", source.encoding, source.encoding_warning, None))
        await _store_issues(lock_conn, job_id, file_issues)
        progress.c["warnings"] += len(file_issues)

        async with data_conn.transaction():
            await data_conn.execute(await data_conn.fetchval("SELECT import_staging_ddl()"))
            # Every row makes a few dozen short-lived, acyclic objects: at the default
            # threshold the cyclic GC would run every 700 allocations for nothing.
            gc_threshold = gc.get_threshold()
            gc.set_threshold(100_000, *gc_threshold[1:])
            records = _staged_records(source, parser, lock_conn, progress)
            try:
                if PIPELINED_FIRST_LOAD and await data_conn.fetchval(
                    "SELECT import_first_load_begin()"
                ):
                    # Into an empty network: the stations and points go into their tables
                    # batch by batch, while the next batch is parsed (sql/import/merge.sql).
                    await _load_in_batches(data_conn, records)
                else:
                    # One COPY for the whole file, fed row by row as the rows are parsed: the
                    # server stores rows while Python parses the next ones (the other core),
                    # and no batch waits for the server to finish the previous one.
                    await data_conn.copy_records_to_table(
                        "import_staging", records=records, columns=list(STAGING_COLUMNS)
                    )
            finally:
                gc.set_threshold(*gc_threshold)
            c = progress.c
            c["bytes_read"] = source.bytes_read
            c["phase"] = "merging"
            await progress.publish(force=True)
            t_merge = time.monotonic()
            # p_refresh false: the derived tile tables are rebuilt after the commit, on two
            # connections (_rebuild_derived()); the merge marks them pending. A database
            # not yet migrated to 0025 (new code before `wattsup migrate`) has no such
            # rebuild: there the merge refreshes them itself, as before.
            after_commit = await data_conn.fetchval(
                "SELECT to_regprocedure('refresh_derived_done()') IS NOT NULL"
            )
            merged = await _merge(data_conn, job_id, full, after_commit=after_commit)
            pending = after_commit and await data_conn.fetchval(
                "SELECT derived_pending FROM app_meta"
            )
            log.info(
                "import %s: read+copy %.2f s (%d rows unchanged by fingerprint), merge %.2f s",
                job_id,
                t_merge - progress.t0,
                parser.skipped,
                time.monotonic() - t_merge,
            )
            assert merged is not None
            for key in ("inserted", "updated", "unchanged", "withdrawn", "duplicates"):
                c[key] = merged[key]
            c["warnings"] += merged["duplicates"]
            c["phase"] = "committing"
            await progress.publish(force=True)
            # The job's outcome commits with the data. A process killed between this commit
            # and run_job's own update of the row would otherwise leave complete new data
            # under a job that the next claim marks failed ("interrupted"). Last statement of
            # the transaction: from here the row is locked by it until the commit, and
            # nothing else writes the row (lock_conn) before then.
            await data_conn.execute(
                "UPDATE import_jobs SET status = 'succeeded', phase = $10, "
                "finished_at = clock_timestamp(), rows_read = $2, inserted = $3, updated = $4, "
                "unchanged = $5, withdrawn = $6, rejected = $7, duplicates = $8, "
                "warnings = $9 WHERE id = $1",
                job_id,
                c["rows_read"],
                c["inserted"],
                c["updated"],
                c["unchanged"],
                c["withdrawn"],
                c["rejected"],
                c["duplicates"],
                c["warnings"],
                "refreshing" if pending else "done",
            )
    return schema_detected, bool(pending)


async def _merge(
    data_conn: asyncpg.Connection, job_id: UUID, full: bool, *, after_commit: bool
) -> asyncpg.Record | None:
    """import_merge() in a savepoint, run again if it is a deadlock's victim. The merge locks
    the points it changes and withdraws, and the open bookings of the latter; a booking
    transition or the sweeper, which lock a booking and then its point, can meet it in the
    other order on some point at the same instant. PostgreSQL then aborts one of the two:
    if it is the merge, only the merge is undone (the staged file stays) and it runs again,
    once the other has committed, instead of failing a whole national import."""
    for attempt in range(1, MERGE_ATTEMPTS + 1):
        try:
            async with data_conn.transaction():
                return await data_conn.fetchrow(
                    "SELECT * FROM import_merge($1, $2, false)"
                    if after_commit
                    # Before 0025 the function has two arguments (and refreshes itself).
                    else "SELECT * FROM import_merge($1, $2)",
                    job_id,
                    full,
                )
        except asyncpg.DeadlockDetectedError:
            if attempt == MERGE_ATTEMPTS:
                raise
            log.warning("import %s: the merge met a deadlock; merging again", job_id)
    raise AssertionError("unreachable")


async def _rebuild_derived(
    settings: Settings, data_conn: asyncpg.Connection, progress: _Progress
) -> bool:
    """After the import's commit, the derived tile tables its merge marked pending
    (sql/schema/0025_derived_after_commit.sql): the clusters on this connection and, at the
    same time, the facets then the station cards on a second one, each chain in its own
    transaction; then the new data version. Inside the import's transaction they ran one after
    the other on one core (~1.5 s of a national first load, against ~1 s side by side).

    A failure or a kill here leaves app_meta.derived_pending set and the network committed:
    the tiles lag until the next import or the API's sweeper (api/scheduler.py) rebuilds them.
    So this never fails the job: it logs, and returns False (True: nothing left pending)."""
    progress.c["phase"] = "refreshing"
    await progress.publish(force=True, status="succeeded")
    t0 = time.monotonic()
    try:
        other = await connect(settings)
        # Both run to their end before either connection is used or closed again.
        outcomes = await asyncio.gather(
            data_conn.execute("SELECT refresh_derived_clusters()"),
            other.execute("SELECT refresh_derived_facets()"),
            return_exceptions=True,
        )
        await other.close()
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        await data_conn.execute("SELECT refresh_derived_done()")
    except Exception as exc:  # the data is committed: whatever failed here, the job succeeded
        log.error("import %s: derived tile tables left pending: %r", progress.job_id, exc)
        return False
    log.info("import %s: derived tile tables %.2f s", progress.job_id, time.monotonic() - t0)
    return True


async def repair_pending_derived(conn: asyncpg.Connection) -> bool:
    """Rebuild the derived tile tables if an import committed and died before rebuilding them
    (app_meta.derived_pending), unless an import is running: it will rebuild them itself, and
    holds the import lock until it has. Returns whether it rebuilt them. Run by the API's
    sweeper (api/scheduler.py), one process at a time."""
    try:
        if not await conn.fetchval("SELECT derived_pending FROM app_meta"):
            return False
    except asyncpg.UndefinedColumnError:  # a database not yet migrated to 0025
        return False
    if not await _take_lock(conn):
        return False
    try:
        async with conn.transaction():
            # Read again under the lock: an import may have ended in between.
            if not await conn.fetchval("SELECT derived_pending FROM app_meta FOR UPDATE"):
                return False
            await conn.execute("SELECT refresh_after_import()")
        return True
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", IMPORT_LOCK_KEY)


async def _stored_fingerprints(
    conn: asyncpg.Connection,
) -> tuple[frozenset[int], frozenset[int]]:
    """The points' and the stations' fingerprints (not withdrawn), for V2Rows.remember: one
    array each in one round trip (not a row per value: ~160k bigints of a national network)."""
    row = await conn.fetchrow(
        "SELECT (SELECT coalesce(array_agg(import_fp), '{}') FROM charge_points"
        "        WHERE import_fp IS NOT NULL AND withdrawn_at IS NULL) AS points,"
        "       (SELECT coalesce(array_agg(import_fp), '{}') FROM stations"
        "        WHERE import_fp IS NOT NULL AND withdrawn_at IS NULL) AS stations"
    )
    assert row is not None
    return frozenset(row["points"]), frozenset(row["stations"])


async def _staged_records(
    source: CsvSource,
    parser: RowParser,
    lock_conn: asyncpg.Connection,
    progress: _Progress,
) -> AsyncIterator[tuple[Any, ...]]:
    """The staging record of each usable row, in file order. Rejects and warnings are stored
    every BATCH_ROWS rows (on the lock connection, committed as they come, so an admin can
    read them while the import runs) and the progress is published then."""
    job_id = progress.job_id
    c = progress.c
    parse = parser.parse
    issues: list[Issue] = []
    rows_at_flush = 0
    for line, row in source.rows():
        c["rows_read"] += 1
        if row and row[0] == TOO_LONG_MARKER:
            reason = row[1] if len(row) > 1 else "ligne de plus de 1 MiB ; ignorée"
            issues.append((line, "rejected", "*", None, reason[:500], None))
            c["rejected"] += 1
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            c["rows_read"] -= 1  # blank line: not a row
            continue
        result = parse(line, row)
        if result.issues:
            issues.extend(result.issues)
        if result.record is None:
            c["rejected"] += 1
        else:
            yield result.record
        if c["rows_read"] - rows_at_flush >= BATCH_ROWS or len(issues) >= BATCH_ROWS:
            rows_at_flush = c["rows_read"]
            await _store_issues_counted(lock_conn, job_id, issues, progress)
            issues = []
            c["bytes_read"] = source.bytes_read
            await progress.publish()
    await _store_issues_counted(lock_conn, job_id, issues, progress)


async def _load_in_batches(
    data_conn: asyncpg.Connection, records: AsyncIterator[tuple[Any, ...]]
) -> None:
    """First load: each batch of BATCH_ROWS records is copied to `import_batch`, then
    `import_first_load_batch()` stages it and inserts its stations and points while Python
    parses the next batch; the next COPY waits for it (one statement at a time on a connection)."""
    pending: asyncio.Task[str] | None = None
    batch: list[tuple[Any, ...]] = []
    try:
        async for record in records:
            batch.append(record)
            if len(batch) >= BATCH_ROWS:
                pending = await _send_batch(data_conn, batch, pending)
                batch = []
        pending = await _send_batch(data_conn, batch, pending)
        if pending is not None:
            await pending
    finally:
        if pending is not None and not pending.done():
            # Failing elsewhere: let the statement end before the transaction rolls back.
            with contextlib.suppress(Exception):
                await pending


async def _send_batch(
    data_conn: asyncpg.Connection,
    batch: list[tuple[Any, ...]],
    pending: asyncio.Task[str] | None,
) -> asyncio.Task[str] | None:
    if pending is not None:
        await pending
    if not batch:
        return None
    await data_conn.copy_records_to_table(
        "import_batch", records=batch, columns=list(STAGING_COLUMNS)
    )
    task = asyncio.create_task(data_conn.execute("SELECT import_first_load_batch()"))
    await asyncio.sleep(0)  # the task sends the statement; its answer is read later
    return task


async def _store_issues_counted(
    conn: asyncpg.Connection, job_id: UUID, issues: list[Issue], progress: _Progress
) -> None:
    if issues:
        await _store_issues(conn, job_id, issues)
        progress.c["warnings"] += sum(1 for i in issues if i[1] == "warning")


async def _store_issues(conn: asyncpg.Connection, job_id: UUID, issues: list[Issue]) -> None:
    if not issues:
        return
    await conn.copy_records_to_table(
        "import_rejects",
        records=[(job_id, *issue) for issue in issues],
        columns=list(REJECT_COLUMNS),
    )


async def import_file(
    settings: Settings,
    path: Path,
    *,
    full: bool = False,
    source: Literal["cli", "http"] = "cli",
    created_by: UUID | None = None,
    on_progress: ProgressCallback | None = None,
) -> ImportReport:
    """claim_job + run_job, for callers that do both at once (CLI, tests, benchmarks)."""
    job_id = await claim_job(
        settings,
        file_name=path.name,
        file_size=path.stat().st_size,  # noqa: ASYNC240 - one stat call
        full=full,
        source=source,
        created_by=created_by,
    )
    return await run_job(settings, job_id, path, on_progress=on_progress)


def run(coro: Any) -> Any:
    return asyncio.run(coro)
