// History charts with uPlot: one line per series of the history API.

import uPlot from 'uplot';
import { h, replace } from './dom.js';
import { api } from './api.js';

const COLORS = ['#2f6fdf', '#d9534f', '#2a9d5c', '#e0a100', '#7b4fd0', '#1aa3b8', '#c2569b', '#6b7280'];
export const TIMEFRAMES = ['1h', '24h', '7d', '30d'];

// Draw `metric`'s history (optionally one host) into `box`, at most `limit` series.
export async function historyChart(box, { metric, host, timeframe = '1h', limit = 8, title }) {
  // The chart draws averages: asked as columns (t and avg arrays per series).
  const query = new URLSearchParams({ metric, timeframe, fields: 'avg' });
  if (host) query.set('host', host);
  const data = await api(`/api/v1/metrics/historical?${query}`);
  const series = data.series.slice(0, limit);
  const times = [...new Set(series.flatMap((s) => s.t))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const columns = series.map((s) => {
    const column = new Array(times.length).fill(null);
    s.t.forEach((t, i) => { column[index.get(t)] = s.avg[i]; });
    return column;
  });
  const label = (s) => {
    const tags = Object.entries(s.tags).map(([k, v]) => `${k}=${v}`).join(',');
    return tags ? `${s.host} ${tags}` : s.host;
  };
  const shown = data.series.length > series.length ? ` (first ${series.length} of ${data.series.length} series)` : '';
  replace(box, h('h3', {}, `${title || metric}${shown}`));
  if (!series.length) {
    box.append(h('p', { class: 'empty' }, 'No data in this timeframe.'));
    return;
  }
  const width = Math.max(320, box.clientWidth - 16);
  const options = {
    width,
    height: 220,
    scales: { x: { time: true, range: [data.from_ms / 1000, data.to_ms / 1000] } },
    series: [{}, ...series.map((s, i) => ({ label: label(s), stroke: COLORS[i % COLORS.length], width: 1.5,
      points: { show: true, size: 4 } }))],
    axes: [{}, { label: series[0].unit || '' }],
  };
  // uPlot's legend writes the labels as text, never as HTML.
  new uPlot(options, [times.map((t) => t / 1000), ...columns], box);
  // What was drawn, for the page's tests: points with a value, in all lines.
  box.dataset.points = String(columns.reduce((n, c) => n + c.filter((v) => v !== null).length, 0));
}

// A chart with 1h/24h/7d/30d buttons.
export function chartWithTimeframes(container, spec) {
  const box = h('div', { class: 'chart' });
  let current = spec.timeframe || '1h';
  const buttons = TIMEFRAMES.map((tf) => h('button', {
    type: 'button',
    'aria-pressed': tf === current ? 'true' : 'false',
    onclick: () => {
      current = tf;
      for (const b of buttons) b.setAttribute('aria-pressed', b.textContent === tf ? 'true' : 'false');
      draw();
    },
  }, tf));
  const draw = () => historyChart(box, { ...spec, timeframe: current })
    .catch((error) => replace(box, h('p', { class: 'error' }, error.message)));
  container.append(h('div', { class: 'panel' }, h('div', { class: 'timeframes' }, buttons), box));
  draw();
  return draw;
}
