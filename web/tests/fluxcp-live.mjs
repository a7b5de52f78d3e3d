// The FluxCP addon's hosts page in Chromium: served by PHP's built-in server
// (fluxcp/tests/server.php), it opens the feed with the ticket the PHP side
// got, and a batch sent meanwhile changes the host's CPU cell in place.
// Environment: BASE (the PHP server), INGEST, CREDENTIAL (fluxcp-b's), CHROMIUM.

import { chromium } from 'playwright-core';

const need = (name) => {
  if (!process.env[name]) throw new Error(`${name} is not set`);
  return process.env[name];
};
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${need('BASE')}/?action=hosts`);
  await page.waitForFunction(() => document.getElementById('p2p-live')?.textContent === 'live', null, { timeout: 10000 });
  const cell = '[data-p2p-host="fluxcp-b"] [data-p2p-metric="cpu_usage"]';
  const before = await page.textContent(cell);
  const now = Date.now();
  const response = await fetch(`${need('INGEST')}/ingest/v1/batches`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${need('CREDENTIAL')}` },
    body: JSON.stringify({ host_id: 'fluxcp-b', stream: 'browser', seq: 1, created_ms: now, records: [
      { type: 'metric', plugin: 'system', name: 'cpu_usage', value: 55.5, unit: 'percent', kind: 'gauge', tags: {}, timestamp_ms: now },
    ] }),
  });
  if (!response.ok) throw new Error(`batch refused: ${response.status}`);
  await page.waitForFunction((selector) => document.querySelector(selector)?.textContent === '55.5 %', cell, { timeout: 10000 });
  if (before === '55.5 %') throw new Error('the cell had the new value already');
  if (errors.length) throw new Error(`script errors: ${errors.join('; ')}`);
  console.log(JSON.stringify({ live_update_ms: Date.now() - now }));
} finally {
  await browser.close();
}
