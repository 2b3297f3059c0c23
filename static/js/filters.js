// Filters: a form in a bottom sheet → the tile server's query parameters, kept in the page
// URL (shareable) and saved as named profiles for signed-in drivers (/api/me/filter-profiles).
import { del, get, post } from './api.js';
import { $, announce, clear, formError, h, openDialog } from './dom.js';
import { t } from './i18n.js';
import { session } from './session.js';

export const KEYS = ['min_power', 'connectors', 'free', 'pay_as_you_go', 'card', 'open_now', 'open_24_7',
  'pmr', 'free_access', 'two_wheeler', 't2_cable', 'available_now'];
// Yes-only options; price and access are choices of their own (CHOICES).
// open_now: from the station's IRVE opening hours, decided by the server each quarter-hour.
const BOOLS = ['pay_as_you_go', 'card', 'open_now', 'open_24_7', 'pmr', 'two_wheeler', 't2_cable',
  'available_now'];
// Each choice of the form → the tile server's value of its parameter ('any' sets none); the
// one table reads and writes both the form and the URL.
const CHOICES = {
  price: { param: 'free', label: 'p_', values: { free: 'true', paid: 'false', unknown: 'unknown' } },
  access: { param: 'free_access', label: 'a_', values: { free: 'true', restricted: 'false' } },
};
const CONNECTORS = ['ef', 'type_2', 'combo_ccs', 'chademo', 'autre'];
const POWERS = [0, 3.7, 7.4, 11, 22, 50, 100, 150, 350];

/** The filters currently in the page URL, as the tile server's query string. */
export function fromUrl() {
  const page = new URLSearchParams(location.search);
  const out = new URLSearchParams();
  for (const k of KEYS) if (page.get(k)) out.set(k, page.get(k));
  return out;
}

function toUrl(filters) {
  const page = new URLSearchParams(location.search);
  for (const k of KEYS) page.delete(k);
  for (const [k, v] of filters) page.set(k, v);
  const qs = page.toString();
  history.replaceState(null, '', `${location.pathname}${qs ? `?${qs}` : ''}${location.hash}`);
}

function fromForm(form) {
  const d = new FormData(form);
  const out = new URLSearchParams();
  if (Number(d.get('min_power')) > 0) out.set('min_power', d.get('min_power'));
  const conns = d.getAll('connectors');
  if (conns.length) out.set('connectors', conns.join(','));
  for (const [name, { param, values }] of Object.entries(CHOICES)) {
    const value = values[d.get(name)];
    if (value) out.set(param, value);
  }
  for (const k of BOOLS) if (d.get(k)) out.set(k, 'true');
  return out;
}

function showCount(filters) {
  const n = [...filters.keys()].length;
  const badge = $('#filter-count');
  badge.textContent = n;
  badge.hidden = !n;
  badge.setAttribute('aria-label', t('activeFilters', { n }));
}

let apply = () => {};

export function initFilters(onApply) {
  apply = (filters) => {
    toUrl(filters);
    showCount(filters);
    onApply(filters.toString());
  };
  showCount(fromUrl());
  $('#filters-open').addEventListener('click', openFilters);
}

/** The radio buttons of one of CHOICES, the URL's value checked. */
function choiceFieldset(name, filters) {
  const { param, label, values } = CHOICES[name];
  const current = Object.keys(values).find((k) => values[k] === filters.get(param)) || 'any';
  return h('fieldset', h('legend', t(name)), h('div.checks', ['any', ...Object.keys(values)].map((v) =>
    h('label', h('input', { type: 'radio', name, value: v, checked: v === current }), t(`${label}${v}`)))));
}

function render(filters) {
  const form = $('#filters-form');
  const conns = new Set((filters.get('connectors') || '').split(',').filter(Boolean));
  const min = Number(filters.get('min_power') || 0);
  clear(form,
    h('label.field', h('span', t('minPower')), h('select', { name: 'min_power', id: 'f-min-power' },
      POWERS.map((p) => h('option', { value: p, selected: p === min }, p ? `≥ ${p} kW` : t('anyPower'))))),
    h('fieldset', h('legend', t('connectors')), h('div.checks', CONNECTORS.map((c) =>
      h('label', h('input', { type: 'checkbox', name: 'connectors', value: c, checked: conns.has(c) }), t(`c_${c}`))))),
    Object.keys(CHOICES).map((name) => choiceFieldset(name, filters)),
    h('fieldset', h('legend', t('options')), h('div.checks', BOOLS.map((k) =>
      h('label', h('input', { type: 'checkbox', name: k, value: '1', checked: filters.get(k) === 'true' }), t(`f_${k}`))))),
    h('div.row',
      h('button.btn.primary', { type: 'submit', id: 'filters-apply' }, t('apply')),
      h('button.btn', { type: 'button', id: 'filters-reset', onclick: () => render(new URLSearchParams()) }, t('reset'))),
    session.user && profilesSection(form));
  form.onsubmit = (e) => {
    e.preventDefault();
    apply(fromForm(form));
    $('#filters-dialog').close();
  };
}

function profilesSection(form) {
  const box = h('div.section', { id: 'profiles' }, h('h3', t('profiles')), h('p.note', t('loading')));
  const car = session.vehicles[0];
  get('/api/me/filter-profiles').then((list) => {
    // Named as the API names it, so that its refusal marks this field.
    const name = h('input', { name: 'name', maxlength: 60, id: 'profile-name', autocomplete: 'off' });
    const save = h('button.btn', { type: 'button', id: 'profile-save' }, t('profileSave'));
    save.onclick = async () => {
      try {
        const filters = Object.fromEntries(fromForm(form));
        await post('/api/me/filter-profiles', { name: name.value.trim(), filters, vehicle_id: car?.id ?? null });
        announce(t('profileSaved'));
        render(fromForm(form));
      } catch (err) { formError(box, err); }
    };
    clear(box, h('h3', t('profiles')),
      // A ternary, not `list.length && …`: an empty list would print its length, "0".
      list.length ? h('ul.cards', { id: 'profile-list' }, list.map((p) => h('li.row',
        h('span.title', p.name),
        h('button.btn', { type: 'button', onclick: () => { apply(profileParams(p.filters)); $('#filters-dialog').close(); } }, t('profileApply')),
        h('button.btn.danger', { type: 'button', onclick: async () => {
          try {
            await del(`/api/me/filter-profiles/${p.id}`);
            render(fromForm(form));
          } catch (err) { formError(box, err); }
        } }, t('profileDelete'))))) : null,
      car && h('button.btn', { type: 'button', id: 'my-car', onclick: () => {
        const f = fromForm(form);
        f.set('connectors', car.connectors.join(','));
        render(f);
      } }, t('myCar')),
      h('label.field', h('span', t('profileName')), name), save);
  }).catch((err) => formError(box, err));
  return box;
}

function profileParams(f) {
  const out = new URLSearchParams();
  for (const k of KEYS) {
    if (f[k] == null) continue;
    out.set(k, Array.isArray(f[k]) ? f[k].join(',') : String(f[k]));
  }
  return out;
}

export function openFilters() {
  render(fromUrl());
  return openDialog($('#filters-dialog'));
}
