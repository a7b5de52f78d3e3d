// The active-alerts table, shared by the overview and the alerts page:
// acknowledge or resolve in place. Its columns are the FluxCP addon's too
// (tables.json).

import { h, badge } from '../dom.js';
import { api } from '../api.js';
import { cells, sharedTable } from '../tables.js';

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
    return h('tr', { dataset: { alert: alert.id } }, cells('active_alerts', alert, {
      rule: () => [alert.rule, labels ? h('small', {}, ` ${labels}`) : null],
      alert_status: () => badge(alert.status),
      alert_actions: () => [
        alert.status === 'firing'
          ? h('button', { type: 'button', class: 'ack', onclick: act('acknowledged') }, 'Acknowledge') : null,
        alert.status !== 'resolved'
          ? h('button', { type: 'button', class: 'resolve', onclick: act('resolved') }, 'Resolve') : null],
    }));
  });
}

export function alertTable(alerts, onChange, empty) {
  return sharedTable('active_alerts', alertRows(alerts, onChange), empty || 'No active alerts.');
}
