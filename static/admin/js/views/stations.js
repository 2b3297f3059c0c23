// Stations: a searchable, sortable, paged table over GET /api/admin/stations. The filters
// and the page live in the session, so coming back from a station finds the same list.
import { api } from "../api.js";
import { h, fill, add, clear, announce } from "../dom.js";
import { num, dateTime } from "../fmt.js";
import { t, tn } from "../i18n.js";

const KEY = "admin.stations.query";
const PER_PAGE = 25;
const COLUMNS = [
  // [sort key or null, label key, css class]; "narrow-hide": left out on a tablet, where the
  // table would not fit (the station's page says it).
  ["name", "stations.name", ""],
  ["commune", "stations.commune", ""],
  ["operator", "stations.operator", ""],
  ["points", "stations.points", "num"],
  ["power", "stations.power", "num"],
  ["status", "stations.status", ""],
  ["updated", "stations.updated", "narrow-hide"],
];

function loadQuery() {
  try {
    return { q: "", commune: "", operator: "", min_power: "", status: "", sort: "name",
      order: "asc", page: 1, ...JSON.parse(sessionStorage.getItem(KEY) || "{}") };
  } catch {
    return { q: "", commune: "", operator: "", min_power: "", status: "", sort: "name",
      order: "asc", page: 1 };
  }
}

export function stationStatus(row) {
  if (row.withdrawn) return h("span", { class: "pill withdrawn" }, t("stations.withdrawn"));
  if (!row.points) return h("span", { class: "pill muted" }, t("stations.no_points"));
  if (row.points_in_service === row.points) {
    return h("span", { class: "pill in_service" }, t("stations.all_in_service"));
  }
  return h("span", { class: "pill out_of_service" },
    t("stations.some_out", { n: row.points - row.points_in_service }));
}

export async function render(main) {
  const query = loadQuery();
  const tbody = h("tbody", {});
  const thead = h("thead", {});
  const pager = h("div", { class: "pager" });
  const count = h("p", { class: "muted", id: "stations-count", "aria-live": "polite" });
  let seq = 0;

  const input = (name, label, attrs = {}) => {
    const el = h("input", { id: `st-${name}`, name, value: query[name], type: "search",
      autocomplete: "off", ...attrs });
    return [h("div", { class: "field" }, h("label", { for: `st-${name}` }, t(label)), el), el];
  };
  const [qField, qInput] = input("q", "stations.search", { placeholder: t("stations.search_ph") });
  const [communeField] = input("commune", "stations.commune");
  const [operatorField] = input("operator", "stations.operator");
  const powerSelect = h("select", { id: "st-min_power", name: "min_power" },
    [["", "stations.any_power"], ["7", "≥ 7 kW"], ["22", "≥ 22 kW"], ["50", "≥ 50 kW"],
      ["150", "≥ 150 kW"]].map(([v, label]) =>
      h("option", { value: v, selected: String(query.min_power) === v }, t(label))));
  const statusSelect = h("select", { id: "st-status", name: "status" },
    ["", "in_service", "out_of_service", "withdrawn"].map((v) =>
      h("option", { value: v, selected: query.status === v }, t(`stations.filter.${v || "any"}`))));

  async function load() {
    sessionStorage.setItem(KEY, JSON.stringify(query));
    const mine = ++seq;
    const data = await api("/api/admin/stations", { query: { ...query, per_page: PER_PAGE } });
    if (mine !== seq) return; // a later search already answered
    drawHead();
    clear(tbody);
    for (const s of data.items) {
      add(tbody, h("tr", { dataset: { station: s.id }, class: s.withdrawn ? "withdrawn" : null },
        h("th", { scope: "row" }, h("a", { href: `#/stations/${s.id}` }, s.nom_station),
          h("span", { class: "sub" }, s.id_station_itinerance)),
        h("td", {}, s.commune || "—", s.code_postal ? h("span", { class: "sub" }, s.code_postal) : null),
        h("td", {}, s.operator || "—"),
        h("td", { class: "num" }, `${num(s.points_in_service)} / ${num(s.points)}`),
        h("td", { class: "num" }, s.max_power_kw === null ? "—" : `${num(s.max_power_kw, 1)} kW`),
        h("td", {}, stationStatus(s)),
        h("td", { class: "narrow-hide" }, dateTime(s.updated_at))));
    }
    if (!data.items.length) {
      add(tbody, h("tr", {}, h("td", { colspan: COLUMNS.length, class: "muted" },
        t("stations.none"))));
    }
    const last = Math.max(1, Math.ceil(data.total / PER_PAGE));
    count.textContent = tn("stations.count", data.total, { n: num(data.total) });
    fill(pager,
      h("span", {}, t("pager.page", { page: query.page, last })),
      h("button", { type: "button", class: "secondary", disabled: query.page <= 1,
        onclick: () => go(query.page - 1) }, t("pager.prev")),
      h("button", { type: "button", class: "secondary", disabled: query.page >= last,
        onclick: () => go(query.page + 1) }, t("pager.next")));
  }

  async function go(page) {
    query.page = page;
    await load();
    announce(t("pager.page", { page, last: "" }).trim());
  }

  function drawHead() {
    fill(thead, h("tr", {}, COLUMNS.map(([key, label, cls]) => {
      if (!key) return h("th", { scope: "col", class: cls }, t(label));
      const active = query.sort === key;
      const sortState = active ? (query.order === "asc" ? "ascending" : "descending") : null;
      return h("th", { scope: "col", class: cls, "aria-sort": sortState },
        h("button", { type: "button", class: "sort", dataset: { sort: key },
          onclick: async () => {
            query.order = active && query.order === "asc" ? "desc" : "asc";
            query.sort = key;
            query.page = 1;
            await load();
            thead.querySelector(`[data-sort="${key}"]`)?.focus();
          } },
        t(label), h("span", { class: "sort-mark", "aria-hidden": "true" },
          active ? (query.order === "asc" ? " ▲" : " ▼") : "")));
    })));
  }

  let timer = null;
  const form = h("form", { class: "filters", role: "search", id: "stations-filters",
    onsubmit: (e) => { e.preventDefault(); clearTimeout(timer); apply(); },
    oninput: (e) => {
      if (e.target.tagName === "SELECT") return;
      clearTimeout(timer);
      timer = setTimeout(apply, 300);
    },
    onchange: (e) => { if (e.target.tagName === "SELECT") apply(); } },
  qField, communeField, operatorField,
  h("div", { class: "field" }, h("label", { for: "st-min_power" }, t("stations.min_power")), powerSelect),
  h("div", { class: "field" }, h("label", { for: "st-status" }, t("stations.status")), statusSelect),
  h("button", { type: "submit", class: "secondary" }, t("stations.search_btn")));

  function apply() {
    const data = new FormData(form);
    for (const k of ["q", "commune", "operator", "min_power", "status"]) query[k] = data.get(k) || "";
    query.page = 1;
    load();
  }

  add(main,
    h("div", { class: "page-head" }, h("h1", {}, t("stations.title")),
      h("a", { href: "#/stations/new", class: "button", id: "new-station" }, t("stations.new"))),
    form,
    count,
    h("div", { class: "table-wrap" }, h("table", { class: "data", id: "stations-table" },
      h("caption", { class: "visually-hidden" }, t("stations.title")), thead, tbody)),
    pager,
  );
  await load();
  qInput.focus();
  return () => clearTimeout(timer);
}
