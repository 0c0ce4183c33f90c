// Shared by the console pages: JSON API calls with plain-worded errors, DOM building, times.

/** An API failure carrying the server's {"error": {code, message, field, details}} envelope. */
export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || describeStatus(status));
    this.status = status;
    this.code = error.code || 'http_' + status;
    this.field = error.field || null;
    this.details = Array.isArray(error.details) ? error.details : [];
  }
}

function describeStatus(status) {
  if (status === 0) return 'The server cannot be reached. Check the network and try again.';
  if (status === 404) return 'Not found.';
  if (status === 409) return 'That is not allowed in the current state.';
  if (status >= 500) return 'The server failed to answer. Try again in a moment.';
  return 'The request failed (HTTP ' + status + ').';
}

/** The double-submit CSRF token the server set at sign-in (a readable cookie). */
function csrfToken() {
  const match = document.cookie.split('; ').find((c) => c.startsWith('sc_csrf='));
  return match ? decodeURIComponent(match.slice('sc_csrf='.length)) : '';
}

async function send(method, url, body) {
  const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (method !== 'GET' && method !== 'HEAD') init.headers['X-CSRF-Token'] = csrfToken();
  if (body instanceof FormData) {
    init.body = body;  // multipart (photos): the browser writes the boundary into Content-Type
  } else if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch(url, init);
  } catch (_) {
    throw new ApiError(0, null);
  }
}

/** Renew the short-lived access cookie with the refresh cookie; false if the session is over. */
export async function refreshSession() {
  const response = await send('POST', '/api/v1/auth/refresh', {});
  return response.ok;
}

/** Send the browser to sign in, coming back here afterwards. */
export function toSignIn() {
  window.location.assign('/login?next=' + encodeURIComponent(window.location.pathname + window.location.search));
}

/** Call the JSON API; resolves to the parsed body, rejects with an ApiError. */
export async function api(method, url, body) {
  let response = await send(method, url, body);
  if (response.status === 401) {
    // The access token lives minutes: renew it once and retry; if the session is over, sign in.
    if (await refreshSession()) response = await send(method, url, body);
    else toSignIn();
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** The message to show a person for an error of any kind. */
export function plainError(err) {
  if (err instanceof ApiError) {
    const prefix = err.status === 409 ? 'Not possible now: ' : '';
    return prefix + err.message;
  }
  return 'Something went wrong in the page: ' + (err && err.message ? err.message : String(err));
}

// Pydantic's wording, said the way a desk officer would.
const FIELD_WORDING = [
  [/^Field required$/, () => 'Required.'],
  [/^String should have at least (\d+) characters?$/, (m) => 'At least ' + m[1] + ' characters.'],
  [/^String should have at most (\d+) characters?$/, (m) => 'At most ' + m[1] + ' characters.'],
  [/^String should match pattern/, () => 'Not in the expected format (see the hint).'],
];

/** A field error message in plain words. */
export function plainFieldMessage(message) {
  for (const [pattern, say] of FIELD_WORDING) {
    const match = pattern.exec(message || '');
    if (match) return say(match);
  }
  return message;
}

/** The form field an API error names: drops the "body." prefix FastAPI puts on validation errors. */
export function fieldName(field) {
  if (!field) return null;
  return String(field).replace(/^(body|query|path)\./, '');
}

/** Build an element: h('td', {class: 'x', dataset: {id: 1}}, 'text', child). Text is never parsed as HTML. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
});

/** A <time> element in local time: the clock alone for today, date and clock otherwise. */
export function timeEl(iso, { full = false } = {}) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const when = new Date(iso);
  const today = new Date().toDateString() === when.toDateString();
  const text = full || !today ? dateTimeFormat.format(when) : timeFormat.format(when);
  return h('time', { datetime: when.toISOString(), title: when.toISOString() }, text);
}

/** "owner_person_id" -> "Owner person id". */
export function humanise(key) {
  const words = String(key).replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

/** A value of a facts or parameters object for display: times as local <time>, the rest as text. */
export function displayNode(value) {
  return typeof value === 'string' && ISO_TIME.test(value) ? timeEl(value, { full: true }) : displayValue(value);
}

/** A value of a facts or parameters object as display text. */
export function displayValue(value) {
  if (value === null || value === undefined || value === '') return '—';
  if (Array.isArray(value)) return value.map(displayValue).join(', ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Read and write small preferences that survive reloads; private mode just forgets them. */
export const prefs = {
  get(key, fallback = '') {
    try {
      const value = window.localStorage.getItem('safecity.' + key);
      return value === null ? fallback : value;
    } catch (_) {
      return fallback;
    }
  },
  set(key, value) {
    try {
      window.localStorage.setItem('safecity.' + key, value);
    } catch (_) {
      /* storage unavailable: the preference lasts for this page only */
    }
  },
};
