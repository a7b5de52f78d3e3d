// Hosts: status and performance of every host, searchable, sortable and
// paged (the API does the work, so 1,000 hosts cost one page of rows), with
// CPU and memory cells updated live from the feed.

import { h, replace } from '../dom.js';
import { api } from '../api.js';
import { tables, cells as rowCells, sharedTable, show } from '../tables.js';

// Sorts, statuses and columns are the ones the FluxCP addon shows (tables.json).
const HOSTS = tables.hosts;
const LIVE = HOSTS.columns.filter((column) => column.live);

export function hosts(main, live) {
  const state = { search: '', status: '', sort: HOSTS.sorts[0].key, page: 1, per_page: HOSTS.per_page };
  const list = h('div', { class: 'panel', id: 'host-list' });
  const pager = h('div', { class: 'pager' });
  const search = h('input', { type: 'search', placeholder: 'Search hosts or maps', 'aria-label': 'Search',
    oninput: (e) => { state.search = e.target.value; state.page = 1; load(); } });
  const status = h('select', { 'aria-label': 'Status', onchange: (e) => { state.status = e.target.value; state.page = 1; load(); } },
    ['', ...HOSTS.statuses].map((s) => h('option', { value: s }, s || 'any status')));
  const sort = h('select', { 'aria-label': 'Sort', onchange: (e) => { state.sort = e.target.value; load(); } },
    HOSTS.sorts.map(({ key, label }) => h('option', { value: key }, `sort: ${label}`)));
  replace(main, h('h1', {}, 'Hosts'), h('div', { class: 'filters' }, search, status, sort), list, pager);

  const cells = new Map(); // host -> metric -> { column, cell }, for the columns the feed updates
  const load = async () => {
    const query = new URLSearchParams({ sort: state.sort, page: state.page, per_page: state.per_page });
    if (state.search) query.set('search', state.search);
    if (state.status) query.set('status', state.status);
    const data = await api(`/api/v1/hosts?${query}`);
    cells.clear();
    const rows = data.hosts.map((host) => {
      const row = h('tr', { dataset: { host: host.id } }, rowCells('hosts', host));
      cells.set(host.id, new Map(LIVE.map((column) => [column.live, { column, cell: row.querySelector(`td.${column.key}`) }])));
      return row;
    });
    replace(list, sharedTable('hosts', rows, 'No host matches.'));
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
      const live = row.get(metric.name);
      if (live) live.cell.textContent = show(live.column, metric.value);
    }
  });
}
