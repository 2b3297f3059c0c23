// Who is signed in, and their vehicles: loaded once, refreshed after each change.
import { ApiError, get } from './api.js';

export const session = { user: null, vehicles: [] };
const listeners = [];
export function onSession(fn) { listeners.push(fn); }

export function changed() { for (const fn of listeners) fn(session); }

export async function loadSession() {
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
