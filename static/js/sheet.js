// The station bottom sheet: GET /api/stations/{id}, points aggregated by power and
// connector, honest per-point status with its age and source, details, directions, report.
import { get, post } from './api.js';
import { config } from './config.js';
import { $, announce, clear, formError, h, openDialog } from './dom.js';
import { lang, locale, t } from './i18n.js';
import { STATUS_MARK } from './icons.js';
import { session } from './session.js';
import { loadStationReports, openContact, reportsChanged, stationReportsBox } from './support.js';

const CONNECTOR_NAMES = { ef: 'E/F', type_2: 'Type 2', combo_ccs: 'Combo CCS', chademo: 'CHAdeMO', autre: 'Autre' };
const SHAPE = { available: 'available', reserved: 'occupied', in_use: 'occupied', occupied: 'occupied', out_of_order: 'out_of_service', out_of_service: 'out_of_service', unknown: 'unknown' };
let current = null;
let lastFocus = null;
const hooks = { booking: null };
// The driver's open booking (its point is marked "yours" in the list) and the vehicle chosen
// in the booking form (the groups' power is said for that car).
let bookedPoint = null;
let carId = null;

export function setBookingRenderer(fn) { hooks.booking = fn; }
export function currentStation() { return current; }

/** The point of the driver's open booking (null: none); the open sheet follows. */
export function setBookedPoint(id) {
  if (id === bookedPoint) return;
  bookedPoint = id;
  renderStation();
}

/** The vehicle the sheet speaks for: the one chosen in the booking form, else the first. */
export function chosenCar() {
  return session.vehicles.find((v) => v.id === carId) || session.vehicles[0];
}

/** Only the groups' lines change with the car: the booking form keeps what was picked. */
export function setCar(id) {
  carId = id;
  const list = $('#sheet ul.groups');
  if (current && list) clear(list, current.groups.map(groupItem));
}

export function connectorLabel(list) {
  return list.map((c) => (c === 'autre' && lang === 'en' ? 'Other' : CONNECTOR_NAMES[c] || c)).join(' + ') || '?';
}

export function kw(n) {
  return `${Number(n).toLocaleString(locale(), { maximumFractionDigits: 1 })} kW`;
}

/** "22 kW · Type 2 · 3/8 libres" */
export function groupLabel(g) {
  const free = lang === 'fr' ? `libre${g.available > 1 ? 's' : ''}` : 'available';
  return `${kw(g.power_kw)} · ${connectorLabel(g.connectors)} · ${g.available}/${g.total} ${free}`;
}

/** A status with its own shape and mark, and its name in words: never colour alone. */
/** What the driver's car really gets at a point: min(point, car's AC or DC limit). */
export function effectivePower(pointKw, connectors, car) {
  const dc = connectors.some((c) => c === 'combo_ccs' || c === 'chademo') && car.max_dc_kw > 0
    && connectors.some((c) => car.connectors.includes(c) && (c === 'combo_ccs' || c === 'chademo'));
  return Math.min(pointKw, dc ? car.max_dc_kw : car.max_ac_kw);
}

function groupItem(g) {
  const car = chosenCar();
  const fits = car && g.connectors.some((c) => car.connectors.includes(c));
  return h('li', groupLabel(g), fits
    ? h('span.note.effective', ` → ${t('effective', { kw: kw(effectivePower(g.power_kw, g.connectors, car)), car: car.name })}`)
    : car ? h('span.note', ` · ${t('incompatible')}`) : null);
}

export function statusBadge(status) {
  const mark = STATUS_MARK[SHAPE[status] || 'unknown'];
  return h(`span.status.${status}`, h('span.shape', { 'aria-hidden': 'true' }, h('span', mark)), t(`st_${status}`));
}

export function ago(iso) {
  const min = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 60000));
  if (min < 120) return [t('updated', { n: min }), min];
  if (min < 2880) return [t('updatedH', { n: Math.round(min / 60) }), min];
  return [t('updatedD', { n: Math.round(min / 1440) }), min];
}

function yesNo(v) { return v == null ? t('unknown') : v ? t('yes') : t('no'); }

function payment(points) {
  const parts = [];
  if (points.some((p) => p.free)) parts.push(t('free'));
  if (points.some((p) => p.pay_as_you_go)) parts.push(t('payAct'));
  if (points.some((p) => p.card)) parts.push(t('card'));
  return parts.join(', ') || t('unknown');
}

// Compared without case, accents or punctuation: "SAINTE LUCE SUR LOIRE" is Sainte-Luce-sur-Loire.
const plain = (text) => ` ${(text || '').normalize('NFD').replace(/\p{M}/gu, '').toLowerCase()
  .replace(/[^\p{L}\p{N}]+/gu, ' ').trim()} `;

/** The address, with the postcode and town only when it does not already say them. */
function fullAddress(s) {
  const has = (part) => plain(s.address).includes(plain(part));
  const missing = [s.postcode, s.commune].filter((part) => part && !has(part)).join(' ');
  return [s.address, missing].filter(Boolean).join(', ');
}

function facts(s) {
  const rows = [
    [t('address'), fullAddress(s)],
    [t('operator'), s.operator],
    [t('network_'), s.network],
    [t('hours'), [s.open_24_7 ? t('open247') : s.opening_hours,
      { true: t('openNow'), false: t('closedNow') }[s.open_now]].filter(Boolean).join(' · ')],
    [t('access'), s.access],
    [t('payment'), payment(s.points)],
    [t('pricing'), [...new Set(s.points.map((p) => p.pricing).filter(Boolean))].join(' ; ')],
    [t('pmr'), s.pmr],
    [t('height'), s.height_limit],
    [t('twoWheeler'), yesNo(s.two_wheeler)],
  ];
  return h('dl.facts', rows.filter(([, v]) => v).map(([k, v]) => [h('dt', k), h('dd', v)]));
}

function pointItem(p) {
  const [when, minutes] = ago(p.status_updated_at);
  const stale = minutes > config.staleMinutes;
  const mine = p.id === bookedPoint;
  return h(`li${stale ? '.stale' : ''}${mine ? '.mine' : ''}`, { dataset: { point: p.id } },
    statusBadge(p.status),
    mine && h('span.tag.mine-tag', t('yourBooking')),
    // The operator takes no bookings here (IRVE `reservation` false): said before one tries.
    p.reservable === false && h('span.tag', t('bookNotReservable')),
    h('span', `${kw(p.power_kw)} · ${connectorLabel(p.connectors)}`),
    h('span.note', p.id_pdc_itinerance),
    h('span.when', `${when} · ${t('source', { s: p.status_source })}${stale ? ` · ${t('stale')}` : ''}`));
}

export async function openStation(id) {
  const sheet = $('#sheet');
  if (sheet.hidden) lastFocus = document.activeElement;
  sheet.hidden = false;
  document.body.classList.add('sheet-open');
  clear(sheet, h('div.grab'), h('p', { role: 'status' }, t('loading')));
  let s;
  try {
    s = await get(`/api/stations/${encodeURIComponent(id)}`);
  } catch (err) {
    clear(sheet, h('div.grab'), h('p.error', { role: 'alert' }, err.message),
      h('div.actions', h('button.btn', { type: 'button', onclick: () => openStation(id) }, t('retry')), closeButton()));
    return;
  }
  const again = current && current.id === s.id;
  current = s;
  renderStation(s);
  if (!again) sheet.focus();
  loadStationReports(s.id);
}

function closeButton() {
  return h('button.icon-btn', { type: 'button', 'aria-label': t('close'), onclick: closeStation }, '✕');
}

export function renderStation(s = current) {
  if (!s) return;
  const sheet = $('#sheet');
  const geo = `geo:${s.lat},${s.lon}`;
  const booking = h('div.section', { id: 'book-section' });
  clear(sheet,
    h('div.grab'),
    h('div.sheet-head', h('h2', { id: 'sheet-title' }, s.name), closeButton()),
    h('p.sub', [s.commune, s.operator].filter(Boolean).join(' · ')),
    stationReportsBox(s),
    h('ul.groups', { 'aria-label': t('points') }, s.groups.map(groupItem)),
    h('div.actions',
      h('a.btn', { href: s.directions_url, target: '_blank', rel: 'noopener' }, t('directionsOsm')),
      h('a.btn', { href: geo }, t('directions')),
      h('button.btn', { type: 'button', id: 'report-open', onclick: () => openReport(s) }, t('report')),
      h('button.btn', { type: 'button', id: 'contact-station', onclick: () => openContact(s) }, t('contactSheet'))),
    booking,
    h('div.section', h('h3', t('points')), h('ul.points', s.points.map(pointItem))),
    h('div.section', h('h3', t('details')), facts(s)));
  if (hooks.booking) hooks.booking(s, booking);
}

/** Fetch the open station again (after a booking changed its points). */
export function reloadStation() {
  return current && !$('#sheet').hidden ? openStation(current.id) : Promise.resolve();
}

export function closeStation() {
  $('#sheet').hidden = true;
  document.body.classList.remove('sheet-open');
  document.dispatchEvent(new CustomEvent('wattsup:sheetclose'));
  current = null;
  if (lastFocus && document.contains(lastFocus)) lastFocus.focus();
}

async function openReport(s) {
  const dialog = $('#report-dialog');
  const form = $('#report-form');
  if (!session.user) {
    clear(form, h('p', t('loginToReport')),
      h('button.btn.primary', { type: 'button', onclick: () => { dialog.close(); document.dispatchEvent(new CustomEvent('wattsup:login')); } }, t('login')));
    openDialog(dialog);
    return;
  }
  const cats = ['not_working', 'blocked', 'payment_refused', 'works', 'other'];
  clear(form,
    h('p.sub', s.name),
    h('fieldset', h('legend', t('reportCat')), h('div.checks', cats.map((c, i) =>
      h('label', h('input', { type: 'radio', name: 'category', value: c, checked: i === 0 }), t(`rc_${c}`))))),
    h('label.field', h('span', t('reportMsg')), h('textarea', { name: 'message', maxlength: 2000, rows: 3 })),
    h('button.btn.primary', { type: 'submit' }, t('reportSend')));
  form.onsubmit = async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    try {
      await post('/api/reports', { station_id: s.id, category: data.get('category'), message: data.get('message') || '' });
      dialog.close();
      announce(t('reportDone'));
      reportsChanged(s.id);
    } catch (err) {
      formError(form, err);
    }
  };
  openDialog(dialog);
}
