// The active-alerts table, shared by the overview and the alerts page:
// acknowledge or resolve in place.

import { h, badge, number, ago, table } from '../dom.js';
import { api } from '../api.js';

export function alertRows(alerts, onChange) {
  return alerts.map((alert) => {
    const act = (status) => async (event) => {
      event.target.disabled = true;
      try {
        await api(`/api/v1/alerts/${alert.id}`, { method: 'PATCH', body: { status } });
        onChange();
      } catch (error) {
        event.target.disabled = false;
        event.target.title = error.message;
      }
    };
    const labels = Object.entries(alert.labels || {}).map(([k, v]) => `${k}=${v}`).join(' ');
    return h('tr', { dataset: { alert: alert.id } },
      h('td', {}, badge(alert.severity)),
      h('td', {}, alert.rule, labels ? h('small', {}, ` ${labels}`) : null),
      h('td', {}, h('a', { href: `/p2p/monitoring/hosts/${encodeURIComponent(alert.host)}` }, alert.host)),
      h('td', {}, number(alert.value, 2)),
      h('td', {}, alert.message),
      h('td', {}, badge(alert.status)),
      h('td', {}, ago(alert.started_ms)),
      h('td', { class: 'actions' },
        alert.status === 'firing'
          ? h('button', { type: 'button', class: 'ack', onclick: act('acknowledged') }, 'Acknowledge') : null,
        alert.status !== 'resolved'
          ? h('button', { type: 'button', class: 'resolve', onclick: act('resolved') }, 'Resolve') : null));
  });
}

export function alertTable(alerts, onChange, empty) {
  return table(['Severity', 'Rule', 'Host', 'Value', 'Message', 'Status', 'Since', ''],
    alertRows(alerts, onChange), empty || 'No active alerts.');
}
