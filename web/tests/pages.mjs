// Browser test of the dashboard, in Debian's headless Chromium driven by
// playwright-core. Run by tests/tests/dashboard.rs against a running
// aggregator it filled; prints one JSON line of figures and exits non-zero
// on the first failed check.
//
// Environment: BASE (the API/pages origin), TOKEN (an API token to sign in
// with), INGEST (the ingest origin) and CREDENTIAL (host-0003's credential,
// to send a batch while a page is open), SHOTS (where screenshots go),
// HOSTILE (the hostile string stored as a map name), CHROMIUM (optional).

import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const BASE = env('BASE');
const SHOTS = env('SHOTS');
const HOSTILE = env('HOSTILE');

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
}

// Send a batch as host-0003 (its own stream); `metrics` are [name, value, tags].
let seq = 0;
async function sendBatch(metrics) {
  const now = Date.now();
  seq += 1;
  const body = {
    host_id: 'host-0003', stream: 'browser', seq, created_ms: now,
    records: metrics.map(([name, value, tags]) => ({ type: 'metric', plugin: 'test', name, value, unit: '',
      kind: 'gauge', tags: tags || {}, timestamp_ms: now })),
  };
  const response = await fetch(`${env('INGEST')}/ingest/v1/batches`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${env('CREDENTIAL')}` },
    body: JSON.stringify(body),
  });
  check(response.ok, `batch accepted (HTTP ${response.status}: ${await response.text()})`);
}

// Open `path`, wait for the feed, send `metrics`, and wait until `probe` (run in the page) gives
// something else than before that `expect` accepts: the page updated itself, without a reload.
async function updatesLive(page, name, path, ready, metrics, probe, expect) {
  await page.goto(`${BASE}${path}`);
  await page.waitForSelector(ready);
  await page.waitForSelector('#live[data-state=up]');
  const before = await page.evaluate(probe);
  const sent = Date.now();
  await sendBatch(metrics);
  const deadline = sent + 10000;
  for (;;) {
    const now = await page.evaluate(probe);
    if (now !== before && expect(now)) break;
    check(Date.now() < deadline, `${name} did not update live (still ${JSON.stringify(now)})`);
    await page.waitForTimeout(50);
  }
  figures.live_update_ms[name] = Date.now() - sent;
  check(page.url().endsWith(path), `${name} updated without leaving the page`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
const figures = { first_render_ms: {}, live_update_ms: {} };
let dialogs = 0;
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  page.on('dialog', async (dialog) => { dialogs += 1; await dialog.dismiss(); });
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));

  // Signed out: to the sign-in page; a wrong token is refused.
  await page.goto(`${BASE}/p2p/monitoring/hosts`);
  check(page.url().includes('/p2p/login'), `redirected to sign in (at ${page.url()})`);
  await page.fill('input[name=token]', 'p2pa_wrong');
  await page.click('button[type=submit]');
  check(await page.isVisible('.error'), 'a wrong token is refused');
  await page.fill('input[name=token]', env('TOKEN'));
  await Promise.all([page.waitForURL('**/p2p/monitoring/hosts'), page.click('button[type=submit]')]);

  // Each page's first render: from navigation to its data on screen.
  const pages = [
    ['overview', '/p2p/monitoring', '#cards .card'],
    ['hosts', '/p2p/monitoring/hosts', '#host-list tbody tr[data-host]'],
    ['maps', '/p2p/monitoring/maps', '#map-list tbody tr'],
    ['network', '/p2p/monitoring/network', '#traffic tbody tr td a'],
    ['alerts', '/p2p/monitoring/alerts', '#active-alerts tbody tr[data-alert]'],
  ];
  for (const [name, path, ready] of pages) {
    const started = Date.now();
    await page.goto(`${BASE}${path}`);
    await page.waitForSelector(ready, { timeout: 10000 });
    figures.first_render_ms[name] = Date.now() - started;
    await page.waitForSelector('#live[data-state=up]', { timeout: 10000 });
    await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
  }

  // Real data on each page.
  await page.goto(`${BASE}/p2p/monitoring/hosts?`);
  await page.waitForSelector('#host-list tbody tr[data-host]');
  check((await page.textContent('.pager')).includes('1000 hosts'), 'the hosts page counts 1,000 hosts');
  check(await page.locator('#host-list tbody tr').count() === 50, 'one page of 50 rows');
  await page.fill('input[type=search]', 'host-0999');
  await page.waitForFunction(() => document.querySelectorAll('#host-list tbody tr').length === 1);
  check((await page.textContent('#host-list tbody')).includes('host-0999'), 'search finds host-0999');

  // Live: each page changes when a batch arrives, without a reload.
  await page.fill('input[type=search]', 'host-0003');
  await page.waitForFunction(() => document.querySelectorAll('#host-list tbody tr').length === 1);
  await page.waitForSelector('#live[data-state=up]');
  const before = await page.textContent('tr[data-host="host-0003"] td.cpu');
  let sent = Date.now();
  await sendBatch([['cpu_usage', 42.5]]);
  await page.waitForFunction(
    () => document.querySelector('tr[data-host="host-0003"] td.cpu')?.textContent === '42.5 %',
    null, { timeout: 5000 });
  figures.live_update_ms.hosts = Date.now() - sent;
  check(before !== '42.5 %', `the cell changed (was ${before})`);

  const text = (selector) => `document.querySelector(${JSON.stringify(selector)})?.textContent || ''`;
  await updatesLive(page, 'overview', '/p2p/monitoring', '#cards .card',
    [['player_count', 5000, { map: 'prt_fild03' }]],
    `[...document.querySelectorAll('#cards .card')].find((c) => c.textContent.startsWith('Players'))?.textContent`,
    (players) => /^Players[0-9,]+$/.test(players));
  await updatesLive(page, 'maps', '/p2p/monitoring/maps', '#map-list tbody tr',
    [['player_count', 3, { map: 'live_new_map' }]], text('#map-list'), (maps) => maps.includes('live_new_map'));
  await updatesLive(page, 'network', '/p2p/monitoring/network', '#matrix td.heat',
    [['network_latency', 777, { target: 'host-0005' }]], text('#matrix'), (matrix) => matrix.includes('777'));
  await updatesLive(page, 'alerts', '/p2p/monitoring/alerts', '#active-alerts tbody tr[data-alert]',
    [['cpu_usage', 99]], text('#active-alerts'), (alerts) => alerts.includes('host-0003'));

  // The alerts page shows the rules in force and the channels.
  await page.goto(`${BASE}/p2p/monitoring/alerts`);
  await page.waitForSelector('#rules tbody tr');
  check((await page.textContent('#rules')).includes('cpu_usage'), 'the cpu_usage rule is listed');
  check((await page.textContent('#channels')).includes('discord'), 'the channels are listed');

  // The hostile map name is text on the maps page, never markup.
  await page.goto(`${BASE}/p2p/monitoring/maps`);
  await page.waitForSelector('#map-list tbody tr');
  check((await page.textContent('#map-list')).includes(HOSTILE), 'the hostile map name shows as text');
  check(await page.locator('#map-list img').count() === 0, 'no <img> element was created');
  // Each map's player history, from the hour rollups; the hostile name as text there too.
  await page.waitForSelector('#player-history tbody tr td.peak_30d', { timeout: 10000 });
  check((await page.textContent('#player-history')).includes(HOSTILE), 'the player history lists the hostile map as text');
  check(await page.locator('#player-history img').count() === 0, 'no <img> element in the player history');

  // The overview updates live too, and an alert can be acknowledged.
  await page.goto(`${BASE}/p2p/monitoring`);
  await page.waitForSelector('#active-alerts tr[data-alert] button.ack');
  await page.waitForSelector('#live[data-state=up]');
  await page.click('#active-alerts tr[data-alert] button.ack');
  await page.waitForSelector('#active-alerts .badge.acknowledged', { timeout: 5000 });

  // A host page, with its charts.
  await page.goto(`${BASE}/p2p/monitoring/hosts/host-0002`);
  await page.waitForSelector('.uplot', { timeout: 10000 });
  const drawn = await page.$eval('.chart[data-points]', (box) => Number(box.dataset.points));
  check(drawn > 0, `the host's chart draws points from the history answer's columns (drew ${drawn})`);
  await page.screenshot({ path: `${SHOTS}/host.png`, fullPage: true });

  // A change without the CSRF token is refused, even with the session.
  const forged = await page.evaluate(async () => {
    const response = await fetch('/api/v1/alerts/1', {
      method: 'PATCH', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ status: 'resolved' }),
    });
    return response.status;
  });
  check(forged === 403, `a PATCH without X-CSRF-Token is refused (got ${forged})`);

  // The alert published as an incident on the status page, then resolved: the page offers to resolve the
  // incident too, and doing so ends it on the public page.
  await page.goto(`${BASE}/p2p/monitoring/alerts`);
  await page.waitForSelector('#active-alerts tr[data-alert] input.publish-title');
  await page.fill('#active-alerts tr[data-alert] input.publish-title', 'Lag in Prontera');
  await page.click('#active-alerts tr[data-alert] button.publish');
  await page.waitForSelector('#active-alerts tr[data-alert] button.publish:has-text("Published")', { timeout: 5000 });
  await page.click('#active-alerts tr[data-alert] button.resolve');
  await page.waitForSelector('#incident-offer button.resolve-incident', { timeout: 5000 });
  await page.click('#incident-offer button.resolve-incident');
  await page.waitForSelector('#incident-offer:has-text("Incident resolved")', { timeout: 5000 });

  check(dialogs === 0, 'no script ran from a hostile string');
  check(errors.length === 0, `no script errors: ${errors.join('; ')}`);
  console.log(JSON.stringify(figures));
} finally {
  await browser.close();
}
