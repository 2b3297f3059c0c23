"""Import screen in Chromium: upload the defects file, watch the live progress reach 100 %
with the importer's counts, read the rejects (table and CSV), find the job in the history;
a reload while a job runs re-attaches to it."""

from __future__ import annotations

import csv
import io
import re
import time
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
    text = Path(download.path()).read_text(encoding="utf-8-sig")  # a BOM, for Excel
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
        # Reading: the bytes tell the share and the time left; no later step shown yet.
        expect(page.locator("#import-step")).to_be_hidden()
        expect(page.locator("#import-eta")).not_to_have_text("—")
        # One import at a time: a file can be chosen, but Send waits for the running one.
        send = page.get_by_role("button", name="Envoyer et importer")
        page.locator("#import-file-input").set_input_files(str(DEFECTS))
        expect(page.locator("#import-chosen")).to_contain_text(DEFECTS.name)
        expect(send).to_be_disabled()
        expect(page.locator("#import-busy")).to_be_visible()
        shot(page, "running")

        # Progress moves: the SSE feed is live.
        psql(
            "UPDATE import_jobs SET bytes_read = 750000, rows_read = 40000, phase = 'merging' "
            f"WHERE id = '{job_id}'; SELECT pg_notify('import_progress', "
            f"json_build_object('job_id', '{job_id}')::text)"
        )
        expect(page.locator("#import-phase")).to_contain_text("fusion avec la base")
        # Past the reading, the database merges the whole file at once: no share of it can be
        # told. The reading bar is full, the merge has a bar of its own that claims no
        # percentage (indeterminate), and no time left is made up.
        merge = page.locator("#import-step")
        expect(merge).to_be_visible()
        expect(merge).to_have_text("Fusion avec la base…")
        expect(page.locator("#import-percent")).to_have_text(re.compile(r"^100\s?%$"))
        assert page.locator("#import-step-progress").evaluate("p => p.position") == -1
        expect(page.locator("#import-eta")).to_have_text("—")
        shot(page, "merging")

        # A reload mid-import finds the same job and resumes where it is.
        page.reload()
        expect(live).to_have_attribute("data-job-id", job_id)
        expect(merge).to_have_text("Fusion avec la base…")
        expect(page.locator("#import-percent")).to_have_text(re.compile(r"^100\s?%$"))
        expect(page.locator("#import-live dd[data-count=rows_read]")).to_have_text(
            re.compile(r"^40\s?000$")
        )
        shot(page, "reattached")
        # A file chosen now waits for the running import's end.
        page.locator("#import-file-input").set_input_files(str(DEFECTS))
        expect(page.locator("#import-chosen")).to_contain_text(DEFECTS.name)
        expect(send).to_be_disabled()

        psql(
            "UPDATE import_jobs SET status = 'succeeded', phase = 'done', bytes_read = 1000000, "
            f"rows_read = 50000, inserted = 49000, rejected = 0, finished_at = now() "
            f"WHERE id = '{job_id}'; SELECT pg_notify('import_progress', "
            f"json_build_object('job_id', '{job_id}')::text)"
        )
        expect(live).to_have_attribute("data-status", "succeeded")
        expect(page.locator("#import-percent")).to_have_text(re.compile(r"^100\s?%$"))
        expect(page.locator("#import-report")).to_contain_text(re.compile(r"50\s000 lignes lues"))
        expect(page.locator("#import-busy")).to_be_hidden()
        # The import is over: the merge bar and "following the running import" are gone.
        expect(merge).to_be_hidden()
        expect(page.locator("#import-notice")).to_be_hidden()
        # The file chosen while the other import ran is still chosen, ready to send.
        expect(page.locator("#import-chosen")).to_contain_text(DEFECTS.name)
        expect(send).to_be_enabled()
        page.locator("#import-file-input").set_input_files(str(DEFECTS))
        expect(send).to_be_enabled()
        shot(page, "done")
    finally:
        psql(
            "UPDATE import_jobs SET status = 'failed', phase = 'failed', finished_at = now() "
            f"WHERE id = '{job_id}' AND status = 'running'"
        )


# --- the file drop and the upload's byte progress ---------------------------------------------

_DATA_TRANSFER = """([files]) => {
    const dt = new DataTransfer();
    for (const [name, type, text] of files) dt.items.add(new File([text], name, { type }));
    return dt;
}"""


def _drop(page: Any, selector: str, files: list[tuple[str, str, str]]) -> None:
    """Drag `files` ((name, type, text)) over `selector` and drop them, as a person would."""
    transfer = page.evaluate_handle(_DATA_TRANSFER, [files])
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event(selector, event, {"dataTransfer": transfer})


def _wait_for_job_end(live_server: str, user: dict[str, Any], job_id: str) -> dict[str, Any]:
    """The job as the API has it once it is no longer running (for the next tests' imports)."""
    deadline = time.monotonic() + 60
    with api_as(live_server, user) as api:
        while True:
            job: dict[str, Any] = api.get(f"/api/admin/imports/{job_id}").json()
            if job["status"] != "running" or time.monotonic() > deadline:
                return job
            time.sleep(0.25)


def test_drop_the_real_csv_on_the_zone(
    admin_page: Any,  # noqa: F811
    admin_user: dict[str, Any],  # noqa: F811
    live_server: str,
    shot: Callable[[Any, str], Any],
) -> None:
    """The file dropped on the zone (a DataTransfer holding the real test CSV's bytes) is the
    one uploaded and imported; a file that is not a CSV is refused before anything is sent; a
    file dropped beside the zone does not make the browser leave the page."""
    page = admin_page
    page.goto("/admin/#/import")
    zone = page.locator("#dropzone")
    zone.wait_for()
    send = page.get_by_role("button", name="Envoyer et importer")
    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.url) if r.method == "POST" else None)

    # Hovering highlights the zone; leaving it ends the highlight.
    transfer = page.evaluate_handle(_DATA_TRANSFER, [[("x.csv", "text/csv", "a")]])
    page.dispatch_event("#dropzone", "dragenter", {"dataTransfer": transfer})
    page.dispatch_event("#dropzone", "dragover", {"dataTransfer": transfer})
    expect(zone).to_have_class(re.compile(r"\bover\b"))
    shot(page, "drag-over")
    page.dispatch_event("#dropzone", "dragleave", {"dataTransfer": transfer})
    expect(zone).not_to_have_class(re.compile(r"\bover\b"))

    # Not a CSV: said on the form, nothing to send.
    _drop(page, "#dropzone", [("photo.png", "image/png", "\x89PNG")])
    expect(page.locator("#upload-error")).to_contain_text("photo.png")
    expect(page.locator("#upload-error")).to_contain_text("n'est pas un fichier CSV")
    expect(send).to_be_disabled()
    # Two files at once: one at a time.
    _drop(page, "#dropzone", [("a.csv", "text/csv", "x"), ("b.csv", "text/csv", "y")])
    expect(page.locator("#upload-error")).to_contain_text("Un seul fichier")
    expect(send).to_be_disabled()
    shot(page, "refused-drop")

    # A file dropped beside the zone is caught by the page (default prevented: no navigation).
    transfer = page.evaluate_handle(_DATA_TRANSFER, [[("stray.csv", "text/csv", "a")]])
    caught = page.evaluate(
        """(dt) => {
            const ev = new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true });
            document.querySelector("main h1").dispatchEvent(ev);
            return ev.defaultPrevented;
        }""",
        transfer,
    )
    assert caught is True
    expect(page.locator("#import-chosen")).to_have_text("Aucun fichier choisi.")

    # The real file, dropped: chosen, the error gone, then sent and imported.
    text = DEFECTS.read_bytes().decode("utf-8")
    _drop(page, "#dropzone", [(DEFECTS.name, "text/csv", text)])
    expect(page.locator("#import-chosen")).to_contain_text(DEFECTS.name)
    expect(page.locator("#import-chosen")).to_contain_text("7,1 Ko")
    expect(page.locator("#upload-error")).to_be_hidden()
    expect(send).to_be_enabled()
    shot(page, "dropped")
    assert not [u for u in uploads if "/api/admin/imports" in u], "nothing sent before Send"
    send.click()

    live = page.locator("#import-live")
    expect(live).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(page.locator("#import-percent")).to_have_text(re.compile(r"^100\s?%$"))
    job_id = live.get_attribute("data-job-id")
    with api_as(live_server, admin_user) as api:
        job = api.get(f"/api/admin/imports/{job_id}").json()
    # The server got the dropped bytes: same name, same size, the file's known counts.
    assert job["file_name"] == DEFECTS.name
    assert job["file_size"] == DEFECTS.stat().st_size
    assert (job["rows_read"], job["rejected"], job["duplicates"]) == (14, 6, 1)
    expect(page.locator("#import-report")).to_contain_text("14 lignes lues")
    shot(page, "dropped-imported")


def test_upload_byte_progress_reaches_100(
    admin_page: Any,  # noqa: F811
    admin_user: dict[str, Any],  # noqa: F811
    live_server: str,
    tmp_path: Path,
    shot: Callable[[Any, str], Any],
) -> None:
    """A bigger file (the real test rows repeated) on a slowed upload link: the byte progress
    bar moves through intermediate values, never backwards, and ends at 100 % of the bytes."""
    page = admin_page
    header, *rows = DEFECTS.read_bytes().decode("utf-8").splitlines(keepends=True)
    copies = 600
    big = tmp_path / "irve-repetee.csv"
    big.write_text(header + "".join(rows) * copies, encoding="utf-8", newline="")
    size = big.stat().st_size
    assert size > 3 * 1024 * 1024

    page.goto("/admin/#/import")
    page.locator("#import-file-input").wait_for(state="attached")
    page.locator("#import-file-input").set_input_files(str(big))
    expect(page.locator("#import-chosen")).to_contain_text("irve-repetee.csv")
    # Every value the bar and its text take, in order (the page updates them per XHR event).
    page.evaluate(
        """() => {
            window.__upload = [];
            const bar = document.getElementById("upload-progress");
            const text = document.getElementById("upload-text");
            new MutationObserver(() => window.__upload.push([bar.value, text.textContent]))
                .observe(text, { childList: true, characterData: true, subtree: true });
        }"""
    )
    # About 2 MB/s up, so the upload takes a few seconds and reports on its way.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": 2 * 1024 * 1024,
        },
    )
    page.get_by_role("button", name="Envoyer et importer").click()
    row = page.locator("#upload-row")
    # Waited for in the page (each frame), not by polling: the row is reset once the import
    # ends, which can be sooner than a poll interval after the upload.
    page.wait_for_function("() => window.__upload.some(([v]) => v > 0 && v < 100)")
    shot(page, "uploading")
    page.wait_for_function(
        "() => window.__upload.some(([, text]) => /\\(100\\s?%\\)/.test(text))", timeout=30_000
    )
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    # What the bar showed while sending (the reset after the import empties the text).
    seen: list[list[Any]] = [e for e in page.evaluate("window.__upload") if e[1]]
    values = [v for v, _ in seen]
    assert values == sorted(values), values
    assert any(0 < v < 100 for v in values), values
    assert values[-1] == 100
    # The text counts bytes: the last one is "N Mo / N Mo (100 %)" with the body's size
    # (the file plus the multipart envelope), so at least the file's size.
    last = seen[-1][1].replace("\u202f", " ").replace("\xa0", " ")
    m = re.match(r"^([\d ,]+) Mo / ([\d ,]+) Mo \(100 %\)$", last)
    assert m and m.group(1) == m.group(2), last
    assert float(m.group(2).replace(" ", "").replace(",", ".")) >= round(size / 2**20, 1)

    # The upload ends in a job that imports every row of the big file.
    live = page.locator("#import-live")
    expect(live).to_have_attribute("data-job-id", re.compile(r"^[0-9a-f-]{36}$"))
    job = _wait_for_job_end(live_server, admin_user, live.get_attribute("data-job-id"))
    assert job["status"] == "succeeded", job
    assert job["file_size"] == size
    assert job["rows_read"] == len(rows) * copies
    assert job["rejected"] == 6 * copies
    assert job["inserted"] + job["updated"] + job["unchanged"] == 7
    expect(live).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(row).to_be_hidden()
    shot(page, "big-imported")


def test_upload_renews_an_expired_session(
    admin_page: Any,  # noqa: F811
    live_server: str,
    shot: Callable[[Any, str], Any],
) -> None:
    """The access cookie lasts 15 minutes; the page can stay open longer before the file is
    sent. With only the refresh cookie left, the upload renews the session first and is
    accepted (not a 401 after sending every byte); a 401 all the same (the session ran out
    during a slow upload) renews it and sends the file once more."""
    page = admin_page
    page.goto("/admin/#/import")
    page.locator("#import-file-input").wait_for(state="attached")
    context = page.context
    assert {"wattsup_access", "wattsup_refresh"} <= {c["name"] for c in context.cookies()}
    context.clear_cookies(name="wattsup_access")  # 15 minutes later
    assert "wattsup_access" not in {c["name"] for c in context.cookies()}
    uploads: list[int] = []
    page.on(
        "response",
        lambda r: (
            uploads.append(r.status)
            if r.request.method == "POST" and re.search(r"/api/admin/imports(\?.*)?$", r.url)
            else None
        ),
    )
    page.locator("#import-file-input").set_input_files(str(DEFECTS))
    page.get_by_role("button", name="Envoyer et importer").click()
    live = page.locator("#import-live")
    expect(live).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(page.locator("#upload-error")).to_be_hidden()
    assert uploads == [202], uploads
    first_job = live.get_attribute("data-job-id")
    shot(page, "renewed")

    # Expired during the upload: the server's first answer is a 401 (made here), the page
    # renews the session and sends again.
    page.reload()
    page.locator("#import-file-input").wait_for(state="attached")
    answered: list[str] = []

    def expire_once(route: Any) -> None:
        if answered:
            route.continue_()
            return
        answered.append("401")
        route.fulfill(
            status=401,
            content_type="application/problem+json",
            body='{"status": 401, "code": "not_authenticated", "detail": "Connexion requise."}',
        )

    upload_url = re.compile(r"/api/admin/imports(\?.*)?$")
    page.route(
        upload_url,
        lambda route: expire_once(route) if route.request.method == "POST" else route.continue_(),
    )
    renewals: list[str] = []
    page.on(
        "request", lambda r: renewals.append(r.url) if r.url.endswith("/api/auth/refresh") else None
    )
    page.locator("#import-file-input").set_input_files(str(DEFECTS))
    page.get_by_role("button", name="Envoyer et importer").click()
    expect(live).to_have_attribute("data-job-id", re.compile(r"^[0-9a-f-]{36}$"))
    expect(live).not_to_have_attribute("data-job-id", first_job)
    expect(live).to_have_attribute("data-status", "succeeded", timeout=30_000)
    page.unroute(upload_url)
    assert answered == ["401"]
    assert len(renewals) == 2, renewals  # before sending, and after the 401
    expect(page.locator("#upload-error")).to_be_hidden()
    expect(page.locator("#nav")).to_be_visible()  # still signed in
    expect(page.locator("#import-report")).to_contain_text("14 lignes lues")


def test_full_snapshot_asks_first(
    admin_page: Any,  # noqa: F811
    shot: Callable[[Any, str], Any],
) -> None:
    """A full snapshot withdraws what the file does not list: the page asks first, and
    Escape sends nothing (the test never confirms: the shared data would be withdrawn)."""
    from tests.e2e.test_admin_app import check_confirm_dialog

    page = admin_page
    page.goto("/admin/#/import")
    page.locator("#import-file-input").set_input_files(str(DEFECTS))
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.locator("#import-full").check()
    send = page.get_by_role("button", name="Envoyer et importer")
    check_confirm_dialog(page, send, DEFECTS.name)
    shot(page, "cancelled")
    assert posts == []
    expect(page.locator("#upload-row")).to_be_hidden()
    expect(send).to_be_enabled()
    # Without the box, no question: the import starts at once.
    page.locator("#import-full").uncheck()
    with page.expect_request(re.compile(r"/api/admin/imports(\?.*)?$")) as sent:
        send.click()
    assert "full_snapshot" not in sent.value.url
    expect(page.locator("dialog#confirm")).to_be_hidden()
    expect(page.locator("#import-live")).to_have_attribute(
        "data-status", "succeeded", timeout=30_000
    )


def test_import_the_real_2018_file_again(
    admin_page: Any,  # noqa: F811
    admin_user: dict[str, Any],  # noqa: F811
    live_server: str,
    shot: Callable[[Any, str], Any],
) -> None:
    """The real IRVE rows of 2018 (legacy v1 format, ';'-separated, with their real defects),
    sent again through the page: the bar reaches 100 % and the counts are those of a second
    import of the same file: every row read, nothing new, the same rows rejected."""
    real = DATA / "bornes-irve-2018-v1.csv"
    text = real.read_text(encoding="utf-8")
    records = len(list(csv.reader(io.StringIO(text), delimiter=";"))) - 1
    first = psql(
        "SELECT rows_read, inserted, rejected FROM import_jobs WHERE file_name = "
        f"'{real.name}' AND status = 'succeeded' ORDER BY started_at LIMIT 1"
    ).split("|")
    first_read, first_inserted, first_rejected = (int(x) for x in first)
    assert first_read == records

    page = admin_page
    page.goto("/admin/#/import")
    page.locator("#import-file-input").set_input_files(str(real))
    page.get_by_role("button", name="Envoyer et importer").click()
    live = page.locator("#import-live")
    expect(live).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(page.locator("#import-percent")).to_have_text(re.compile(r"^100\s?%$"))
    shot(page, "real-2018")
    with api_as(live_server, admin_user) as api:
        job = api.get(f"/api/admin/imports/{live.get_attribute('data-job-id')}").json()
    assert job["rows_read"] == records
    assert job["inserted"] == 0
    assert job["updated"] + job["unchanged"] == first_inserted
    assert job["rejected"] == first_rejected
    for key in ("rows_read", "inserted", "updated", "unchanged", "rejected", "warnings"):
        shown = page.locator(f"#import-live dd[data-count={key}]").inner_text()
        assert _digits(shown) == job[key], key
    expect(page.locator("#import-report")).to_contain_text(re.compile(rf"{records} lignes lues"))
    # Rejects and warnings, 50 a page, in line order: the first page as the API has it.
    with api_as(live_server, admin_user) as api:
        rejects = api.get(f"/api/admin/imports/{job['id']}/rejects", params={"per_page": 50}).json()
    assert rejects["total"] >= job["rejected"] > 0
    expect(page.locator("#rejects tbody tr")).to_have_count(min(rejects["total"], 50))
    expect(page.locator("#rejects tbody tr").first.locator("td").first).to_have_text(
        str(rejects["items"][0]["line"])
    )
