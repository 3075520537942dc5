// What the browser tests share: polling, one-off requests, upstreams that stop and start on the
// same port, and haven as a child process.
import http from 'node:http';
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

export async function waitFor(what, fn, { timeout = 10_000, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let lastError;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}` +
        (lastError ? ` (last error: ${lastError.message})` : ''));
    }
    await sleep(interval);
  }
}

// One request on a fresh connection: { status, headers, body }.
export function request(port, target, headers = {}, method = 'GET') {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: target, method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error(`${method} ${target}: no answer within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

// An HTTP server on 127.0.0.1 that can be stopped (every socket closed) and started again on the
// same port.
export class Upstream {
  constructor(name, handler) {
    this.name = name;
    this.handler = handler;
    this.port = 0;
    this.server = null;
  }

  async start() {
    for (let attempt = 0; ; ++attempt) {
      const server = http.createServer(this.handler);
      server.keepAliveTimeout = 30_000;
      try {
        await new Promise((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host: '127.0.0.1', port: this.port }, resolve);
        });
        this.server = server;
        this.port = server.address().port;
        return;
      } catch (error) {
        if (error.code !== 'EADDRINUSE' || attempt >= 50) throw error;
        await sleep(100);
      }
    }
  }

  async stop() {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
  }
}

// haven as a child process; keeps its stderr (events) and the tail of its stdout (access log).
export class Haven {
  constructor(bin, configFile) {
    this.stderr = [];
    this.stdout = [];
    this.exit = null;
    this.proc = spawn(bin, ['-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => {
      this.exit = { code, signal };
      resolve();
    }));
    const lines = (stream, into, keep) => {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop();
        into.push(...parts);
        if (keep && into.length > keep) into.splice(0, into.length - keep);
      });
    };
    lines(this.proc.stderr, this.stderr, 0);
    lines(this.proc.stdout, this.stdout, 200);
  }

  async port() {
    return waitFor('haven to print "listening on 127.0.0.1:PORT" on stderr', () => {
      if (this.exit) throw new Error(`haven exited early (${JSON.stringify(this.exit)}):\n${this.stderr.join('\n')}`);
      for (const line of this.stderr) {
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(line);
        if (m) return Number(m[1]);
      }
      return 0;
    }, { timeout: 10_000, interval: 50 });
  }

  // The admin listener's port, from its "admin listening on 127.0.0.1:PORT" line.
  async adminPort() {
    return waitFor('haven to print "admin listening on 127.0.0.1:PORT" on stderr', () => {
      if (this.exit) throw new Error(`haven exited early (${JSON.stringify(this.exit)}):\n${this.stderr.join('\n')}`);
      for (const line of this.stderr) {
        const m = /admin listening on 127\.0\.0\.1:(\d+)/.exec(line);
        if (m) return Number(m[1]);
      }
      return 0;
    }, { timeout: 10_000, interval: 50 });
  }

  events(pattern) {
    return this.stderr.filter((line) => pattern.test(line));
  }

  async stop() {
    if (this.exit) return;
    this.proc.kill('SIGTERM');
    let timer;
    const done = await Promise.race([this.exited.then(() => true),
      new Promise((resolve) => { timer = setTimeout(resolve, 12_000, false); })]);
    clearTimeout(timer);
    if (!done) {
      this.proc.kill('SIGKILL');
      await this.exited;
    }
  }

  tail() {
    return `--- haven stderr (last 40 lines) ---\n${this.stderr.slice(-40).join('\n')}\n` +
      `--- haven access log (last 20 lines) ---\n${this.stdout.slice(-20).join('\n')}`;
  }
}


// Headless Chromium that never looks a host name up: a page that strays off 127.0.0.1 fails at
// once instead of reaching the network.
export function launchBrowser(executablePath) {
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
  });
}
