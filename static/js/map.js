// The MapLibre map: our vector tiles over an offline outline background (or a configured
// basemap style), clusters and stations as canvas-drawn symbols (no glyphs needed).
import { config } from './config.js';
import { drawIcon, ICON_RATIO } from './icons.js';
import { t } from './i18n.js';

const maplibregl = window.maplibregl;
const dark = window.matchMedia('(prefers-color-scheme: dark)');
const reduced = window.matchMedia('(prefers-reduced-motion: reduce)');
let query = '';

export function tileUrl() {
  return location.origin + config.tiles + (query ? `?${query}` : '');
}

function palette() {
  return dark.matches
    ? { bg: '#17202b', dept: '#3a4757', country: '#8797ab' }
    : { bg: '#eef1ec', dept: '#c5ccd3', country: '#6b7785' };
}

/** A station's symbol: power class, status, max kW, and whether its status is too old to
 * vouch for ("old": the tile's status_at, its oldest point status, is more than
 * config.staleMinutes ago; greyed, never shown green). The cut-off is a literal in the
 * expression, moved forward every minute by keepStatusesHonest(): the tiles stay cached. */
function stationIcon() {
  const cutoff = Math.floor(Date.now() / 1000) - config.staleMinutes * 60;
  return ['concat', 's|', ['get', 'power_class'], '|', ['get', 'status'], '|',
    ['to-string', ['round', ['get', 'max_power_kw']]], '|',
    ['case', ['<', ['to-number', ['get', 'status_at'], 0], cutoff], 'old', 'now']];
}

function keepStatusesHonest(map) {
  setInterval(() => {
    if (map.getLayer('stations')) map.setLayoutProperty('stations', 'icon-image', stationIcon());
  }, 60_000);
}

function stationLayers() {
  return [
    {
      id: 'clusters', type: 'symbol', source: 'stations', 'source-layer': 'clusters',
      layout: {
        'icon-image': ['concat', 'c|', ['get', 'point_count_abbreviated'], '|',
          ['case', ['>', ['get', 'available'], 0], '1', '0']],
        'icon-allow-overlap': true,
        'symbol-sort-key': ['get', 'point_count'],
      },
    },
    {
      id: 'stations', type: 'symbol', source: 'stations', 'source-layer': 'stations',
      layout: {
        'icon-image': stationIcon(),
        'icon-allow-overlap': true,
        'symbol-sort-key': ['get', 'max_power_kw'],
      },
    },
    {
      // Open problem reports (GET /api/reports/open, support.js): a warning badge with its
      // date above the station's symbol, drawn once the stations themselves are.
      id: 'reports', type: 'symbol', source: 'reports', minzoom: config.reportsMinZoom,
      layout: {
        'icon-image': ['concat', 'r|', ['get', 'label']],
        'icon-anchor': 'bottom',
        'icon-offset': [0, -14],
        'icon-allow-overlap': true,
      },
    },
  ];
}

const emptyGeoJson = () => ({ type: 'geojson', data: { type: 'FeatureCollection', features: [] } });

function stationSource() {
  return {
    type: 'vector', tiles: [tileUrl()], minzoom: 0, maxzoom: 14,
    // No `bounds`: MapLibre asks for no tile outside them, and the network reaches overseas
    // (Antilles, Guyane, La Réunion, Mayotte), not only the mainland box.
    attribution: 'IRVE · data.gouv.fr · Licence Ouverte',
  };
}

function offlineStyle() {
  const p = palette();
  return {
    version: 8,
    sources: {
      // Filled in after the first stations are drawn: the stations come first.
      outlines: { ...emptyGeoJson(), attribution: 'Natural Earth' },
      stations: stationSource(),
      reports: emptyGeoJson(),
    },
    layers: [
      { id: 'background', type: 'background', paint: { 'background-color': p.bg } },
      { id: 'departments', type: 'line', source: 'outlines', filter: ['==', ['get', 'kind'], 'department'],
        paint: { 'line-color': p.dept, 'line-width': ['interpolate', ['linear'], ['zoom'], 4, 0.5, 10, 1.5] } },
      { id: 'countries', type: 'line', source: 'outlines', filter: ['==', ['get', 'kind'], 'country'],
        paint: { 'line-color': p.country, 'line-width': ['interpolate', ['linear'], ['zoom'], 4, 1, 10, 2.5] } },
      ...stationLayers(),
    ],
  };
}

export function createMap(container, { onStation }) {
  const offline = config.basemap === 'offline';
  const map = new maplibregl.Map({
    container,
    style: offline ? offlineStyle() : config.basemap,
    center: config.center,
    zoom: config.zoom,
    maxZoom: 19,
    hash: 'map',
    attributionControl: { compact: true },
    fadeDuration: reduced.matches ? 0 : 300,
    cooperativeGestures: false,
    locale: { 'NavigationControl.ZoomIn': t('zoomIn'), 'NavigationControl.ZoomOut': t('zoomOut') },
  });
  map.getCanvas().setAttribute('aria-label', t('map'));
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'bottom-right');
  if (!offline) {
    map.on('style.load', () => {
      if (map.getSource('stations')) return;
      map.addSource('stations', stationSource());
      map.addSource('reports', emptyGeoJson());
      for (const layer of stationLayers()) map.addLayer(layer);
    });
  }
  keepStatusesHonest(map);
  map.on('styleimagemissing', (e) => {
    const img = drawIcon(e.id);
    if (img && !map.hasImage(e.id)) map.addImage(e.id, img, { pixelRatio: ICON_RATIO });
  });
  map.on('click', 'clusters', (e) => {
    const f = e.features[0];
    const zoom = Math.min(Math.max(f.properties.expansion_zoom, map.getZoom() + 1), config.clusterMaxZoom + 1);
    map.easeTo({ center: f.geometry.coordinates, zoom, duration: reduced.matches ? 0 : 600 });
  });
  for (const layer of ['stations', 'reports']) {
    map.on('click', layer, (e) => onStation(e.features[0].properties.id, e.features[0].geometry.coordinates));
  }
  for (const layer of ['clusters', 'stations', 'reports']) {
    map.on('mouseenter', layer, () => { map.getCanvas().style.cursor = 'pointer'; });
    map.on('mouseleave', layer, () => { map.getCanvas().style.cursor = ''; });
  }
  dark.addEventListener('change', () => {
    if (!offline) return;
    const p = palette();
    map.setPaintProperty('background', 'background-color', p.bg);
    map.setPaintProperty('departments', 'line-color', p.dept);
    map.setPaintProperty('countries', 'line-color', p.country);
  });
  // First frame that draws clusters or stations, measured from navigation start (for the
  // tests and for anyone curious: window.wattsup.firstRenderMs).
  const onRender = () => {
    if (!map.getLayer('clusters') || !map.isSourceLoaded('stations')) return;
    if (!map.queryRenderedFeatures({ layers: ['clusters', 'stations'] }).length) return;
    window.wattsup.firstRenderMs = Math.round(performance.now());
    document.body.dataset.mapReady = '1';
    map.off('render', onRender);
    map.getSource('outlines')?.setData(config.outlines);
  };
  map.on('render', onRender);
  map.once('load', () => { window.wattsup.loadMs = Math.round(performance.now()); });
  map.once('sourcedataloading', () => { window.wattsup.firstTileMs = Math.round(performance.now()); });
  return map;
}

/** Apply tile filters (a URLSearchParams string): the source fetches new tiles. */
export function setTileQuery(map, qs) {
  query = qs;
  const src = map?.getSource('stations');
  if (src) src.setTiles([tileUrl()]);
}

/** The map view as west,south,east,north (the API's bbox), clamped to the valid range. */
export function viewBbox(map) {
  const b = map.getBounds();
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v)).toFixed(5);
  return [clamp(b.getWest(), -180, 179.9), clamp(b.getSouth(), -85, 84.9),
    clamp(b.getEast(), -179.9, 180), clamp(b.getNorth(), -84.9, 85)].join(',');
}

export function motion() {
  return reduced.matches ? 0 : 800;
}
