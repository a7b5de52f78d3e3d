// The FluxCP addon in Chromium, on two FluxCP stand-ins (tests/server.php
// under PHP's built-in server) sharing one database: A's origin is in the
// aggregator's websocket.allowed_origins, B's (same host, another port) is
// not. As a new user: FluxCP's installer, the login form, the sub-menu
// through every page, the settings form, a silence, the language switch,
// live updates on A (through a relay that cuts the feed: the page reconnects
// and keeps updating) and in-place refreshes on B.
// Environment: BASE_A, BASE_B, REFRESH_B (B's refresh_interval, ms), INGEST,
// CREDENTIAL (fluxcp-b's), CUT_FEED (host:port; a connection there drops A's
// feed connections), WEB (the web/ folder, for playwright-core), CHROMIUM.

import { createRequire } from 'node:module';
import net from 'node:net';

const need = (name) => {
  if (!process.env[name]) throw new Error(`${name} is not set`);
  return process.env[name];
};
const { chromium } = createRequire(`${need('WEB')}/package.json`)('playwright-core');
const check = (ok, what) => {
  if (!ok) throw new Error(what);
};
const figures = {};

async function sendCpu(value) {
  const now = Date.now();
  const response = await fetch(`${need('INGEST')}/ingest/v1/batches`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${need('CREDENTIAL')}` },
    body: JSON.stringify({ host_id: 'fluxcp-b', stream: `browser-${value}`, seq: 1, created_ms: now, records: [
      // The plugin that stored the host's first cpu_usage (the Rust side's `metric`) owns the name.
      { type: 'metric', plugin: 'test', name: 'cpu_usage', value, unit: 'percent', kind: 'gauge', tags: {}, timestamp_ms: now },
    ] }),
  });
  check(response.ok, `batch refused: ${response.status}`);
  return now;
}

// Drop every feed connection A's pages have (the relay in front of the feed closes them).
function cutFeed() {
  const [host, port] = need('CUT_FEED').split(':');
  return new Promise((resolve, reject) => {
    const asker = net.connect(Number(port), host);
    asker.on('close', () => resolve(Date.now()));
    asker.on('error', reject);
  });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  const a = need('BASE_A');

  // A fresh FluxCP with the addon copied in shows only its installer.
  await page.goto(`${a}/?module=p2p&action=settings`);
  check(await page.isVisible('#installer'), 'the installer is shown first');
  check((await page.textContent('body')).includes('p2p_monitor_settings.20261126.sql'), 'the installer lists the schema');
  await page.fill('input[name=installer_password]', 'secretpassword');
  await Promise.all([page.waitForNavigation(), page.click('button[name=update_all]')]);

  // Then FluxCP's login form.
  await page.fill('input[name=username]', 'gm_alice');
  await page.fill('input[name=password]', 'secret');
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  check((await page.textContent('h2')) === 'P2P Monitoring', 'logged in, on the overview');
  check((await page.textContent('#admin_sidebar')).includes('P2P Monitoring'), 'the admin menu has the entry');

  // Every page by its sub-menu, in order.
  const labels = ['Overview', 'Hosts', 'Maps', 'Network', 'Alerts', 'Settings', 'Setup check'];
  for (const label of labels) {
    await Promise.all([page.waitForNavigation(), page.click(`#submenu a:text-is("${label}")`)]);
    check((await page.textContent('#submenu .current-sub-menu')) === label, `${label} is the current sub-menu item`);
    check(await page.isVisible('h2'), `${label} shows its page`);
  }
  figures.sub_menu_pages = labels.length;

  // Settings: the four stored values, then only the CPU threshold changed.
  await Promise.all([page.waitForNavigation(), page.click('#submenu a:text-is("Settings")')]);
  const names = ['alert_thresholds', 'notification_emails', 'discord_webhook', 'monitoring_interval'];
  const stored = {};
  for (const name of names) stored[name] = await page.inputValue(`#p2p-${name}`);
  // The schema's default rows.
  check(stored.alert_thresholds === '{"cpu":90,"memory":85,"latency":200}', `thresholds shown: ${stored.alert_thresholds}`);
  check(stored.notification_emails === '["admin@yourserver.com"]', 'e-mails shown');
  check(stored.discord_webhook === 'https://discord.com/api/webhooks/your-webhook-url', 'webhook shown');
  check(stored.monitoring_interval === '5000', 'interval shown');
  const thresholds = JSON.parse(stored.alert_thresholds);
  thresholds.cpu = 66;
  await page.fill('#p2p-alert_thresholds', JSON.stringify(thresholds));
  await Promise.all([page.waitForNavigation(), page.click('form button[type=submit]')]);
  check((await page.textContent('.green')).includes('alert_thresholds'), 'saved');
  await page.reload();
  check(await page.inputValue('#p2p-alert_thresholds') === '{"cpu":66,"memory":85,"latency":200}', 'the new threshold is kept');
  for (const name of names.slice(1)) check(await page.inputValue(`#p2p-${name}`) === stored[name], `${name} kept`);
  check((await page.textContent('[data-p2p-updated-by=alert_thresholds]')).includes('gm_alice'), 'changed by gm_alice');

  // A silence carries the logged-in admin's name.
  await Promise.all([page.waitForNavigation(), page.click('#submenu a:text-is("Alerts")')]);
  await page.fill('.p2p-silence input[name=host]', 'fluxcp-b');
  await page.fill('.p2p-silence input[name=comment]', 'browser silence');
  await Promise.all([page.waitForNavigation(), page.click('.p2p-silence button')]);
  const silence = page.locator('.p2p-silences tr', { hasText: 'browser silence' });
  check((await silence.locator('td.p2p-by').textContent()) === 'gm_alice', 'the silence is by gm_alice');

  // The language from FluxCP's footer.
  await Promise.all([page.waitForNavigation(), page.selectOption('select[name=preferred_language]', 'es_es')]);
  check((await page.textContent('h2')) === 'Alertas P2P', `Spanish title: ${await page.textContent('h2')}`);
  check((await page.textContent('#submenu')).includes('Resumen'), 'Spanish sub-menu');
  check((await page.textContent('#admin_sidebar')).includes('Monitorización P2P'), 'Spanish admin menu');
  await Promise.all([page.waitForNavigation(), page.selectOption('select[name=preferred_language]', 'en_us')]);
  check((await page.textContent('h2')) === 'P2P Alerts', 'back in English');

  // A: the origin is allowed; the feed changes the cell.
  const cell = '[data-p2p-host="fluxcp-b"] [data-p2p-metric="cpu_usage"]';
  await page.goto(`${a}/?module=p2p&action=hosts`);
  await page.waitForSelector('#p2p-live[data-state=up]', { timeout: 10000 });
  let sent = await sendCpu(55.5);
  await page.waitForFunction((s) => document.querySelector(s)?.textContent === '55.5 %', cell, { timeout: 10000 });
  figures.live_update_ms = Date.now() - sent;

  // The feed drops: the page says so, reconnects with a fresh single-use ticket (the first one is spent) and
  // follows the feed again, sooner than A's 5 s refresh could show the value.
  await page.evaluate(() => { window.p2pSamePage = true; });
  const cut = await cutFeed();
  await page.waitForSelector('#p2p-live[data-state=down]', { timeout: 5000 });
  check((await page.textContent('#p2p-live')).includes('dropped'), 'the page says the feed dropped');
  await page.waitForSelector('#p2p-live[data-state=up]', { timeout: 10000 });
  figures.reconnect_ms = Date.now() - cut;
  sent = await sendCpu(77.7);
  await page.waitForFunction((s) => document.querySelector(s)?.textContent === '77.7 %', cell, { timeout: 3000 });
  figures.live_after_reconnect_ms = Date.now() - sent;
  // And again: each reconnection needs a ticket of its own.
  await cutFeed();
  await page.waitForSelector('#p2p-live[data-state=down]', { timeout: 5000 });
  await page.waitForSelector('#p2p-live[data-state=up]', { timeout: 10000 });
  sent = await sendCpu(88.8);
  await page.waitForFunction((s) => document.querySelector(s)?.textContent === '88.8 %', cell, { timeout: 3000 });
  check(await page.evaluate(() => window.p2pSamePage === true), 'reconnected in place, not reloaded');

  // B: the origin is not allowed; the page says which setting, and refreshes the cell in place.
  const refresh = Number(need('REFRESH_B'));
  await page.goto(`${need('BASE_B')}/?module=p2p&action=hosts`);
  if (await page.isVisible('input[name=username]')) {
    await page.fill('input[name=username]', 'gm_alice');
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    await page.goto(`${need('BASE_B')}/?module=p2p&action=hosts`);
  }
  await page.waitForSelector('#p2p-live[data-state=refused]', { timeout: 10000 });
  const said = await page.textContent('#p2p-live');
  check(said.includes('websocket.allowed_origins') && said.includes(new URL(need('BASE_B')).origin), `the message: ${said}`);
  await page.evaluate(() => { window.p2pSamePage = true; });
  sent = await sendCpu(66.6);
  await page.waitForFunction((s) => document.querySelector(s)?.textContent === '66.6 %', cell, { timeout: 4 * refresh });
  figures.refresh_update_ms = Date.now() - sent;
  figures.refresh_interval_ms = refresh;
  check(figures.refresh_update_ms <= 2 * refresh, `updated after ${figures.refresh_update_ms} ms, over two refresh intervals`);
  check(await page.evaluate(() => window.p2pSamePage === true), 'refreshed in place, not reloaded');
  check((await page.textContent('#p2p-live')).includes('websocket.allowed_origins'), 'the message stays');

  check(!errors.length, `script errors: ${errors.join('; ')}`);
  console.log(JSON.stringify(figures));
} finally {
  await browser.close();
}
