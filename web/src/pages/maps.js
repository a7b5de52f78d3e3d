// Maps: where each map runs (P2P or VPS), its players and state, and the
// coordinator's assignments beside it (assigned but not served stands out),
// and each map's player history. The tables have the FluxCP addon's columns (tables.json).

import { h, replace, card, number, throttle } from '../dom.js';
import { api } from '../api.js';
import { cells, sharedTable } from '../tables.js';

export function maps(main, live) {
  const cards = h('div', { class: 'cards' });
  const PER_PAGE = 50;
  let page = 1;
  const list = h('div', { class: 'panel', id: 'map-list' });
  const pager = h('div', { class: 'pager' });
  const filter = h('input', { type: 'search', placeholder: 'Search maps or hosts', 'aria-label': 'Search',
    oninput: () => { page = 1; load(); } });
  const assigned = h('div', { class: 'panel', id: 'assignments' });
  const history = h('div', { class: 'panel', id: 'player-history' });
  replace(main, h('h1', {}, 'Maps'), cards, h('h2', {}, 'Map distribution'), h('div', { class: 'filters' }, filter), list, pager,
    h('h2', {}, 'Player history'), history, h('h2', {}, 'Coordinator assignments'), assigned);
  // Per map: the last 30 days and the last year from the hour rollups, as the addon shows them
  // (fluxcp/lib/P2PMonitor/Tables.php playerHistory). Daily figures change slowly: read once.
  (async () => {
    const [month, year] = await Promise.all([api('/api/v1/players/history?days=30'), api('/api/v1/players/history?days=365')]);
    const rows = Object.entries(year.maps).map(([map, trend]) => {
      const recent = month.maps[map];
      return { map, peak_30d: recent ? recent.peak : null, average_30d: recent ? recent.average : null,
        peak_1y: trend.peak, average_1y: trend.average, week_change: trend.week_change_percent };
    }).sort((a, b) => (b.peak_30d || 0) - (a.peak_30d || 0) || a.map.localeCompare(b.map));
    replace(history, sharedTable('player_history', rows.map((r) => h('tr', {}, cells('player_history', r))),
      'No player counts stored yet.'));
  })();
  const load = async () => {
    const data = await api('/api/v1/maps');
    const coordinator = data.coordinator;
    replace(cards,
      card('Maps on P2P hosts', number(data.by_host_type.p2p, 0)),
      card('Maps on VPS', number(data.by_host_type.vps, 0)),
      card('Players on maps', number(data.total_players, 0)),
      card('Assigned, not served', number(coordinator.not_served.length, 0),
        coordinator.configured ? (coordinator.error || 'from the coordinator') : 'no coordinator configured'));
    // One row per map: where it runs, its players, and what is wrong.
    const byMap = new Map();
    for (const row of data.maps) {
      const entry = byMap.get(row.map) || { map: row.map, hosts: [], players: 0, p2p: 0, vps: 0, down: 0, assigned: 0 };
      entry.hosts.push(row.host);
      entry.players += row.players || 0;
      if (row.host_type === 'vps') entry.vps += 1; else entry.p2p += 1;
      if (row.up === false || row.host_status === 'offline') entry.down += 1;
      if (row.assigned) entry.assigned += 1;
      byMap.set(row.map, entry);
    }
    const wanted = filter.value.trim().toLowerCase();
    const all = [...byMap.values()]
      .filter((m) => !wanted || m.map.toLowerCase().includes(wanted) || m.hosts.some((x) => x.includes(wanted)))
      .sort((a, b) => b.players - a.players || a.map.localeCompare(b.map));
    const pages = Math.max(1, Math.ceil(all.length / PER_PAGE));
    page = Math.min(page, pages);
    const shown = all.slice((page - 1) * PER_PAGE, page * PER_PAGE);
    const mapCells = {
      host_list: (m) => [m.hosts.slice(0, 3).map((x, i) => [i ? ', ' : '',
        h('a', { href: `/p2p/monitoring/hosts/${encodeURIComponent(x)}` }, x)]),
      m.hosts.length > 3 ? ` and ${m.hosts.length - 3} more` : ''],
      assigned_count: (m) => (!coordinator.configured ? '–' : coordinator.unknown_reason ? 'unknown' : m.assigned),
    };
    replace(list, sharedTable('map_distribution',
      shown.map((m) => h('tr', { class: m.down ? 'problem' : '' }, cells('map_distribution', m, mapCells))),
      'No host reports a map yet.'));
    replace(pager,
      h('button', { type: 'button', disabled: page <= 1, onclick: () => { page -= 1; load(); } }, 'Previous'),
      h('span', {}, `Page ${page} of ${pages} (${all.length} maps)`),
      h('button', { type: 'button', disabled: page >= pages, onclick: () => { page += 1; load(); } }, 'Next'));
    replace(assigned, sharedTable('assignments',
      coordinator.assignments.map((a) => h('tr', { class: a.served === false ? 'problem' : '' }, cells('assignments', a))),
      !coordinator.configured ? 'Configure coordinator: in aggregator.yml to see assignments.'
        : coordinator.unknown_reason ? `Unknown: ${coordinator.unknown_reason}.` : 'No active sessions.'));
  };
  load();
  const soon = throttle(load, 2000);
  live((message) => { if (message.type === 'metrics' || message.type === 'status') soon(); });
}
