// Network: the host-to-host latency matrix as a heatmap, packet loss per
// link, and each host's bandwidth and error rate.

import { h, replace, number, percent, table, throttle } from '../dom.js';
import { api } from '../api.js';

function heat(latency) {
  if (latency === undefined || latency === null) return 'none';
  if (latency < 50) return 'good';
  if (latency < 150) return 'fair';
  return 'poor';
}

export function network(main, live) {
  const matrix = h('div', { class: 'panel', id: 'matrix' });
  const links = h('div', { class: 'panel' });
  const traffic = h('div', { class: 'panel', id: 'traffic' });
  replace(main, h('h1', {}, 'Network'), h('h2', {}, 'Latency between hosts (ms)'), matrix,
    h('h2', {}, 'Links with packet loss'), links, h('h2', {}, 'Bandwidth and errors (50 busiest hosts)'), traffic);
  const load = async () => {
    const data = await api('/api/v1/network/matrix');
    const shown = data.hosts.slice(0, 40);
    const byPair = new Map(data.links.map((l) => [`${l.from}\u0000${l.to}`, l]));
    replace(matrix, h('table', { class: 'matrix' },
      h('thead', {}, h('tr', {}, h('th', {}, 'from \\ to'), shown.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, shown.map((from) => h('tr', {}, h('th', { scope: 'row' }, from), shown.map((to) => {
        const link = byPair.get(`${from}\u0000${to}`);
        return h('td', { class: `heat ${heat(link?.latency_ms)}` }, link?.latency_ms === undefined ? '' : number(link.latency_ms, 0));
      }))))),
    data.hosts.length > shown.length ? h('p', { class: 'detail' }, `First 40 of ${data.hosts.length} hosts.`) : null);
    const lossy = data.links.filter((l) => (l.packet_loss_percent || 0) > 0)
      .sort((a, b) => b.packet_loss_percent - a.packet_loss_percent);
    replace(links, table(['From', 'To', 'Loss', 'Latency'], lossy.map((l) => h('tr', {},
      h('td', {}, l.from), h('td', {}, l.to), h('td', {}, percent(l.packet_loss_percent)),
      h('td', {}, l.latency_ms === undefined ? '–' : `${number(l.latency_ms)} ms`))), 'No link loses packets.'));
    const busiest = [...data.traffic]
      .sort((a, b) => (b.bandwidth_bytes_per_second || 0) - (a.bandwidth_bytes_per_second || 0))
      .slice(0, 50);
    const rows = busiest.map((t) => h('tr', {},
      h('td', {}, h('a', { href: `/p2p/monitoring/hosts/${encodeURIComponent(t.host)}` }, t.host)),
      h('td', {}, t.bandwidth_bytes_per_second === null ? '–' : `${number(t.bandwidth_bytes_per_second / 1024)} KiB/s`),
      h('td', {}, t.errors_per_second === null ? '–' : `${number(t.errors_per_second, 2)} /s`),
      h('td', {}, number(t.connections, 0))));
    replace(traffic, table(['Host', 'Bandwidth', 'Errors', 'Connections'], rows, 'No host reports traffic.'));
  };
  load();
  const soon = throttle(load, 5000);
  live((message) => { if (message.type === 'metrics') soon(); });
}
