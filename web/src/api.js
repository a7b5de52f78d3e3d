// The aggregator's query API, with this page's session cookie. Changes
// carry the session's CSRF token.

const csrf = document.querySelector('meta[name="p2pmon-csrf"]')?.content || '';

export class ApiError extends Error {}

export async function api(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    location.assign(`/p2p/login?next=${encodeURIComponent(location.pathname)}`);
    throw new ApiError('signed out');
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(data.message || `${method} ${path}: HTTP ${response.status}`);
  return data;
}
