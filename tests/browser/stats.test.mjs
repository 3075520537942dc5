// The admin stats page (static/stats.html, served at the admin listener's /) in headless Chromium:
// it follows haven's state without a reload, and its buttons change it. Run with
// `node --test stats.test.mjs` (tests/browser/run.sh does that).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Haven, Upstream, launchBrowser, request, waitFor } from './support.mjs';

const HAVEN_BIN = process.env.HAVEN_BIN;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// The page refreshes every 2 s: a change must show within 3 s of haven's decision.
const SHOWN_WITHIN_MS = 3000;

function ok(req, res) {
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end('ok');
}

const first = new Upstream('first', ok);
const second = new Upstream('second', ok);
let haven;
let adminPort;
let browser;
let tmp;

before(async () => {
  assert.ok(HAVEN_BIN, 'HAVEN_BIN (the haven binary) must be set');
  await first.start();
  await second.start();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'haven-stats-'));
  const configFile = path.join(tmp, 'haven.toml');
  fs.writeFileSync(configFile, `[global]
workers = 1
[admin]
bind = "127.0.0.1:0"
[frontends.web]
bind = "127.0.0.1:0"
default_backend = "app"
[backends.app]
check = { path = "/", interval = "300ms", timeout = "250ms", rise = 2, fall = 2 }
servers = [ { name = "one", address = "127.0.0.1:${first.port}" }, { name = "two", address = "127.0.0.1:${second.port}" } ]
`);
  haven = new Haven(HAVEN_BIN, configFile);
  await haven.port();
  adminPort = await haven.adminPort();
  browser = await launchBrowser(CHROMIUM);
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (haven) await haven.stop();
  await first.stop();
  await second.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function badges(page, server) {
  return page.locator(`tr[data-server="${server}"] .badge`).allTextContents();
}

test('the stats page shows a server going DOWN and a drain, each within 3 s, without reloading', async (t) => {
  const context = await browser.newContext({ viewport: { width: 1600, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  const requests = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`); });
  page.on('request', (req) => requests.push(req.url()));
  try {
    await page.goto(`http://127.0.0.1:${adminPort}/`);
    await waitFor('both servers UP and READY on the page', async () => {
      const [one, two] = [await badges(page, 'one'), await badges(page, 'two')];
      return one.join() === 'UP,READY' && two.join() === 'UP,READY';
    }, { timeout: 10_000 });
    let navigations = 0;
    page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) navigations += 1; });

    // A server dies: the page shows it within 3 s of haven's DOWN line.
    const downBefore = haven.events(/server app\/one is DOWN/).length;
    await first.stop();
    await waitFor('haven to mark app/one DOWN', () => haven.events(/server app\/one is DOWN/).length > downBefore,
      { timeout: 10_000, interval: 20 });
    const downAt = Date.now();
    await waitFor('the page to show one DOWN', async () => (await badges(page, 'one'))[0] === 'DOWN',
      { timeout: SHOWN_WITHIN_MS + 500, interval: 50 });
    assert.ok(Date.now() - downAt <= SHOWN_WITHIN_MS, `DOWN shown after ${Date.now() - downAt} ms`);
    assert.equal(await page.locator('h2', { hasText: 'app' }).locator('.badge').first().textContent(), 'primary');

    // The operator drains the other one from the page.
    const drainAt = Date.now();
    await page.locator('tr[data-server="two"] button', { hasText: 'Drain' }).click();
    await waitFor('the page to show two DRAIN', async () => (await badges(page, 'two'))[1] === 'DRAIN',
      { timeout: SHOWN_WITHIN_MS + 500, interval: 50 });
    assert.ok(Date.now() - drainAt <= SHOWN_WITHIN_MS, `DRAIN shown after ${Date.now() - drainAt} ms`);
    assert.ok(haven.events(/server app\/two set to DRAIN by admin API/).length === 1, 'the event line of the drain');
    const stats = JSON.parse((await request(adminPort, '/stats.json')).body);
    assert.equal(stats.backends[0].servers[1].admin.state, 'DRAIN');
    await waitFor('the backend shown in maintenance', async () =>
      (await page.locator('h2', { hasText: 'app' }).locator('.badge').first().textContent()) === 'maintenance',
      { timeout: SHOWN_WITHIN_MS + 500, interval: 50 });

    const shot = path.join(os.tmpdir(), 'haven-stats-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(`screenshot: ${shot}`);
    const phone = await context.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(`http://127.0.0.1:${adminPort}/`);
    await waitFor('the phone view to fill in', async () => (await badges(phone, 'two')).length === 2);
    const phoneShot = path.join(os.tmpdir(), 'haven-stats-page-phone.png');
    await phone.screenshot({ path: phoneShot, fullPage: true });
    t.diagnostic(`screenshot: ${phoneShot}`);

    assert.equal(navigations, 0, 'the page never reloaded');
    assert.deepEqual(problems, []);
    // Self-contained: nothing but the admin listener was asked for anything.
    for (const url of requests) assert.ok(url.startsWith(`http://127.0.0.1:${adminPort}/`), `request to ${url}`);
  } finally {
    await context.close();
    await first.start();
  }
});
