// Tiny DOM helpers: build elements from data without ever parsing HTML strings (no innerHTML
// with data), so names coming from the IRVE file or from users cannot inject markup.

/**
 * h("button", {class: "x", onclick: fn, "aria-label": "…"}, "text", child, …)
 * Attributes starting with "on" become listeners; `false`/`null` attributes are left out.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/**
 * Append children to `el` the way h() does: null, undefined and false are left out (the
 * native Element.append() would write them as the text "null", "undefined", "false"), arrays
 * are flattened, anything else becomes text. Use it instead of el.append() for view content.
 */
export function add(el, ...children) {
  append(el, children);
  return el;
}

/** Replace everything in `el` with `children` (same rules as add()). */
export function fill(el, ...children) {
  return add(clear(el), ...children);
}

/** Announce a short message to screen readers (the polite live region). */
export function announce(text) {
  const live = document.getElementById("live");
  if (!live) return;
  live.textContent = "";
  // A fresh text node in a later frame is what makes every screen reader speak it again.
  requestAnimationFrame(() => { live.textContent = text; });
}

/**
 * A message for the next screen to show once (set just before a navigation): flash(key, text)
 * then takeFlash(key) on the screen named by `key` returns it, and forgets it.
 */
const flashes = new Map();
export function flash(key, text) { flashes.set(key, text); }
export function takeFlash(key) {
  const text = flashes.get(key) ?? null;
  flashes.delete(key);
  return text;
}

let uid = 0;
export function nextId(prefix = "id") {
  uid += 1;
  return `${prefix}-${uid}`;
}
