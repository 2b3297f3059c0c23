// fetch() for our API: JSON in and out, CSRF double submit, one silent session refresh on
// 401, and errors as ApiError carrying the problem+json `code` and French `detail`.
import { t } from './i18n.js';

export class ApiError extends Error {
  constructor(status, code, detail, errors = null) {
    super(detail);
    this.status = status;
    this.code = code;
    this.errors = errors; // [{key, message}] when the API names the field at fault
  }
}

function csrf() {
  const m = document.cookie.match(/(?:^|;\s*)wattsup_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : '';
}

/** The CSRF cookie is set at sign-in and cleared at sign-out: without it, no session. */
export function hasCsrfCookie() { return csrf() !== ''; }

async function send(method, path, body, fresh = false) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-CSRF-Token'] = csrf();
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return fetch(path, {
    method, headers, credentials: 'same-origin',
    // Some public reads carry a short shared max-age; after the driver's own change the
    // page asks the server again instead of showing its cached copy.
    cache: fresh ? 'no-cache' : 'default',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

export async function api(method, path, body, { retry = true, fresh = false } = {}) {
  let res;
  try {
    res = await send(method, path, body, fresh);
  } catch {
    throw new ApiError(0, 'network', t('network'));
  }
  if (res.status === 401 && retry && !path.startsWith('/api/auth/')) {
    const r = await send('POST', '/api/auth/refresh').catch(() => null);
    if (r && r.ok) return api(method, path, body, { retry: false, fresh });
  }
  if (res.status === 204) return null;
  const type = res.headers.get('content-type') || '';
  const data = type.includes('json') ? await res.json().catch(() => null) : null;
  if (!res.ok) {
    throw new ApiError(res.status, data?.code || `http_${res.status}`, data?.detail || `${t('network')} (${res.status})`,
      Array.isArray(data?.errors) ? data.errors : null);
  }
  return data;
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body) => api('POST', path, body ?? {});
export const patch = (path, body) => api('PATCH', path, body);
export const del = (path) => api('DELETE', path);
