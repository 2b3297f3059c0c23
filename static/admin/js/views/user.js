// One user: identity, role change, disable/enable (disabling ends their sessions at once),
// delete (personal data erased, bookings kept anonymous), their vehicles and reservations.
import { api } from "../api.js";
import { session } from "../app.js";
import { confirmAction } from "../dialog.js";
import { h, fill, announce, takeFlash } from "../dom.js";
import { num, dateTime } from "../fmt.js";
import { t } from "../i18n.js";
import { fullName, userState } from "./users.js";

// A vehicle's plug codes (vehicles.connectors) and the station field naming the same plug,
// whose label the station page shows.
const PLUG_FIELDS = { ef: "prise_type_ef", type_2: "prise_type_2", combo_ccs: "prise_type_combo_ccs",
  chademo: "prise_type_chademo", autre: "prise_type_autre" };

/** A vehicle's plugs ("type_2", "combo_ccs"…) named as on the station page ("Type 2"…). */
function vehicleConnectors(codes) {
  const names = (codes || []).map((c) => (PLUG_FIELDS[c] ? t(`connector.${PLUG_FIELDS[c]}`) : c));
  return names.length ? names.join(", ") : "—";
}

export async function render(main, [userId]) {
  async function draw(message) {
    const { user: u, vehicles, reservations } = await api(`/api/admin/users/${userId}`);
    const self = session.user && session.user.id === u.id;
    const box = h("p", { class: "form-error", role: "alert", hidden: true, id: "user-error",
      tabindex: "-1" });
    const done = h("p", { class: "success", role: "status", id: "user-done", hidden: !message },
      message || "");
    const fail = (error) => {
      box.textContent = error.message;
      box.hidden = false;
      box.focus();
    };
    const act = async (request, text) => {
      try {
        await request();
        announce(text);
        await draw(text);
      } catch (error) { fail(error); }
    };

    const roleSelect = h("select", { id: "user-role", disabled: self || u.deleted },
      ["driver", "admin"].map((r) => h("option", { value: r, selected: r === u.role }, t(`role.${r}`))));
    const roleForm = h("form", { class: "inline-form", id: "role-form",
      onsubmit: async (e) => {
        e.preventDefault();
        const role = roleSelect.value;
        if (role === u.role) return;
        if (!(await confirmAction({ title: t("user.role_title"),
          text: t(role === "admin" ? "user.promote_text" : "user.demote_text", { email: u.email }),
          ok: t("user.role_ok") }))) return;
        await act(() => api(`/api/admin/users/${u.id}`, { method: "PATCH", body: { role } }),
          t("user.role_done", { role: t(`role.${role}`) }));
      } },
    h("label", { for: "user-role" }, t("users.role")), roleSelect,
    h("button", { type: "submit", class: "secondary", disabled: self || u.deleted }, t("user.role_change")));

    const toggle = u.disabled
      ? h("button", { type: "button", id: "enable-user", class: "secondary", disabled: self || u.deleted,
          onclick: () => act(() => api(`/api/admin/users/${u.id}`, { method: "PATCH",
            body: { disabled: false } }), t("user.enabled")) }, t("user.enable"))
      : h("button", { type: "button", id: "disable-user", class: "danger-outline", disabled: self || u.deleted,
          onclick: async () => {
            if (!(await confirmAction({ title: t("user.disable_title"),
              text: t("user.disable_text", { email: u.email }), ok: t("user.disable") }))) return;
            await act(() => api(`/api/admin/users/${u.id}`, { method: "PATCH",
              body: { disabled: true } }), t("user.disabled_done"));
          } }, t("user.disable"));

    const del = h("button", { type: "button", id: "delete-user", class: "danger", disabled: self || u.deleted,
      onclick: async () => {
        if (!(await confirmAction({ title: t("user.delete_title"),
          text: t("user.delete_text", { email: u.email }), ok: t("user.delete") }))) return;
        try {
          await api(`/api/admin/users/${u.id}`, { method: "DELETE" });
          announce(t("user.deleted_done"));
          location.hash = "#/users";
        } catch (error) { fail(error); }
      } }, t("user.delete"));

    fill(main,
      h("p", { class: "crumbs" }, h("a", { href: "#/users" }, `← ${t("users.title")}`)),
      h("div", { class: "page-head" }, h("h1", {}, u.email), userState(u)),
      done, box,
      self ? h("p", { class: "notice" }, t("user.self")) : null,
      h("div", { class: "split" },
        h("section", { class: "card", "aria-labelledby": "id-h" },
          h("h2", { id: "id-h" }, t("user.identity")),
          h("dl", { class: "props" },
            h("dt", {}, t("users.name")), h("dd", {}, fullName(u)),
            h("dt", {}, t("users.email")), h("dd", {}, u.email),
            h("dt", {}, t("users.role")), h("dd", { id: "user-role-value" }, t(`role.${u.role}`)),
            h("dt", {}, t("users.state")), h("dd", { id: "user-state" }, userState(u)),
            h("dt", {}, t("users.created")), h("dd", {}, dateTime(u.created_at)))),
        h("section", { class: "card", "aria-labelledby": "acts-h" },
          h("h2", { id: "acts-h" }, t("user.actions")),
          roleForm,
          h("p", { class: "muted help" }, t("user.disable_help")),
          h("div", { class: "actions" }, toggle, del))),
      h("section", { class: "card", "aria-labelledby": "veh-h" },
        h("h2", { id: "veh-h" }, t("user.vehicles", { n: vehicles.length })),
        vehicles.length
          ? h("div", { class: "table-wrap" }, h("table", { class: "data", id: "user-vehicles" },
              h("thead", {}, h("tr", {},
                h("th", { scope: "col" }, t("vehicle.name")),
                h("th", { scope: "col" }, t("vehicle.plate")),
                h("th", { scope: "col" }, t("point.connectors")),
                h("th", { scope: "col", class: "num" }, t("vehicle.battery")),
                h("th", { scope: "col", class: "num" }, t("vehicle.ac")),
                h("th", { scope: "col", class: "num" }, t("vehicle.dc")))),
              h("tbody", {}, vehicles.map((v) => h("tr", {},
                h("th", { scope: "row" }, v.name),
                h("td", {}, v.plate || "—"),
                h("td", {}, vehicleConnectors(v.connectors)),
                h("td", { class: "num" }, `${num(v.battery_kwh, 1)} kWh`),
                h("td", { class: "num" }, `${num(v.max_ac_kw, 1)} kW`),
                h("td", { class: "num" }, `${num(v.max_dc_kw, 1)} kW`))))))
          : h("p", { class: "muted" }, t("user.no_vehicles"))),
      h("section", { class: "card", "aria-labelledby": "res-h" },
        h("h2", { id: "res-h" }, t("user.reservations", { n: reservations.length })),
        reservations.length
          ? h("div", { class: "table-wrap" }, h("table", { class: "data", id: "user-reservations" },
              h("thead", {}, h("tr", {},
                h("th", { scope: "col" }, t("user.booked_at")),
                h("th", { scope: "col" }, t("stations.name")),
                h("th", { scope: "col" }, "id_pdc_itinerance"),
                h("th", { scope: "col" }, t("users.state")),
                h("th", { scope: "col" }, t("user.ended_at")),
                h("th", { scope: "col", class: "num" }, "kWh"))),
              h("tbody", {}, reservations.map((r) => h("tr", {},
                h("td", {}, dateTime(r.created_at)),
                h("th", { scope: "row" }, h("a", { href: `#/stations/${r.station_id}` }, r.station_name)),
                h("td", {}, r.id_pdc_itinerance),
                h("td", {}, h("span", { class: `pill ${r.status}` }, t(`booking.${r.status}`))),
                h("td", {}, dateTime(r.ended_at)),
                h("td", { class: "num" }, r.energy_kwh === null ? "—" : num(r.energy_kwh, 2)))))))
          : h("p", { class: "muted" }, t("user.no_reservations"))),
    );
    if (message) done.focus?.();
  }
  // "Account created: …" when the users page has just opened this account.
  await draw(takeFlash(`user:${userId}`));
}
