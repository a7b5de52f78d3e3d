// The active-alerts table, shared by the overview and the alerts page:
// acknowledge, resolve or publish as a status page incident in place. Its
// columns are the FluxCP addon's too
// (tables.json).

import { h, badge, replace } from '../dom.js';
import { api } from '../api.js';
import { cells, sharedTable } from '../tables.js';

// After an alert is resolved: when it was published as an incident still
// open on the status page, offer (in the page's #incident-offer, if it has
// one) to resolve the incident too.
async function offerIncident(alertId) {
  const offer = document.getElementById('incident-offer');
  if (!offer) return;
  const { posts } = await api('/api/v1/status/posts');
  const incident = posts.find((p) => p.kind === 'incident' && p.ends_ms === null && p.alert_id === alertId);
  if (!incident) return;
  const note = h('input', { name: 'note', placeholder: 'What players read (optional)' });
  const done = h('span');
  replace(offer, `This alert was published as the incident "${incident.title}" on the status page. `, note,
    h('button', { type: 'button', class: 'resolve-incident', onclick: async (event) => {
      event.target.disabled = true;
      try {
        await api(`/api/v1/status/posts/${incident.id}/updates`, { method: 'POST',
          body: { state: 'resolved', body: note.value, author: 'dashboard' } });
        replace(offer, 'Incident resolved on the status page.');
      } catch (error) {
        event.target.disabled = false;
        done.textContent = ` ${error.message}`;
      }
    } }, 'Resolve the incident too'), done);
}

export function alertRows(alerts, onChange) {
  return alerts.map((alert) => {
    const act = (status) => async (event) => {
      event.target.disabled = true;
      try {
        await api(`/api/v1/alerts/${alert.id}`, { method: 'PATCH', body: { status } });
        onChange();
        if (status === 'resolved') await offerIncident(alert.id);
      } catch (error) {
        event.target.disabled = false;
        event.target.title = error.message;
      }
    };
    // Publish as an incident on the status page: players see only this title.
    const title = h('input', { class: 'publish-title', placeholder: 'Title players see', maxlength: 200 });
    const publish = async (event) => {
      if (!title.value.trim()) { title.focus(); return; }
      event.target.disabled = true;
      try {
        await api('/api/v1/status/posts', { method: 'POST',
          body: { kind: 'incident', title: title.value, alert_id: alert.id, author: 'dashboard' } });
        event.target.textContent = 'Published';
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
          ? h('button', { type: 'button', class: 'resolve', onclick: act('resolved') }, 'Resolve') : null,
        alert.status !== 'resolved'
          ? h('span', { class: 'publish' }, ' ', title,
            h('button', { type: 'button', class: 'publish', onclick: publish }, 'Publish as incident')) : null],
    }));
  });
}

export function alertTable(alerts, onChange, empty) {
  return sharedTable('active_alerts', alertRows(alerts, onChange), empty || 'No active alerts.');
}
