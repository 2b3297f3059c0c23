// Deployment settings of the driver page. The basemap is "offline" (outlines shipped in
// static/offline/) unless a MapLibre style URL is given here or as ?basemap=URL.
export const config = {
  basemap: 'offline',
  outlines: '/offline/outlines.geojson',
  tileJson: '/tiles/stations.json',
  tiles: '/tiles/stations/{z}/{x}/{y}.pbf',
  clusterMaxZoom: 12,
  // Open problem reports are drawn (and asked for) where single stations are.
  reportsMinZoom: 13,
  center: [2.35, 46.6],
  zoom: 4.6,
  pollMs: 2000,
  staleMinutes: 60,
};
const fromUrl = new URLSearchParams(location.search).get('basemap');
if (fromUrl) config.basemap = fromUrl;
