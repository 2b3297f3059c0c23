// Users: search by email or name (accent-insensitive), filter by role and state, paged; and
// open an account (no password: its owner is mailed a link to choose one).
import { api } from "../api.js";
import { h, fill, add, clear, announce, flash } from "../dom.js";
import { num, dateTime } from "../fmt.js";
import { t, tn } from "../i18n.js";
import { formError, showFormError } from "./station_form.js";

const KEY = "admin.users.query";
const PER_PAGE = 25;

export function userState(u) {
  if (u.deleted) return h("span", { class: "pill withdrawn" }, t("users.deleted"));
  if (u.disabled) return h("span", { class: "pill out_of_service" }, t("users.disabled"));
  return h("span", { class: "pill in_service" }, t("users.active"));
}

export const fullName = (u) => [u.first_name, u.last_name].filter(Boolean).join(" ") || "—";

/**
 * "Create an account": a button that opens a small form under the heading (a disclosure:
 * aria-expanded, focus to the e-mail field; Cancel or Escape closes it and gives the focus
 * back to the button). A 409/422 answer's errors are shown next to their field; on success
 * the new account's page opens, saying the owner will get an e-mail to choose a password.
 */
function createForm() {
  const box = formError();
  const controls = {};
  const errors = {};
  const field = (name, control, required = false) => {
    const id = `new-user-${name}`;
    controls[name] = control;
    control.id = id;
    control.name = name;
    control.setAttribute("aria-describedby", `${id}-error`);
    errors[name] = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
    return h("div", { class: "field", dataset: { field: name } },
      h("label", { for: id }, t(`users.${name}`),
        required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
      control, errors[name]);
  };
  const email = h("input", { type: "email", required: true, autocomplete: "off", maxlength: 254,
    spellcheck: "false" });
  const first = h("input", { type: "text", autocomplete: "off", maxlength: 80 });
  const last = h("input", { type: "text", autocomplete: "off", maxlength: 80 });
  const role = h("select", {}, ["driver", "admin"].map((r) =>
    h("option", { value: r, selected: r === "driver" }, t(`role.${r}`))));
  const submit = h("button", { type: "submit", id: "create-user" }, t("users.create_submit"));

  const fields = {
    clearErrors() {
      for (const name of Object.keys(controls)) {
        errors[name].hidden = true;
        errors[name].textContent = "";
        controls[name].removeAttribute("aria-invalid");
      }
    },
    /** Show {field: reason} next to the fields; returns those it could not place. */
    setErrors(map) {
      const unplaced = [];
      let firstBad = null;
      for (const [name, reason] of Object.entries(map)) {
        if (!controls[name]) {
          unplaced.push(`${name} : ${reason}`);
          continue;
        }
        errors[name].textContent = reason;
        errors[name].hidden = false;
        controls[name].setAttribute("aria-invalid", "true");
        firstBad = firstBad || controls[name];
      }
      if (firstBad) firstBad.focus();
      return unplaced;
    },
  };

  const toggle = h("button", { type: "button", id: "new-user", "aria-expanded": "false",
    "aria-controls": "create-user-form" }, t("users.create"));
  const close = () => {
    form.hidden = true;
    form.reset();
    fields.clearErrors();
    box.hidden = true;
    toggle.setAttribute("aria-expanded", "false");
    toggle.focus();
  };
  const open = () => {
    form.hidden = false;
    toggle.setAttribute("aria-expanded", "true");
    email.focus();
  };
  toggle.addEventListener("click", () => (form.hidden ? open() : close()));

  const form = h("form", { class: "card", id: "create-user-form", novalidate: true, hidden: true,
    "aria-labelledby": "create-user-h", "aria-describedby": "create-user-help",
    onkeydown: (e) => { if (e.key === "Escape") { e.preventDefault(); close(); } },
    onsubmit: async (e) => {
      e.preventDefault();
      fields.clearErrors();
      box.hidden = true;
      const address = email.value.trim();
      if (!address) {
        fields.setErrors({ email: t("form.required_field") });
        return;
      }
      const body = { email: address, role: role.value };
      if (first.value.trim()) body.first_name = first.value.trim();
      if (last.value.trim()) body.last_name = last.value.trim();
      submit.disabled = true;
      try {
        const u = await api("/api/admin/users", { method: "POST", body });
        const text = t("users.create_done", { email: u.email });
        announce(text);
        flash(`user:${u.id}`, text);
        location.hash = `#/users/${u.id}`;
      } catch (error) {
        showFormError(box, error, fields);
      } finally {
        submit.disabled = false;
      }
    } },
  h("h2", { id: "create-user-h" }, t("users.create")),
  h("p", { class: "muted help", id: "create-user-help" }, t("users.create_help")),
  box,
  h("p", { class: "muted" }, t("form.required_note")),
  h("div", { class: "grid-fields" },
    field("email", email, true), field("first_name", first), field("last_name", last),
    field("role", role)),
  h("div", { class: "actions" }, submit,
    h("button", { type: "button", class: "secondary", onclick: close }, t("form.cancel"))));

  return { toggle, form };
}

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

  const create = createForm();
  add(main,
    h("div", { class: "page-head" }, h("h1", {}, t("users.title")), create.toggle),
    create.form,
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
