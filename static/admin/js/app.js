// The admin page: who is signed in, the hash router, the shell (nav, language, logout).
// Screens live in views/*.js; each exports render(main, params) and may return a cleanup
// function (called when leaving the screen: closes SSE feeds, maps, timers).
import { api, whenUnauthorized } from "./api.js";
import { h, fill, announce } from "./dom.js";
import { t, tn, lang, setLang, savedLang, applyStatic } from "./i18n.js";

const routes = [
  [/^#\/dashboard$/, "dashboard", () => import("./views/dashboard.js")],
  [/^#\/import(?:\/([0-9a-f-]{36}))?$/, "import", () => import("./views/import.js")],
  [/^#\/stations\/new$/, "stations", () => import("./views/station_new.js")],
  [/^#\/stations\/([0-9a-f-]{36})$/, "stations", () => import("./views/station.js")],
  [/^#\/stations$/, "stations", () => import("./views/stations.js")],
  [/^#\/users\/([0-9a-f-]{36})$/, "users", () => import("./views/user.js")],
  [/^#\/users$/, "users", () => import("./views/users.js")],
  [/^#\/support$/, "support", () => import("./views/support.js")],
];

export const session = { user: null };
let cleanup = null;
let renderSeq = 0;
let routed = false;

async function route() {
  const main = document.getElementById("main");
  if (!session.user) return;
  const hash = location.hash || "#/dashboard";
  const match = routes.find(([re]) => re.test(hash));
  if (!match) {
    location.replace("#/dashboard");
    return;
  }
  const [re, section, load] = match;
  const params = hash.match(re).slice(1);
  if (cleanup) {
    try { cleanup(); } catch { /* a screen's cleanup must not block the next one */ }
    cleanup = null;
  }
  for (const a of document.querySelectorAll("#nav a[data-route]")) {
    if (a.dataset.route === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const seq = ++renderSeq;
  fill(main, h("p", { class: "loading" }, t("loading")));
  const view = await load();
  if (seq !== renderSeq) return; // the user moved on while the module loaded
  // Each screen draws in a box of its own: a screen still waiting for its data when the user
  // moves on finishes in a box that is no longer in the page, instead of adding its content
  // under the next screen's.
  const box = h("div", { class: "screen" });
  fill(main, box);
  let done = null;
  try {
    done = (await view.render(box, params)) || null;
  } catch (error) {
    // A 401 has already sent us back to the login form (whenUnauthorized): leave it there.
    if (error?.status === 401 && !session.user) return;
    if (seq === renderSeq) showError(box, error);
  }
  if (seq !== renderSeq) {
    if (done) { try { done(); } catch { /* ignore */ } } // overtaken: close its maps, feeds
    return;
  }
  cleanup = done;
  if (!session.user) return;
  const heading = main.querySelector("h1");
  document.title = `${heading ? heading.textContent : "Watts Up"} · Watts Up admin`;
  // On a navigation, focus goes to the new content (a screen reader starts there); on the
  // first load it stays at the top, where the skip link is the first Tab stop.
  if (routed) main.focus({ preventScroll: true });
  routed = true;
}

export function showError(main, error) {
  fill(main,
    h("div", { class: "error-box", role: "alert" },
      h("h1", {}, t("error.title")),
      h("p", {}, error?.message || String(error))),
  );
}

function renderLogin(main, message) {
  const errorBox = h("p", { class: "form-error", role: "alert", hidden: !message }, message || "");
  const email = h("input", { id: "login-email", type: "email", name: "email", required: true,
    autocomplete: "username" });
  const password = h("input", { id: "login-password", type: "password", name: "password",
    required: true, autocomplete: "current-password" });
  const form = h(
    "form",
    { class: "card narrow", novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        errorBox.hidden = true;
        try {
          await api("/api/auth/login", { method: "POST",
            body: { email: email.value.trim(), password: password.value } });
          await start();
        } catch (error) {
          errorBox.textContent = error.message;
          errorBox.hidden = false;
          password.focus();
        }
      } },
    h("h1", {}, t("login.title")),
    errorBox,
    h("div", { class: "field" }, h("label", { for: "login-email" }, t("login.email")), email),
    h("div", { class: "field" }, h("label", { for: "login-password" }, t("login.password")),
      password),
    h("button", { type: "submit" }, t("login.submit")),
  );
  fill(main, form);
  document.title = `${t("login.title")} · Watts Up admin`;
  email.focus();
}

function renderRefused(main) {
  fill(main,
    h("div", { class: "error-box", role: "alert", id: "refused" },
      h("h1", {}, t("refused.title")),
      h("p", {}, t("refused.text")),
      h("p", {}, h("a", { href: "/" }, t("refused.back")))),
  );
  document.title = `${t("refused.title")} · Watts Up admin`;
}

function shell(user) {
  const nav = document.getElementById("nav");
  const who = document.getElementById("whoami");
  const logout = document.getElementById("logout");
  nav.hidden = !user || user.role !== "admin";
  logout.hidden = !user;
  who.textContent = user ? user.email : "";
}

async function refreshBadge() {
  if (session.user?.role !== "admin") return;
  try {
    const [reports, messages] = await Promise.all([
      api("/api/admin/reports", { query: { status: "open", limit: 1 } }),
      api("/api/admin/messages", { query: { status: "open", limit: 1 } }),
    ]);
    const n = (reports.open_total || 0) + (messages.open_total || 0);
    const badge = document.getElementById("support-badge");
    badge.hidden = n === 0;
    badge.textContent = String(n);
    badge.setAttribute("aria-label", tn("support.badge", n, { n }));
  } catch { /* the badge is a convenience */ }
}
export { refreshBadge };

async function start() {
  const main = document.getElementById("main");
  let user = null;
  try {
    user = await api("/api/me");
  } catch (error) {
    if (error.status !== 401) {
      showError(main, error);
      return;
    }
  }
  session.user = user;
  shell(user);
  if (!user) {
    renderLogin(main);
    return;
  }
  if (user.role !== "admin") {
    session.user = null;
    renderRefused(main);
    return;
  }
  refreshBadge();
  await route();
}

function init() {
  setLang(savedLang());
  applyStatic();
  document.getElementById("lang-toggle").addEventListener("click", async () => {
    setLang(lang() === "fr" ? "en" : "fr");
    applyStatic();
    announce(t("lang.changed"));
    if (session.user) await route();
    else await start();
  });
  document.getElementById("logout").addEventListener("click", async () => {
    try { await api("/api/auth/logout", { method: "POST" }); } catch { /* gone anyway */ }
    session.user = null;
    shell(null);
    renderLogin(document.getElementById("main"));
  });
  // A session that ends under us (account disabled, logged out elsewhere): back to login.
  whenUnauthorized(() => {
    if (!session.user) return;
    session.user = null;
    shell(null);
    if (cleanup) { try { cleanup(); } catch { /* ignore */ } cleanup = null; }
    renderLogin(document.getElementById("main"), t("login.expired"));
  });
  window.addEventListener("hashchange", route);
  start();
}

init();
