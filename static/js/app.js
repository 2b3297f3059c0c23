// Driver page entry: wires the map, search, locate, list view, filters, account, booking.
import { get } from './api.js';
import { config } from './config.js';
import { openAccount, render as renderAccount } from './account.js';
import { initBooking, openHistory, renderBookingSection, rerender as rerenderBooking, showCachedBooking } from './booking.js';
import { $, announce, clear, h, openDialog } from './dom.js';
import { fromUrl, initFilters } from './filters.js';
import { applyI18n, onLang, t, toggleLang } from './i18n.js';
import { createMap, motion, setTileQuery, viewBbox } from './map.js';
import { closeStation, currentStation, kw, openStation, renderStation, setBookingRenderer, statusBadge } from './sheet.js';
import { checkResolved, initReportsLayer, onLangSupport, openContact, openMyReports, reportedBadge, reportedIn } from './support.js';
import { POWER_COLOURS } from './icons.js';
import { loadSession, onSession, session } from './session.js';

window.wattsup = { firstRenderMs: null };

// "EN"/"FR" on the button (it fits beside the other tools on a phone), the language's own
// name for assistive technologies and as its tooltip.
function langButton() {
  const b = $('#lang');
  b.textContent = t('langShort');
  b.lang = t('lang') === 'English' ? 'en' : 'fr';
  b.setAttribute('aria-label', t('lang'));
  b.title = t('lang');
}

function accountLabel() {
  $('#account-label').textContent = session.user ? (session.user.first_name || t('account')) : t('login');
}

const NO_PADDING = { top: 0, bottom: 0, left: 0, right: 0 };
// Keep the station in sight beside (desktop) or above (phone) its sheet.
function sheetPadding() {
  if (window.matchMedia('(min-width: 760px)').matches) return { ...NO_PADDING, left: 424 };
  return { ...NO_PADDING, bottom: Math.round($('#map').clientHeight * 0.6) };
}

function flyTo(lon, lat, zoom, padding = NO_PADDING, duration = motion()) {
  const map = window.wattsup.map;
  map.flyTo({ center: [lon, lat], zoom: Math.max(zoom, map.getZoom()), padding, duration });
}

function showStation(id, lon, lat) {
  openStation(id);
  if (lon != null) flyTo(lon, lat, 15, sheetPadding());
}

/** A station known by its id only (a link, a report): its sheet, then the map moves to it
 * (its coordinates come with the sheet). A page opening on it jumps there at once. */
async function showStationById(id, duration = motion()) {
  await openStation(id);
  const s = currentStation();
  if (s && s.id === id) flyTo(s.lon, s.lat, 15, sheetPadding(), duration);
}

// --- search -------------------------------------------------------------------------
function initSearch() {
  const form = $('#search');
  const input = $('#q');
  const list = $('#search-results');
  const hide = () => { list.hidden = true; };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const q = input.value.trim();
    list.hidden = false;
    if (q.length < 2) { clear(list, h('li.note', t('searchShort'))); return; }
    clear(list, h('li.note', t('loading')));
    try {
      const hits = await get(`/api/search?q=${encodeURIComponent(q)}`);
      clear(list, hits.length ? hits.map((hit) => h('li', h('button', {
        type: 'button',
        onclick: () => {
          hide();
          if (hit.station_id) showStation(hit.station_id, hit.lon, hit.lat); else flyTo(hit.lon, hit.lat, 12);
        },
      }, hit.label, h('span.kind', [hit.kind === 'commune' ? t('commune') : t('station'), hit.detail].filter(Boolean).join(' · ')))))
        : h('li.note', t('searchNone')));
      list.querySelector('button')?.focus();
    } catch (err) {
      clear(list, h('li.error', { role: 'alert' }, err.message));
    }
  });
  list.addEventListener('keydown', (e) => {
    const items = [...list.querySelectorAll('button')];
    const i = items.indexOf(document.activeElement);
    if (e.key === 'ArrowDown') { e.preventDefault(); items[Math.min(i + 1, items.length - 1)]?.focus(); }
    if (e.key === 'ArrowUp') { e.preventDefault(); (i <= 0 ? input : items[i - 1]).focus(); }
    if (e.key === 'Escape') { hide(); input.focus(); }
  });
  document.addEventListener('click', (e) => { if (!form.contains(e.target)) hide(); });
}

// --- locate me ----------------------------------------------------------------------
let here = null;
function initLocate() {
  $('#locate').addEventListener('click', () => {
    if (!navigator.geolocation) return announce(t('locateNone'), 'error');
    announce(t('locating'));
    navigator.geolocation.getCurrentPosition((pos) => {
      const { longitude, latitude } = pos.coords;
      const el = h('div.me', { 'aria-label': t('locate') });
      here?.remove();
      here = new window.maplibregl.Marker({ element: el }).setLngLat([longitude, latitude]).addTo(window.wattsup.map);
      flyTo(longitude, latitude, 13);
    }, (err) => {
      announce(err.code === err.PERMISSION_DENIED ? t('locateDenied') : t('locateFail'), 'error');
    }, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
  });
}

// --- list view (the accessible equivalent of the map) --------------------------------
async function openList() {
  const dialog = $('#list-dialog');
  const body = $('#list-body');
  const map = window.wattsup.map;
  clear(body, h('p', t('loading')));
  openDialog(dialog);
  const bbox = viewBbox(map);
  try {
    // The list is the map's accessible twin: the open problem reports are in it too.
    const [rows, reported] = await Promise.all([get(`/api/stations?bbox=${bbox}&limit=100`), reportedIn(bbox)]);
    clear(body,
      h('p.note', { role: 'status' }, t('listCount', { n: rows.length }), rows.length === 100 ? ` — ${t('listMore')}` : ''),
      rows.length ? h('ul.cards', { id: 'station-list' }, rows.map((s) => h('li', h('button.station-btn', {
        type: 'button',
        dataset: { station: s.id },
        onclick: () => { dialog.close(); showStation(s.id, s.lon, s.lat); },
      }, h('span.title', s.name), h('br'),
      h('span.note', [s.commune, kw(s.max_power_kw), t(s.available > 1 ? 'listFree' : 'listFree1', { a: s.available, t: s.points })]
        .filter(Boolean).join(' · ')),
      reported.has(s.id) && [h('br'), reportedBadge(reported.get(s.id).since)]))))
        : h('p', t('listEmpty')));
  } catch (err) {
    clear(body, h('p.error', { role: 'alert' }, err.message), h('button.btn', { type: 'button', onclick: openList }, t('retry')));
  }
}

// --- legend: power classes and status shapes, in words -------------------------------
function renderLegend() {
  const classes = [['slow', `≤ ${kw(7.4)}`], ['normal', `≤ ${kw(22)}`], ['fast', `≤ ${kw(50)}`], ['rapid', `≤ ${kw(150)}`], ['ultra', `> ${kw(150)}`]];
  clear($('#legend-body'),
    h('ul', classes.map(([c, range]) => {
      const swatch = h('span.swatch', { 'aria-hidden': 'true' });
      swatch.style.background = POWER_COLOURS[c];
      return h('li', swatch, `${t(`pc_${c}`)} (${range})`);
    })),
    h('ul', ['available', 'occupied', 'out_of_service', 'unknown'].map((st) => h('li', statusBadge(st))),
      h('li.stale', { id: 'legend-stale' }, statusBadge('available'), ' ', t('legendStale', { n: config.staleMinutes })),
      h('li', h('span.reported', h('span.warn-mark', { 'aria-hidden': 'true' }, '!'), t('legendReport')))),
    h('p.note', t('legendCluster')));
}

// --- start ----------------------------------------------------------------------------
function start() {
  applyI18n();
  langButton();
  setTileQuery(null, fromUrl().toString());
  if (!window.maplibregl) {
    const box = $('#map-error');
    box.textContent = t('network');
    box.hidden = false;
    return;
  }
  const map = createMap('map', { onStation: (id, [lon, lat]) => showStation(id, lon, lat) });
  window.wattsup.map = map;
  map.on('error', (e) => {
    // A tile that fails is retried by MapLibre; say so once instead of a blank map.
    if (e.error && /Failed to fetch|NetworkError/.test(String(e.error.message))) announce(t('network'), 'error');
  });
  initFilters((qs) => setTileQuery(map, qs));
  initReportsLayer(map);
  initSearch();
  initLocate();
  setBookingRenderer(renderBookingSection);
  initBooking();
  $('#list-open').addEventListener('click', openList);
  $('#account-open').addEventListener('click', () => openAccount(session.user ? null : 'login'));
  $('#lang').addEventListener('click', toggleLang);
  document.addEventListener('wattsup:login', () => openAccount('login'));
  document.addEventListener('wattsup:tiles', () => setTileQuery(map, fromUrl().toString()));
  document.addEventListener('wattsup:sheetclose', () => map.easeTo({ padding: NO_PADDING, duration: motion() / 2 }));
  document.addEventListener('wattsup:history', () => { $('#account-dialog').close(); openHistory(); });
  document.addEventListener('wattsup:myreports', () => { $('#account-dialog').close(); openMyReports(); });
  document.addEventListener('wattsup:contact', () => { $('#account-dialog').close(); openContact(); });
  document.addEventListener('wattsup:station', (e) => showStationById(e.detail));
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !$('#sheet').hidden && !document.querySelector('dialog[open]')) closeStation();
  });
  onSession(accountLabel);
  onSession(checkResolved);
  document.addEventListener('wattsup:resolved', () => { if ($('#account-dialog').open) renderAccount(); });
  renderLegend();
  onLang(() => {
    langButton(); accountLabel(); renderLegend(); renderStation(); onLangSupport();
    rerenderBooking();
    if ($('#account-dialog').open) renderAccount();
  });
  loadSession().catch((err) => {
    announce(err.message, 'error');
    if (err.code === 'network') showCachedBooking();
  });
  const deepLink = new URLSearchParams(location.search).get('station');
  if (deepLink) showStationById(deepLink, 0);
  if ('serviceWorker' in navigator) navigator.serviceWorker.register('/sw.js').catch(() => {});
}

start();
