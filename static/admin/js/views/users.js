// Users: search by email or name (accent-insensitive), filter by role and state, paged.
import { api } from "../api.js";
import { h, fill, add, clear } from "../dom.js";
import { num, dateTime } from "../fmt.js";
import { t, tn } from "../i18n.js";

const KEY = "admin.users.query";
const PER_PAGE = 25;

export function userState(u) {
  if (u.deleted) return h("span", { class: "pill withdrawn" }, t("users.deleted"));
  if (u.disabled) return h("span", { class: "pill out_of_service" }, t("users.disabled"));
  return h("span", { class: "pill in_service" }, t("users.active"));
}

export const fullName = (u) => [u.first_name, u.last_name].filter(Boolean).join(" ") || "—";

export async function render(main) {
  let query;
  try {
    query = { q: "", role: "", disabled: "", page: 1, ...JSON.parse(sessionStorage.getItem(KEY) || "{}") };
  } catch {
    query = { q: "", role: "", disabled: "", page: 1 };
  }
  const tbody = h("tbody", {});
  const pager = h("div", { class: "pager" });
  const count = h("p", { class: "muted", id: "users-count", "aria-live": "polite" });
  const q = h("input", { id: "users-q", name: "q", type: "search", value: query.q,
    autocomplete: "off", placeholder: t("users.search_ph") });
  const role = h("select", { id: "users-role", name: "role" },
    ["", "driver", "admin"].map((v) => h("option", { value: v, selected: query.role === v },
      t(v ? `role.${v}` : "users.any_role"))));
  const state = h("select", { id: "users-disabled", name: "disabled" },
    [["", "users.any_state"], ["false", "users.active"], ["true", "users.disabled"]].map(([v, k]) =>
      h("option", { value: v, selected: query.disabled === v }, t(k))));
  let seq = 0;
  let timer = null;

  async function load() {
    sessionStorage.setItem(KEY, JSON.stringify(query));
    const mine = ++seq;
    const data = await api("/api/admin/users", { query: { ...query, per_page: PER_PAGE } });
    if (mine !== seq) return;
    clear(tbody);
    for (const u of data.items) {
      add(tbody, h("tr", { dataset: { user: u.id } },
        h("th", { scope: "row" }, h("a", { href: `#/users/${u.id}` }, u.email)),
        h("td", {}, fullName(u)),
        h("td", {}, t(`role.${u.role}`)),
        h("td", {}, userState(u)),
        h("td", {}, dateTime(u.created_at))));
    }
    if (!data.items.length) add(tbody, h("tr", {}, h("td", { colspan: 5, class: "muted" }, t("users.none"))));
    const last = Math.max(1, Math.ceil(data.total / PER_PAGE));
    count.textContent = tn("users.count", data.total, { n: num(data.total) });
    fill(pager,
      h("span", {}, t("pager.page", { page: query.page, last })),
      h("button", { type: "button", class: "secondary", disabled: query.page <= 1,
        onclick: () => { query.page -= 1; load(); } }, t("pager.prev")),
      h("button", { type: "button", class: "secondary", disabled: query.page >= last,
        onclick: () => { query.page += 1; load(); } }, t("pager.next")));
  }

  const apply = () => {
    query.q = q.value.trim();
    query.role = role.value;
    query.disabled = state.value;
    query.page = 1;
    load();
  };

  add(main,
    h("div", { class: "page-head" }, h("h1", {}, t("users.title"))),
    h("form", { class: "filters", role: "search", id: "users-filters",
      onsubmit: (e) => { e.preventDefault(); clearTimeout(timer); apply(); } },
    h("div", { class: "field grow" }, h("label", { for: "users-q" }, t("users.search")), q),
    h("div", { class: "field" }, h("label", { for: "users-role" }, t("users.role")), role),
    h("div", { class: "field" }, h("label", { for: "users-disabled" }, t("users.state")), state),
    h("button", { type: "submit", class: "secondary" }, t("stations.search_btn"))),
    count,
    h("div", { class: "table-wrap" }, h("table", { class: "data", id: "users-table" },
      h("caption", { class: "visually-hidden" }, t("users.title")),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, t("users.email")),
        h("th", { scope: "col" }, t("users.name")),
        h("th", { scope: "col" }, t("users.role")),
        h("th", { scope: "col" }, t("users.state")),
        h("th", { scope: "col" }, t("users.created")))),
      tbody)),
    pager,
  );
  q.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(apply, 300); });
  role.addEventListener("change", apply);
  state.addEventListener("change", apply);
  await load();
  q.focus();
  return () => clearTimeout(timer);
}
