// Import: send the national IRVE CSV (XHR, byte progress), then follow the job live over
// SSE (phase, counts, rows/s, ETA, elapsed). A reload finds the running job again
// (GET /api/admin/imports?per_page=1) and re-attaches; EventSource itself resends
// Last-Event-ID when the connection drops. #/import/{id} shows one past job's report.
import { api, upload, ApiError } from "../api.js";
import { confirmAction } from "../dialog.js";
import { h, fill, add, clear, announce } from "../dom.js";
import { num, bytes, duration, dateTime, pct } from "../fmt.js";
import { t, tn } from "../i18n.js";

const COUNTS = ["rows_read", "inserted", "updated", "unchanged", "withdrawn", "rejected",
  "duplicates", "warnings"];
const REJECTS_PER_PAGE = 50;
const MAX_UPLOAD_BYTES = 200 * 1024 * 1024; // docs/admin-api.md: POST /api/admin/imports

// The phases after the file is read (wattsup/importer/engine.py): the database works on the
// whole file at once there, with no count to follow, so no share or ETA can be told.
const AFTER_READING = ["merging", "committing", "refreshing"];
const pastReading = (job) => AFTER_READING.includes(job.phase) || job.status === "succeeded";

/** The share of the file read, 0..1: bytes read over the file size, 1 once it is all read. */
function fraction(job) {
  if (pastReading(job)) return 1;
  if (!job.file_size) return 0;
  return Math.min(job.bytes_read / job.file_size, job.status === "running" ? 0.99 : 1);
}

/** The step shown as an indeterminate bar ("Fusion avec la base…"), or null while reading. */
function laterStep(job) {
  if (!AFTER_READING.includes(job.phase)) return null;
  if (job.status !== "running" && job.phase !== "refreshing") return null;
  return t(`import.step.${job.phase}`);
}

const phaseLabel = (phase) => (t.has(`import.phase.${phase}`) ? t(`import.phase.${phase}`) : phase);

/** {key: "3 lignes rejetées"} for each count key: each number with its own plural. */
function counted(job, keys) {
  return Object.fromEntries(keys.map((k) => [k, tn(`import.n.${k}`, job[k], { n: num(job[k]) })]));
}

function statusPill(status) {
  return h("span", { class: `pill ${status}` }, t(`import.status.${status}`));
}

// --- the live panel ---------------------------------------------------------------------

function progressPanel() {
  const bar = h("progress", { id: "import-progress", max: 100, value: 0,
    "aria-labelledby": "import-progress-label" });
  const label = h("span", { id: "import-progress-label" }, t("import.progress"));
  const percent = h("span", { class: "percent", id: "import-percent" }, "0 %");
  // No value: an indeterminate bar (it moves without claiming a share of the work).
  const stepLabel = h("span", { id: "import-step-label" });
  const stepRow = h("div", { class: "progress-row step-row", id: "import-step", hidden: true },
    stepLabel, h("progress", { id: "import-step-progress", "aria-labelledby": "import-step-label" }));
  const phase = h("span", { id: "import-phase", class: "phase" });
  const counts = Object.fromEntries(COUNTS.map((k) => [k, h("dd", { dataset: { count: k } }, "—")]));
  const rate = h("dd", { id: "import-rate" }, "—");
  const eta = h("dd", { id: "import-eta" }, "—");
  const elapsed = h("dd", { id: "import-elapsed" }, "—");
  const file = h("p", { class: "muted", id: "import-file" });
  const error = h("p", { class: "form-error", role: "alert", hidden: true, id: "import-error" });
  const root = h("section", { class: "card", id: "import-live", "aria-labelledby": "live-h",
    dataset: { status: "" } },
  h("div", { class: "section-head" }, h("h2", { id: "live-h" }, t("import.live")), phase),
  file,
  h("div", { class: "progress-row" }, label, bar, percent),
  stepRow,
  h("dl", { class: "stats" },
    COUNTS.map((k) => h("div", { class: `stat stat-${k}` }, h("dt", {}, t(`import.count.${k}`)),
      counts[k])),
    h("div", { class: "stat" }, h("dt", {}, t("import.rate")), rate),
    h("div", { class: "stat" }, h("dt", {}, t("import.eta")), eta),
    h("div", { class: "stat" }, h("dt", {}, t("import.elapsed")), elapsed)),
  error);

  let lastPhase = null;
  function update(job) {
    const done = fraction(job);
    bar.value = Math.round(done * 1000) / 10;
    bar.setAttribute("aria-valuetext", pct(done, 0));
    percent.textContent = pct(done, 0);
    root.dataset.status = job.status;
    root.dataset.phase = job.phase;
    root.dataset.jobId = job.id;
    const step = laterStep(job);
    stepRow.hidden = !step;
    stepLabel.textContent = step || "";
    fill(phase, statusPill(job.status), " ", phaseLabel(job.phase));
    file.textContent = `${job.file_name} · ${bytes(job.file_size)} · ${t("import.started_at",
      { at: dateTime(job.started_at) })}${job.full_snapshot ? ` · ${t("import.full")}` : ""}`;
    for (const k of COUNTS) counts[k].textContent = num(job[k]);
    rate.textContent = t("import.rate_value", { n: num(job.rate) });
    // The ETA extrapolates the reading only: past it, it would say "0 s" for the longest part.
    eta.textContent = job.status === "running" && !pastReading(job) ? duration(job.eta_s) : "—";
    elapsed.textContent = duration(job.elapsed_s);
    error.hidden = !job.error;
    error.textContent = job.error || "";
    // Speak phase changes, not every tick.
    if (job.phase !== lastPhase) {
      lastPhase = job.phase;
      announce(`${t("import.live")} : ${phaseLabel(job.phase)}`);
    }
  }
  return { root, update };
}

/**
 * Follow a job's SSE feed. onEvent(job) for each event; resolves with the final job.
 * EventSource reconnects by itself with Last-Event-ID; if the browser gives up (a 401 once the
 * access cookie expired, a server restart), we renew the session with a plain call and reopen.
 */
function follow(jobId, onEvent, signal) {
  return new Promise((resolve, reject) => {
    let source = null;
    let retry = null;
    const open = () => {
      source = new EventSource(`/api/admin/imports/${jobId}/events`);
      source.addEventListener("progress", (e) => onEvent(JSON.parse(e.data)));
      source.addEventListener("done", (e) => {
        const job = JSON.parse(e.data);
        source.close();
        onEvent(job);
        resolve(job);
      });
      source.addEventListener("error", () => {
        if (source.readyState !== EventSource.CLOSED) return; // the browser retries itself
        retry = setTimeout(async () => {
          try {
            const job = await api(`/api/admin/imports/${jobId}`);
            if (job.status === "running") open();
            else { onEvent(job); resolve(job); }
          } catch (error) { reject(error); }
        }, 1000);
      });
    };
    signal.addEventListener("abort", () => {
      if (source) source.close();
      clearTimeout(retry);
    });
    open();
  });
}

// --- report, rejects, history ------------------------------------------------------------

function rejectsSection(job) {
  const body = h("tbody", {});
  const pager = h("div", { class: "pager" });
  const csv = h("a", { href: `/api/admin/imports/${job.id}/rejects.csv`, class: "button secondary",
    download: `import-${job.id}-rejets.csv`, id: "rejects-csv" }, t("import.rejects_csv"));
  const summary = h("p", { class: "muted", id: "rejects-summary" });
  const table = h("table", { class: "data", id: "rejects" },
    h("caption", { class: "visually-hidden" }, t("import.rejects")),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col", class: "num" }, t("import.line")),
      h("th", { scope: "col" }, t("import.severity")),
      h("th", { scope: "col" }, t("import.field")),
      h("th", { scope: "col" }, t("import.reason")),
      h("th", { scope: "col" }, t("import.value")),
      h("th", { scope: "col" }, "id_pdc_itinerance"))),
    body);
  let page = 1;
  async function load() {
    const data = await api(`/api/admin/imports/${job.id}/rejects`,
      { query: { page, per_page: REJECTS_PER_PAGE } });
    clear(body);
    for (const r of data.items) {
      add(body, h("tr", { class: `severity-${r.severity}` },
        h("td", { class: "num" }, num(r.line)),
        h("td", {}, t(`import.sev.${r.severity}`)),
        h("td", {}, h("code", {}, r.field)),
        h("td", {}, r.reason),
        h("td", { class: "value" }, r.value ?? "—"),
        h("td", {}, r.id_pdc_itinerance ?? "—")));
    }
    if (!data.items.length) {
      add(body, h("tr", {}, h("td", { colspan: 6, class: "muted" }, t("import.no_rejects"))));
    }
    summary.textContent = t("import.rejects_summary", {
      ...counted(job, ["warnings"]),
      rejected: tn("import.n.rejects", job.rejected, { n: num(job.rejected) }),
      total: tn("import.n.issues", data.total, { n: num(data.total) }) });
    const last = Math.max(1, Math.ceil(data.total / REJECTS_PER_PAGE));
    fill(pager,
      h("span", {}, t("pager.page", { page, last })),
      h("button", { type: "button", class: "secondary", disabled: page === 1,
        onclick: async () => { page -= 1; await load(); } }, t("pager.prev")),
      h("button", { type: "button", class: "secondary", disabled: page >= last,
        onclick: async () => { page += 1; await load(); } }, t("pager.next")));
  }
  const section = h("section", { class: "card", "aria-labelledby": "rejects-h" },
    h("div", { class: "section-head" }, h("h2", { id: "rejects-h" }, t("import.rejects")), csv),
    summary, h("div", { class: "table-wrap" }, table), pager);
  return { section, load };
}

function reportSection(job) {
  const ok = job.status === "succeeded";
  return h("section", { class: `card report ${job.status}`, id: "import-report",
    "aria-labelledby": "report-h", dataset: { status: job.status } },
  h("h2", { id: "report-h" }, t("import.report")),
  h("p", { class: ok ? "success" : "form-error", role: ok ? null : "alert" },
    ok ? tn("import.report_ok", job.rows_read,
      { rows: num(job.rows_read), time: duration(job.elapsed_s) })
      : t("import.report_failed", { error: job.error || "—" })),
  h("ul", { class: "report-list" },
    h("li", {}, t("import.report_line",
      counted(job, ["inserted", "updated", "unchanged", "withdrawn"]))),
    h("li", {}, t("import.report_rejects", counted(job, ["rejected", "duplicates", "warnings"]))),
    job.schema_detected ? h("li", {}, t("import.schema", { s: job.schema_detected })) : null));
}

// Left out on a tablet (class "narrow-hide"), where the table would not fit: the job's own
// page has them all.
const HISTORY_COUNTS = [["rows_read", ""], ["inserted", ""], ["updated", ""],
  ["unchanged", "narrow-hide"], ["withdrawn", "narrow-hide"], ["rejected", ""]];

async function historySection(currentId) {
  const data = await api("/api/admin/imports", { query: { per_page: 20 } });
  const rows = data.items.map((j) => h("tr", { dataset: { job: j.id },
    "aria-current": j.id === currentId ? "true" : null },
  h("td", {}, h("a", { href: `#/import/${j.id}` }, dateTime(j.started_at))),
  h("td", { class: "file" }, j.file_name),
  h("td", {}, statusPill(j.status)),
  h("td", { class: "narrow-hide" },
    t.has(`import.source.${j.source}`) ? t(`import.source.${j.source}`) : j.source),
  ...HISTORY_COUNTS.map(([k, cls]) => h("td", { class: `num ${cls}` }, num(j[k]))),
  h("td", { class: "num" }, duration(j.elapsed_s))));
  return h("section", { class: "card", "aria-labelledby": "history-h" },
    h("h2", { id: "history-h" }, t("import.history")),
    data.items.length
      ? h("div", { class: "table-wrap" }, h("table", { class: "data", id: "import-history" },
          h("caption", { class: "visually-hidden" }, t("import.history")),
          h("thead", {}, h("tr", {},
            h("th", { scope: "col" }, t("import.started")),
            h("th", { scope: "col" }, t("import.file")),
            h("th", { scope: "col" }, t("import.status")),
            h("th", { scope: "col", class: "narrow-hide" }, t("import.source")),
            ...HISTORY_COUNTS.map(([k, cls]) =>
              h("th", { scope: "col", class: `num ${cls}` }, t(`import.count.${k}`))),
            h("th", { scope: "col", class: "num" }, t("import.elapsed")))),
          h("tbody", {}, rows)))
      : h("p", { class: "muted" }, t("import.no_history")),
    data.total > data.items.length
      ? h("p", { class: "muted" }, t("import.history_more", { n: num(data.total) })) : null);
}

// --- the upload form ---------------------------------------------------------------------

function uploadForm(onUploaded, onRunning) {
  const input = h("input", { type: "file", id: "import-file-input", name: "file",
    accept: ".csv,text/csv", class: "file-input", "aria-describedby": "drop-help" });
  const chosen = h("p", { id: "import-chosen", class: "chosen", "aria-live": "polite" },
    t("import.none_chosen"));
  const full = h("input", { type: "checkbox", id: "import-full" });
  const send = h("button", { type: "submit", id: "import-send", disabled: true }, t("import.send"));
  const bar = h("progress", { id: "upload-progress", max: 100, value: 0,
    "aria-labelledby": "upload-label" });
  const barText = h("span", { id: "upload-text" });
  const uploadRow = h("div", { class: "progress-row", hidden: true, id: "upload-row" },
    h("span", { id: "upload-label" }, t("import.uploading")), bar, barText);
  const error = h("p", { class: "form-error", role: "alert", hidden: true, id: "upload-error" });
  // One import at a time (the API answers 409 otherwise): while one runs, Send waits.
  const busyNote = h("p", { class: "muted help", id: "import-busy", hidden: true },
    t("import.busy"));
  let file = null;
  let busy = false;
  const setBusy = (value) => {
    busy = value;
    send.disabled = !file || busy;
    busyNote.hidden = !busy;
  };

  // The same checks for a picked and a dropped file (a drop bypasses the input's `accept`):
  // one CSV, not empty, within the API's limit. The server checks again.
  const problemWith = (files) => {
    if (files.length > 1) return t("import.one_file");
    const f = files[0];
    if (!/\.csv$/i.test(f.name) && f.type !== "text/csv") return t("import.not_csv", { name: f.name });
    if (!f.size) return t("import.empty_file", { name: f.name });
    if (f.size > MAX_UPLOAD_BYTES) return t("import.too_large", { name: f.name, size: bytes(f.size) });
    return null;
  };
  const choose = (f) => {
    file = f || null;
    send.disabled = !file || busy;
    chosen.textContent = file ? t("import.chosen", { name: file.name, size: bytes(file.size) })
      : t("import.none_chosen");
  };
  const offer = (files) => {
    if (!files || !files.length) return;
    const problem = problemWith(files);
    error.textContent = problem || "";
    error.hidden = !problem;
    choose(problem ? null : files[0]);
    if (problem) input.value = "";
  };
  input.addEventListener("change", () => offer(input.files));

  const zone = h("label", { for: "import-file-input", class: "dropzone", id: "dropzone" },
    h("span", { class: "dropzone-title" }, t("import.drop")),
    h("span", { class: "muted", id: "drop-help" }, t("import.drop_help")));
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = input.disabled ? "none" : "copy";
    zone.classList.add("over");
  });
  // dragleave also fires when the pointer moves onto the zone's own text: only leaving the
  // zone itself ends the highlight.
  zone.addEventListener("dragleave", (e) => {
    if (!zone.contains(e.relatedTarget)) zone.classList.remove("over");
  });
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (input.disabled) return; // an upload is on its way
    offer(e.dataTransfer?.files);
  });

  const form = h("form", { class: "card", id: "import-form", "aria-labelledby": "new-h",
    onsubmit: async (e) => {
      e.preventDefault();
      if (!file) return;
      // A full snapshot withdraws every station the file no longer lists: asked first.
      if (full.checked && !(await confirmAction({ title: t("import.full_title"),
        text: t("import.full_text", { name: file.name }), ok: t("import.full_ok") }))) return;
      error.hidden = true;
      send.disabled = true;
      input.disabled = true;
      uploadRow.hidden = false;
      try {
        const job = await upload("/api/admin/imports", file, {
          query: full.checked ? { full_snapshot: "true" } : {},
          onProgress: (loaded, total) => {
            // Rounded down: 99.6 % sent is not "100 %" (the last bytes may take a while on a
            // slow link); 100 % is said once every byte has gone.
            const ratio = total ? loaded / total : 0;
            bar.value = Math.floor(ratio * 1000) / 10;
            barText.textContent =
              `${bytes(loaded)} / ${bytes(total)} (${pct(Math.floor(ratio * 100) / 100, 0)})`;
          },
        });
        bar.value = 100;
        announce(t("import.uploaded"));
        onUploaded(job);
      } catch (err) {
        if (err instanceof ApiError && err.code === "import_running" && err.problem.running_job_id) {
          onRunning(err.problem.running_job_id, err.message);
        } else {
          error.textContent = err.status === 0 ? t("import.network_error") : err.message;
          error.hidden = false;
        }
        uploadRow.hidden = true;
        send.disabled = !file || busy;
        input.disabled = false;
      }
    } },
  h("h2", { id: "new-h" }, t("import.new")),
  zone, input, chosen,
  h("div", { class: "check" }, full,
    h("label", { for: "import-full" }, t("import.full_label"))),
  h("p", { class: "muted help" }, t("import.full_help")),
  h("div", { class: "actions" }, send),
  busyNote, uploadRow, error);
  return { form, setBusy, chosenFile: () => file,
    reset: () => { choose(null); input.value = ""; uploadRow.hidden = true;
      bar.value = 0; barText.textContent = ""; input.disabled = false; setBusy(false); } };
}

// --- the screen --------------------------------------------------------------------------

export async function render(main, [jobParam]) {
  const abort = new AbortController();
  const live = progressPanel();
  const after = h("div", { id: "import-after" });
  const historySlot = h("div", { id: "history-slot" });
  const notice = h("p", { class: "notice", role: "status", hidden: true, id: "import-notice" });

  async function showFinished(job) {
    fill(after, reportSection(job));
    if (job.rejected || job.warnings) {
      const rejects = rejectsSection(job);
      add(after, rejects.section);
      await rejects.load();
    }
    await refreshHistory(job.id);
  }

  async function refreshHistory(currentId) {
    fill(historySlot, await historySection(currentId));
  }

  let following = null;
  async function attach(jobId) {
    if (following === jobId) return; // already followed (a 409 naming the job we show)
    following = jobId;
    clear(after);
    live.root.hidden = false;
    form.setBusy(true);
    const job = await follow(jobId, live.update, abort.signal).catch((e) => {
      if (!abort.signal.aborted) throw e;
      return null;
    });
    following = null;
    if (!job || abort.signal.aborted) return;
    notice.hidden = true; // "Suivi de l'import en cours." is no longer true
    announce(job.status === "succeeded" ? t("import.finished") : t("import.failed"));
    // Another admin's import (a 409 sent us to it): the file this admin chose stays chosen,
    // to send now that the slot is free. Our own upload's end clears the form.
    const waiting = jobId !== uploaded && form.chosenFile();
    if (waiting) {
      form.setBusy(false);
      announce(t("import.still_chosen", { name: waiting.name }));
    } else {
      form.reset();
    }
    await showFinished(job);
  }

  let uploaded = null; // the job of this page's own upload
  const { form: formEl, reset, setBusy, chosenFile } = uploadForm(
    (job) => { uploaded = job.id; live.update(job); attach(job.id); refreshHistory(job.id); },
    (runningId, message) => {
      notice.textContent = `${message} ${t("import.reattached")}`;
      notice.hidden = false;
      attach(runningId);
    },
  );
  const form = { reset, setBusy, chosenFile };
  live.root.hidden = true;

  // A file dropped beside the zone would make the browser open it in place of the page.
  const keepPage = (e) => {
    if (e.defaultPrevented) return; // the drop zone's own handler took it
    if ([...(e.dataTransfer?.types || [])].includes("Files")) {
      e.preventDefault();
      if (e.type === "dragover") e.dataTransfer.dropEffect = "none";
    }
  };
  window.addEventListener("dragover", keepPage);
  window.addEventListener("drop", keepPage);
  abort.signal.addEventListener("abort", () => {
    window.removeEventListener("dragover", keepPage);
    window.removeEventListener("drop", keepPage);
  });

  add(main,
    h("div", { class: "page-head" }, h("h1", {}, t("import.title")),
      h("p", { class: "muted" }, t("import.intro"))),
    notice,
    jobParam ? h("p", {}, h("a", { href: "#/import" }, `← ${t("import.back_new")}`)) : formEl,
    live.root,
    after,
    historySlot,
  );

  if (jobParam) {
    const job = await api(`/api/admin/imports/${jobParam}`);
    live.update(job);
    live.root.hidden = false;
    if (job.status === "running") attach(job.id);
    else await showFinished(job);
  } else {
    // A job running (from this page before a reload, another admin, or the CLI): follow it.
    const latest = await api("/api/admin/imports", { query: { per_page: 1 } });
    const running = latest.items.find((j) => j.status === "running");
    await refreshHistory(running?.id);
    if (running) {
      live.update(running);
      notice.textContent = t("import.reattached");
      notice.hidden = false;
      attach(running.id);
    }
  }
  return () => abort.abort();
}
