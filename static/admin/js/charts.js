// Hand-made SVG charts: horizontal bars for breakdowns, columns for time series, a ring for a
// share. Colours come from the stylesheet (classes), sizes from a viewBox so a chart scales
// with its column. Each chart is a <figure> whose SVG has a title and a description, and the
// figures are also given as a table in a <details> (what a screen reader or a tablet user
// may prefer), so nothing is only visual.
import { h, svg, nextId } from "./dom.js";
import { num } from "./fmt.js";
import { t } from "./i18n.js";

function dataTable(columns, rows) {
  return h(
    "details",
    { class: "chart-table" },
    h("summary", {}, t("chart.table")),
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((cell, i) =>
        i === 0 ? h("th", { scope: "row" }, cell) : h("td", { class: "num" }, cell))))),
    ),
  );
}

function frame(title, total, chart, table, key) {
  const id = nextId("chart");
  const fig = h(
    "figure",
    { class: "chart", "aria-labelledby": id, dataset: { chart: key || "", total: String(total) } },
    h("figcaption", { id }, h("span", { class: "chart-title" }, title),
      total === null ? null : h("span", { class: "chart-total" }, t("chart.total", { n: num(total) }))),
    chart,
    table,
  );
  return fig;
}

/**
 * Horizontal bars. items: [{label, value, secondary?}] (secondary drawn as an inner bar, e.g.
 * points in service); opts: {title, key, unit, secondaryLabel}
 */
export function barChart(items, { title, key, valueLabel, secondaryLabel } = {}) {
  const rowH = 26;
  const labelW = 190;
  const valueW = 70;
  const width = 640;
  const height = Math.max(rowH * items.length, rowH);
  const max = Math.max(1, ...items.map((i) => i.value));
  const barW = width - labelW - valueW;
  const titleId = nextId("t");
  const total = items.reduce((a, i) => a + i.value, 0);
  const chart = svg(
    "svg",
    {
      viewBox: `0 0 ${width} ${height}`,
      class: "bars",
      role: "img",
      "aria-labelledby": titleId,
      preserveAspectRatio: "xMinYMin meet",
    },
    svg("title", { id: titleId }, `${title} — ${t("chart.total", { n: num(total) })}`),
    items.map((item, n) => {
      const y = n * rowH;
      const w = (item.value / max) * barW;
      const w2 = item.secondary === undefined ? null : (item.secondary / max) * barW;
      const label = item.label.length > 28 ? `${item.label.slice(0, 27)}…` : item.label;
      return svg(
        "g",
        { class: "bar-row", transform: `translate(0 ${y})` },
        svg("title", {}, `${item.label} : ${num(item.value)}${
          item.secondary === undefined ? "" : ` (${secondaryLabel} : ${num(item.secondary)})`}`),
        svg("text", { x: labelW - 8, y: rowH / 2, class: "bar-label", "text-anchor": "end",
          "dominant-baseline": "middle" }, label),
        svg("rect", { x: labelW, y: 4, width: Math.max(w, 1), height: rowH - 8, class: "bar",
          rx: 2 }),
        w2 === null ? null : svg("rect", { x: labelW, y: 9, width: Math.max(w2, 0),
          height: rowH - 18, class: "bar-secondary", rx: 1 }),
        svg("text", { x: labelW + w + 6, y: rowH / 2, class: "bar-value",
          "dominant-baseline": "middle" }, num(item.value)),
      );
    }),
  );
  const cols = [t("chart.label"), valueLabel || t("chart.value")];
  if (secondaryLabel) cols.push(secondaryLabel);
  const rows = items.map((i) => [i.label, num(i.value)].concat(
    secondaryLabel ? [num(i.secondary)] : []));
  return frame(title, total, chart, dataTable(cols, rows), key);
}

/**
 * Columns over time. points: [{label, values: [v1, v2…]}]; series: [{name, cls}]; the first
 * series is the one totalled.
 */
export function columnChart(points, { title, key, series, formatLabel = String, digits = 0,
  showTotal = true } = {}) {
  const width = 640;
  const height = 200;
  const pad = { l: 44, r: 8, t: 10, b: 28 };
  const plotW = width - pad.l - pad.r;
  const plotH = height - pad.t - pad.b;
  const max = Math.max(1, ...points.flatMap((p) => p.values));
  const slot = plotW / Math.max(points.length, 1);
  const colW = Math.max(1, (slot * 0.8) / series.length);
  const every = Math.max(1, Math.ceil(points.length / 8));
  const titleId = nextId("t");
  const total = points.reduce((a, p) => a + (p.values[0] || 0), 0);
  const ticks = [0, max / 2, max];
  const chart = svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, class: "columns", role: "img",
      "aria-labelledby": titleId },
    svg("title", { id: titleId }, showTotal ? `${title} — ${t("chart.total", { n: num(total, digits) })}` : title),
    ticks.map((v) => {
      const y = pad.t + plotH - (v / max) * plotH;
      return svg("g", { class: "tick" },
        svg("line", { x1: pad.l, x2: width - pad.r, y1: y, y2: y, class: "grid" }),
        svg("text", { x: pad.l - 6, y, "text-anchor": "end", "dominant-baseline": "middle",
          class: "axis" }, num(v, v < 10 ? 1 : 0)));
    }),
    points.map((p, i) => svg(
      "g",
      { class: "col-group" },
      svg("title", {}, `${formatLabel(p.label)} : ${series.map((s, k) =>
        `${s.name} ${num(p.values[k], digits)}`).join(", ")}`),
      series.map((s, k) => {
        const v = p.values[k] || 0;
        const hgt = (v / max) * plotH;
        return svg("rect", { x: pad.l + i * slot + slot * 0.1 + k * colW, y: pad.t + plotH - hgt,
          width: colW, height: Math.max(hgt, v ? 1 : 0), class: `col ${s.cls || ""}` });
      }),
      i % every === 0
        ? svg("text", { x: pad.l + i * slot + slot / 2, y: height - 8, "text-anchor": "middle",
            class: "axis" }, formatLabel(p.label))
        : null,
    )),
  );
  const legend = series.length > 1
    ? h("ul", { class: "legend" }, series.map((s) => h("li", {},
        h("span", { class: `swatch ${s.cls || ""}`, "aria-hidden": "true" }), s.name)))
    : null;
  const table = dataTable(
    [t("chart.period"), ...series.map((s) => s.name)],
    points.map((p) => [formatLabel(p.label), ...p.values.map((v) => num(v, digits))]),
  );
  const fig = frame(title, showTotal ? Number(total.toFixed(digits)) : null, chart, table, key);
  if (legend) fig.insertBefore(legend, table);
  return fig;
}

/** A ring showing a share (0..1), with the figure in the middle. */
export function ringChart(share, { title, key, caption }) {
  const r = 52;
  const c = 2 * Math.PI * r;
  const titleId = nextId("t");
  const label = new Intl.NumberFormat(document.documentElement.lang === "en" ? "en-GB" : "fr-FR",
    { style: "percent", maximumFractionDigits: 1 }).format(share);
  const chart = svg(
    "svg",
    { viewBox: "0 0 140 140", class: "ring", role: "img", "aria-labelledby": titleId },
    svg("title", { id: titleId }, `${title} : ${label}`),
    svg("circle", { cx: 70, cy: 70, r, class: "ring-track" }),
    svg("circle", { cx: 70, cy: 70, r, class: "ring-value",
      "stroke-dasharray": `${(share * c).toFixed(2)} ${c.toFixed(2)}`,
      transform: "rotate(-90 70 70)" }),
    svg("text", { x: 70, y: 70, "text-anchor": "middle", "dominant-baseline": "middle",
      class: "ring-label" }, label),
  );
  return h("figure", { class: "chart ring-chart", dataset: { chart: key || "" } },
    h("figcaption", {}, h("span", { class: "chart-title" }, title)), chart,
    caption ? h("p", { class: "muted" }, caption) : null);
}
