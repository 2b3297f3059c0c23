// Map symbols drawn on a canvas when MapLibre first asks for them (no glyphs, no network):
//   "c|<count>|<any free 1/0>"             a cluster with its count
//   "s|<power class>|<status>|<max kW>|<old/now>"  a station: power-class pill + status
//                                          badge (greyed and dashed when the status is old)
//   "r|<date>"                             an open problem report: warning sign + its date
// The status badge never relies on colour alone: each status has its own shape and mark.
const RATIO = 2;
export const POWER_COLOURS = { slow: '#5f6b7a', normal: '#1f5fbf', fast: '#0f7a5c', rapid: '#b3541e', ultra: '#6d3fb8' };
export const STATUS_MARK = { available: '✓', occupied: '–', out_of_service: '✕', unknown: '?' };

function canvas(w, h) {
  const c = document.createElement('canvas');
  c.width = w * RATIO;
  c.height = h * RATIO;
  const ctx = c.getContext('2d');
  ctx.scale(RATIO, RATIO);
  return [c, ctx];
}

function image(c, ctx) {
  const { width, height } = c;
  return { width, height, data: new Uint8Array(ctx.getImageData(0, 0, width, height).data.buffer) };
}

function cluster(count, free) {
  const n = parseFloat(count) * (count.endsWith('k') ? 1000 : 1);
  const r = n >= 1000 ? 24 : n >= 100 ? 20 : n >= 10 ? 16 : 13;
  const size = r * 2 + 6;
  const [c, ctx] = canvas(size, size);
  const m = size / 2;
  ctx.beginPath();
  ctx.arc(m, m, r, 0, Math.PI * 2);
  ctx.fillStyle = '#163d7a';
  ctx.fill();
  ctx.lineWidth = 3;
  ctx.strokeStyle = free ? '#2fbf71' : '#c9ced6';
  if (!free) ctx.setLineDash([4, 3]);
  ctx.stroke();
  ctx.fillStyle = '#fff';
  ctx.font = `bold ${r > 16 ? 13 : 12}px system-ui, sans-serif`;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(count, m, m + 1);
  return image(c, ctx);
}

function badge(ctx, x, y, status, old = false) {
  ctx.save();
  // An old status keeps its shape and mark (what was last known) but loses its colour and
  // gets a dashed outline: greyed, never a green that nobody vouches for.
  ctx.setLineDash(old ? [2.5, 2] : []);
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = '#fff';
  ctx.beginPath();
  if (status === 'available') {
    ctx.arc(x, y, 7, 0, Math.PI * 2);
    ctx.fillStyle = '#147a3f';
  } else if (status === 'occupied') {
    ctx.rect(x - 6.5, y - 6.5, 13, 13);
    ctx.fillStyle = '#9a5b00';
  } else if (status === 'out_of_service') {
    ctx.moveTo(x, y - 8);
    ctx.lineTo(x + 8, y + 6);
    ctx.lineTo(x - 8, y + 6);
    ctx.closePath();
    ctx.fillStyle = '#b42318';
  } else {
    ctx.moveTo(x, y - 8);
    ctx.lineTo(x + 8, y);
    ctx.lineTo(x, y + 8);
    ctx.lineTo(x - 8, y);
    ctx.closePath();
    ctx.fillStyle = '#59606b';
  }
  if (old) ctx.fillStyle = '#6b7280';
  ctx.fill();
  ctx.stroke();
  ctx.fillStyle = '#fff';
  ctx.font = 'bold 10px system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(STATUS_MARK[status] || '?', x, y + (status === 'out_of_service' ? 1.5 : 0.5));
  ctx.restore();
}

function station(powerClass, status, kw, old) {
  const [c, ctx] = canvas(48, 34);
  ctx.beginPath();
  ctx.roundRect(1, 8, 38, 22, 6);
  ctx.fillStyle = POWER_COLOURS[powerClass] || POWER_COLOURS.slow;
  ctx.fill();
  ctx.lineWidth = 2;
  ctx.strokeStyle = '#fff';
  ctx.stroke();
  ctx.fillStyle = '#fff';
  ctx.font = 'bold 12px system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(kw, 20, 19.5);
  badge(ctx, 39, 9, status, old);
  return image(c, ctx);
}

const FONT = 'bold 11px system-ui, sans-serif';

/** A dark pill with a warning triangle and the report's date: the sign and the words say it,
 * not the colour. */
function report(label) {
  const [, probe] = canvas(1, 1);
  probe.font = FONT;
  const w = Math.ceil(probe.measureText(label).width) + 34;
  const [c, ctx] = canvas(w, 22);
  ctx.beginPath();
  ctx.roundRect(1, 1, w - 2, 20, 10);
  ctx.fillStyle = '#7a2e0e';
  ctx.fill();
  ctx.lineWidth = 2;
  ctx.strokeStyle = '#fff';
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(15, 4.5);
  ctx.lineTo(23, 17.5);
  ctx.lineTo(7, 17.5);
  ctx.closePath();
  ctx.fillStyle = '#f5b400';
  ctx.fill();
  ctx.fillStyle = '#1b1b1b';
  ctx.font = 'bold 10px system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText('!', 15, 12.5);
  ctx.fillStyle = '#fff';
  ctx.font = FONT;
  ctx.textAlign = 'left';
  ctx.fillText(label, 27, 11.5);
  return image(c, ctx);
}

/** The image for a symbol id, or null when the id is not ours. */
export function drawIcon(id) {
  const [kind, a, b, c, d] = id.split('|');
  if (kind === 'c') return cluster(a, b === '1');
  if (kind === 's') return station(a, b, c, d === 'old');
  if (kind === 'r') return report(a);
  return null;
}

export const ICON_RATIO = RATIO;
