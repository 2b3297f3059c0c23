// Who is signed in, and their vehicles: loaded once, refreshed after each change.
import { ApiError, get, hasCsrfCookie } from './api.js';

export const session = { user: null, vehicles: [] };
const listeners = [];
export function onSession(fn) { listeners.push(fn); }

// The CSRF cookie lives as long as the browser session, the refresh cookie for days: after a
// browser restart only this mark says that asking /api/me (and its refresh) is worth it.
const SIGNED_IN = 'wattsup.signedIn';
function remember(yes) {
  try { if (yes) localStorage.setItem(SIGNED_IN, '1'); else localStorage.removeItem(SIGNED_IN); } catch { /* private mode */ }
}
function maybeSignedIn() {
  try { return hasCsrfCookie() || localStorage.getItem(SIGNED_IN) === '1'; } catch { return hasCsrfCookie(); }
}

export function changed() {
  remember(Boolean(session.user));
  for (const fn of listeners) fn(session);
}

export async function loadSession() {
  // A visitor who never signed in here: no /api/me to be refused (and no refresh after it).
  if (!maybeSignedIn()) {
    session.user = null;
    session.vehicles = [];
    changed();
    return session;
  }
  try {
    session.user = await get('/api/me');
    session.vehicles = await get('/api/vehicles');
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) throw err;
    session.user = null;
    session.vehicles = [];
  }
  changed();
  return session;
}
