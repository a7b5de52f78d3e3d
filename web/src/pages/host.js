// One host: its figures, maps, sync status, plugins, charts and alerts. The
// alert and event tables have the FluxCP addon's columns (tables.json).

import { h, replace, card, badge, number, percent, ago, throttle } from '../dom.js';
import { api } from '../api.js';
import { cells, sharedTable } from '../tables.js';
import { chartWithTimeframes } from '../chart.js';

export function host(main, live) {
  const id = document.body.dataset.host;
  const cards = h('div', { class: 'cards' });
  const details = h('div', { class: 'panel' });
  const history = h('div', { class: 'panel' });
  const events = h('div', { class: 'panel', id: 'host-events' });
  replace(main, h('h1', {}, id), cards, details, h('h2', {}, 'Performance'));
  chartWithTimeframes(main, { metric: 'cpu_usage', host: id, title: 'CPU usage' });
  chartWithTimeframes(main, { metric: 'memory_usage', host: id, title: 'Memory usage' });
  main.append(h('h2', {}, 'Alert history'), history, h('h2', {}, 'Recent events'), events);
  const load = async () => {
    const data = await api(`/api/v1/hosts/${encodeURIComponent(id)}`);
    const s = data.host;
    replace(cards,
      card('Status', badge(s.status), `${s.host_type.toUpperCase()}, agent ${s.agent_version || '?'}`),
      card('Quality', `${s.quality_score} / 100`),
      card('CPU', percent(s.cpu_usage)), card('Memory', percent(s.memory_usage)),
      card('Players', number(s.players, 0)), card('Last report', ago(s.last_seen_ms)));
    const sync = data.db_sync;
    replace(details,
      h('p', {}, 'Maps served: ', s.maps.join(', ') || 'none'),
      h('p', {}, 'Assigned by the coordinator: ',
        data.assigned_maps.map((a) => `${a.map}${a.served === false ? ' (not served)' : ''}`).join(', ') || 'none'),
      h('p', {}, 'Database sync: ', sync
        ? `last success ${ago(sync.last_success_ms)}, lag ${number(sync.lag_s)} s, ${sync.failures} failures, ${sync.checksum_mismatches} checksum mismatches`
        : 'no sync events'),
      h('p', {}, 'Plugins: ', data.plugins.map((p) => `${p.name} ${p.version}`).join(', ') || 'none reported'));
    const alerts = await api(`/api/v1/alerts?host=${encodeURIComponent(id)}&limit=50`);
    replace(history, sharedTable('host_alerts', alerts.alerts.map((a) => h('tr', {}, cells('host_alerts', a))),
      'No alerts for this host.'));
    const recent = await api(`/api/v1/events?host=${encodeURIComponent(id)}&limit=50`);
    replace(events, sharedTable('host_events', recent.events.map((e) => h('tr', {}, cells('host_events', e))),
      'No events from this host.'));
  };
  load();
  const soon = throttle(load, 1000);
  live((message) => { if (message.host === id || message.alert?.host === id) soon(); });
}
