// Alerts: active ones (acknowledge, resolve), history, silences and
// maintenance windows (create, end).

import { h, replace, badge, number, ago, when, table, throttle } from '../dom.js';
import { api } from '../api.js';
import { alertTable } from './alerts-table.js';

export function alerts(main, live) {
  const active = h('div', { class: 'panel', id: 'active-alerts' });
  const history = h('div', { class: 'panel', id: 'alert-history' });
  const silences = h('div', { class: 'panel', id: 'silences' });
  const problem = h('p', { class: 'error', role: 'alert' });
  const host = h('input', { name: 'host', placeholder: 'host (any)' });
  const rule = h('input', { name: 'rule', placeholder: 'rule (any)' });
  const minutes = h('input', { name: 'minutes', type: 'number', min: 1, value: 60, 'aria-label': 'minutes' });
  const comment = h('input', { name: 'comment', placeholder: 'why' });
  const form = h('form', { class: 'filters', onsubmit: async (event) => {
    event.preventDefault();
    try {
      await api('/api/v1/silences', { method: 'POST', body: {
        host: host.value || null, rule: rule.value || null,
        ends_ms: Date.now() + Number(minutes.value) * 60000, author: 'dashboard', comment: comment.value } });
      problem.textContent = '';
      loadSilences();
    } catch (error) {
      problem.textContent = error.message;
    }
  } }, host, rule, minutes, h('span', {}, 'min'), comment, h('button', { type: 'submit' }, 'Silence'));
  replace(main, h('h1', {}, 'Alerts'), h('h2', {}, 'Active'), active, h('h2', {}, 'History'), history,
    h('h2', {}, 'Silences and maintenance windows'), form, problem, silences);

  const loadActive = async () => {
    const data = await api('/api/v1/alerts/active');
    replace(active, alertTable(data.alerts, () => { loadActive(); loadHistory(); }));
  };
  const loadHistory = async () => {
    const data = await api('/api/v1/alerts?status=resolved&limit=50');
    replace(history, table(['Severity', 'Rule', 'Host', 'Value', 'Started', 'Resolved', 'Notes'],
      data.alerts.map((a) => h('tr', {}, h('td', {}, badge(a.severity)), h('td', {}, a.rule), h('td', {}, a.host),
        h('td', {}, number(a.value, 2)), h('td', {}, when(a.started_ms)), h('td', {}, ago(a.resolved_ms)),
        h('td', {}, a.resolution_notes || ''))), 'No resolved alerts yet.'));
  };
  const loadSilences = async () => {
    const data = await api('/api/v1/silences');
    replace(silences, table(['Host', 'Rule', 'From', 'Until', 'By', 'Why', ''],
      data.silences.map((s) => h('tr', {}, h('td', {}, s.host || 'any'), h('td', {}, s.rule || 'any'),
        h('td', {}, when(s.starts_ms)), h('td', {}, when(s.ends_ms)), h('td', {}, s.author), h('td', {}, s.comment),
        h('td', {}, h('button', { type: 'button', onclick: async () => {
          await api(`/api/v1/silences/${s.id}`, { method: 'DELETE' });
          loadSilences();
        } }, 'End')))), 'No silences.'));
  };
  loadActive();
  loadHistory();
  loadSilences();
  const soon = throttle(() => { loadActive(); loadHistory(); }, 500);
  live((message) => { if (message.type === 'alert') soon(); });
}
