// Alerts: active ones (acknowledge, resolve), history, silences and
// maintenance windows (create, end).

import { h, replace, badge, number, ago, when, table, throttle } from '../dom.js';
import { api } from '../api.js';
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
  replace(main, h('h1', {}, 'Alerts'), h('h2', {}, 'Active'), active, h('h2', {}, 'History'), history,
    h('h2', {}, 'Silences and maintenance windows'), form, problem, silences,
    h('h2', {}, 'Rules in force'), rules, h('h2', {}, 'Notification channels'), channels);

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
  const loadRules = async () => {
    const data = await api('/api/v1/rules');
    const level = (v) => (v === null ? '–' : number(v, 2));
    replace(rules, table(['Rule', 'Type', 'Warning', 'Critical', 'For', 'Direction', 'Overrides', 'On'],
      [...data.metric_rules.map((r) => h('tr', {}, h('td', {}, r.metric), h('td', {}, r.type), h('td', {}, level(r.warning)),
        h('td', {}, level(r.critical)), h('td', {}, `${r.duration_s} s`), h('td', {}, r.direction), h('td', {}, r.overrides),
        h('td', {}, r.enabled ? 'yes' : 'no'))),
      ...data.event_rules.map((r) => h('tr', {}, h('td', {}, `event ${r.kind}`), h('td', {}, r.type),
        h('td', { colspan: 2 }, `from ${r.min_severity}`), h('td', {}, 'at once'), h('td', {}, ''), h('td', {}, ''),
        h('td', {}, r.enabled ? 'yes' : 'no')))],
      'No rules: add them to alerts.yml.'),
    h('p', { class: 'detail' }, data.no_data.enabled
      ? `A host silent for ${data.no_data.intervals} collection intervals raises no_data.` : 'no_data alerts are off.',
    ' ', data.plugin_quarantined.enabled
      ? 'A plugin quarantined by its agent, or failing every call, raises plugin_quarantined.'
      : 'plugin_quarantined alerts are off.'));
    replace(channels, table(['Channel', 'On', 'From severity', 'Resolved too', 'Target'],
      data.channels.map((c) => h('tr', {}, h('td', {}, c.channel), h('td', {}, c.enabled ? 'yes' : 'no'),
        h('td', {}, c.min_severity), h('td', {}, c.send_resolved ? 'yes' : 'no'), h('td', {}, c.target)))));
  };
  loadActive();
  loadHistory();
  loadSilences();
  loadRules();
  const soon = throttle(() => { loadActive(); loadHistory(); }, 500);
  live((message) => { if (message.type === 'alert') soon(); });
}
