// The columns the dashboard shares with the FluxCP addon, defined once in
// fluxcp/lib/P2PMonitor/tables.json (the addon reads the same file): for
// each table, which columns in which order, their headers, the API field
// each shows, its format, and the metric the feed updates it with.

import tables from '../../fluxcp/lib/P2PMonitor/tables.json';
import { h, badge, number, percent, ago, when, table } from './dom.js';

export { tables };

const FORMATS = {
  text: (value) => value,
  upper: (value) => String(value).toUpperCase(),
  badge: (value) => badge(value),
  integer: (value) => number(value, 0),
  number2: (value) => number(value, 2),
  percent,
  ms: (value) => (value === null || value === undefined ? '–' : `${number(value)} ms`),
  list: (value) => (value || []).join(', '),
  ago,
  host_link: (value) => h('a', { href: `/p2p/monitoring/hosts/${encodeURIComponent(value)}` }, value),
  problem_count: (value) => (value ? badge(String(value), 'down') : '0'),
  served: (value) => (value === null || value === undefined ? 'unknown'
    : badge(value ? 'served' : 'not served', value ? 'up' : 'down')),
  rate: (value) => (value === null || value === undefined ? '–' : `${number(value / 1024)} KiB/s`),
  per_second: (value) => (value === null || value === undefined ? '–' : `${number(value, 2)} /s`),
  when,
  resolved: (value) => (value ? ago(value) : '–'),
  any: (value) => value ?? 'any',
  seconds: (value) => `${value} s`,
  yes_no: (value) => (value ? 'yes' : 'no'),
};

// `value` as `column` shows it (for cells the feed updates).
export function show(column, value) {
  return FORMATS[column.format](value);
}

// The cells of `record` in table `name`, each `<td class="KEY">`; `custom`
// renders the formats only the calling page knows (format -> record -> content).
export function cells(name, record, custom = {}) {
  return tables[name].columns.map((column) => {
    const render = custom[column.format]
      || (FORMATS[column.format] && ((r) => FORMATS[column.format](r[column.field])));
    if (!render) throw new Error(`table ${name}: no renderer for format ${column.format}`);
    return h('td', { class: column.key }, render(record));
  });
}

// Table `name` with its headers from the shared definition.
export function sharedTable(name, rows, empty) {
  return table(tables[name].columns.map((column) => column.label), rows, empty);
}
