// Calls to the API: JSON in and out, the CSRF header on every state-changing request, and
// RFC 9457 problems turned into ApiError (with the French `detail` the page shows as is).

const CSRF_COOKIE = "wattsup_csrf";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.code = problem?.code || "error";
    this.problem = problem || {};
  }

  /** Field errors as {field: message}, from a problem's `errors` list when there is one. */
  get fields() {
    const out = {};
    for (const e of this.problem.errors || []) {
      const key = e.field || e.key || e.name;
      if (key) out[String(key).replace(/^\$\./, "")] = e.message || e.reason || e.detail || "";
    }
    return out;
  }
}

export function csrfToken() {
  const match = document.cookie.split("; ").find((c) => c.startsWith(`${CSRF_COOKIE}=`));
  return match ? decodeURIComponent(match.slice(CSRF_COOKIE.length + 1)) : "";
}

/** Listeners told when a call comes back 401 (the session ended: disabled, logged out…). */
const onUnauthorized = new Set();
export function whenUnauthorized(fn) { onUnauthorized.add(fn); }

export async function api(path, options = {}) {
  const { method = "GET", body, query, signal, retried = false } = options;
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const headers = { Accept: "application/json, application/problem+json" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    signal,
  });
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : null;
  if (response.status === 401 && !retried && !path.startsWith("/api/auth/")) {
    // The access cookie is short-lived: renew it from the refresh cookie once, then retry.
    if (await renewSession()) return api(path, { ...options, retried: true });
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && !path.startsWith("/api/auth/")) tellUnauthorized(error);
    throw error;
  }
  return data;
}

/**
 * A new access cookie from the refresh cookie (POST /api/auth/refresh). True when renewed;
 * false when the session is over (or the network is down): the caller's own 401 says so.
 * Calls that overlap share one renewal: the refresh token is single use, so a second
 * renewal sent with the same cookie would be refused and end the session.
 */
let renewing = null;
export function renewSession() {
  renewing ??= fetch("/api/auth/refresh", {
    method: "POST", headers: { "X-CSRF-Token": csrfToken() }, credentials: "same-origin",
  }).then((r) => r.ok, () => false).finally(() => { renewing = null; });
  return renewing;
}

function tellUnauthorized(error) {
  for (const fn of onUnauthorized) fn(error);
}

/** A list answer as {items, total}, whether the route pages ({items,total}) or not ([…]). */
export function asPage(data) {
  if (Array.isArray(data)) return { items: data, total: data.length };
  const items = data?.items ?? data?.results ?? data?.data ?? [];
  return { items, total: data?.total ?? data?.count ?? items.length };
}

/**
 * Upload a file with XHR (fetch has no upload progress): onProgress(loaded, total) as bytes
 * leave the browser. Resolves with the parsed JSON answer; rejects with ApiError.
 *
 * The access cookie lives 15 minutes and an XHR cannot renew it on its way: an admin who
 * chose the file long after the page loaded would send every byte for a 401. So the session
 * is renewed first, and a 401 all the same (it expired during a slow upload) renews it and
 * sends the file once more (a File can be read again).
 */
export async function upload(path, file, options = {}) {
  const fail = (error) => {
    if (error.status === 401) tellUnauthorized(error);
    throw error;
  };
  await renewSession();
  try {
    return await sendFile(path, file, options);
  } catch (error) {
    if (error.status !== 401 || !(await renewSession())) fail(error);
  }
  return sendFile(path, file, options).catch(fail);
}

function sendFile(path, file, { query, onProgress, fieldName = "file", fields = {} }) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) url.searchParams.set(k, v);
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append(fieldName, file, file.name);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    // Read now, not when upload() was called: a renewal sets a new CSRF cookie.
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.setRequestHeader("Accept", "application/json, application/problem+json");
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (e) => {
      if (onProgress) onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.response);
      else reject(new ApiError(xhr.status, xhr.response));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, { detail: null, code: "network" })));
    xhr.send(form);
  });
}
