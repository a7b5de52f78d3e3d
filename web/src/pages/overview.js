// Overview: system health, active alerts, performance, map distribution.

import { h, replace, card, number, percent, throttle } from '../dom.js';
import { api } from '../api.js';
import { chartWithTimeframes } from '../chart.js';
import { alertTable } from './alerts-table.js';

export function overview(main, live) {
  const cards = h('div', { class: 'cards', id: 'cards' });
  const alerts = h('div', { class: 'panel', id: 'active-alerts' });
  replace(main, h('h1', {}, 'Overview'), cards, h('h2', {}, 'Active alerts'), alerts, h('h2', {}, 'Performance'));
  chartWithTimeframes(main, { metric: 'cpu_usage', title: 'CPU usage by host' });
  chartWithTimeframes(main, { metric: 'player_count', title: 'Players' });

  const refresh = async () => {
    const [now, { coordinator }] = await Promise.all([api('/api/v1/metrics/realtime'), api('/api/v1/coordinator')]);
    replace(cards,
      card('Hosts online', number(now.hosts.online, 0),
        `${now.hosts.degraded} degraded, ${now.hosts.offline} offline`),
      card('Players', number(now.total_players, 0)),
      card('Network health', `${number(now.network_health.score, 0)} / 100`,
        `${now.network_health.status}, loss ${percent(now.network_health.packet_loss_percent)}`),
      card('Average latency', now.average_latency_ms === null ? '–' : `${number(now.average_latency_ms)} ms`),
      card('Maps on P2P hosts', number(now.maps.p2p, 0), `${now.maps.vps} on VPS`),
      coordinator.configured
        ? card('Coordinator', coordinator.reachable ? 'reachable' : 'unreachable',
          `${coordinator.unmonitored.length} unmonitored, ${coordinator.unknown.length} unknown hosts`)
        : null);
  };
  const refreshAlerts = async () => {
    const { alerts: active } = await api('/api/v1/alerts/active');
    replace(alerts, alertTable(active, refreshAlerts));
  };
  refresh();
  refreshAlerts();
  const soon = throttle(refresh, 1000);
  const soonAlerts = throttle(refreshAlerts, 500);
  live((message) => {
    if (message.type === 'metrics' || message.type === 'status') soon();
    if (message.type === 'alert') soonAlerts();
  });
}
