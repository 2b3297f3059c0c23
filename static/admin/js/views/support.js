// Customer service queue: drivers' problem reports and messages. Answer, answer and close,
// close (final: asks for confirmation). The reporter sees the answers and the resolution on
// the driver page (GET /api/me/reports, /api/me/messages).
import { api } from "../api.js";
import { refreshBadge } from "../app.js";
import { confirmAction } from "../dialog.js";
import { h, fill, add, clear, announce, nextId } from "../dom.js";
import { dateTime, num } from "../fmt.js";
import { t } from "../i18n.js";

const PAGE = 25;

function ticketCard(kind, item, reload) {
  const id = nextId("answer");
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const text = h("textarea", { id, rows: 3, maxlength: 5000, required: true });
  const closed = item.status === "closed";
  const base = `/api/admin/${kind === "report" ? "reports" : "messages"}/${item.id}`;

  async function send(close) {
    error.hidden = true;
    const body = text.value.trim();
    if (!body) {
      error.textContent = t("support.empty_answer");
      error.hidden = false;
      text.focus();
      return;
    }
    if (close && !(await confirmAction({ title: t("support.close_title"),
      text: t("support.close_text"), ok: t("support.answer_close") }))) return;
    try {
      await api(`${base}/answers`, { method: "POST", body: { body, close } });
      announce(close ? t("support.closed_done") : t("support.answered_done"));
      refreshBadge();
      await reload();
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    }
  }

  async function closeOnly() {
    if (!(await confirmAction({ title: t("support.close_title"), text: t("support.close_text"),
      ok: t("support.close") }))) return;
    try {
      await api(`${base}/close`, { method: "POST", body: {} });
      announce(t("support.closed_done"));
      refreshBadge();
      await reload();
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    }
  }

  const who = item.reporter?.name || item.reporter?.email || t("support.deleted_user");
  const headline = kind === "report"
    ? `${t(`category.${item.category}`)} — ${item.station_name}`
    : item.subject;
  return h(
    "article",
    { class: `ticket status-${item.status}`, dataset: { ticket: item.id } },
    h("header", {},
      h("h3", {}, headline),
      h("span", { class: `pill ${item.status}` }, t(`ticket.status.${item.status}`))),
    h("p", { class: "meta" },
      `${dateTime(item.created_at)} · `, who,
      item.reporter?.email && item.reporter?.name ? ` <${item.reporter.email}>` : "",
      item.station_id
        ? [" · ", h("a", { href: `#/stations/${item.station_id}` },
            item.station_name || t("support.station"))]
        : null,
      item.commune ? ` (${item.commune})` : ""),
    item.message ? h("blockquote", {}, item.message) : h("p", { class: "muted" }, t("support.no_text")),
    item.answers.length
      ? h("ol", { class: "answers", "aria-label": t("support.answers") }, item.answers.map((a) =>
          h("li", {}, h("p", { class: "meta" }, `${dateTime(a.created_at)} · ${a.author || "—"}`),
            h("p", {}, a.body))))
      : null,
    item.resolution ? h("p", { class: "resolution" }, h("strong", {}, `${t("support.resolution")} : `),
      item.resolution) : null,
    closed
      ? h("p", { class: "muted" }, t("support.closed_on", { at: dateTime(item.closed_at) }))
      : h("form", { class: "answer-form", onsubmit: (e) => { e.preventDefault(); send(false); } },
          h("label", { for: id }, t("support.your_answer")),
          text,
          error,
          h("div", { class: "actions" },
            h("button", { type: "submit" }, t("support.answer")),
            h("button", { type: "button", class: "secondary", onclick: () => send(true) },
              t("support.answer_close")),
            h("button", { type: "button", class: "danger-outline", onclick: closeOnly },
              t("support.close")))),
  );
}

export async function render(main) {
  let kind = sessionStorage.getItem("support.kind") || "report";
  let status = "active";
  let offset = 0;
  const list = h("div", { class: "tickets", id: "tickets", role: "tabpanel",
    "aria-labelledby": `tab-${kind}` });
  const pager = h("div", { class: "pager" });

  // The ARIA tabs pattern: one Tab stop for the tab list (the selected tab), arrows move
  // between tabs and select them.
  const select = async (k) => {
    kind = k;
    offset = 0;
    sessionStorage.setItem("support.kind", k);
    for (const b of tabs) {
      const on = b.id === `tab-${k}`;
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1;
    }
    list.setAttribute("aria-labelledby", `tab-${k}`);
    await load();
  };
  const kinds = ["report", "message"];
  const tabs = kinds.map((k) => h("button", {
    type: "button", role: "tab", id: `tab-${k}`, "aria-controls": "tickets",
    "aria-selected": String(k === kind), tabindex: k === kind ? "0" : "-1",
    onclick: () => select(k),
    onkeydown: (e) => {
      const moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
      let next = null;
      if (e.key in moves) next = kinds[(kinds.indexOf(k) + moves[e.key] + kinds.length) % kinds.length];
      else if (e.key === "Home") next = kinds[0];
      else if (e.key === "End") next = kinds[kinds.length - 1];
      if (!next) return;
      e.preventDefault();
      document.getElementById(`tab-${next}`).focus();
      select(next);
    },
  }, t(k === "report" ? "support.reports" : "support.messages")));

  const statusSelect = h("select", { id: "ticket-status",
    onchange: async (e) => { status = e.target.value; offset = 0; await load(); } },
    ["active", "open", "answered", "closed", "all"].map((s) =>
      h("option", { value: s, selected: s === status }, t(`status.${s}`))));

  // Tabs switched quickly send overlapping loads: only the latest one's answer is drawn (an
  // earlier, slower one would fill the messages tab with reports).
  let seq = 0;
  async function load() {
    const mine = ++seq;
    const page = await api(`/api/admin/${kind === "report" ? "reports" : "messages"}`,
      { query: { status, limit: PAGE, offset } });
    if (mine !== seq) return;
    clear(list);
    if (!page.items.length) add(list, h("p", { class: "muted" }, t("support.empty")));
    for (const item of page.items) add(list, ticketCard(kind, item, load));
    fill(pager,
      h("span", {}, t("pager.range", { from: page.total ? offset + 1 : 0,
        to: Math.min(offset + PAGE, page.total), total: num(page.total) })),
      h("button", { type: "button", class: "secondary", disabled: offset === 0,
        onclick: async () => { offset = Math.max(0, offset - PAGE); await load(); } }, t("pager.prev")),
      h("button", { type: "button", class: "secondary", disabled: offset + PAGE >= page.total,
        onclick: async () => { offset += PAGE; await load(); } }, t("pager.next")));
  }

  add(main,
    h("div", { class: "page-head" }, h("h1", {}, t("support.title"))),
    h("div", { class: "toolbar" },
      h("div", { role: "tablist", "aria-label": t("support.kind") }, tabs),
      h("div", { class: "field inline" }, h("label", { for: "ticket-status" }, t("support.status")),
        statusSelect)),
    list,
    pager,
  );
  await load();
}
