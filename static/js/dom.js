// Tiny DOM helpers: h('p.note', {hidden: true}, 'text', child) builds elements safely.
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let liveTimer;
/** Say something to screen readers and show it as a toast. */
export function announce(text, kind = 'info') {
  const live = $('#live');
  live.textContent = text;
  live.dataset.kind = kind;
  live.hidden = false;
  clearTimeout(liveTimer);
  liveTimer = setTimeout(() => { live.hidden = true; }, kind === 'error' ? 8000 : 4000);
}

/** Open a <dialog> modally; resolves with its returnValue when closed. */
export function openDialog(dialog) {
  if (!dialog.open) dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue), { once: true }));
}

/** Show an API error inside a form (role=alert), or clear it with null. The field the API
 * names (problem+json `errors[].key`) is marked invalid and focused. */
export function formError(form, err) {
  let box = form.querySelector('.form-error');
  if (!box) {
    box = h('p.form-error', { role: 'alert' });
    form.prepend(box);
  }
  box.textContent = err ? err.message : '';
  box.hidden = !err;
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  const key = err?.errors?.[0]?.key;
  // `form` may be any box holding fields (the filter profiles' section is not a <form>).
  const field = key && $$('input, select, textarea', form).find((el) => el.name === key);
  if (field) {
    // The API names the field by its key (« first_name »): say it as the form labels it.
    const label = field.labels?.[0]?.querySelector('span')?.textContent || field.labels?.[0]?.textContent;
    if (label) box.textContent = err.message.replaceAll(`« ${key} »`, `« ${label} »`);
    field.setAttribute('aria-invalid', 'true');
    field.focus({ preventScroll: true });
  }
  if (err) box.scrollIntoView({ block: 'nearest' });
}

/** A confirmation inside a form (role=status), e.g. "saved". */
export function formNote(form, text) {
  let box = form.querySelector('.form-ok');
  if (!box) {
    box = h('p.form-ok', { role: 'status' });
    form.prepend(box);
  }
  box.textContent = text;
  box.scrollIntoView({ block: 'nearest' });
}
