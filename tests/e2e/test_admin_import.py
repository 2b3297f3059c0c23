"""Import screen in Chromium: upload the defects file, watch the live progress reach 100 %
with the importer's counts, read the rejects (table and CSV), find the job in the history;
a reload while a job runs re-attaches to it."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import DATA
from tests.e2e.test_admin_app import admin_page, admin_user, api_as, psql  # noqa: F401

pytestmark = pytest.mark.e2e

DEFECTS = DATA / "irve-v2-defects.csv"


def _digits(text: str) -> int:
    return int(re.sub(r"\D", "", text))


def test_import_defects_file_live(
    admin_page: Any,  # noqa: F811
    admin_user: dict[str, Any],  # noqa: F811
    live_server: str,
    shot: Callable[[Any, str], Any],
) -> None:
    page = admin_page
    page.get_by_role("link", name="Import").click()
    page.get_by_role("heading", name="Import des données IRVE").wait_for()
    send = page.get_by_role("button", name="Envoyer et importer")
    expect(send).to_be_disabled()
    shot(page, "empty")

    page.locator("#import-file-input").set_input_files(str(DEFECTS))
    expect(page.locator("#import-chosen")).to_contain_text("irve-v2-defects.csv")
    expect(send).to_be_enabled()
    send.click()

    live = page.locator("#import-live")
    expect(live).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(page.locator("#import-percent")).to_have_text(re.compile(r"^100\s?%$"))
    assert page.locator("#import-progress").evaluate("e => e.value") == 100
    shot(page, "finished")

    job_id = live.get_attribute("data-job-id")
    with api_as(live_server, admin_user) as api:
        job = api.get(f"/api/admin/imports/{job_id}").json()
    # The file's known shape (tests/test_import.py): 14 rows, 6 rejected, 1 duplicate, 7 points.
    assert job["status"] == "succeeded" and job["file_name"] == "irve-v2-defects.csv"
    assert (job["rows_read"], job["rejected"], job["duplicates"]) == (14, 6, 1)
    assert job["inserted"] + job["updated"] + job["unchanged"] == 7
    for key in (
        "rows_read",
        "inserted",
        "updated",
        "unchanged",
        "withdrawn",
        "rejected",
        "duplicates",
        "warnings",
    ):
        shown = page.locator(f"#import-live dd[data-count={key}]").inner_text()
        assert _digits(shown) == job[key], key
    report = page.locator("#import-report")
    expect(report).to_contain_text("Import réussi : 14 lignes lues")
    expect(report).to_contain_text("6 lignes rejetées")

    # The rejects: the table lists the API's rows; the CSV link downloads the same rows.
    rows = page.locator("#rejects tbody tr")
    with api_as(live_server, admin_user) as api:
        rejects = api.get(f"/api/admin/imports/{job_id}/rejects", params={"per_page": 50}).json()
    expect(rows).to_have_count(min(rejects["total"], 50))
    first = rejects["items"][0]
    assert rows.first.locator("td").nth(0).inner_text() == str(first["line"])
    assert rows.first.locator("td").nth(2).inner_text() == first["field"]
    assert page.locator("#rejects tbody tr.severity-rejected").count() >= 6
    page.locator("#rejects").scroll_into_view_if_needed()
    shot(page, "rejects")

    with page.expect_download() as info:
        page.locator("#rejects-csv").click()
    download = info.value
    text = Path(download.path()).read_text(encoding="utf-8")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][:4] == ["line", "severity", "field", "reason"]
    assert len(lines) - 1 == rejects["total"]

    # The history lists the job first, marked as the current one.
    history = page.locator("#import-history tbody tr").first
    expect(history).to_have_attribute("data-job", job_id)
    assert "irve-v2-defects.csv" in history.inner_text()

    # The job's own page, from the history link, shows the same report.
    history.get_by_role("link").click()
    expect(page).to_have_url(re.compile(f"#/import/{job_id}$"))
    expect(page.locator("#import-report")).to_contain_text("14 lignes lues")
    shot(page, "job-page")


def test_reload_reattaches_to_running_import(
    admin_page: Any,  # noqa: F811
    live_server: str,
    shot: Callable[[Any, str], Any],
) -> None:
    """A job shown as running (here one held by the test, as a CLI import in another process
    would be) is found again after a reload, followed live, and its end is shown."""
    page = admin_page
    job_id = psql(
        "INSERT INTO import_jobs (file_name, file_size, source, phase, bytes_read, rows_read) "
        "VALUES ('national.csv', 1000000, 'cli', 'reading', 250000, 12345) RETURNING id"
    ).splitlines()[0]
    try:
        page.goto("/admin/#/import")
        live = page.locator("#import-live")
        expect(live).to_have_attribute("data-status", "running")
        expect(live).to_have_attribute("data-job-id", job_id)
        expect(page.locator("#import-percent")).to_have_text(re.compile(r"^25\s?%$"))
        expect(page.locator("#import-notice")).to_contain_text("Suivi de l'import en cours")
        shot(page, "running")

        # Progress moves: the SSE feed is live.
        psql(
            "UPDATE import_jobs SET bytes_read = 750000, rows_read = 40000, phase = 'merging' "
            f"WHERE id = '{job_id}'; SELECT pg_notify('import_progress', "
            f"json_build_object('job_id', '{job_id}')::text)"
        )
        expect(page.locator("#import-percent")).to_have_text(re.compile(r"^75\s?%$"))
        expect(page.locator("#import-phase")).to_contain_text("fusion avec la base")

        # A reload mid-import finds the same job and resumes where it is.
        page.reload()
        expect(live).to_have_attribute("data-job-id", job_id)
        expect(page.locator("#import-percent")).to_have_text(re.compile(r"^75\s?%$"))
        expect(page.locator("#import-live dd[data-count=rows_read]")).to_have_text(
            re.compile(r"^40\s?000$")
        )
        shot(page, "reattached")

        psql(
            "UPDATE import_jobs SET status = 'succeeded', phase = 'done', bytes_read = 1000000, "
            f"rows_read = 50000, inserted = 49000, rejected = 0, finished_at = now() "
            f"WHERE id = '{job_id}'; SELECT pg_notify('import_progress', "
            f"json_build_object('job_id', '{job_id}')::text)"
        )
        expect(live).to_have_attribute("data-status", "succeeded")
        expect(page.locator("#import-percent")).to_have_text(re.compile(r"^100\s?%$"))
        expect(page.locator("#import-report")).to_contain_text(re.compile(r"50\s000 lignes lues"))
        shot(page, "done")
    finally:
        psql(
            "UPDATE import_jobs SET status = 'failed', phase = 'failed', finished_at = now() "
            f"WHERE id = '{job_id}' AND status = 'running'"
        )
