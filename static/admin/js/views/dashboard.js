// Dashboard: figures on the network and its use, from GET /api/admin/dashboard (itself read
// from the analytics SQL views), drawn as hand-made SVG charts; a map layer of the busiest
// places; a CSV export of every analytics view.
import { api } from "../api.js";
import { barChart, columnChart, ringChart } from "../charts.js";
import { h, add, clear, announce } from "../dom.js";
import { num, pct, day, month, dateTime } from "../fmt.js";
import { t, tn } from "../i18n.js";
import { createMap } from "../map.js";

function kpi(label, value, key) {
  return h("div", { class: "kpi", dataset: { kpi: key } },
    h("span", { class: "kpi-value" }, value), h("span", { class: "kpi-label" }, label));
}

function busiestLayer(map, stations) {
  const data = {
    type: "FeatureCollection",
    features: stations.map((s) => ({
      type: "Feature",
      geometry: { type: "Point", coordinates: [s.lon, s.lat] },
      properties: { name: s.nom_station, reservations: s.reservations },
    })),
  };
  const addLayer = () => {
    map.addSource("busiest", { type: "geojson", data });
    map.addLayer({
      id: "busiest", type: "circle", source: "busiest",
      paint: {
        "circle-color": "#c2410c", "circle-opacity": 0.75,
        "circle-stroke-color": "#ffffff", "circle-stroke-width": 2,
        "circle-radius": ["interpolate", ["linear"], ["get", "reservations"], 1, 7, 50, 22],
      },
    });
    if (stations.length) {
      const lons = stations.map((s) => s.lon);
      const lats = stations.map((s) => s.lat);
      // No closer than zoom 8: the department lines around give the places their context.
      map.fitBounds([[Math.min(...lons), Math.min(...lats)], [Math.max(...lons), Math.max(...lats)]],
        { padding: 40, maxZoom: 8, duration: 0 });
    }
  };
  if (map.loaded()) addLayer();
  else map.on("load", addLayer);
}

// The dashboard redraws itself when the period changes: one map alive at a time.
let liveMap = null;
function dropMap() {
  if (liveMap) liveMap.remove();
  liveMap = null;
}

export async function render(main, _params, days = 30) {
  const [d, views] = await Promise.all([
    api("/api/admin/dashboard", { query: { days } }),
    api("/api/admin/analytics"),
  ]);
  const net = d.network;
  const use = d.use;
  let map = null;

  const daysSelect = h("select", { id: "dash-days",
    onchange: async (e) => {
      dropMap();
      clear(main);
      await render(main, _params, Number(e.target.value));
      document.getElementById("dash-days")?.focus();
      announce(t("dash.updated"));
    } },
    [7, 30, 90, 365].map((n) => h("option", { value: n, selected: n === days }, t("dash.days", { n }))));

  const mapBox = h("div", { class: "map small-map", id: "busiest-map", role: "region",
    "aria-label": t("dash.busiest_map") });

  add(main,
    h("div", { class: "page-head" },
      h("h1", {}, t("dash.title")),
      h("p", { class: "muted" }, t("dash.generated", { at: dateTime(d.generated_at) }))),
    h("section", { "aria-labelledby": "net-h" },
      h("h2", { id: "net-h" }, t("dash.network")),
      h("div", { class: "kpis" },
        kpi(t("dash.stations"), num(net.stations), "stations"),
        kpi(t("dash.points"), num(net.points), "points"),
        kpi(t("dash.in_service"), num(net.points_in_service), "points_in_service"),
        kpi(t("dash.installed"), `${num(net.installed_power_kw / 1000, 1)} MW`, "installed"),
        kpi(t("dash.withdrawn"), num(net.points_withdrawn), "withdrawn")),
      h("div", { class: "chart-grid" },
        ringChart(net.share_in_service, { title: t("dash.share_in_service"), key: "share",
          caption: tn("dash.share_caption", net.points_in_service,
            { n: num(net.points_in_service), total: num(net.points) }) }),
        barChart(d.by_power_class.map((b) => ({ label: b.label, value: b.points,
          secondary: b.points_in_service })),
        { title: t("dash.by_power"), key: "power", valueLabel: t("dash.points"),
          secondaryLabel: t("dash.in_service") }),
        barChart(d.by_connector.map((b) => ({ label: b.label, value: b.points })),
          { title: t("dash.by_connector"), key: "connector", valueLabel: t("dash.points") }),
        barChart(d.by_region.map((b) => ({ label: b.label, value: b.points,
          secondary: b.points_in_service })),
        { title: t("dash.by_region"), key: "region", valueLabel: t("dash.points"),
          secondaryLabel: t("dash.in_service") }),
        barChart(d.by_operator.map((b) => ({ label: b.label, value: b.points })),
          { title: t("dash.by_operator"), key: "operator", valueLabel: t("dash.points") }),
        columnChart(d.new_points_per_month.map((m) => ({ label: m.month, values: [m.points] })),
          { title: t("dash.new_points"), key: "months", formatLabel: month,
            series: [{ name: t("dash.points") }] }),
      ),
      d.new_points_per_month.length ? null : h("p", { class: "muted" }, t("dash.no_dates"))),
    h("section", { "aria-labelledby": "use-h" },
      h("div", { class: "section-head" },
        h("h2", { id: "use-h" }, t("dash.use")),
        h("div", { class: "field inline" }, h("label", { for: "dash-days" }, t("dash.period")), daysSelect)),
      h("div", { class: "kpis" },
        kpi(t("dash.reservations"), num(use.reservations), "reservations"),
        kpi(t("dash.charges"), num(use.charges), "charges"),
        kpi(t("dash.energy"), `${num(use.energy_kwh, 1)} kWh`, "energy"),
        kpi(t("dash.cancel_rate"), pct(use.cancellation_rate), "cancellation_rate"),
        kpi(t("dash.expiry_rate"), pct(use.expiry_rate), "expiry_rate"),
        kpi(t("dash.open_tickets"), num(d.open_reports + d.open_messages), "open_tickets")),
      h("div", { class: "chart-grid" },
        columnChart(d.use_per_day.map((u) => ({ label: u.day, values: [u.reservations, u.charges] })),
          { title: t("dash.per_day"), key: "per_day", formatLabel: (x) => day(x),
            series: [{ name: t("dash.reservations"), cls: "s1" }, { name: t("dash.charges"), cls: "s2" }] }),
        columnChart(d.use_per_day.map((u) => ({ label: u.day, values: [u.energy_kwh] })),
          { title: t("dash.energy_per_day"), key: "energy_per_day", digits: 1,
            formatLabel: (x) => day(x), series: [{ name: "kWh", cls: "s3" }] }),
        columnChart(d.use_per_day.map((u) => ({ label: u.day, values: [u.cancelled, u.expired] })),
          { title: t("dash.cancel_expire"), key: "cancel_expire", formatLabel: (x) => day(x),
            series: [{ name: t("dash.cancelled"), cls: "s4" }, { name: t("dash.expired"), cls: "s5" }] }),
      ),
      h("h3", {}, t("dash.busiest")),
      d.busiest_stations.length
        ? h("div", { class: "split" },
            h("div", { class: "table-wrap" }, h("table", { class: "data", id: "busiest" },
              h("caption", { class: "visually-hidden" }, t("dash.busiest")),
              h("thead", {}, h("tr", {},
                h("th", { scope: "col" }, t("stations.name")),
                h("th", { scope: "col" }, t("stations.commune")),
                h("th", { scope: "col", class: "num" }, t("dash.reservations")),
                h("th", { scope: "col", class: "num" }, t("dash.charges")),
                h("th", { scope: "col", class: "num" }, "kWh"))),
              h("tbody", {}, d.busiest_stations.map((s) => h("tr", {},
                h("th", { scope: "row" }, h("a", { href: `#/stations/${s.station_id}` }, s.nom_station)),
                h("td", {}, s.commune || "—"),
                h("td", { class: "num" }, num(s.reservations)),
                h("td", { class: "num" }, num(s.charges)),
                h("td", { class: "num" }, num(s.energy_kwh, 1))))))),
            mapBox)
        : h("p", { class: "muted" }, t("dash.no_use"))),
    h("section", { "aria-labelledby": "exp-h" },
      h("h2", { id: "exp-h" }, t("dash.exports")),
      h("p", { class: "muted" }, t("dash.exports_help")),
      h("ul", { class: "exports" }, views.map((v) => h("li", {},
        h("a", { href: v.csv_url, download: `wattsup-${v.name}.csv` }, `${v.name}.csv`),
        h("span", { class: "muted" }, ` — ${v.description || ""}`))))),
  );

  if (d.busiest_stations.length) {
    map = await createMap(mapBox);
    liveMap = map;
    if (map) busiestLayer(map, d.busiest_stations);
    else mapBox.replaceWith(h("p", { class: "muted" }, t("map.unavailable")));
  }
  return dropMap;
}
