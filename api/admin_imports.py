"""/api/admin/imports: upload the IRVE CSV, follow the import live, read its rejects.

The upload is claimed first (so a second admin gets 409 before sending 70 MB), streamed to a
spool file, then imported by a task of this process. Progress goes through the job row and
NOTIFY import_progress (wattsup.importer.engine), so the SSE feed can be served by any API
process, to any number of watchers, whichever process runs the import."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import logging
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage, Stream
from litestar.status_codes import HTTP_202_ACCEPTED

from api import import_worker
from api.openapi_errors import problem_spec
from api.schemas.admin import ImportJob, ImportPage, ImportReject, RejectPage
from api.security import CurrentUser, require_admin
from api.upload import save_upload
from wattsup.config import Settings
from wattsup.db import connect
from wattsup.importer.engine import ImportAlreadyRunning, claim_job, run_job
from wattsup.problems import Problem

log = logging.getLogger("wattsup.admin_imports")

JOB_SELECT = """
    SELECT id, status, phase, source, file_name, file_size, full_snapshot, schema_detected,
           bytes_read, rows_read, inserted, updated, unchanged, withdrawn, rejected,
           duplicates, warnings, started_at, finished_at, error,
           extract(epoch FROM coalesce(finished_at, now()) - started_at)::float8 AS elapsed_s
    FROM import_jobs
"""
# Cells a spreadsheet would run as a formula (CSV injection): prefixed with a quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
SSE_TICK_S = 1.0


def job_from_row(row: asyncpg.Record) -> ImportJob:
    values = dict(row)
    elapsed = max(values.pop("elapsed_s") or 0.0, 0.0)
    rate = values["rows_read"] / elapsed if elapsed > 0 else 0.0
    eta = None
    size, done = values["file_size"], values["bytes_read"]
    if values["status"] == "running" and size and done and elapsed > 0:
        fraction = min(done / size, 1.0)
        eta = round(elapsed * (1 - fraction) / fraction, 1)
    return ImportJob(**values, rate=round(rate, 1), eta_s=eta, elapsed_s=round(elapsed, 2))


async def _job(conn: asyncpg.Connection, job_id: UUID) -> ImportJob:
    row = await conn.fetchrow(JOB_SELECT + " WHERE id = $1", job_id)
    if row is None:
        raise Problem(404, "import_not_found", "Import introuvable.")
    return job_from_row(row)


def neutralise(cell: str | None) -> str:
    text = cell or ""
    return "'" + text if text.startswith(FORMULA_START) else text


async def _run_and_clean(settings: Settings, job_id: UUID, path: Path) -> None:
    try:
        await run_job(settings, job_id, path)
    except Exception:
        log.exception("import job %s crashed", job_id)
    finally:
        path.unlink(missing_ok=True)  # noqa: ASYNC240 - one unlink of a spool file


async def _fail_claimed(settings: Settings, job_id: UUID, reason: str) -> None:
    """An upload that did not arrive whole: the job fails and the import lock is freed."""
    from wattsup.importer import engine

    lock_conn = engine._held_locks.pop(job_id, None)
    conn = lock_conn or await connect(settings)
    try:
        await conn.execute(
            "UPDATE import_jobs SET status = 'failed', phase = 'failed', finished_at = now(), "
            "error = $2 WHERE id = $1 AND status = 'running'",
            job_id,
            reason,
        )
        await conn.execute(
            "SELECT pg_notify('import_progress', $1)", json.dumps({"job_id": str(job_id)})
        )
    finally:
        await conn.close()


class AdminImportController(Controller):
    path = "/api/admin/imports"
    tags = ["admin: imports"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [require_admin]  # noqa: RUF012

    @post(
        "/",
        status_code=HTTP_202_ACCEPTED,
        # Litestar's 10 MB default would refuse the national file; save_upload enforces ours.
        request_max_body_size=None,
        responses={413: problem_spec("The file is larger than WATTSUP_IMPORT_MAX_MB")},
        summary="Upload an IRVE CSV (multipart field `file`, or a raw text/csv body)",
        description=(
            "The body is streamed to disk, never held in memory; at most WATTSUP_IMPORT_MAX_MB "
            "(200 MB by default). Answers 202 with the job as soon as the upload is complete; "
            "409 `import_running` (with `running_job_id`) when an import is already running. "
            "The previous import's tile rebuild, after its commit, is waited out (up to 15 s)."
        ),
    )
    async def upload(
        self,
        request: Request[Any, Any, Any],
        state: State,
        current_user: CurrentUser,
        full_snapshot: bool = False,
    ) -> Response[ImportJob]:
        settings: Settings = state.settings
        limit = settings.import_max_mb * 1024 * 1024
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit + 64 * 1024:
            raise Problem(
                413,
                "payload_too_large",
                f"Fichier trop volumineux : {settings.import_max_mb} Mo au plus.",
            )
        try:
            job_id = await import_worker.call(
                claim_job(
                    settings,
                    file_name="(envoi en cours)",
                    file_size=int(length) if length and length.isdigit() else None,
                    full=full_snapshot,
                    source="http",
                    created_by=current_user.id,
                )
            )
        except ImportAlreadyRunning as exc:
            # Job id 0: the lock outlasted the claim's wait with no job row to name.
            named = exc.job_id.int != 0
            raise Problem(
                409,
                "import_running",
                "Un import est déjà en cours : attendez sa fin.",
                extra={"running_job_id": str(exc.job_id)} if named else None,
                headers={"X-Running-Job-Id": str(exc.job_id)} if named else None,
            ) from None
        spool = tempfile.NamedTemporaryFile(  # noqa: SIM115 - handed to the import task
            prefix="wattsup-import-", suffix=".csv", dir=settings.upload_dir or None, delete=False
        )
        path = Path(spool.name)
        try:
            with spool:
                name, size = await save_upload(
                    request.headers.get("content-type", ""), request.stream(), spool, limit=limit
                )
        except BaseException as exc:
            path.unlink(missing_ok=True)  # noqa: ASYNC240 - one unlink of a spool file
            reason = exc.detail if isinstance(exc, Problem) else "envoi interrompu"
            await import_worker.call(_fail_claimed(settings, job_id, f"envoi échoué : {reason}"))
            raise
        async with state.pool.acquire() as conn:
            await conn.execute(
                "UPDATE import_jobs SET file_name = $2, file_size = $3, phase = 'queued' "
                "WHERE id = $1",
                job_id,
                name[:255],
                size,
            )
            job = await _job(conn, job_id)
        import_worker.submit(_run_and_clean(settings, job_id, path))
        return Response(
            job, status_code=HTTP_202_ACCEPTED, headers={"Location": f"{self.path}/{job_id}"}
        )

    @get("/", summary="Past and running imports, newest first")
    async def list_jobs(
        self,
        db_connection: asyncpg.Connection,
        page: int = Parameter(default=1, ge=1, le=100_000),
        per_page: int = Parameter(default=50, ge=1, le=200),
    ) -> ImportPage:
        total = await db_connection.fetchval("SELECT count(*) FROM import_jobs")
        rows = await db_connection.fetch(
            JOB_SELECT + f" ORDER BY started_at DESC LIMIT {per_page} "
            f"OFFSET {(page - 1) * per_page}"
        )
        return ImportPage(
            items=[job_from_row(r) for r in rows], total=total, page=page, per_page=per_page
        )

    @get("/{job_id:uuid}", summary="One import job")
    async def read_job(self, db_connection: asyncpg.Connection, job_id: UUID) -> ImportJob:
        return await _job(db_connection, job_id)

    @get("/{job_id:uuid}/rejects", summary="Rejected rows and warnings of an import (paged)")
    async def rejects(
        self,
        db_connection: asyncpg.Connection,
        job_id: UUID,
        severity: str | None = Parameter(default=None, pattern="^(rejected|warning)$"),
        page: int = Parameter(default=1, ge=1, le=100_000),
        per_page: int = Parameter(default=50, ge=1, le=200),
    ) -> RejectPage:
        await _job(db_connection, job_id)
        total = await db_connection.fetchval(
            "SELECT count(*) FROM import_rejects WHERE job_id = $1 "
            "AND ($2::text IS NULL OR severity = $2)",
            job_id,
            severity,
        )
        rows = await db_connection.fetch(
            "SELECT line, severity, field, reason, value, id_pdc_itinerance FROM import_rejects "
            "WHERE job_id = $1 AND ($2::text IS NULL OR severity = $2) "
            f"ORDER BY line, field LIMIT {per_page} OFFSET {(page - 1) * per_page}",
            job_id,
            severity,
        )
        return RejectPage(
            items=[ImportReject(**dict(r)) for r in rows],
            total=total,
            page=page,
            per_page=per_page,
        )

    @get(
        "/{job_id:uuid}/rejects.csv",
        summary="Rejected rows and warnings as CSV (formula cells neutralised)",
        media_type="text/csv",
    )
    async def rejects_csv(self, state: State, job_id: UUID) -> Stream:
        async with state.pool.acquire() as conn:
            await _job(conn, job_id)

        async def rows() -> AsyncIterator[bytes]:
            out = io.StringIO()
            # A UTF-8 byte order mark first: Excel, where an admin opens this file, reads a
            # CSV without one as the local code page (the French reasons' accents garbled).
            out.write("\ufeff")
            writer = csv.writer(out)
            writer.writerow(["line", "severity", "field", "reason", "value", "id_pdc_itinerance"])
            async with state.pool.acquire() as conn, conn.transaction():
                cursor = conn.cursor(
                    "SELECT line, severity, field, reason, value, id_pdc_itinerance "
                    "FROM import_rejects WHERE job_id = $1 ORDER BY line, field",
                    job_id,
                )
                async for r in cursor:
                    writer.writerow(
                        [
                            r["line"],
                            r["severity"],
                            *(
                                neutralise(r[k])
                                for k in ("field", "reason", "value", "id_pdc_itinerance")
                            ),
                        ]
                    )
                    if out.tell() > 64 * 1024:
                        yield out.getvalue().encode()
                        out.seek(0)
                        out.truncate()
            yield out.getvalue().encode()

        return Stream(
            rows(),
            media_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="import-{job_id}-rejets.csv"',
                "Cache-Control": "no-store",
            },
        )

    @get(
        "/{job_id:uuid}/events",
        summary="Live progress of an import (Server-Sent Events)",
        description=(
            "`event: progress` with the job as JSON at least once a second while it runs "
            "(phases reading, merging, committing, refreshing: the map tiles), then "
            "one `event: done` and the stream ends. The current state comes first, so a late "
            "or reconnecting client (Last-Event-ID) is never behind."
        ),
    )
    async def events(
        self, request: Request[Any, Any, Any], state: State, job_id: UUID
    ) -> ServerSentEvent:
        async with state.pool.acquire() as conn:
            await _job(conn, job_id)  # 404 before the stream starts
        last = request.headers.get("last-event-id", "")
        start = int(last) + 1 if last.isdigit() else 1
        return ServerSentEvent(
            _progress_stream(state, job_id, start),
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )


async def _progress_stream(
    state: State, job_id: UUID, first_id: int
) -> AsyncIterator[ServerSentEventMessage]:
    settings: Settings = state.settings
    wake = asyncio.Event()
    job_key = str(job_id)

    def on_notify(_conn: Any, _pid: int, _channel: str, payload: object) -> None:
        if job_key in str(payload):
            wake.set()

    # LISTEN before reading the current state: nothing can fall between the two.
    listener = await connect(settings)
    await listener.add_listener("import_progress", on_notify)
    event_id = first_id
    try:
        while True:
            wake.clear()
            async with state.pool.acquire() as conn:
                job = await _job(conn, job_id)
            # A succeeded import's network is in; "refreshing": its tiles are not yet
            # (engine._rebuild_derived, or the sweeper's repair if its process died).
            finished = job.status != "running" and job.phase != "refreshing"
            yield ServerSentEventMessage(
                data=json.dumps(_jsonable(job)),
                event="done" if finished else "progress",
                id=event_id,
            )
            event_id += 1
            if finished:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), SSE_TICK_S)
    finally:
        with contextlib.suppress(Exception):
            await listener.close()


def _jsonable(job: ImportJob) -> dict[str, Any]:
    import msgspec

    out: dict[str, Any] = msgspec.to_builtins(job)
    return out
