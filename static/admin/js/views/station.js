// One station: a small map (click to move it), the edit form (importer's validation, errors
// inline), its charging points (edit, in/out of service, withdraw, add) and the withdrawal
// of the whole station. Every destructive step asks first, in the confirmation dialog.
import { api } from "../api.js";
import { confirmAction } from "../dialog.js";
import { h, fill, add, clear, announce } from "../dom.js";
import { num, dateTime } from "../fmt.js";
import { t } from "../i18n.js";
import { createMap, labelMarker, loadMapLibre } from "../map.js";
import {
  CONNECTORS, POINT_FIELDS, STATION_FIELDS, STATION_GROUPS, fieldsForm, formError, showFormError,
} from "./station_form.js";

function connectorsOf(p) {
  const names = CONNECTORS.filter((c) => p[c]).map((c) => t(`connector.${c}`));
  return names.length ? names.join(", ") : "—";
}

/** The charger's OCPP status ("Available", "SuspendedEV"…) in the page's language. */
function connectorStatus(code) {
  return t.has(`ocpp.${code}`) ? t(`ocpp.${code}`) : code || "—";
}

/**
 * While a point's change is on its way (it can take seconds: reservations are cancelled with
 * it): the row's buttons are disabled, so it cannot be sent twice, and the pressed one says
 * it is working. `busy` false puts them back (the change failed).
 */
function setRowBusy(row, button, busy) {
  for (const b of row.querySelectorAll("button")) b.disabled = busy;
  button.dataset.label ??= button.textContent;
  button.textContent = busy ? t("point.busy") : button.dataset.label;
  if (busy) button.setAttribute("aria-busy", "true");
  else button.removeAttribute("aria-busy");
}

function pointEditor(point, stationId, done) {
  const creating = !point;
  const form = fieldsForm(POINT_FIELDS, point || { prise_type_2: true },
    { prefix: creating ? "new-point" : `pt-${point.id}`, creating });
  const box = formError();
  const el = h("form", { class: "point-form", novalidate: true,
    "aria-label": creating ? t("point.new") : t("point.edit_of", { id: point.id_pdc_itinerance }),
    onsubmit: async (e) => {
      e.preventDefault();
      form.clearErrors();
      box.hidden = true;
      const body = creating ? form.values(false) : form.values(true);
      if (!creating && !Object.keys(body).length) { done(null); return; }
      try {
        const saved = creating
          ? await api(`/api/admin/stations/${stationId}/points`, { method: "POST", body })
          : await api(`/api/admin/points/${point.id}`, { method: "PATCH", body });
        announce(creating ? t("point.created") : t("point.saved"));
        done(saved);
      } catch (error) {
        showFormError(box, error, form);
      }
    } },
  box,
  h("div", { class: "grid-fields" }, form.body),
  h("div", { class: "actions" },
    h("button", { type: "submit" }, creating ? t("point.add") : t("form.save")),
    h("button", { type: "button", class: "secondary", onclick: () => done(null) }, t("form.cancel"))));
  return { el, form };
}

/** What drivers report on the station and is not closed yet: what, since when, their words. */
function reportsSection(items) {
  return h("section", { class: "card station-reports", id: "station-reports",
    "aria-labelledby": "reports-h" },
  h("h2", { id: "reports-h" }, t("station.reports", { n: items.length })),
  h("ul", {}, items.map((r) => h("li", { dataset: { report: r.id } },
    h("span", { class: `pill ${r.status}` }, t(`ticket.status.${r.status}`)), " ",
    h("strong", {}, t(`category.${r.category}`)), " · ",
    t("station.reported_on", { at: dateTime(r.created_at) }),
    r.message ? ` — « ${r.message} »` : ""))),
  h("p", {}, h("a", { href: "#/support" }, t("station.to_queue"))));
}

export async function render(main, [stationId]) {
  let map = null;
  let marker = null;

  async function draw() {
    const [s, reports] = await Promise.all([
      api(`/api/admin/stations/${stationId}`),
      // The drivers' open problem reports on this station (a convenience: the page works
      // without them).
      api("/api/admin/reports", { query: { station_id: stationId, status: "active", limit: 20 } })
        .catch(() => null),
    ]);
    if (map) { map.remove(); map = null; marker = null; }
    clear(main);
    const form = fieldsForm(STATION_FIELDS, s, { prefix: "station", groups: STATION_GROUPS });
    const box = formError();
    const saved = h("p", { class: "success", role: "status", id: "station-saved", hidden: true });
    const mapBox = h("div", { class: "map small-map", id: "station-map", role: "region",
      "aria-label": t("station.map_label") });

    const stationForm = h("form", { class: "card", id: "station-form", novalidate: true,
      "aria-labelledby": "edit-h",
      onsubmit: async (e) => {
        e.preventDefault();
        form.clearErrors();
        box.hidden = true;
        saved.hidden = true;
        const body = form.values(true);
        if (!Object.keys(body).length) {
          saved.textContent = t("form.nothing_changed");
          saved.hidden = false;
          return;
        }
        // A position goes as a pair: the API refuses one coordinate alone.
        if ("lon" in body || "lat" in body) {
          body.lon = form.values(false).lon ?? null;
          body.lat = form.values(false).lat ?? null;
        }
        try {
          await api(`/api/admin/stations/${stationId}`, { method: "PATCH", body });
          await draw();
          const again = document.getElementById("station-saved");
          again.textContent = t("station.saved");
          again.hidden = false;
          announce(t("station.saved"));
        } catch (error) {
          showFormError(box, error, form);
        }
      } },
    h("h2", { id: "edit-h" }, t("station.edit")),
    box,
    form.body,
    h("div", { class: "actions" }, h("button", { type: "submit", id: "station-save",
      disabled: s.withdrawn }, t("form.save"))));

    // Points ---------------------------------------------------------------------------
    const pointsBody = h("tbody", {});
    const editorSlot = h("div", { id: "point-editor" });
    const addButton = h("button", { type: "button", id: "add-point", disabled: s.withdrawn,
      onclick: () => {
        const editor = pointEditor(null, stationId, async (p) => {
          clear(editorSlot);
          addButton.hidden = false;
          if (p) await draw(); else addButton.focus();
        });
        fill(editorSlot, h("h3", {}, t("point.new")), editor.el);
        addButton.hidden = true;
        editor.form.controls.id_pdc_itinerance.focus();
      } }, t("point.add"));

    // One row per point; a status change redraws its own row from the API's answer.
    const pointRow = (p) => {
      const inService = p.operational_status === "in_service";
      return h("tr", { dataset: { point: p.id }, class: p.withdrawn ? "withdrawn" : null },
        h("th", { scope: "row" }, p.id_pdc_itinerance),
        h("td", { class: "num" }, `${num(p.puissance_nominale, 1)} kW`),
        h("td", {}, connectorsOf(p)),
        h("td", {}, p.withdrawn
          ? h("span", { class: "pill withdrawn" }, t("stations.withdrawn"))
          : h("span", { class: `pill ${p.operational_status}` }, t(`point.status.${p.operational_status}`))),
        h("td", {}, connectorStatus(p.connector_status)),
        h("td", { class: "row-actions sticky-end" }, p.withdrawn ? null : h("div", { class: "stack" },
          h("button", { type: "button", class: "secondary small", dataset: { action: "edit" },
            "aria-label": t("point.edit_of", { id: p.id_pdc_itinerance }),
            onclick: (e) => {
              const opener = e.currentTarget;
              const editor = pointEditor(p, stationId, async (savedPoint) => {
                clear(editorSlot);
                if (savedPoint) await draw(); else opener.focus();
              });
              fill(editorSlot, h("h3", {}, t("point.edit_of", { id: p.id_pdc_itinerance })),
                editor.el);
              editor.form.controls.puissance_nominale.focus();
            } }, t("form.edit")),
          h("button", { type: "button", class: inService ? "danger-outline small" : "secondary small",
            dataset: { action: inService ? "out" : "in" },
            "aria-label": t(inService ? "point.set_out_of" : "point.set_in_of", { id: p.id_pdc_itinerance }),
            onclick: async (e) => {
              const button = e.currentTarget;
              if (inService && !(await confirmAction({ title: t("point.out_title"),
                text: t("point.out_text", { id: p.id_pdc_itinerance }), ok: t("point.set_out") }))) return;
              const row = button.closest("tr");
              setRowBusy(row, button, true);
              try {
                const saved = await api(`/api/admin/points/${p.id}`, { method: "PATCH",
                  body: { operational_status: inService ? "out_of_service" : "in_service" } });
                announce(t(inService ? "point.now_out" : "point.now_in"));
                const fresh = pointRow(saved);
                row.replaceWith(fresh);
                // The pressed button is gone with its row: the focus goes to its successor.
                fresh.querySelector("[data-action=in], [data-action=out]")?.focus();
              } catch (error) {
                setRowBusy(row, button, false);
                showFormError(box, error);
              }
            } }, t(inService ? "point.set_out" : "point.set_in")),
          h("button", { type: "button", class: "danger-outline small", dataset: { action: "withdraw" },
            "aria-label": t("point.withdraw_of", { id: p.id_pdc_itinerance }),
            onclick: async () => {
              if (!(await confirmAction({ title: t("point.withdraw_title"),
                text: t("point.withdraw_text", { id: p.id_pdc_itinerance }),
                ok: t("point.withdraw") }))) return;
              try {
                await api(`/api/admin/points/${p.id}`, { method: "DELETE" });
                announce(t("point.withdrawn"));
                await draw();
              } catch (error) { showFormError(box, error); }
            } }, t("point.withdraw")))));
    };
    add(pointsBody, s.points.map(pointRow));
    if (!s.points.length) {
      add(pointsBody, h("tr", {}, h("td", { colspan: 6, class: "muted" }, t("point.none"))));
    }

    const withdrawButton = h("button", { type: "button", class: "danger", id: "withdraw-station",
      onclick: async () => {
        if (!(await confirmAction({ title: t("station.withdraw_title"),
          text: t("station.withdraw_text", { name: s.nom_station }), ok: t("station.withdraw") }))) return;
        try {
          await api(`/api/admin/stations/${stationId}`, { method: "DELETE" });
          announce(t("station.withdrawn"));
          await draw();
        } catch (error) { showFormError(box, error); }
      } }, t("station.withdraw"));

    add(main,
      h("p", { class: "crumbs" }, h("a", { href: "#/stations" }, `← ${t("stations.title")}`)),
      h("div", { class: "page-head" },
        h("h1", {}, s.nom_station),
        s.withdrawn ? h("span", { class: "pill withdrawn", id: "station-withdrawn" }, t("stations.withdrawn")) : null),
      h("p", { class: "muted" }, `${s.id_station_itinerance} · ${t("station.updated", { at: dateTime(s.updated_at) })}`),
      reports?.items?.length ? reportsSection(reports.items) : null,
      saved,
      h("div", { class: "split station-top" },
        h("section", { class: "card", "aria-labelledby": "map-h" },
          h("h2", { id: "map-h" }, t("station.position")),
          mapBox,
          h("p", { class: "muted help", id: "map-help" }, t("station.map_help"))),
        h("section", { class: "card", "aria-labelledby": "points-h" },
          h("h2", { id: "points-h" }, t("station.points", { n: s.points.length })),
          h("div", { class: "table-wrap" }, h("table", { class: "data", id: "points-table" },
            h("caption", { class: "visually-hidden" }, t("station.points", { n: s.points.length })),
            h("thead", {}, h("tr", {},
              h("th", { scope: "col" }, "id_pdc_itinerance"),
              h("th", { scope: "col", class: "num" }, t("field.puissance_nominale")),
              h("th", { scope: "col" }, t("point.connectors")),
              h("th", { scope: "col" }, t("point.status")),
              h("th", { scope: "col" }, t("point.connector_status")),
              h("th", { scope: "col", class: "sticky-end" },
                h("span", { class: "visually-hidden" }, t("form.actions"))))),
            pointsBody)),
          editorSlot,
          h("div", { class: "actions" }, addButton))),
      stationForm,
      s.withdrawn ? null : h("section", { class: "card danger-zone", "aria-labelledby": "danger-h" },
        h("h2", { id: "danger-h" }, t("station.danger")),
        h("p", { class: "muted" }, t("station.withdraw_help")),
        withdrawButton),
    );

    // The map: the station's marker; a click moves it and fills lon/lat (saved with the form).
    map = await createMap(mapBox, { center: [s.lon, s.lat], zoom: 15 });
    if (!map) {
      mapBox.replaceWith(h("p", { class: "muted" }, t("map.unavailable")));
      return;
    }
    const maplibregl = await loadMapLibre();
    marker = new maplibregl.Marker({ color: s.withdrawn ? "#6b7280" : "#c2410c" })
      .setLngLat([s.lon, s.lat]).addTo(map);
    labelMarker(marker);
    if (!s.withdrawn) {
      map.on("click", (e) => {
        const lon = Math.round(e.lngLat.lng * 1e6) / 1e6;
        const lat = Math.round(e.lngLat.lat * 1e6) / 1e6;
        marker.setLngLat([lon, lat]);
        form.set("lon", lon);
        form.set("lat", lat);
        announce(t("station.moved", { lon, lat }));
      });
    }
  }

  await draw();
  return () => { if (map) map.remove(); };
}
