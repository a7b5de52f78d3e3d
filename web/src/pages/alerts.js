// Alerts: active ones (acknowledge, resolve), history, silences and
// maintenance windows (create, end), the rules and channels in force. The
// tables have the FluxCP addon's columns (tables.json).

import { h, replace, throttle } from '../dom.js';
import { api } from '../api.js';
import { tables, cells, sharedTable } from '../tables.js';
import { alertTable } from './alerts-table.js';

export function alerts(main, live) {
  const active = h('div', { class: 'panel', id: 'active-alerts' });
  const history = h('div', { class: 'panel', id: 'alert-history' });
  const silences = h('div', { class: 'panel', id: 'silences' });
  const rules = h('div', { class: 'panel', id: 'rules' });
  const channels = h('div', { class: 'panel', id: 'channels' });
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
  const offer = h('p', { id: 'incident-offer', role: 'status' });
  replace(main, h('h1', {}, 'Alerts'), h('h2', {}, 'Active'), offer, active, h('h2', {}, 'History'), history,
    h('h2', {}, 'Silences and maintenance windows'), form, problem, silences,
    h('h2', {}, 'Rules in force'), rules, h('h2', {}, 'Notification channels'), channels);

  const loadActive = async () => {
    const data = await api('/api/v1/alerts/active');
    replace(active, alertTable(data.alerts, () => { loadActive(); loadHistory(); }));
  };
  const loadHistory = async () => {
    const data = await api('/api/v1/alerts?status=resolved&limit=50');
    replace(history, sharedTable('alert_history', data.alerts.map((a) => h('tr', {}, cells('alert_history', a))),
      'No resolved alerts yet.'));
  };
  const loadSilences = async () => {
    const data = await api('/api/v1/silences');
    replace(silences, sharedTable('silences', data.silences.map((s) => h('tr', {}, cells('silences', s, {
      silence_actions: () => h('button', { type: 'button', onclick: async () => {
        await api(`/api/v1/silences/${s.id}`, { method: 'DELETE' });
        loadSilences();
      } }, 'End'),
    }))), 'No silences.'));
  };
  const loadRules = async () => {
    const data = await api('/api/v1/rules');
    // Event rules have no thresholds: their row spans the threshold columns and leaves the rest empty.
    const span = tables.metric_rules.columns.length;
    replace(rules, sharedTable('metric_rules',
      [...data.metric_rules.map((r) => h('tr', {}, cells('metric_rules', r))),
        ...data.event_rules.map((r) => h('tr', {}, h('td', {}, `event ${r.kind}`), h('td', {}, r.type),
          h('td', { colspan: 2 }, `from ${r.min_severity}`), h('td', {}, 'at once'),
          Array.from({ length: span - 6 }, () => h('td', {}, '')), h('td', {}, r.enabled ? 'yes' : 'no')))],
      'No rules: add them to alerts.yml.'),
    h('p', { class: 'detail' }, data.no_data.enabled
      ? `A host silent for ${data.no_data.intervals} collection intervals raises no_data.` : 'no_data alerts are off.',
    ' ', data.plugin_quarantined.enabled
      ? 'A plugin quarantined by its agent, or failing every call, raises plugin_quarantined.'
      : 'plugin_quarantined alerts are off.'));
    replace(channels, sharedTable('channels', data.channels.map((c) => h('tr', {}, cells('channels', c)))));
  };
  loadActive();
  loadHistory();
  loadSilences();
  loadRules();
  const soon = throttle(() => { loadActive(); loadHistory(); }, 500);
  live((message) => { if (message.type === 'alert') soon(); });
}
