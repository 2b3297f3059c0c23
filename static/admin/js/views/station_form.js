// The station and point forms, shared by the station page and the creation page. Fields use
// the IRVE names the API takes; the API checks them with the importer's rules and a 422
// answer's errors [{field, reason}] are shown next to each field (aria-invalid + described).
import { h, nextId } from "../dom.js";
import { t } from "../i18n.js";

// The IRVE schema's enumerations (wattsup/importer/rows.py ENUMS), offered as choices.
export const ENUMS = {
  implantation_station: ["Voirie", "Parking public", "Parking privé à usage public",
    "Parking privé réservé à la clientèle", "Station dédiée à la recharge rapide"],
  condition_acces: ["Accès libre", "Accès réservé"],
  accessibilite_pmr: ["Réservé PMR", "Accessible mais non réservé PMR", "Non accessible",
    "Accessibilité inconnue"],
  raccordement: ["Direct", "Indirect"],
};

export const STATION_FIELDS = [
  // [name, kind, required on create]
  ["id_station_itinerance", "text", true],
  ["nom_station", "text", true],
  ["implantation_station", "enum"],
  ["adresse_station", "text"],
  ["code_postal", "text"],
  ["commune", "text"],
  ["code_insee_commune", "text"],
  ["nom_amenageur", "text"],
  ["nom_operateur", "text"],
  ["nom_enseigne", "text"],
  ["condition_acces", "enum"],
  ["horaires", "text"],
  ["accessibilite_pmr", "enum"],
  ["restriction_gabarit", "text"],
  ["station_deux_roues", "tristate"],
  ["raccordement", "enum"],
  ["date_mise_en_service", "date"],
  ["lon", "coord", true],
  ["lat", "coord", true],
];

export const CONNECTORS = ["prise_type_2", "prise_type_combo_ccs", "prise_type_chademo",
  "prise_type_ef", "prise_type_autre"];

export const POINT_FIELDS = [
  ["id_pdc_itinerance", "text", true],
  ["puissance_nominale", "power", true],
  ...CONNECTORS.map((c) => [c, "bool"]),
  ["gratuit", "tristate"],
  ["paiement_acte", "tristate"],
  ["paiement_cb", "tristate"],
  ["cable_t2_attache", "tristate"],
  ["reservation", "tristate"],
  ["tarification", "text"],
];

function control(name, kind, value, id, required) {
  const common = { id, name, "aria-describedby": `${id}-error`, required: required || null };
  if (kind === "enum") {
    return h("select", common,
      h("option", { value: "" }, t("form.unset")),
      ENUMS[name].map((v) => h("option", { value: v, selected: v === value }, v)),
      value && !ENUMS[name].includes(value) ? h("option", { value, selected: true }, value) : null);
  }
  if (kind === "tristate") {
    const v = value === true ? "true" : value === false ? "false" : "";
    return h("select", common, [["", t("form.unknown")], ["true", t("form.yes")],
      ["false", t("form.no")]].map(([k, label]) => h("option", { value: k, selected: k === v }, label)));
  }
  if (kind === "bool") {
    return h("input", { ...common, type: "checkbox", checked: value === true });
  }
  if (kind === "date") return h("input", { ...common, type: "date", value: value || "" });
  if (kind === "coord" || kind === "power") {
    return h("input", { ...common, type: "number", step: "any", inputmode: "decimal",
      min: kind === "power" ? "0" : null, value: value ?? "" });
  }
  return h("input", { ...common, type: "text", value: value ?? "",
    autocomplete: "off", spellcheck: name.startsWith("nom_") || name === "adresse_station" ? null : "false" });
}

function read(el, kind) {
  if (kind === "bool") return el.checked;
  if (kind === "tristate") return el.value === "" ? null : el.value === "true";
  if (kind === "coord" || kind === "power") {
    if (el.value.trim() === "") return null;
    const n = Number(el.value.replace(",", "."));
    return Number.isFinite(n) ? n : el.value; // the API says what is wrong with it
  }
  const v = el.value.trim();
  return v === "" ? null : v;
}

/**
 * A form over `fields` with `initial` values. Returns {form, values(changedOnly), setErrors,
 * clearErrors, set(name, value), controls}. Labels come from i18n `field.<name>`.
 */
export function fieldsForm(fields, initial = {}, { prefix = "f", creating = false, groups } = {}) {
  const controls = {};
  const errors = {};
  const kinds = {};
  const original = {};
  const rows = fields.map(([name, kind, requiredOnCreate]) => {
    const id = `${prefix}-${name}`;
    const required = Boolean(creating && requiredOnCreate);
    const el = control(name, kind, initial[name], id, required);
    controls[name] = el;
    kinds[name] = kind;
    original[name] = read(el, kind);
    errors[name] = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
    const label = h("label", { for: id }, t(`field.${name}`),
      required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null);
    const hint = t.has(`hint.${name}`) ? h("span", { class: "hint" }, t(`hint.${name}`)) : null;
    return h("div", { class: `field ${kind === "bool" ? "check" : ""} field-${name}`,
      dataset: { field: name } },
    kind === "bool" ? [el, label] : [label, hint, el], errors[name]);
  });
  const body = groups
    ? groups.map(([title, names]) => h("fieldset", {}, h("legend", {}, t(title)),
        rows.filter((r) => names.includes(r.dataset.field))))
    : rows;

  return {
    body,
    controls,
    /** Every field (creating) or only those changed since the form was built. */
    values(changedOnly = false) {
      const out = {};
      for (const [name] of fields) {
        const v = read(controls[name], kinds[name]);
        if (changedOnly && v === original[name]) continue;
        if (!changedOnly && v === null && kinds[name] !== "tristate") continue;
        out[name] = v;
      }
      return out;
    },
    set(name, value) {
      const el = controls[name];
      if (kinds[name] === "bool") el.checked = Boolean(value);
      else el.value = value ?? "";
    },
    clearErrors() {
      for (const [name] of fields) {
        errors[name].hidden = true;
        errors[name].textContent = "";
        controls[name].removeAttribute("aria-invalid");
      }
    },
    /** Show {field: reason}; returns the fields it could not place (shown by the caller). */
    setErrors(map) {
      const unplaced = [];
      let first = null;
      for (const [field, reason] of Object.entries(map)) {
        if (!controls[field]) {
          unplaced.push(`${field} : ${reason}`);
          continue;
        }
        errors[field].textContent = reason;
        errors[field].hidden = false;
        controls[field].setAttribute("aria-invalid", "true");
        first = first || controls[field];
      }
      if (first) first.focus();
      return unplaced;
    },
  };
}

/** The problem box at the top of a form (the API's detail, or fields it could not place). */
export function formError() {
  return h("div", { class: "form-error", role: "alert", hidden: true, tabindex: "-1",
    id: nextId("form-error") });
}

export function showFormError(box, error, form) {
  const fields = error.fields || {};
  const unplaced = form && Object.keys(fields).length ? form.setErrors(fields) : [];
  box.textContent = [error.message, ...unplaced].join(" — ");
  box.hidden = false;
  if (!Object.keys(fields).length || unplaced.length) box.focus?.();
}

export const STATION_GROUPS = [
  ["station.group.identity", ["id_station_itinerance", "nom_station", "implantation_station",
    "date_mise_en_service"]],
  ["station.group.address", ["adresse_station", "code_postal", "commune", "code_insee_commune",
    "lon", "lat"]],
  ["station.group.operator", ["nom_amenageur", "nom_operateur", "nom_enseigne"]],
  ["station.group.access", ["condition_acces", "horaires", "accessibilite_pmr",
    "restriction_gabarit", "station_deux_roues", "raccordement"]],
];
