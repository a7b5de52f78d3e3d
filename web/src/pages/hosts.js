// Hosts: status and performance of every host, searchable, sortable and
// paged (the API does the work, so 1,000 hosts cost one page of rows), with
// CPU and memory cells updated live from the feed.

import { h, replace, badge, number, percent, ago, table } from '../dom.js';
import { api } from '../api.js';

const SORTS = [['id', 'Name'], ['status', 'Status'], ['quality', 'Quality'], ['players', 'Players'],
  ['cpu', 'CPU'], ['last_seen', 'Last report']];

export function hosts(main, live) {
  const state = { search: '', status: '', sort: 'id', page: 1, per_page: 50 };
  const list = h('div', { class: 'panel', id: 'host-list' });
  const pager = h('div', { class: 'pager' });
  const search = h('input', { type: 'search', placeholder: 'Search hosts or maps', 'aria-label': 'Search',
    oninput: (e) => { state.search = e.target.value; state.page = 1; load(); } });
  const status = h('select', { 'aria-label': 'Status', onchange: (e) => { state.status = e.target.value; state.page = 1; load(); } },
    ['', 'online', 'degraded', 'offline'].map((s) => h('option', { value: s }, s || 'any status')));
  const sort = h('select', { 'aria-label': 'Sort', onchange: (e) => { state.sort = e.target.value; load(); } },
    SORTS.map(([value, label]) => h('option', { value }, `sort: ${label}`)));
  replace(main, h('h1', {}, 'Hosts'), h('div', { class: 'filters' }, search, status, sort), list, pager);

  const cells = new Map(); // host -> { cpu, memory }
  const load = async () => {
    const query = new URLSearchParams({ sort: state.sort, page: state.page, per_page: state.per_page });
    if (state.search) query.set('search', state.search);
    if (state.status) query.set('status', state.status);
    const data = await api(`/api/v1/hosts?${query}`);
    cells.clear();
    const rows = data.hosts.map((host) => {
      const cpu = h('td', { class: 'cpu' }, percent(host.cpu_usage));
      const memory = h('td', { class: 'memory' }, percent(host.memory_usage));
      cells.set(host.id, { cpu, memory });
      return h('tr', { dataset: { host: host.id } },
        h('td', {}, h('a', { href: `/p2p/monitoring/hosts/${encodeURIComponent(host.id)}` }, host.id)),
        h('td', {}, host.host_type.toUpperCase()),
        h('td', {}, badge(host.status)),
        h('td', {}, number(host.quality_score, 0)),
        cpu, memory,
        h('td', {}, number(host.players, 0)),
        h('td', {}, host.latency_ms === null ? '–' : `${number(host.latency_ms)} ms`),
        h('td', {}, host.maps.join(', ')),
        h('td', {}, ago(host.last_seen_ms)));
    });
    replace(list, table(['Host', 'Type', 'Status', 'Quality', 'CPU', 'Memory', 'Players', 'Latency', 'Maps', 'Last report'],
      rows, 'No host matches.'));
    const pages = Math.max(1, Math.ceil(data.total / state.per_page));
    replace(pager,
      h('button', { type: 'button', disabled: state.page <= 1, onclick: () => { state.page -= 1; load(); } }, 'Previous'),
      h('span', {}, `Page ${state.page} of ${pages} (${data.total} hosts)`),
      h('button', { type: 'button', disabled: state.page >= pages, onclick: () => { state.page += 1; load(); } }, 'Next'));
  };
  load();
  live((message) => {
    if (message.type !== 'metrics') return;
    const row = cells.get(message.host);
    if (!row) return;
    for (const metric of message.metrics || []) {
      if (Object.keys(metric.tags || {}).length) continue;
      if (metric.name === 'cpu_usage') row.cpu.textContent = percent(metric.value);
      if (metric.name === 'memory_usage') row.memory.textContent = percent(metric.value);
    }
  });
}
