// Create a station: click its place on the map (or type lon/lat), fill the IRVE fields; the
// first charging point is added on the station's page once it exists.
import { api } from "../api.js";
import { h, add, announce } from "../dom.js";
import { t } from "../i18n.js";
import { createMap, labelMarker, loadMapLibre } from "../map.js";
import { STATION_FIELDS, STATION_GROUPS, fieldsForm, formError, showFormError } from "./station_form.js";

export async function render(main) {
  const form = fieldsForm(STATION_FIELDS, {}, { prefix: "new", creating: true, groups: STATION_GROUPS });
  const box = formError();
  const mapBox = h("div", { class: "map create-map", id: "create-map", role: "region",
    "aria-label": t("station.map_label") });

  const el = h("form", { class: "card", id: "create-form", novalidate: true,
    "aria-labelledby": "create-h",
    onsubmit: async (e) => {
      e.preventDefault();
      form.clearErrors();
      box.hidden = true;
      try {
        const s = await api("/api/admin/stations", { method: "POST", body: form.values(false) });
        announce(t("station.created"));
        location.hash = `#/stations/${s.id}`;
      } catch (error) {
        showFormError(box, error, form);
      }
    } },
  h("h2", { id: "create-h" }, t("station.fields")),
  box,
  h("p", { class: "muted" }, t("form.required_note")),
  form.body,
  h("div", { class: "actions" }, h("button", { type: "submit", id: "create-station" }, t("station.create")),
    h("a", { href: "#/stations", class: "button secondary" }, t("form.cancel"))));

  add(main,
    h("p", { class: "crumbs" }, h("a", { href: "#/stations" }, `← ${t("stations.title")}`)),
    h("div", { class: "page-head" }, h("h1", {}, t("station.new_title"))),
    h("section", { class: "card", "aria-labelledby": "pick-h" },
      h("h2", { id: "pick-h" }, t("station.pick")),
      h("p", { class: "muted", id: "pick-help" }, t("station.pick_help")),
      mapBox),
    el,
  );

  const map = await createMap(mapBox);
  if (!map) {
    mapBox.replaceWith(h("p", { class: "muted" }, t("map.unavailable")));
    return null;
  }
  const maplibregl = await loadMapLibre();
  let marker = null;
  map.on("click", (e) => {
    const lon = Math.round(e.lngLat.lng * 1e6) / 1e6;
    const lat = Math.round(e.lngLat.lat * 1e6) / 1e6;
    if (!marker) {
      marker = new maplibregl.Marker({ color: "#c2410c" }).setLngLat([lon, lat]).addTo(map);
      labelMarker(marker);
    } else marker.setLngLat([lon, lat]);
    form.set("lon", lon);
    form.set("lat", lat);
    announce(t("station.moved", { lon, lat }));
  });
  return () => map.remove();
}
