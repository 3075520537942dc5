// The maintenance page in headless Chromium, against the real haven binary (HAVEN_BIN) and two
// upstreams of its own (a static file server and an API) that it stops and restarts on the same
// ports. Served by haven, the page follows haven's status feed (an event stream); on its own, with
// no feed in its configuration, it polls the health URLs. Run with `node --test
// maintenance.test.mjs` (tests/browser/run.sh does that).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Haven, Upstream, launchBrowser, request, waitFor } from './support.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PAGE_FILE = path.resolve(HERE, '../../static/maintenance.html');
const HAVEN_BIN = process.env.HAVEN_BIN;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const POLL = ['/api/healthz', '/healthz'];
const EN_HEADING = 'This service is temporarily unavailable';
const KO_HEADING = '서비스를 일시적으로 사용할 수 없습니다';
const PHONE = { width: 390, height: 844 };
const WALL = { width: 1920, height: 1080 };

// ---------------------------------------------------------------------------------------------
// Helpers

function appPage(target) {
  const escaped = target.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Monitoring app</title>' +
    '<link rel="icon" href="data:,"></head><body><h1 id="app">Monitoring app</h1>' +
    `<p id="target">${escaped}</p></body></html>`;
}

// A monitoring page: it polls /api/status and shows the data and, when haven answered from a
// last-good copy (X-Haven-Stale: 1), how old that data is.
const MONITOR_PAGE = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Monitor</title>' +
  '<link rel="icon" href="data:,"></head><body><h1 id="app">Monitor</h1><p id="data">no data</p><p id="age"></p>' +
  '<script>async function poll(){try{const r=await fetch("/api/status",{cache:"no-store"});const b=await r.json();' +
  'document.getElementById("data").textContent=b.server+" at "+b.time;' +
  'document.getElementById("age").textContent=r.headers.get("X-Haven-Stale")==="1"?' +
  '"saved copy, "+(r.headers.get("Age")||"0")+" s old":"live";}catch(e){document.getElementById("age").textContent="no answer";}}' +
  'poll();setInterval(poll,500);</script></body></html>';

function staticHandler(req, res) {
  const pathname = new URL(req.url, 'http://upstream').pathname;
  if (pathname === '/monitor') {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : MONITOR_PAGE);
    return;
  }
  if (pathname === '/never-ok') { // a health URL that never answers OK (the feed must do without it)
    res.writeHead(503, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' });
    res.end('no');
    return;
  }
  if (pathname === '/healthz') {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' });
    res.end('ok');
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : appPage(req.url));
}

function apiHandler(req, res) {
  const pathname = new URL(req.url, 'http://upstream').pathname;
  const json = (status, body) => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  if (pathname === '/api/healthz') return json(200, { status: 'ok' });
  if (pathname === '/api/status') {
    // no-cache, not no-store: haven may keep it as a last-good copy (stale_if_error).
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' });
    res.end(JSON.stringify({ status: 'ok', server: 'main_api', time: Date.now() }));
    return;
  }
  return json(404, { error: 'not found' });
}

function havenConfig(apiPort, staticPort, { maintenance = '', global = '', stale = false } = {}) {
  return `[global]
workers = 1
${global}
[log]
access = "stdout"
events = "stderr"
[maintenance]
retry_after = "2s"
poll_interval = "1s"
${maintenance}
[frontends.web]
bind = "127.0.0.1:0"
default_backend = "static"
routes = [ { path_prefix = "/api", backend = "api" } ]
maintenance_requires = ["static", "api"]
[backends.api]
check = { path = "/api/healthz", interval = "300ms", timeout = "250ms", rise = 2, fall = 2 }
servers = [ { name = "main_api", address = "127.0.0.1:${apiPort}" } ]
[backends.static]
check = { path = "/healthz", interval = "300ms", timeout = "250ms", rise = 2, fall = 2 }
servers = [ { name = "main_static", address = "127.0.0.1:${staticPort}" } ]
${stale ? '[backends.api.stale_if_error]\n[backends.static.stale_if_error]\n' : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Fixtures shared by the tests

const staticUp = new Upstream('static', staticHandler);
const apiUp = new Upstream('api', apiHandler);
let haven;
let port;
let base;
let browser;
let tmp;

before(async () => {
  assert.ok(HAVEN_BIN, 'HAVEN_BIN (the haven binary) must be set');
  assert.ok(fs.existsSync(HAVEN_BIN), `no haven binary at ${HAVEN_BIN}`);
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}`);
  await staticUp.start();
  await apiUp.start();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'haven-browser-'));
  const configFile = path.join(tmp, 'haven.toml');
  fs.writeFileSync(configFile, havenConfig(apiUp.port, staticUp.port));
  haven = new Haven(HAVEN_BIN, configFile);
  port = await haven.port();
  base = `http://127.0.0.1:${port}`;
  await bothHealthy();
  browser = await launchBrowser(CHROMIUM);
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (haven) await haven.stop();
  await staticUp.stop();
  await apiUp.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function healthStatus(target) {
  try {
    return (await request(port, target)).status;
  } catch {
    return 0;
  }
}

async function bothHealthy() {
  await waitFor('/api/healthz and /healthz to answer 200 through haven', async () =>
    (await healthStatus('/api/healthz')) === 200 && (await healthStatus('/healthz')) === 200, { timeout: 15_000 });
}

async function stopAndWaitDown(upstream, healthPath, serverName) {
  // Earlier cases left DOWN lines for this server too: wait for one more than there were.
  const down = new RegExp(`\\b${upstream.name}/${serverName}\\b.*\\bDOWN\\b`);
  const downBefore = haven.events(down).length;
  await upstream.stop();
  await waitFor(`${healthPath} through haven to answer 503 once ${upstream.name} is stopped`,
    async () => (await healthStatus(healthPath)) === 503, { timeout: 10_000 });
  await waitFor(`haven's event log to say ${upstream.name}/${serverName} is DOWN`,
    () => haven.events(down).length > downBefore, { timeout: 5000 });
}

// A browser context whose page records console errors, page errors and every request.
async function openPage({ locale = 'en-US', viewport = PHONE, colorScheme = 'light' } = {}) {
  const context = await browser.newContext({ locale, viewport, colorScheme });
  const page = await context.newPage();
  const problems = [];
  const requests = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (msg) => {
    // Chromium logs every non-2xx fetch and navigation ("Failed to load resource: ... 503"); on
    // this page those answers are expected, so only other errors count.
    if (msg.type() === 'error' && !/^Failed to load resource/.test(msg.text())) {
      problems.push(`console error: ${msg.text()}`);
    }
  });
  page.on('request', (req) => requests.push(req.url()));
  return { context, page, problems, requests };
}

function row(page, url) {
  return page.locator(`li[data-url="${url}"]`);
}

async function rowState(page, url) {
  return row(page, url).getAttribute('data-state', { timeout: 1000 });
}

async function rowText(page, url) {
  return row(page, url).locator('.state').textContent({ timeout: 1000 });
}

function backendRow(page, name) {
  return page.locator(`li[data-backend="${name}"]`);
}

// The maintenance page is on screen, following haven's feed: heading, and a row per backend the
// visitor's page needs, the one that is down shown as such with the time it went down.
async function expectMaintenance(page, heading, downBackend, downText, upBackends = []) {
  await page.locator('h1#title', { hasText: heading }).waitFor({ state: 'visible', timeout: 5000 });
  const down = backendRow(page, downBackend);
  await waitFor(`the row of backend ${downBackend} to show it as unavailable`, async () =>
    (await down.getAttribute('data-state', { timeout: 1000 })) === 'down', { timeout: 5000 });
  assert.equal(await down.getAttribute('data-mode'), 'maintenance');
  assert.match(await down.locator('.state').textContent(), downText);
  assert.match(await down.locator('.time').textContent(), /\d{2}:\d{2}/);
  for (const name of upBackends) {
    await waitFor(`the row of backend ${name} to show it as OK`, async () =>
      (await backendRow(page, name).getAttribute('data-state', { timeout: 1000 })) === 'ok', { timeout: 5000 });
  }
  // The live stream, not polling, is what brings the visitor back.
  assert.match(await page.locator('#next').textContent(), /live|실시간/i);
}

// Without any help from the test, the open page goes back to `pathname` (keeping `keep` query
// parameters and adding v=) and shows the app.
async function expectsReturn(page, pathname, keep = {}) {
  const startedAt = Date.now();
  await waitFor(`the page to return by itself to ${pathname} with v= and the app visible`, async () => {
    const url = new URL(page.url());
    if (url.pathname !== pathname || !url.searchParams.has('v')) return false;
    for (const [k, v] of Object.entries(keep)) if (url.searchParams.get(k) !== v) return false;
    return page.locator('#app').isVisible();
  }, { timeout: 20_000, interval: 100 });
  const url = new URL(page.url());
  const v = Number(url.searchParams.get('v'));
  assert.ok(v >= startedAt - 30_000 && v <= Date.now(), `v=${url.searchParams.get('v')} is a recent timestamp`);
  assert.equal(url.searchParams.getAll('v').length, 1);
  assert.equal(await page.locator('#target').textContent(), url.pathname + url.search);
}

async function withDiagnostics(body) {
  try {
    await body();
  } catch (error) {
    error.message += `\n${haven ? haven.tail() : ''}`;
    throw error;
  }
}

async function screenshot(page, file, viewport) {
  await page.setViewportSize(viewport);
  await page.screenshot({ path: file, fullPage: true });
}

// ---------------------------------------------------------------------------------------------
// The tests (in order; each one leaves both upstreams running and healthy)

test('a) API down: a navigation gets the maintenance page, which returns by itself', { timeout: 60_000 }, () =>
  withDiagnostics(async () => {
    const { context, page, problems } = await openPage();
    try {
      const first = await page.goto(`${base}/some/page?x=1`);
      assert.equal(first.status(), 200);
      await page.locator('#app').waitFor({ state: 'visible', timeout: 5000 });

      await stopAndWaitDown(apiUp, '/api/healthz', 'main_api');
      const reloaded = await page.reload();
      assert.equal(reloaded.status(), 503);
      assert.equal(reloaded.headers()['cache-control'], 'no-store');
      assert.equal(reloaded.headers()['retry-after'], '2');
      await expectMaintenance(page, EN_HEADING, 'api', /^Unavailable$/, ['static']);
      assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
      assert.match(await backendRow(page, 'api').locator('.time').textContent(), /^Since \S/);
      // Traffic or a check found it first: either way, words that name no server.
      assert.match(await backendRow(page, 'api').getAttribute('title'), /^main servers (failing checks|unreachable)$/);
      assert.equal(await page.locator('#target').textContent(), '/some/page?x=1');
      // haven filled in the page's configuration from [maintenance] and the frontend.
      assert.deepEqual(await page.evaluate(() => HAVEN.poll), POLL);
      assert.equal(await page.evaluate(() => HAVEN.interval_ms), 1000);
      assert.deepEqual(await page.evaluate(() => [HAVEN.status, HAVEN.spread_ms, HAVEN.default_backend, HAVEN.required]),
        ['/.haven/status', 2000, 'static', ['static', 'api']]);
      await screenshot(page, '/tmp/haven-maintenance-en.png', PHONE);
      await screenshot(page, '/tmp/haven-maintenance-en-wall.png', WALL);

      await apiUp.start();
      await expectsReturn(page, '/some/page', { x: '1' });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
      await apiUp.start().catch(() => {});
    }
    await bothHealthy();
  }));

test('b) static down: navigations get the maintenance page, the API still answers', { timeout: 60_000 }, () =>
  withDiagnostics(async () => {
    const { context, page, problems } = await openPage();
    try {
      await stopAndWaitDown(staticUp, '/healthz', 'main_static');
      const nav = await page.goto(`${base}/`);
      assert.equal(nav.status(), 503);
      await expectMaintenance(page, EN_HEADING, 'static', /^Unavailable$/, ['api']);

      // The API backend is up: a JSON request to it is proxied as usual...
      const json = await request(port, '/api/status', { Accept: 'application/json' });
      assert.equal(json.status, 200, `GET /api/status (Accept: application/json) -> ${json.status} ${json.body}`);
      assert.equal(JSON.parse(json.body).server, 'main_api');
      // ...while a navigation to it gets the maintenance page, because static is required.
      const htmlNav = await request(port, '/api/status', { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' });
      assert.equal(htmlNav.status, 503, `GET /api/status (Accept: text/html) -> ${htmlNav.status}`);
      assert.match(htmlNav.headers['content-type'], /^text\/html/);
      assert.ok(htmlNav.body.includes(EN_HEADING));
      // A non-HTML request to the static backend gets the JSON answer.
      const asset = await request(port, '/app.css', { Accept: 'text/css,*/*;q=0.1' });
      assert.equal(asset.status, 503);
      assert.equal(asset.headers['retry-after'], '2');
      assert.equal(asset.headers['cache-control'], 'no-store');
      assert.deepEqual(JSON.parse(asset.body), { status: 'maintenance', backend: 'static', retry_after: 2 });

      await staticUp.start();
      await expectsReturn(page, '/');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
      await staticUp.start().catch(() => {});
    }
    await bothHealthy();
  }));

test('c) the maintenance page requests nothing but itself and haven\'s status feed', { timeout: 60_000 }, () =>
  withDiagnostics(async () => {
    const { context, page, problems, requests } = await openPage();
    try {
      await stopAndWaitDown(apiUp, '/api/healthz', 'main_api');
      const target = `${base}/dash/board?view=all#top`;
      const nav = await page.goto(target);
      assert.equal(nav.status(), 503);
      await expectMaintenance(page, EN_HEADING, 'api', /^Unavailable/, ['static']);
      const count = (p) => requests.filter((u) => new URL(u).pathname === p).length;
      // One event stream, and no polling while it is open...
      await sleep(2500);
      assert.equal(count('/.haven/status'), 1, 'one subscription');
      assert.equal(POLL.reduce((n, p) => n + count(p), 0), 0, 'health URLs polled while the stream is open');
      // ..."Check now" reads the feed once.
      await page.getByRole('button', { name: 'Check now' }).click();
      await waitFor('a feed read started by "Check now"', () => count('/.haven/status') === 2, { timeout: 3000 });

      const allowed = new Set(['/dash/board', '/.haven/status']);
      const unexpected = requests.filter((u) => {
        if (u.startsWith('data:')) return false;
        const url = new URL(u);
        return url.origin !== base || !allowed.has(url.pathname);
      });
      assert.deepEqual(unexpected, [], `requests besides the page and the feed: ${unexpected.join(', ')}`);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
      await apiUp.start();
    }
    await bothHealthy();
  }));

test('d) Korean: a ko-KR browser reads the page in Korean', { timeout: 60_000 }, () =>
  withDiagnostics(async () => {
    const { context, page, problems } = await openPage({ locale: 'ko-KR' });
    try {
      await stopAndWaitDown(apiUp, '/api/healthz', 'main_api');
      const nav = await page.goto(`${base}/some/page?x=1&v=1`);
      assert.equal(nav.status(), 503);
      await expectMaintenance(page, KO_HEADING, 'api', /^사용 불가$/, ['static']);
      assert.equal(await page.evaluate(() => document.documentElement.lang), 'ko');
      assert.equal(await backendRow(page, 'static').locator('.state').textContent(), '정상');
      await page.getByRole('button', { name: '지금 확인' }).waitFor({ state: 'visible' });
      assert.match(await page.title(), /점검/);
      await screenshot(page, '/tmp/haven-maintenance-ko.png', PHONE);
      await page.emulateMedia({ colorScheme: 'dark' });
      await screenshot(page, '/tmp/haven-maintenance-ko-wall-dark.png', WALL);

      await apiUp.start();
      await expectsReturn(page, '/some/page', { x: '1' });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
      await apiUp.start().catch(() => {});
    }
    await bothHealthy();
  }));

test('e) a visitor on //evil.example/x returns to haven\'s origin, not to evil.example', { timeout: 60_000 }, () =>
  withDiagnostics(async () => {
    const { context, page, problems, requests } = await openPage();
    try {
      await stopAndWaitDown(apiUp, '/api/healthz', 'main_api');
      // A path of two slashes: as a relative reference, "//evil.example/x" names another host.
      const nav = await page.goto(`${base}//evil.example/x?a=1`);
      assert.equal(nav.status(), 503);
      const visited = page.url();
      assert.equal(new URL(visited).pathname, '//evil.example/x');
      await expectMaintenance(page, EN_HEADING, 'api', /^Unavailable/, ['static']);

      await apiUp.start();
      await waitFor('the page to leave the maintenance page by itself', () => page.url() !== visited,
        { timeout: 20_000, interval: 100 });
      await page.waitForLoadState('load').catch(() => {});
      const url = new URL(page.url());
      const offOrigin = () => requests.filter((u) => !u.startsWith('data:') && new URL(u).origin !== base);
      assert.equal(url.origin, base, `recovery navigated to ${page.url()} (requests off haven's origin: ` +
        `${offOrigin().join(', ') || 'none'})`);
      assert.match(url.pathname, /^\/[^/\\]/, `the path ${url.pathname} starts with a single "/"`);
      assert.equal(url.pathname, '/evil.example/x');
      assert.equal(url.searchParams.get('a'), '1');
      assert.match(url.searchParams.get('v') ?? '', /^\d{13}$/);
      await page.locator('#app').waitFor({ state: 'visible', timeout: 5000 });
      assert.deepEqual(offOrigin(), []);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
      await apiUp.start().catch(() => {});
    }
    await bothHealthy();
  }));

// A second haven over the same upstreams, with settings of the test's own.
async function startSecondHaven(options) {
  const file = path.join(tmp, `haven-${Date.now()}.toml`);
  fs.writeFileSync(file, havenConfig(apiUp.port, staticUp.port, options));
  const second = new Haven(HAVEN_BIN, file);
  const secondPort = await second.port();
  return { second, secondPort, secondBase: `http://127.0.0.1:${secondPort}` };
}

// The wall-clock time of the last event line matching `pattern` (lines start with an ISO time).
function eventTime(h, pattern) {
  const lines = h.events(pattern);
  assert.ok(lines.length > 0, `no event line matching ${pattern}`);
  return Date.parse(lines[lines.length - 1].split(' ')[0]);
}

test('h) back within 1.5 s of haven\'s recovery decision, by the event stream alone', { timeout: 60_000 }, () =>
  withDiagnostics(async () => {
    // The health URLs never answer OK and recoveries are not spread: only the stream can bring
    // the visitor back, and how fast it does is what is measured.
    const { second, secondBase } = await startSecondHaven({ maintenance: 'poll = ["/never-ok"]\nrecovery_spread = "0s"' });
    const { context, page, problems } = await openPage();
    try {
      const down = /server api\/main_api is DOWN/;
      const before = second.events(down).length;
      await apiUp.stop();
      await waitFor('the second haven to take main_api DOWN', () => second.events(down).length > before,
        { timeout: 10_000 });
      const nav = await page.goto(`${secondBase}/reports/today?x=1`);
      assert.equal(nav.status(), 503);
      await expectMaintenance(page, EN_HEADING, 'api', /^Unavailable$/, ['static']);

      await apiUp.start();
      await expectsReturn(page, '/reports/today', { x: '1' });
      const decided = eventTime(second, /server api\/main_api is UP/);
      const returned = Number(new URL(page.url()).searchParams.get('v'));
      const delay = returned - decided;
      console.log(`# haven's recovery decision to the page's return: ${delay} ms`);
      assert.ok(delay >= 0 && delay < 1500, `the page returned ${delay} ms after haven's decision`);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
      await apiUp.start().catch(() => {});
      await second.stop();
    }
    await bothHealthy();
  }));

test('i) no stream to be had: the page polls the feed; no feed at all: the health URLs', { timeout: 60_000 }, () =>
  withDiagnostics(async () => {
    // No subscriber allowed: the stream is refused (503) and the page reads the JSON feed instead.
    const noStream = await startSecondHaven({ global: 'max_status_subscribers = 0' });
    const { context, page, problems, requests } = await openPage();
    try {
      const down = /server api\/main_api is DOWN/;
      const before = noStream.second.events(down).length;
      await apiUp.stop();
      await waitFor('main_api DOWN', () => noStream.second.events(down).length > before, { timeout: 10_000 });
      await page.goto(`${noStream.secondBase}/x`);
      const feedReads = () => requests.filter((u) => new URL(u).pathname === '/.haven/status').length;
      await waitFor('the feed to be read after the refused stream', () => feedReads() >= 3, { timeout: 8000 });
      assert.equal(await backendRow(page, 'api').getAttribute('data-state'), 'down');
      assert.match(await page.locator('#next').textContent(), /Next check in \d+ s/);
      await apiUp.start();
      await expectsReturn(page, '/x');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
      await apiUp.start().catch(() => {});
      await noStream.second.stop();
    }
    await bothHealthy();

    // status_path = "" on the frontend: the page has no feed and polls the health URLs as before.
    const file = path.join(tmp, 'haven-no-feed.toml');
    fs.writeFileSync(file, havenConfig(apiUp.port, staticUp.port).replace('[frontends.web]\n',
      '[frontends.web]\nstatus_path = ""\n'));
    const noFeed = new Haven(HAVEN_BIN, file);
    const noFeedPort = await noFeed.port();
    const tab = await openPage();
    try {
      const down = /server api\/main_api is DOWN/;
      await apiUp.stop();
      await waitFor('main_api DOWN', () => noFeed.events(down).length > 0, { timeout: 10_000 });
      await tab.page.goto(`http://127.0.0.1:${noFeedPort}/y`);
      assert.equal(await tab.page.evaluate(() => HAVEN.status), null);
      await waitFor('the /api/healthz row to show it as unavailable', async () =>
        (await rowState(tab.page, '/api/healthz')) === 'down', { timeout: 5000 });
      await apiUp.start();
      await expectsReturn(tab.page, '/y');
      assert.deepEqual(tab.problems, []);
    } finally {
      await tab.context.close();
      await apiUp.start().catch(() => {});
      await noFeed.stop();
    }
    await bothHealthy();
  }));

test('j) static and API tiers dead: the monitoring page renders from last-good copies and shows the age', { timeout: 60_000 }, () =>
  withDiagnostics(async () => {
    const { second, secondBase } = await startSecondHaven({ stale: true });
    const { context, page, problems } = await openPage();
    try {
      const live = await page.goto(`${secondBase}/monitor`);
      assert.equal(live.status(), 200);
      await waitFor('live data on the page', async () => (await page.locator('#age').textContent()) === 'live',
        { timeout: 5000 });
      const down = (name) => new RegExp(`server ${name} is DOWN`);
      await staticUp.stop();
      await apiUp.stop();
      await waitFor('both tiers DOWN on the second haven', () =>
        second.events(down('static/main_static')).length > 0 && second.events(down('api/main_api')).length > 0,
      { timeout: 10_000 });
      const nav = await page.reload();
      assert.equal(nav.status(), 200, 'the page from its copy, not the maintenance page');
      assert.equal(nav.headers()['x-haven-stale'], '1');
      await page.locator('#app').waitFor({ state: 'visible', timeout: 5000 });
      await waitFor('the data from its copy, with its age', async () =>
        /^saved copy, \d+ s old$/.test(await page.locator('#age').textContent()), { timeout: 5000 });
      assert.match(await page.locator('#data').textContent(), /^main_api at \d+$/);
      // The page keeps polling: the same copy, older each second.
      await waitFor('the age to grow', async () =>
        Number(((await page.locator('#age').textContent()).match(/(\d+) s old/) || [0, 0])[1]) >= 2,
      { timeout: 6000 });
      await screenshot(page, '/tmp/haven-monitor-stale.png', PHONE);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
      await staticUp.start().catch(() => {});
      await apiUp.start().catch(() => {});
      await second.stop();
    }
    await bothHealthy();
  }));

// ---------------------------------------------------------------------------------------------
// The page on its own, served by a small server of the test's (the same configuration filling as
// haven's), with health URLs whose answers the test sets: the details haven cannot show quickly.

test('f) the page alone: first poll, "Check now", timeouts, paused while hidden, reload URL', { timeout: 60_000 }, async () => {
  const source = fs.readFileSync(PAGE_FILE, 'utf8');
  assert.equal(source.split('/*haven:config*/').length, 2, 'exactly one configuration start marker');
  assert.equal(source.split('/*haven:end*/').length, 2, 'exactly one configuration end marker');
  assert.ok(Buffer.byteLength(source) < 28 * 1024, 'the page is under 28 KiB');
  const page = source.replace(/\/\*haven:config\*\/.*?\/\*haven:end\*\//,
    '/*haven:config*/{"poll":["/h/a","/h/b?deep=1"],"interval_ms":1000,"timeout_ms":300}/*haven:end*/');
  const answers = { '/h/a': 503, '/h/b': 200 };
  const hits = { '/h/a': 0, '/h/b': 0 };
  let firstHit = 0;
  const server = new Upstream('page', (req, res) => {
    const url = new URL(req.url, 'http://page');
    if (url.pathname in answers) {
      hits[url.pathname]++;
      firstHit ||= Date.now();
      const status = answers[url.pathname];
      if (status === 'hang') return; // never answers: the page must time out
      res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end('{}');
      return;
    }
    if (/^\d{13}$/.test(url.searchParams.get('v') || '')) { // the page's own reload
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(appPage(req.url));
      return;
    }
    res.writeHead(503, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(page);
  });
  await server.start();
  const origin = `http://127.0.0.1:${server.port}`;
  const { context, page: tab, problems } = await openPage({ locale: 'fr-FR' });
  try {
    const navigated = Date.now();
    await tab.goto(`${origin}/w/x%20y?a=1&v=42&b=%2F+c&vv=2#frag`);
    assert.equal(await tab.evaluate(() => document.documentElement.lang), 'en');
    await waitFor('/h/a shown as HTTP 503', async () =>
      (await rowText(tab, '/h/a')) === 'Unavailable (HTTP 503)', { timeout: 3000 });
    assert.ok(firstHit - navigated < 1500, `first poll ${firstHit - navigated} ms after the navigation began`);
    assert.equal(await rowState(tab, '/h/b?deep=1'), 'ok');
    assert.equal(await tab.locator('#target').textContent(), '/w/x%20y?a=1&b=%2F+c&vv=2#frag');

    // "Check now" polls at once: click just after a round, long before the next one is due.
    const seen = hits['/h/a'];
    await waitFor('a new round', () => hits['/h/a'] > seen, { timeout: 3000 });
    await waitFor('the round to finish', async () => (await tab.locator('#checks').getAttribute('aria-busy')) === null,
      { timeout: 2000, interval: 20 });
    const clicked = hits['/h/a'];
    const clickedAt = Date.now();
    await tab.getByRole('button', { name: 'Check now' }).click();
    await waitFor('"Check now" to poll', () => hits['/h/a'] > clicked, { timeout: 2000, interval: 20 });
    assert.ok(Date.now() - clickedAt < 600, `"Check now" polled after ${Date.now() - clickedAt} ms`);

    answers['/h/a'] = 'hang';
    await waitFor('/h/a shown as "no answer" after its timeout', async () =>
      (await rowText(tab, '/h/a')) === 'Unavailable (no answer)', { timeout: 4000 });

    // Hidden tab: no polling; visible again: polls at once.
    await tab.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await sleep(400); // a round in flight when hidden may still finish
    const frozen = { ...hits };
    await sleep(2500);
    assert.deepEqual(hits, frozen, 'no polls while hidden');
    assert.match(await tab.locator('#next').textContent(), /paused/i);

    answers['/h/a'] = 204;
    await tab.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await waitFor('the page to reload the visitor\'s URL', () => new URL(tab.url()).searchParams.has('v') &&
      tab.url().includes('a=1&b=%2F+c&vv=2&v='), { timeout: 2000 });
    const url = new URL(tab.url());
    assert.equal(url.pathname, '/w/x%20y');
    assert.match(url.search, /^\?a=1&b=%2F\+c&vv=2&v=\d{13}$/);
    assert.equal(url.hash, '#frag');
    await tab.locator('#app').waitFor({ state: 'visible', timeout: 5000 });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test('g) the page alone: poll entries that point off the origin are never fetched', { timeout: 60_000 }, async () => {
  // haven refuses such entries in its configuration; the page must not trust its configuration alone.
  const source = fs.readFileSync(PAGE_FILE, 'utf8');
  const page = source.replace(/\/\*haven:config\*\/.*?\/\*haven:end\*\//,
    '/*haven:config*/' + JSON.stringify({ poll: ['//evil.example/h', '/\\evil.example/h', '/h/ok'],
      interval_ms: 1000, timeout_ms: 300 }) + '/*haven:end*/');
  let polls = 0;
  const server = new Upstream('page', (req, res) => {
    if (new URL(req.url, 'http://page').pathname === '/h/ok') {
      polls++;
      res.writeHead(503, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end('{}');
      return;
    }
    res.writeHead(503, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(page);
  });
  await server.start();
  const origin = `http://127.0.0.1:${server.port}`;
  const { context, page: tab, problems, requests } = await openPage();
  try {
    await tab.goto(`${origin}/w`);
    await waitFor('two poll rounds', () => polls >= 2, { timeout: 5000 });
    assert.deepEqual(await tab.locator('li').evaluateAll((rows) => rows.map((li) => li.getAttribute('data-url'))),
      ['/h/ok']);
    const offOrigin = requests.filter((u) => !u.startsWith('data:') && new URL(u).origin !== origin);
    assert.deepEqual(offOrigin, [], `requests off the page's origin: ${offOrigin.join(', ')}`);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    await server.stop();
  }
});
