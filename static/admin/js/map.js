// MapLibre, from the copy the driver page vendors in static/vendor/ (no CDN at runtime). The
// admin maps draw our own station tiles on a plain background, with no text layers (no glyph
// server needed). When the library is not there, callers fall back to coordinates only.

const CANDIDATES = [
  ["/vendor/maplibre-gl/maplibre-gl.js", "/vendor/maplibre-gl/maplibre-gl.css"],
  ["/vendor/maplibre-gl.js", "/vendor/maplibre-gl.css"],
];
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

/** The stations tiles on a neutral background; power class colours as on the driver map. */
export function stationsStyle() {
  return {
    version: 8,
    sources: {
      stations: { type: "vector", url: `${location.origin}/tiles/stations.json` },
    },
    layers: [
      { id: "background", type: "background", paint: { "background-color": "#eef1f4" } },
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
    ],
  };
}

/** A map in `container`, or null (no MapLibre, or no WebGL). */
export async function createMap(container, { center = [2.4, 46.6], zoom = 4.6 } = {}) {
  const maplibregl = await loadMapLibre();
  if (!maplibregl) return null;
  try {
    const map = new maplibregl.Map({
      container, style: stationsStyle(), center, zoom, attributionControl: false,
    });
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }));
    return map;
  } catch {
    return null; // no WebGL: the coordinates stay editable in the form
  }
}
