// Browser test of the public status page, in Debian's headless Chromium
// driven by playwright-core. Run by tests/tests/suite/status_page.rs against
// a running aggregator it filled; prints one JSON line of figures and exits
// non-zero on the first failed check.
//
// Environment: BASE (the API/pages origin), SERVERS (how many servers the
// page lists), DAYS (bars per server), INCIDENT and MAINTENANCE (titles of
// the published posts), HIDDEN (a JSON array of strings the page must not
// hold: host ids, accounts), SHOTS (where the screenshot goes), CHROMIUM
// (optional).

import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const BASE = env('BASE');
const SERVERS = Number(env('SERVERS'));
const DAYS = Number(env('DAYS'));
const HIDDEN = JSON.parse(env('HIDDEN'));

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
const figures = {};
try {
  // A phone: small screen, no session, no cookies. Three first loads, each
  // in a new context (nothing cached) after the browser warmed on a badge;
  // the median counts.
  const loads = [];
  let context;
  let page;
  let dialogs = 0;
  const errors = [];
  for (let i = 0; i < 3; i += 1) {
    if (context) await context.close();
    context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    page = await context.newPage();
    page.on('dialog', async (dialog) => { dialogs += 1; await dialog.dismiss(); });
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
    await page.goto(`${BASE}/status/badge/s0.svg`);
    const response = await page.goto(`${BASE}/status`, { waitUntil: 'load' });
    check(response.status() === 200, `HTTP ${response.status()}`);
    check(page.url() === `${BASE}/status`, `no redirect to a sign-in (at ${page.url()})`);
    loads.push(await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      return { load: nav.loadEventEnd - nav.startTime, response_end: nav.responseEnd - nav.startTime,
        interactive: nav.domInteractive - nav.startTime, transfer: nav.transferSize, decoded: nav.decodedBodySize };
    }));
  }
  loads.sort((a, b) => a.load - b.load);
  figures.load_ms_each = loads.map((l) => Math.round(l.load));
  figures.load_ms = Math.round(loads[1].load);
  figures.response_end_ms = Math.round(loads[1].response_end);
  figures.dom_interactive_ms = Math.round(loads[1].interactive);
  figures.transferred_bytes = loads[1].transfer;
  figures.html_bytes = loads[1].decoded;

  const counts = await page.evaluate(() => ({
    servers: document.querySelectorAll('.srv').length,
    bars: [...document.querySelectorAll('.srv .bar')].map((b) => b.children.length),
  }));
  check(counts.servers === SERVERS, `${counts.servers} servers shown, ${SERVERS} configured`);
  check(counts.bars.every((n) => n === DAYS), `every server has ${DAYS} bars`);

  const text = await page.evaluate(() => document.body.innerText);
  check(text.includes(env('INCIDENT')), 'the published incident is shown');
  check(text.includes(env('MAINTENANCE')), 'the maintenance window is shown');
  check(/Scheduled \d{4}-\d\d-\d\d/.test(text), 'the window shows as upcoming');

  // A day with an incident says its worst one on hover.
  const tip = await page.evaluate(() => {
    const bar = [...document.querySelectorAll('.bar i')].find((i) => i.title.includes('worst'));
    return bar ? bar.title : null;
  });
  check(tip !== null && /worst: \d+ min from \d\d:\d\d UTC/.test(tip), `a bar's tooltip names its worst incident (${tip})`);
  figures.tooltip = tip;

  const html = await page.content();
  for (const hidden of HIDDEN) {
    check(!html.includes(hidden), `the page holds ${JSON.stringify(hidden)}`);
  }
  check(dialogs === 0, 'no script ran from a post');
  check(errors.length === 0, `no page errors: ${errors.join('; ')}`);
  await page.screenshot({ path: `${env('SHOTS')}/status.png`, fullPage: false });
} finally {
  await browser.close();
}
console.log(JSON.stringify(figures));
