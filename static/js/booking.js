// Booking: pick a free compatible point and a vehicle in the station sheet, confirm the
// terms, then a live panel (countdown from the server's expiry, charge metrics, charger log,
// receipt) that polls /api/reservations/current and survives reloads (state from the API,
// last state cached for offline display). History of bookings with receipts.
import { get, post } from './api.js';
import { editVehicle, openAccount } from './account.js';
import { config } from './config.js';
import { $, announce, clear, formError, h, openDialog } from './dom.js';
import { lang, locale, t } from './i18n.js';
import {
  chosenCar, closeStation, connectorLabel, kw, openStation, reloadStation, renderStation, setBookedPoint, setCar,
} from './sheet.js';
import { onSession, session } from './session.js';

const CACHE = 'wattsup.booking';
// A driver holds one booking at a time: while it is open, no other is offered.
const OPEN = ['reserved', 'charging'];
const statusOf = (r) => r?.live?.status || r?.status;
const saidSuspended = new Set(); // bookings whose suspended charge was announced once
const DISMISSED = 'wattsup.dismissed';
let res = null; // the reservation shown in the panel
let deadline = 0; // local ms when the hold expires (from the server's remaining seconds)
let pollTimer = null;
let tickTimer = null;
let terms = null;
let refusal = null; // the last refused action's message, kept while the booking stays as it was

const store = {
  get(k) { try { return JSON.parse(localStorage.getItem(k)); } catch { return null; } },
  set(k, v) { try { localStorage.setItem(k, JSON.stringify(v)); } catch { /* private mode */ } },
};

// --- in the station sheet ------------------------------------------------------------

export function renderBookingSection(s, box) {
  clear(box, h('h3', t('bookTitle')));
  if (!session.user) {
    box.append(h('p.note', t('bookLogin')),
      h('button.btn', { type: 'button', onclick: () => openAccount('login') }, t('login')));
    return;
  }
  if (!session.vehicles.length) {
    box.append(h('p.note', t('noVehicle')),
      h('button.btn', { type: 'button', onclick: async () => { await editVehicle(null); renderStation(); } }, t('vehicleAdd')));
    return;
  }
  if (OPEN.includes(statusOf(res))) {
    // The API would refuse a second one (already_has_reservation): say it before, not after Confirm.
    box.append(h('p.note', { id: 'book-have' }, t('bookHave')),
      h('button.btn', { type: 'button', id: 'book-see', onclick: showMine }, t('bookSee')));
    return;
  }
  const form = h('form.stack', { id: 'book-form' });
  const car = chosenCar();
  const select = h('select', { name: 'vehicle_id', id: 'book-vehicle' },
    session.vehicles.map((v) => h('option', { value: v.id, selected: v.id === car.id }, v.name)));
  const choices = h('div.checks', { id: 'book-points' });
  const submit = h('button.btn.primary', { type: 'submit', id: 'book-submit' }, t('book'));
  const fill = () => {
    const v = session.vehicles.find((x) => x.id === select.value) || session.vehicles[0];
    const ok = s.points.filter((p) => p.status === 'available' && p.reservable !== false
      && p.connectors.some((c) => v.connectors.includes(c)));
    clear(choices, ok.length
      ? ok.map((p, i) => h('label', h('input', { type: 'radio', name: 'charge_point_id', value: p.id, checked: i === 0, required: true }),
        `${p.id_pdc_itinerance} · ${kw(p.power_kw)} · ${connectorLabel(p.connectors)}`))
      : h('p.note', t('bookNone')));
    submit.disabled = !ok.length;
  };
  // The sheet's "→ 11 kW pour Zoé" lines follow the car picked here.
  select.onchange = () => { setCar(select.value); fill(); };
  form.append(
    h('label.field', h('span', t('bookVehicle')), select),
    h('fieldset', h('legend', t('bookPoint')), choices),
    submit);
  form.onsubmit = (e) => { e.preventDefault(); confirmBooking(form, s); };
  fill();
  box.append(form);
}

async function confirmBooking(form, s) {
  formError(form, null);
  const data = new FormData(form);
  const pointId = data.get('charge_point_id');
  if (!pointId) return;
  const dialog = $('#confirm-dialog');
  const body = $('#confirm-body');
  try {
    terms = terms || await get('/api/reservations/terms');
  } catch (err) {
    return formError(form, err);
  }
  const point = s.points.find((p) => p.id === pointId);
  $('#confirm-title').textContent = t('bookTerms');
  const text = lang === 'fr' ? terms.text_fr : terms.text_en;
  const go = h('button.btn.primary', { type: 'button', id: 'book-confirm' }, t('bookConfirm'));
  clear(body,
    h('p', h('strong', s.name), h('br'), `${point.id_pdc_itinerance} · ${kw(point.power_kw)} · ${connectorLabel(point.connectors)}`),
    h('p', text), h('p.note', lang === 'fr' ? terms.price : terms.price_en),
    h('div.row', go, h('button.btn', { type: 'button', onclick: () => dialog.close() }, t('cancel'))));
  go.onclick = async () => {
    go.disabled = true;
    try {
      const r = await post('/api/reservations/', { charge_point_id: pointId, vehicle_id: data.get('vehicle_id') });
      dialog.close('ok');
      announce(t('bookDone', { n: Math.round(terms.hold_minutes) }));
      show(r);
      tilesChanged();
      reloadStation();
    } catch (err) {
      dialog.close('error');
      if (err.code === 'point_unavailable') {
        // Taken meanwhile: show the station as it is now, with the reason above its form.
        await reloadStation();
        const fresh = $('#book-form');
        if (fresh) { formError(fresh, err); return; }
      }
      formError(form, err);
    }
  };
  openDialog(dialog);
}

/** A yes/no question in the confirm dialog (focus trapped by <dialog>). Each button says what
 * it does: a bare "Annuler" beside "Annuler la réservation" could mean either. */
function ask({ title, question, yes, no }) {
  const dialog = $('#confirm-dialog');
  $('#confirm-title').textContent = title;
  const ok = h('button.btn.danger', { type: 'button', id: 'ask-yes', onclick: () => dialog.close('yes') }, yes);
  clear($('#confirm-body'), h('p', question),
    h('div.row', ok, h('button.btn', { type: 'button', id: 'ask-no', onclick: () => dialog.close('no') }, no)));
  const answer = openDialog(dialog);
  ok.focus();
  return answer.then((v) => v === 'yes');
}

// --- the live panel ----------------------------------------------------------------

function mmss(sec) {
  const s = Math.max(0, Math.round(sec));
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

function metric(label, value, id) {
  return h('div', h('dt', label), h('dd', { id }, value));
}

function time(iso) {
  return new Date(iso).toLocaleTimeString(locale(), { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

const num = (n) => Number(n).toLocaleString(locale(), { maximumFractionDigits: 1 });

/** t(key), or the code itself when no string says it (a value this page does not know yet). */
function said(key, code) {
  const text = t(key);
  return text === key ? code : text;
}

const reason = (code) => said(`reason_${code}`, code);

// The charger's log: the OCPP message keeps its name (the protocol's), its detail is said in
// the page's language. MeterValues carry watts and watt-hours.
const OCPP_DETAIL = {
  ReserveNow: (p) => p.expiryDate && t('logUntil', { time: time(p.expiryDate) }),
  StatusNotification: (p) => p.status && said(`ocpp_${p.status}`, p.status),
  MeterValues: (p) => [p.soc != null && `${num(p.soc)} %`, p.power_w != null && kw(p.power_w / 1000),
    p.energy_wh != null && `${num(p.energy_wh / 1000)} kWh`].filter(Boolean).join(' · '),
  StopTransaction: (p) => p.reason && reason(p.reason),
  CancelReservation: (p) => p.reason && said(`cr_${p.reason}`, p.reason),
};

function eventLine(e) {
  const detail = OCPP_DETAIL[e.message]?.(e.payload || {});
  return h('li', `${time(e.at)} ${e.message}${detail ? ` — ${detail}` : ''}`);
}

export function receiptView(rc) {
  return h('dl.facts.receipt',
    h('dt', t('receiptEnergy')), h('dd', `${rc.energy_kwh.toLocaleString(locale())} kWh`),
    h('dt', t('receiptDuration')), h('dd', `${Math.round(rc.charging_minutes ?? rc.duration_minutes)} min`),
    // The session outlasts the charge by the minutes a full car stays plugged in (0033).
    rc.charging_minutes != null && Math.round(rc.duration_minutes) !== Math.round(rc.charging_minutes)
      && [h('dt', t('receiptSession')), h('dd', `${Math.round(rc.duration_minutes)} min`)],
    h('dt', t('receiptAvg')), h('dd', kw(rc.average_power_kw)),
    h('dt', t('receiptSoc')), h('dd', `${num(rc.start_soc)} % → ${num(rc.end_soc)} %`),
    h('dt', t('receiptPoint')), h('dd', `${rc.point} · ${kw(rc.point_power_kw)}`),
    rc.pricing && [h('dt', t('pricing')), h('dd', rc.pricing)],
    h('dt', t('receiptReason')), h('dd', reason(rc.stop_reason)));
}

function render() {
  const panel = $('#booking');
  if (!res) { panel.hidden = true; setBookedPoint(null); return; }
  const live = res.live || {};
  const status = statusOf(res);
  // The car full, the charger reports SuspendedEV until it is unplugged (migration 0033).
  const suspended = status === 'charging' && live.charger_status === 'SuspendedEV';
  if (suspended && !saidSuspended.has(res.id)) {
    saidSuspended.add(res.id);
    announce(t('suspendedMsg'));
  }
  const buttons = h('div.actions');
  const parts = [
    h('div.sheet-head',
      h('h2', { id: 'booking-title' }, h('span.pill', { id: 'booking-status' }, t(suspended ? 'bs_suspended' : `bs_${status}`)), ' ', res.station_name),
      ['completed', 'expired', 'cancelled'].includes(status)
        ? h('button.icon-btn', { type: 'button', 'aria-label': t(status === 'completed' ? 'dismiss' : 'dismissBooking'), onclick: dismiss }, '✕') : null),
    // The booked point, by its id: the one marked "Votre réservation" in its station's list.
    h('p.sub', `${t('receiptPoint')} `, h('button.link-btn', { type: 'button', id: 'booking-point', onclick: showMine }, res.id_pdc_itinerance)),
  ];
  if (status === 'reserved') {
    parts.push(h('p.countdown', { id: 'countdown', role: 'timer', 'aria-live': 'off' }, mmss((deadline - Date.now()) / 1000)),
      h('p.note', t('countdownLabel')));
    buttons.append(
      h('button.btn.primary', { type: 'button', id: 'charge-start', onclick: () => act('start') }, t('start')),
      h('button.btn.danger', { type: 'button', id: 'booking-cancel', onclick: () => act('cancel') }, t('cancelBooking')));
  }
  // Once the receipt is there, it alone tells the charge's figures (the live ones would
  // repeat them, rounded apart).
  if (live.soc != null && !(status === 'completed' && res.receipt)) {
    parts.push(h('progress', { max: 100, value: live.soc, 'aria-label': t('soc') }),
      h('dl.metrics',
        metric(t('elapsed'), `${Math.round(live.simulated_elapsed_minutes)} min`, 'm-elapsed'),
        metric(t('soc'), `${num(live.soc)} %`, 'm-soc'),
        metric(t('energy'), `${live.energy_kwh.toLocaleString(locale())} kWh`, 'm-energy'),
        metric(t('powerNow'), kw(live.power_kw), 'm-power'),
        status === 'charging' && metric(t(suspended ? 'fullAt' : 'estEnd'), time(live.full_at ?? live.estimated_end), 'm-end')));
  }
  if (suspended) parts.push(h('p.note', { id: 'charger-suspended' }, t('suspendedMsg')));
  if (status === 'charging') {
    // Nothing charges any more once the car is full: the button ends the session.
    buttons.append(h('button.btn.danger', { type: 'button', id: 'charge-stop', onclick: () => act('stop') }, t(suspended ? 'endSession' : 'stop')));
  }
  if (status === 'expired') parts.push(h('p', t('expiredMsg')));
  // Cancelled by the operator (not by the driver): say why, as the API's end_reason does.
  const why = `cancelled_${res.end_reason}`;
  if (status === 'cancelled' && t(why) !== why) parts.push(h('p', { id: 'booking-why' }, t(why)));
  if (status === 'completed') {
    parts.push(h('div.section', { id: 'receipt' }, h('h3', t('receipt')), res.receipt ? receiptView(res.receipt) : h('p.note', t('waitingReceipt'))));
  }
  // A refusal stays shown until the booking moves on (each poll redraws this panel), but is
  // announced once: the redrawn copy is no alert.
  const kept = refusal && refusal.id === res.id && refusal.status === status ? refusal.text : '';
  parts.push(buttons, h('p.error', { id: 'booking-error', role: kept ? null : 'alert' }, kept));
  if (res.events?.length) {
    parts.push(h('details', h('summary', t('log')), h('ol.log', { id: 'charger-log' }, res.events.map(eventLine))));
  }
  const openLog = panel.querySelector('details')?.open;
  clear(panel, ...parts);
  panel.dataset.status = status;
  if (openLog) panel.querySelector('details').open = true;
  panel.hidden = false;
  setBookedPoint(OPEN.includes(status) ? res.charge_point_id : null);
}

/** The booked point in its station's sheet (opened if need be), scrolled into view. */
async function showMine() {
  if (!res) return;
  await openStation(res.station_id);
  $('#sheet li.mine')?.scrollIntoView({ block: 'center' });
}

function tick() {
  const el = $('#countdown');
  if (!el) return;
  const left = (deadline - Date.now()) / 1000;
  el.textContent = mmss(left);
  if (left <= 0) refresh();
}

function schedule() {
  clearTimeout(pollTimer);
  const status = res?.live?.status;
  const needed = status === 'reserved' || status === 'charging' || (status === 'completed' && !res.receipt);
  if (needed) pollTimer = setTimeout(refresh, config.pollMs);
}

// A booking, start, stop or cancel changes the point's status: redraw the tiles (they are
// revalidated by ETag, so unchanged ones cost a 304).
function tilesChanged() { document.dispatchEvent(new CustomEvent('wattsup:tiles')); }

const ENDED = ['completed', 'expired', 'cancelled'];
const wait = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// The live status is computed from the booking's timestamps, so the page may learn that a
// hold expired (or a charge ended) a moment before the server's sweeper frees the point:
// redraw once the station says the point is no longer held (a few polls at most).
async function pointChanged(r) {
  if (ENDED.includes(r.live?.status)) {
    for (let i = 0; i < 5; i += 1) {
      const s = await get(`/api/stations/${r.station_id}`).catch(() => null);
      const p = s?.points.find((x) => x.id === r.charge_point_id);
      if (!p || !['reserved', 'in_use'].includes(p.status)) break;
      await wait(config.pollMs);
    }
  }
  tilesChanged();
  reloadStation();
}

/** The panel again in the page's language (a finished booking is no longer polled). */
export function rerender() {
  if (res) render();
  if ($('#history-dialog')?.open) openHistory();
}

export function show(r) {
  if (!r || store.get(DISMISSED) === r.id) { res = null; render(); return; }
  res = r;
  if (r.live?.remaining_hold_seconds != null) deadline = Date.now() + r.live.remaining_hold_seconds * 1000;
  store.set(CACHE, r);
  render();
  schedule();
  clearInterval(tickTimer);
  if (r.live?.status === 'reserved') tickTimer = setInterval(tick, 1000);
}

export async function refresh() {
  if (!session.user) { show(null); return; }
  try {
    const r = await get('/api/reservations/current');
    // Just finished: the "current" answer may already be gone; read it by id instead.
    const next = r || (res && ['reserved', 'charging'].includes(res.live?.status) ? await get(`/api/reservations/${res.id}`) : null);
    const moved = res && next?.id === res.id && next.live?.status !== res.live?.status;
    show(next);
    // Changed on the server's side (hold expired, charge finished, another device): the
    // point's status changed too, so the map and the open station sheet are redrawn.
    if (moved) pointChanged(next);
  } catch (err) {
    if (err.code === 'network') {
      const cached = store.get(CACHE);
      if (cached && !res) { res = cached; render(); }
      const box = $('#booking-error');
      if (box) box.textContent = t('offline');
      clearTimeout(pollTimer);
      pollTimer = setTimeout(refresh, config.pollMs * 3);
    }
  }
}

async function act(what) {
  if (what === 'cancel' && !(await ask({
    title: t('cancelAsk'), question: t('cancelConfirm'), yes: t('cancelYes'), no: t('cancelKeep'),
  }))) return;
  refusal = null;
  try {
    show(await post(`/api/reservations/${res.id}/${what}`));
    tilesChanged();
    // At the charger, the live panel is what matters: the station sheet gives way.
    if (what === 'start') closeStation(); else reloadStation();
  } catch (err) {
    // Refused because this screen was out of date (started from another tab, ended on the
    // server): show the booking as it is now at once, with the refusal under it.
    if (err.code !== 'network') await refresh();
    refusal = res && { id: res.id, status: statusOf(res), text: err.message };
    const box = $('#booking-error');
    if (box) box.textContent = err.message;
  }
}

function dismiss() {
  store.set(DISMISSED, res.id);
  localStorage.removeItem(CACHE);
  res = null;
  clearInterval(tickTimer);
  render();
}

// --- history ---------------------------------------------------------------------

const HISTORY_PAGE = 20;

function historyItem(r) {
  return h('li',
    h('div.title', r.station_name),
    h('div.note', `${new Date(r.created_at).toLocaleString(locale())} · ${r.id_pdc_itinerance}`),
    h('span.pill', t(`bs_${r.status}`)),
    r.receipt && h('details', h('summary', `${t('receipt')} · ${r.receipt.energy_kwh.toLocaleString(locale())} kWh`), receiptView(r.receipt)));
}

export async function openHistory() {
  const dialog = $('#history-dialog');
  const body = $('#history-body');
  clear(body, h('p', t('loading')));
  openDialog(dialog);
  let list = null;
  // One page at a time (the API pages): "more" appends the next one below.
  const more = h('button.btn', { type: 'button', id: 'history-more' }, t('historyMore'));
  const note = h('p.note', { role: 'status' });
  async function load(n) {
    more.disabled = true;
    try {
      const page = await get(`/api/reservations/?page=${n}&page_size=${HISTORY_PAGE}`);
      if (!list) {
        list = h('ul.cards', { id: 'history-list' });
        clear(body, page.items.length ? [list, note, more] : h('p', t('historyEmpty')));
      }
      list.append(...page.items.map(historyItem));
      const shown = list.children.length;
      note.textContent = t('historyCount', { n: shown, total: page.total });
      more.hidden = shown >= page.total;
      more.onclick = () => load(n + 1);
    } catch (err) {
      const retry = h('button.btn', { type: 'button', onclick: () => load(n) }, t('retry'));
      if (!list) clear(body, h('p.error', { role: 'alert' }, err.message), retry);
      else { note.textContent = err.message; more.onclick = () => load(n); }
    } finally {
      more.disabled = false;
    }
  }
  await load(1);
}

/** Offline at start (no session answer): the last booking seen, marked as such. */
export function showCachedBooking() {
  const cached = store.get(CACHE);
  if (!cached || store.get(DISMISSED) === cached.id) return;
  res = cached;
  deadline = Date.parse(cached.expires_at);
  render();
  $('#booking-error').textContent = t('offline');
  if (cached.live?.status === 'reserved') tickTimer = setInterval(tick, 1000);
  window.addEventListener('online', () => window.location.reload(), { once: true });
}

export function initBooking() {
  onSession(() => { refresh(); renderStation(); });
  document.addEventListener('visibilitychange', () => { if (!document.hidden && res) refresh(); });
  window.addEventListener('online', () => refresh());
}
