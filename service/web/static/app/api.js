// The API client: the cookie session of the app, the CSRF token on every state-changing request, errors as
// ApiError carrying the API's {error, detail, field}.

export class ApiError extends Error {
  constructor(status, body) {
    const detail = (body && (body.detail || body.error)) || `HTTP ${status}`;
    super(detail);
    this.status = status;
    this.error = (body && body.error) || 'HTTPError';
    this.detail = detail;
    this.field = (body && body.field) || null;
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const listeners = new Set();

/** Called with no argument whenever the API says the session is gone (401). */
export function onUnauthorized(fn) {
  listeners.add(fn);
}

export function csrfToken() {
  for (const part of document.cookie.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === 'reftrack_csrf') return decodeURIComponent(rest.join('='));
  }
  return null;
}

function headersFor(method, extra) {
  const headers = { Accept: 'application/json', ...extra };
  if (UNSAFE.has(method)) {
    const token = csrfToken();
    if (token) headers['X-CSRF-Token'] = token;
  }
  return headers;
}

async function parse(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { error: 'HTTPError', detail: text.slice(0, 200) };
  }
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '' || v === false) continue;
    q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** fetch() a JSON endpoint; resolves to the parsed body, rejects with ApiError. */
export async function api(path, { method = 'GET', body, signal, quiet401 = false } = {}) {
  const init = { method, credentials: 'same-origin', signal, headers: headersFor(method) };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await parse(response);
  if (!response.ok) {
    if (response.status === 401 && !quiet401) listeners.forEach((fn) => fn());
    throw new ApiError(response.status, data);
  }
  return data;
}

/**
 * Upload one file as multipart/form-data with XMLHttpRequest, for its upload progress.
 * onProgress(fraction) is called while the body is sent; resolves to {status, body}, rejects with ApiError.
 */
export function upload(path, fields, { onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) {
      if (v !== undefined && v !== null && v !== '') form.append(k, v);
    }
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.withCredentials = true;
    for (const [k, v] of Object.entries(headersFor('POST'))) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener('load', () => {
      let body = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = { error: 'HTTPError', detail: xhr.responseText.slice(0, 200) };
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve({ status: xhr.status, body });
      else {
        if (xhr.status === 401) listeners.forEach((fn) => fn());
        reject(new ApiError(xhr.status, body));
      }
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, { error: 'NetworkError', detail: 'the upload was interrupted' })));
    xhr.send(form);
  });
}
