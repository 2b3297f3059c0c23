"""Imports over HTTP: streamed upload, one import at a time, SSE progress watched from another
app instance (its own pool and LISTEN connection, as another process would), reconnect with
Last-Event-ID, rejects as JSON and as a CSV that a spreadsheet cannot execute."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import DATA
from tests.fixtures_accounts import create_user, sign_in
from tests.fixtures_network import wait_import_idle
from wattsup.config import Settings
from wattsup.importer.engine import IMPORT_LOCK_KEY

FORMULA = '=HYPERLINK("http://evil.example","x")'


def national_like_csv(rows: int, *, bad_rows: int = 1) -> bytes:
    """`rows` valid IRVE v2 rows (built from the official example) plus `bad_rows` whose
    power is a spreadsheet formula (rejected, then neutralised in the rejects CSV)."""
    with (DATA / "exemple-valide-statique.csv").open(encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        template = next(reader)
        header = reader.fieldnames
    assert header is not None
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for i in range(rows + bad_rows):
        row = dict(template)
        row["id_station_itinerance"] = f"FRHTTP{i // 2:06d}"
        row["id_pdc_itinerance"] = f"FRHTTE{i:07d}"
        row["nom_station"] = f"Station HTTP {i // 2}"
        station = i // 2
        lon, lat = 2.0 + station % 500 * 0.005, 44.0 + station // 500 * 0.05
        row["coordonneesXY"] = f"[{lon:.6f},{lat:.6f}]"
        if i >= rows:
            row["puissance_nominale"] = FORMULA
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


@pytest.fixture
async def scratch_admin(
    scratch_settings: Settings, scratch: asyncpg.Connection
) -> AsyncIterator[tuple[Settings, dict[str, Any]]]:
    await scratch.execute("TRUNCATE users CASCADE")
    user = await create_user(scratch, role="admin")
    yield scratch_settings, user


async def _client(settings: Settings, user: dict[str, Any]) -> AsyncTestClient[Litestar]:
    from api.app import create_app

    client = AsyncTestClient(app=create_app(settings))
    await client.__aenter__()
    await sign_in(client, user["email"], user["password"])
    return client


def parse_sse(text: str) -> list[dict[str, Any]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
            events.append(fields)
    return events


async def _wait_finished(conn: asyncpg.Connection, job_id: str) -> None:
    """Until the job has ended, its tile rebuild after the commit included (the job row says
    "succeeded" from the commit on; the lock goes with the worker's end)."""
    await wait_import_idle(conn)
    assert await conn.fetchval("SELECT status <> 'running' FROM import_jobs WHERE id = $1", job_id)


async def test_upload_is_imported_and_watched_over_sse_from_another_instance(
    scratch_admin: tuple[Settings, dict[str, Any]], scratch: asyncpg.Connection
) -> None:
    settings, admin = scratch_admin
    # Big enough (~18 MB) for the import to outlast the upload's answer: the feed is live.
    body = national_like_csv(30000)
    uploader = await _client(settings, admin)
    watcher = await _client(settings, admin)
    try:
        r = await uploader.post(
            "/api/admin/imports", files={"file": ("national.csv", body, "text/csv")}
        )
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["status"] == "running" and job["file_name"] == "national.csv"
        assert job["file_size"] == len(body)
        job_id = job["id"]

        # Another app instance (its own pool and LISTEN connection) follows the job live;
        # the stream ends with the final state. (Two watchers at once, across processes, is
        # tests/stack/test_scaleout.py.)
        r = await watcher.get(f"/api/admin/imports/{job_id}/events")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(r.text)
        ids = [int(e["id"]) for e in events]
        assert ids == list(range(1, len(events) + 1))
        assert all(e["event"] == "progress" for e in events[:-1])
        live = [e["data"] for e in events[:-1]]
        # Committed, the job has succeeded; its tiles follow ("refreshing"), then "done".
        assert live and all(
            d["status"] == "running" or (d["status"], d["phase"]) == ("succeeded", "refreshing")
            for d in live
        )
        assert {"reading", "merging"} <= {d["phase"] for d in live}
        reads = [d["rows_read"] for d in live]
        assert reads == sorted(reads)
        final = events[-1]
        assert final["event"] == "done"
        assert final["data"]["status"] == "succeeded", final
        assert final["data"]["inserted"] == 30000
        assert final["data"]["rejected"] == 1
        assert final["data"]["rows_read"] == 30001
        assert final["data"]["phase"] == "done"
        assert await scratch.fetchval("SELECT count(*) FROM charge_points") == 30000

        # A late client reconnecting after event 7 gets the current state first, numbered on.
        r = await watcher.get(f"/api/admin/imports/{job_id}/events", headers={"Last-Event-ID": "7"})
        events = parse_sse(r.text)
        assert [e["id"] for e in events] == ["8"] and events[0]["event"] == "done"

        listed = (await watcher.get("/api/admin/imports")).json()
        assert listed["items"][0]["id"] == job_id and listed["items"][0]["source"] == "http"

        rejects = (
            await watcher.get(
                f"/api/admin/imports/{job_id}/rejects", params={"severity": "rejected"}
            )
        ).json()
        rejected = rejects["items"]
        assert rejects["total"] == 1
        assert [(x["line"], x["field"]) for x in rejected] == [(30002, "puissance_nominale")]
        assert rejected[0]["value"] == FORMULA

        r = await watcher.get(f"/api/admin/imports/{job_id}/rejects.csv")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        # UTF-8 with a byte order mark, for Excel.
        assert r.content.startswith(b"\xef\xbb\xbf")
        table = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
        cells = [c for row in table for c in row.values()]
        assert "'" + FORMULA in cells
        assert not any(c.startswith(("=", "+", "@")) for c in cells)
    finally:
        await uploader.__aexit__(None, None, None)
        await watcher.__aexit__(None, None, None)


async def test_second_upload_while_one_runs_gets_409_with_the_running_job(
    scratch_admin: tuple[Settings, dict[str, Any]], scratch: asyncpg.Connection
) -> None:
    settings, admin = scratch_admin
    # Another process's import: it holds the lock and its job row says running.
    other = await asyncpg.connect(settings.database_url)
    await other.execute("SELECT pg_advisory_lock($1)", IMPORT_LOCK_KEY)
    running = await other.fetchval(
        "INSERT INTO import_jobs (file_name) VALUES ('from-the-cli.csv') RETURNING id"
    )
    client = await _client(settings, admin)
    try:
        r = await client.post(
            "/api/admin/imports", files={"file": ("x.csv", national_like_csv(2), "text/csv")}
        )
        assert r.status_code == 409
        problem = r.json()
        assert problem["code"] == "import_running"
        assert problem["running_job_id"] == str(running)
        assert r.headers["content-type"].startswith("application/problem+json")
    finally:
        await other.execute(
            "UPDATE import_jobs SET status = 'failed', finished_at = now() WHERE id = $1", running
        )
        await other.close()
    # The lock went with the other process: the next upload is taken.
    try:
        r = await client.post(
            "/api/admin/imports", files={"file": ("x.csv", national_like_csv(2), "text/csv")}
        )
        assert r.status_code == 202, r.text
        await _wait_finished(scratch, r.json()["id"])
    finally:
        await client.__aexit__(None, None, None)


async def test_bad_uploads_get_a_clear_error_and_free_the_import_slot(
    scratch_admin: tuple[Settings, dict[str, Any]], scratch: asyncpg.Connection, tmp_path: Path
) -> None:
    settings, admin = scratch_admin
    small = msgspec.structs.replace(settings, import_max_mb=1, upload_dir=str(tmp_path))
    client = await _client(small, admin)
    try:
        r = await client.post(
            "/api/admin/imports", files={"other": ("x.csv", b"a,b\n1,2\n", "text/csv")}
        )
        assert r.status_code == 400 and r.json()["code"] == "invalid_upload"
        big = national_like_csv(4000)
        assert len(big) > 1024 * 1024
        r = await client.post("/api/admin/imports", files={"file": ("big.csv", big, "text/csv")})
        assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
        failed = await scratch.fetch(
            "SELECT error FROM import_jobs WHERE status = 'failed' ORDER BY started_at"
        )
        assert len(failed) == 1 and "envoi échoué" in failed[0]["error"]
        # Nothing stays locked or running after refused uploads.
        r = await client.post(
            "/api/admin/imports",
            content=(DATA / "exemple-valide-statique.csv").read_bytes(),
            headers={"Content-Type": "text/csv"},
        )
        assert r.status_code == 202, r.text
        await _wait_finished(scratch, r.json()["id"])
        job = (await client.get(f"/api/admin/imports/{r.json()['id']}")).json()
        assert job["status"] == "succeeded" and job["inserted"] == 2
        # Spool files are removed once their job has ended; the job row says "succeeded" as
        # the data commits, a moment before the worker is done with the file.
        deadline = time.monotonic() + 10
        while list(tmp_path.iterdir()) and time.monotonic() < deadline:  # noqa: ASYNC240, ASYNC110 - polling a directory, nothing to await
            await asyncio.sleep(0.05)
        assert list(tmp_path.iterdir()) == []  # noqa: ASYNC240
    finally:
        await client.__aexit__(None, None, None)
