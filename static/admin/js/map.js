// MapLibre, from the copy the driver page vendors in static/vendor/ (no CDN at runtime). The
// admin maps draw our own station tiles over the driver page's background: the offline
// outlines of France, its departments and neighbours shipped in static/offline/ (readable
// with no internet), or the basemap style the deployment configures in /js/config.js (or
// ?basemap=URL), the driver page's one setting. No text layers (no glyph server needed).
// When the library is not there, callers fall back to coordinates only.
import { config } from "/js/config.js";
import { t } from "./i18n.js";

const CANDIDATES = [
  ["/vendor/maplibre-gl/maplibre-gl.js", "/vendor/maplibre-gl/maplibre-gl.css"],
  ["/vendor/maplibre-gl.js", "/vendor/maplibre-gl.css"],
];
// The driver page's palettes; dark follows the system, as the page's CSS does.
const dark = window.matchMedia("(prefers-color-scheme: dark)");
const palette = () => (dark.matches
  ? { bg: "#17202b", dept: "#3a4757", country: "#8797ab" }
  : { bg: "#eef1ec", dept: "#c5ccd3", country: "#6b7785" });
let loading = null;

function addScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src;
    s.onload = resolve;
    s.onerror = reject;
    document.head.append(s);
  });
}

/** Resolves with the maplibregl namespace, or null when it is not available. */
export function loadMapLibre() {
  if (window.maplibregl) return Promise.resolve(window.maplibregl);
  if (!loading) {
    loading = (async () => {
      for (const [js, css] of CANDIDATES) {
        const head = await fetch(js, { method: "HEAD" }).catch(() => null);
        if (!head || !head.ok) continue;
        const link = document.createElement("link");
        link.rel = "stylesheet";
        link.href = css;
        document.head.append(link);
        await addScript(js);
        return window.maplibregl || null;
      }
      return null;
    })().catch(() => null);
  }
  return loading;
}

const offline = () => !config.basemap || config.basemap === "offline";

function stationsSource() {
  return { type: "vector", url: `${location.origin}${config.tileJson}` };
}

/** Clusters and stations, power-class free: the admin maps show where, not what. */
function stationLayers() {
  return [
    {
      id: "clusters", type: "circle", source: "stations", "source-layer": "clusters",
      paint: {
        "circle-color": "#64748b",
        "circle-radius": ["interpolate", ["linear"], ["get", "point_count"], 1, 5, 1000, 16],
        "circle-stroke-color": "#ffffff", "circle-stroke-width": 1,
      },
    },
    {
      id: "stations", type: "circle", source: "stations", "source-layer": "stations",
      paint: {
        "circle-color": "#1d4ed8", "circle-radius": 6,
        "circle-stroke-color": "#ffffff", "circle-stroke-width": 2,
      },
    },
  ];
}

/** The offline style: outlines (department and country borders) under the station tiles. */
export function offlineStyle() {
  const p = palette();
  return {
    version: 8,
    sources: {
      outlines: { type: "geojson", data: config.outlines, attribution: "Natural Earth" },
      stations: stationsSource(),
    },
    layers: [
      { id: "background", type: "background", paint: { "background-color": p.bg } },
      {
        id: "departments", type: "line", source: "outlines",
        filter: ["==", ["get", "kind"], "department"],
        paint: {
          "line-color": p.dept,
          "line-width": ["interpolate", ["linear"], ["zoom"], 4, 0.5, 10, 1.5],
        },
      },
      {
        id: "countries", type: "line", source: "outlines",
        filter: ["==", ["get", "kind"], "country"],
        paint: {
          "line-color": p.country,
          "line-width": ["interpolate", ["linear"], ["zoom"], 4, 1, 10, 2.5],
        },
      },
      ...stationLayers(),
    ],
  };
}

/**
 * A map in `container`, or null (no MapLibre, or no WebGL). The container says what it shows
 * (data-basemap: "offline" or the style URL; data-stations="1" once the station layers are
 * on it, whichever the background; data-outlines, see below), for the tests.
 */
export async function createMap(container, { center = config.center, zoom = config.zoom } = {}) {
  const maplibregl = await loadMapLibre();
  if (!maplibregl) return null;
  let map;
  try {
    map = new maplibregl.Map({
      container, style: offline() ? offlineStyle() : config.basemap, center, zoom,
      attributionControl: { compact: true },
    });
  } catch {
    return null; // no WebGL: the coordinates stay editable in the form
  }
  container.dataset.basemap = offline() ? "offline" : config.basemap;
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }));
  const ready = () => {
    // A configured basemap brings its own sources: ours go on top of it.
    if (!map.getSource("stations")) {
      map.addSource("stations", stationsSource());
      for (const layer of stationLayers()) map.addLayer(layer);
    }
    container.dataset.stations = "1";
  };
  map.on("style.load", ready);
  // data-outlines: how many outline features are drawn in view once the map settles.
  map.on("idle", () => {
    const layers = ["departments", "countries"].filter((id) => map.getLayer(id));
    container.dataset.outlines = String(
      layers.length ? map.queryRenderedFeatures({ layers }).length : 0);
  });
  return map;
}

/** MapLibre labels its marker <div> with aria-label but no role (not allowed by ARIA): an image
 * named in the page's language. */
export function labelMarker(marker) {
  const el = marker.getElement();
  el.setAttribute("role", "img");
  el.setAttribute("aria-label", t("station.marker"));
  return marker;
}
