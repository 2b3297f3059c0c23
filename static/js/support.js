// Customer service on the driver page: "Nous contacter" (POST /api/messages, optionally about
// a station, with the driver's past messages and their answers), "Mes signalements"
// (GET /api/me/reports: status, answers, resolution), and the open problem reports anyone
// sees: on the map (GET /api/reports/open, one request per view) and in a station's sheet
// (GET /api/stations/{id}/reports, one request per sheet opened).
import { get, post } from './api.js';
import { config } from './config.js';
import { $, announce, clear, formError, h, openDialog } from './dom.js';
import { locale, t } from './i18n.js';
import { viewBbox } from './map.js';
import { session } from './session.js';

/** "28 novembre 2026" (long) or "28 nov." (short, for the map). */
export function day(iso, short = false) {
  return new Date(iso).toLocaleDateString(locale(), short
    ? { day: 'numeric', month: 'short' }
    : { day: 'numeric', month: 'long', year: 'numeric' });
}

/** The warning sign next to its words: never colour alone. */
export function reportedBadge(since) {
  return h('span.reported', h('span.warn-mark', { 'aria-hidden': 'true' }, '!'), t('reportedSince', { date: day(since) }));
}

function loginInstead(body, dialog, text) {
  clear(body, h('p', text), h('button.btn.primary', { type: 'button', onclick: () => {
    dialog.close();
    document.dispatchEvent(new CustomEvent('wattsup:login'));
  } }, t('login')));
}

// --- the map layer -------------------------------------------------------------------
let places = [];
let box = null; // the area of the last answer: moves inside it ask nothing for a minute
let boxAt = 0;
let seq = 0;
const BOX_MAX_AGE_MS = 60000;

function draw() {
  const src = window.wattsup.map?.getSource('reports');
  if (!src) return;
  src.setData({
    type: 'FeatureCollection',
    features: places.map((p) => ({
      type: 'Feature',
      geometry: { type: 'Point', coordinates: [p.lon, p.lat] },
      properties: { id: p.station_id, n: p.open_reports, since: p.since, label: day(p.since, true) },
    })),
  });
}

/** Ask for the open reports around the view (half a view more on each side); `fresh` after
 * the driver's own report or a resolution they have read (the answer has a short max-age). */
export async function refreshReports({ fresh = false } = {}) {
  const map = window.wattsup.map;
  if (!map) return;
  if (map.getZoom() < config.reportsMinZoom) return;
  const [w, s, e, north] = viewBbox(map).split(',').map(Number);
  const inside = box && w >= box[0] && s >= box[1] && e <= box[2] && north <= box[3];
  if (!fresh && inside && Date.now() - boxAt < BOX_MAX_AGE_MS) return;
  const dx = (e - w) / 2;
  const dy = (north - s) / 2;
  const wanted = [Math.max(-180, w - dx), Math.max(-85, s - dy), Math.min(180, e + dx), Math.min(85, north + dy)];
  const n = ++seq; // counted only when asking: a skipped move must not drop a fresh answer
  try {
    const rows = await get(`/api/reports/open?bbox=${wanted.map((v) => v.toFixed(5)).join(',')}`, { fresh });
    if (n !== seq) return; // a later view asked meanwhile
    places = rows;
    box = wanted;
    boxAt = Date.now();
    draw();
  } catch {
    // The map works without them; a station's sheet still lists its reports.
  }
}

export function initReportsLayer(map) {
  let timer;
  map.on('moveend', () => {
    clearTimeout(timer);
    timer = setTimeout(refreshReports, 250);
  });
  map.once('load', () => refreshReports());
}

/** Stations with open reports in a bbox (the list view), by id; empty when it fails. */
export async function reportedIn(bbox) {
  try {
    const rows = await get(`/api/reports/open?bbox=${bbox}`);
    return new Map(rows.map((p) => [p.station_id, p]));
  } catch {
    return new Map();
  }
}

// --- a station's open reports, in its sheet ------------------------------------------
const byStation = new Map();

function fillStationReports(el, list) {
  el.hidden = !list.length;
  clear(el, list.length ? [
    h('h3', h('span.warn-mark', { 'aria-hidden': 'true' }, '!'), ' ', t('openReports', { n: list.length })),
    h('ul', list.map((r) => h('li', { dataset: { report: r.id } },
      h('strong', t(`rc_${r.category}`)), ` · ${t('reportedOn', { date: day(r.created_at) })}`,
      r.status === 'answered' ? ` · ${t('pubAnswered')}` : ''))),
  ] : null);
}

/** The sheet's box for the station's open reports, filled from the last answer if any. */
export function stationReportsBox(s) {
  const el = h('div.reports-box', { id: 'sheet-reports', dataset: { station: s.id } });
  fillStationReports(el, byStation.get(s.id) || []);
  return el;
}

export async function loadStationReports(id) {
  try {
    const r = await get(`/api/stations/${encodeURIComponent(id)}/reports`, { fresh: true });
    byStation.set(id, r.open);
  } catch {
    return;
  }
  const el = $('#sheet-reports');
  if (el && el.dataset.station === id) fillStationReports(el, byStation.get(id));
}

/** After the driver reported on a station: its sheet and the map say so now. */
export function reportsChanged(stationId) {
  loadStationReports(stationId);
  refreshReports({ fresh: true });
}

// --- "Nous contacter" ----------------------------------------------------------------
function ticketStatus(status, closedAt, kind) {
  const mark = { open: '…', answered: '✉', closed: '✓' }[status];
  return h(`span.ticket.${status}`, h('span.shape', { 'aria-hidden': 'true' }, mark),
    status === 'closed' ? t(kind === 'report' ? 'tsResolved' : 'tsClosed', { date: day(closedAt) }) : t(`ts_${status}`));
}

function answers(list) {
  return list.length ? h('ul.answers', list.map((a) => h('li',
    h('span.note', t('answerBy', { name: a.author || t('team'), date: day(a.created_at) })), h('br'), a.body))) : null;
}

async function loadMyMessages(el) {
  clear(el, h('h3', t('myMessages')), h('p.note', t('loading')));
  try {
    const rows = await get('/api/me/messages', { fresh: true });
    clear(el, h('h3', t('myMessages')), rows.length
      ? h('ul.cards', { id: 'my-messages-list' }, rows.map((m) => h('li', { dataset: { message: m.id } },
        h('div.title', m.subject),
        h('div', ticketStatus(m.status, m.closed_at, 'message')),
        h('div.note', [t('sentOn', { date: day(m.created_at) }), m.station_name].filter(Boolean).join(' · ')),
        h('p.quote', m.message),
        answers(m.answers))))
      : h('p.note', t('myMessagesEmpty')));
  } catch (err) {
    clear(el, h('h3', t('myMessages')), h('p.error', err.message));
  }
}

/** The contact form; `station` ({id, name}) when opened from a station's sheet. */
export function openContact(station = null) {
  const dialog = $('#contact-dialog');
  const body = $('#contact-body');
  if (!session.user) {
    loginInstead(body, dialog, t('loginToContact'));
    return openDialog(dialog);
  }
  const mine = h('div.section', { id: 'my-messages' });
  // novalidate: the API's refusals are shown here, on the field they name.
  const form = h('form.stack', { id: 'contact-form', novalidate: true },
    station && h('label.check', h('input', { type: 'checkbox', name: 'station_id', value: station.id, checked: true }),
      t('contactAbout', { name: station.name })),
    h('label.field', h('span', t('contactSubject')), h('input', { name: 'subject', required: true, maxlength: 200 })),
    h('label.field', h('span', t('contactMsg')), h('textarea', { name: 'message', required: true, maxlength: 5000, rows: 5 })),
    h('button.btn.primary', { type: 'submit' }, t('contactSend')));
  form.onsubmit = async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const btn = form.querySelector('[type=submit]');
    btn.disabled = true;
    try {
      await post('/api/messages', {
        subject: data.get('subject'), message: data.get('message'), station_id: data.get('station_id') || null,
      });
      const done = h('p.form-ok', { id: 'contact-done', role: 'status', tabindex: -1 }, t('contactDone'));
      clear(body, done, h('p', h('button.btn', { type: 'button', onclick: () => dialog.close() }, t('close'))), mine);
      done.focus();
      loadMyMessages(mine);
    } catch (err) {
      formError(form, err);
    } finally {
      btn.disabled = false;
    }
  };
  clear(body, form, mine);
  loadMyMessages(mine);
  return openDialog(dialog);
}

// --- "Mes signalements" --------------------------------------------------------------
let myReports = null;
// Reports resolved since the driver last opened "Mes signalements" (told once per session).
let newlyResolved = 0;
let checkedFor = null;
const seenKey = () => `wattsup.reportsSeen.${session.user?.id}`;

function seenAt() {
  try { return Date.parse(localStorage.getItem(seenKey()) || '') || 0; } catch { return 0; }
}

function markSeen(rows) {
  const last = Math.max(0, ...rows.filter((r) => r.closed_at).map((r) => Date.parse(r.closed_at)));
  if (last) try { localStorage.setItem(seenKey(), new Date(last).toISOString()); } catch { /* private mode */ }
  newlyResolved = 0;
}

/** How many of the driver's reports were resolved since they last looked (account button). */
export function resolvedCount() { return newlyResolved; }

/** Once per signed-in driver and page: tell them a report of theirs was resolved. */
export async function checkResolved() {
  if (!session.user || checkedFor === session.user.id) return;
  checkedFor = session.user.id;
  let rows;
  try {
    rows = await get('/api/me/reports');
  } catch {
    return;
  }
  const since = seenAt();
  newlyResolved = rows.filter((r) => r.status === 'closed' && Date.parse(r.closed_at) > since).length;
  if (newlyResolved) {
    announce(t(newlyResolved > 1 ? 'resolvedNewsN' : 'resolvedNews1', { n: newlyResolved }));
    document.dispatchEvent(new CustomEvent('wattsup:resolved'));
  }
}

function reportItem(r) {
  const said = new Set(r.answers.map((a) => a.body));
  return h('li', { dataset: { report: r.id } },
    h('div.title', h('button.link-btn', { type: 'button', onclick: () => {
      $('#myreports-dialog').close();
      document.dispatchEvent(new CustomEvent('wattsup:station', { detail: r.station_id }));
    } }, r.station_name)),
    h('div', ticketStatus(r.status, r.closed_at, 'report')),
    h('div.note', `${t(`rc_${r.category}`)} · ${t('reportedOn', { date: day(r.created_at) })}`),
    r.message && h('p.quote', r.message),
    answers(r.answers),
    r.resolution && !said.has(r.resolution) && h('p', h('strong', t('resolution')), ' ', r.resolution));
}

export function renderMyReports() {
  const body = $('#myreports-body');
  if (!myReports) return;
  clear(body, myReports.length
    ? h('ul.cards', { id: 'my-reports-list' }, myReports.map(reportItem))
    : h('p', t('myReportsEmpty')));
}

export async function openMyReports() {
  const dialog = $('#myreports-dialog');
  const body = $('#myreports-body');
  if (!session.user) {
    loginInstead(body, dialog, t('loginToReport'));
    return openDialog(dialog);
  }
  myReports = null;
  clear(body, h('p', t('loading')));
  openDialog(dialog);
  try {
    myReports = await get('/api/me/reports', { fresh: true });
  } catch (err) {
    clear(body, h('p.error', { role: 'alert' }, err.message), h('button.btn', { type: 'button', onclick: openMyReports }, t('retry')));
    return;
  }
  renderMyReports();
  markSeen(myReports);
  document.dispatchEvent(new CustomEvent('wattsup:resolved'));
  // A resolution read here is gone from the map and the sheet too, not 30 s later.
  if (myReports.some((r) => r.status === 'closed')) {
    refreshReports({ fresh: true });
    const open = $('#sheet-reports');
    if (open) loadStationReports(open.dataset.station);
  }
}

export function onLangSupport() {
  draw();
  if ($('#myreports-dialog').open) renderMyReports();
}
