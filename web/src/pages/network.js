// Network: the host-to-host latency matrix as a heatmap, packet loss per
// link, and each host's bandwidth (received and sent) and error rate. A link
// that does not answer shows "no answer" and when it last did, never the
// last latency as if it were current. The links and traffic tables have the
// FluxCP addon's columns (tables.json).

import { h, replace, number, throttle } from '../dom.js';
import { api } from '../api.js';
import { tables, cells, sharedTable } from '../tables.js';

function heat(link) {
  if (link?.answering === false) return 'poor';
  const latency = link?.latency_ms;
  if (latency === undefined || latency === null) return 'none';
  if (latency < 50) return 'good';
  if (latency < 150) return 'fair';
  return 'poor';
}

function since(ms) {
  if (ms === undefined) return 'never answered';
  const age = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return `last answer ${age} s ago`;
}

// What a link's latency cell says.
function latencyText(link, digits) {
  if (!link) return '';
  if (link.answering === false) return 'no answer';
  return link.latency_ms === undefined || link.latency_ms === null ? '–' : number(link.latency_ms, digits);
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
        const title = link?.answering === false ? since(link.last_answer_ms) : undefined;
        return h('td', { class: `heat ${heat(link)}`, title }, latencyText(link, 0));
      }))))),
    data.hosts.length > shown.length ? h('p', { class: 'detail' }, `First 40 of ${data.hosts.length} hosts.`) : null);
    const lossy = data.links.filter((l) => (l.packet_loss_percent || 0) > 0)
      .sort((a, b) => b.packet_loss_percent - a.packet_loss_percent);
    const linkCells = {
      link_latency: (l) => (l.answering === false ? `no answer (${since(l.last_answer_ms)})` : `${latencyText(l)} ms`),
    };
    replace(links, sharedTable('lossy_links', lossy.map((l) => h('tr', {}, cells('lossy_links', l, linkCells))),
      'No link loses packets.'));
    const busiest = [...data.traffic]
      .sort((a, b) => (b.bandwidth_bytes_per_second || 0) - (a.bandwidth_bytes_per_second || 0))
      .slice(0, tables.traffic.busiest);
    replace(traffic, sharedTable('traffic', busiest.map((t) => h('tr', {}, cells('traffic', t))),
      'No host reports traffic.'));
  };
  load();
  const soon = throttle(load, 5000);
  live((message) => { if (message.type === 'metrics') soon(); });
}
