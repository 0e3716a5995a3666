// Shared by every page: calls to the service's own REST API with the browser session (same origin only), the
// antiforgery token that session calls that change state must carry, and small DOM helpers.

let antiforgeryToken = null;

/** The signed-in caller ({subject, scopes, antiforgeryToken}); sends the browser to sign in when there is none. */
export async function session() {
  const response = await fetch('/auth/session', { headers: { Accept: 'application/json' } });
  if (response.status === 401) {
    location.href = `/auth/signin?returnUrl=${encodeURIComponent(location.pathname + location.search)}`;
    throw new Error('signed out');
  }
  const body = await response.json();
  antiforgeryToken = body.antiforgeryToken;
  return body;
}

/** fetch with the session; JSON bodies and answers; throws {status, problem} on 4xx/5xx. */
export async function api(path, { method = 'GET', json, body, headers = {} } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers } };
  if (method !== 'GET' && method !== 'HEAD') init.headers['X-XSRF-TOKEN'] = antiforgeryToken ?? (await session()).antiforgeryToken;
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  const response = await fetch(path, init);
  if (!response.ok) throw { status: response.status, problem: await response.json().catch(() => ({ title: response.statusText })) };
  const type = response.headers.get('Content-Type') ?? '';
  return type.includes('json') ? response.json() : response;
}

/** A problem as one line: its detail, or its field errors. */
export function describe(error) {
  const problem = error?.problem;
  if (!problem) return String(error);
  if (problem.errors) return Object.entries(problem.errors).map(([field, messages]) => `${field}: ${messages.join(' ')}`).join('; ');
  return problem.detail ?? problem.title ?? `HTTP ${error.status}`;
}

/** document.createElement with properties and children. */
export function el(tag, properties = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(properties)) {
    if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else if (key in element) element[key] = value;
    else element.setAttribute(key, value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) element.append(child);
  return element;
}

export const $ = (selector) => document.querySelector(selector);

export function formatSeconds(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min` : s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

export function formatBytes(bytes) {
  return bytes >= 1 << 30 ? `${(bytes / (1 << 30)).toFixed(1)} GiB` : bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}

/** The navigation bar and the sign-out button every page shows. */
export async function header(current) {
  const me = await session();
  const links = [['/ui/', 'Jobs & models'], ['/ui/datasets', 'Datasets'], ['/ui/new-job', 'New job'], ['/ui/translate', 'Translate']];
  const nav = el('nav', { 'aria-label': 'Main' },
    ...links.map(([href, text]) => el('a', { href, className: href === current ? 'current' : '' }, text)),
    el('span', { className: 'who' }, `${me.subject} (${me.scopes.join(', ')})`),
    el('button', { type: 'button', id: 'sign-out', onclick: async () => { await api('/auth/signout', { method: 'POST' }); location.href = '/auth/signin'; } }, 'Sign out'));
  document.body.prepend(el('header', {}, el('strong', {}, 'Pix2Pix.Service'), nav));
  return me;
}
