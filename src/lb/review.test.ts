/**
 * Issue 17, items 6, 11 and 12, black-box: a real load balancer in front of real backends
 * (node:http servers, or raw TCP ones that send exact bytes), driven with curl and raw sockets.
 * Addresses 127.0.203.x only; each bed has its own cluster name.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { after, describe, it } from 'node:test';
import { parseConfig, resolveTopology, servicesOf, type Secrets } from '../config/index.js';
import type { ServiceContext } from '../registry/index.js';
import { waitFor } from '../shared/retry.js';
import { startLb, type LbOptions, type RunningLb } from './index.js';

process.env.HASTACK_LOG_LEVEL ??= 'silent';

const FAKE_SECRETS: Secrets = { redisPassword: 't', sentinelPassword: 't', dbRootPassword: 't', dbAppPassword: 't', dbReplPassword: 't', sessionKey: 't' };
/** Test-only bound on waiting for the load balancer to notice or do something (behaviour, not timing). */
const NOTICE_TIMEOUT_MS = 10_000;
/** Health probes that only a dead backend fails: for tests of what requests count against a backend (fall 1). */
const PATIENT_PROBES = { healthIntervalMs: 1_500, healthTimeoutMs: 1_000 };

interface Hit {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawHeaders: string[];
}

/** A real app server stand-in: records requests, answers by path. */
class App {
  readonly hits: Hit[] = [];
  reset = false;
  /** /readyz left unanswered (an app server alive but too busy to answer its probes in time). */
  slowReady = false;
  /** Requests to /hold wait here until released. */
  readonly held: http.ServerResponse[] = [];
  /** Probes left unanswered while `slowReady`: answered ready by `release`, cut by `close`. */
  readonly heldProbes: http.ServerResponse[] = [];
  readonly server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/readyz') {
        if (this.slowReady) this.heldProbes.push(res);
        else res.end('ready');
        return;
      }
      this.hits.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders });
      if (this.reset) {
        req.socket.resetAndDestroy();
        return;
      }
      if (req.url?.startsWith('/hold')) {
        this.held.push(res);
        return;
      }
      if (req.url === '/big') {
        // 32 MiB: far more than the socket buffers between us, the load balancer and a client
        // that reads nothing, so the load balancer's buffer towards that client fills.
        const block = Buffer.alloc(256 * 1024, 'x');
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(block.length * 128) });
        let n = 0;
        const more = (): void => {
          while (n < 128) {
            n += 1;
            if (!res.write(block)) {
              res.once('drain', more);
              return;
            }
          }
          res.end();
        };
        more();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  listen(address: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, address, () => resolve());
    });
  }
  release(): void {
    for (const r of [...this.held.splice(0), ...this.heldProbes.splice(0)]) r.end('{"released":true}');
  }
  close(): Promise<void> {
    // A server going away answers no probe it held: a late "ready" would bring it back up.
    for (const r of this.heldProbes.splice(0)) r.destroy();
    this.release();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/** A raw TCP backend: answers /readyz, and every other request with `answer(path)` as exact bytes. */
class RawApp {
  private readonly sockets = new Set<net.Socket>();
  readonly server: net.Server;
  constructor(readonly answer: (path: string) => string) {
    this.server = net.createServer((s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => {});
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const path = buf.slice(0, end).split(' ')[1] ?? '/';
        buf = '';
        // One answer per connection, then close: nothing can be misread as the next response.
        s.end(path === '/readyz' ? 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nready' : this.answer(path), 'latin1');
      });
    });
  }
  listen(address: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, address, () => resolve());
    });
  }
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

interface Bed {
  readonly lb: RunningLb;
  readonly url: string;
  readonly address: string;
  readonly port: number;
  readonly adminUrl: string;
  readonly apps: App[];
}

const toClose: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of toClose.reverse()) await c();
});

/**
 * One load balancer at 127.0.203.<block*10+1> in front of `appCount` backends (.+2, .+3, ...),
 * cluster `rev17-<block>`; `raw` replaces the backends by one raw TCP backend.
 */
async function bed(block: number, appCount: number, lb: Record<string, unknown> = {}, raw?: RawApp, lbOpts: Pick<LbOptions, 'stall'> = {}): Promise<Bed> {
  const base = block * 10;
  const config = parseConfig({
    cluster: `rev17-${block}`,
    addressBase: '127.0.203',
    nodes: [
      { name: 'lb', address: `127.0.203.${base + 1}`, services: ['lb'] },
      ...Array.from({ length: appCount }, (_, i) => ({ name: `app${i + 1}`, address: `127.0.203.${base + 2 + i}`, services: ['app'] })),
      // Required by the config rules; never started here.
      { name: 'data', address: `127.0.203.${base + 9}`, services: ['mariadb', 'redis'] },
    ],
    lb: { healthIntervalMs: 200, healthTimeoutMs: 150, fall: 2, rise: 1, ...lb },
  });
  const topo = resolveTopology(config, { stateRoot: os.tmpdir(), configDir: os.tmpdir() });
  const apps: App[] = [];
  for (const svc of servicesOf(topo, 'app')) {
    if (raw !== undefined) {
      await raw.listen(svc.address, svc.port);
      toClose.push(() => raw.close());
      continue;
    }
    const app = new App();
    await app.listen(svc.address, svc.port);
    toClose.push(() => app.close());
    apps.push(app);
  }
  const svc = servicesOf(topo, 'lb')[0];
  assert.ok(svc);
  const ctx: ServiceContext = { topo, secrets: FAKE_SECRETS, svc, asRoot: false };
  const running = await startLb(ctx, { metricsPort: 0, ...lbOpts });
  toClose.push(() => running.close());
  return { lb: running, url: `http://${svc.address}:${svc.port}`, address: svc.address, port: svc.port, adminUrl: running.adminUrl ?? 'http://admin-port-missing', apps };
}

interface CurlReply {
  readonly status: number;
  /** Lower-case names; repeated headers joined by ", ". */
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** curl, the real client: `-i` output parsed into status, headers and body. */
function curl(args: string[]): Promise<CurlReply> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '-i', '--max-time', '10', ...args], { encoding: 'latin1', maxBuffer: 4 * 1024 * 1024 }, (err, stdout) => {
      if (err !== null && stdout === '') {
        reject(err);
        return;
      }
      // Interim answers (100 Continue) come first; the final one follows.
      let out = stdout;
      while (/^HTTP\/1\.1 1\d\d/.test(out)) out = out.slice(out.indexOf('\r\n\r\n') + 4);
      const end = out.indexOf('\r\n\r\n');
      const head = out.slice(0, end).split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const c = line.indexOf(':');
        const name = line.slice(0, c).toLowerCase();
        const value = line.slice(c + 1).replace(/^[ \t]+|[ \t]+$/g, '');
        headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
      }
      resolve({ status, headers, body: out.slice(end + 4) });
    });
  });
}

/** `p`, or a failure naming `what` after NOTICE_TIMEOUT_MS: a test never hangs on the code under test. */
async function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${NOTICE_TIMEOUT_MS} ms`)), NOTICE_TIMEOUT_MS);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function json<T>(url: string): Promise<T> {
  const r = await curl([url]);
  assert.equal(r.status, 200, `${url}: ${r.status} ${r.body}`);
  return JSON.parse(r.body) as T;
}

interface Stats {
  limits: {
    connections: { open: number; max: number; refused: number };
    bufferedBodyBytes: { used: number; max: number; refused: number };
    queueRefused: number;
    slowClientsCut: number;
  };
  panicking: boolean;
  backends: Array<{
    id: string;
    healthy: boolean;
    state: string;
    ejected: boolean;
    panicEligible: boolean;
    requests: number;
    errors: number;
    ejections: number;
    queued: number;
    inflight: number;
  }>;
}

/** A raw client connection; `answers` collects what comes back. */
class RawClient {
  readonly socket: net.Socket;
  received = '';
  readonly closed: Promise<void>;
  constructor(address: string, port: number) {
    this.socket = net.connect(port, address);
    this.socket.on('error', () => {});
    this.socket.on('data', (d: Buffer) => (this.received += d.toString('latin1')));
    this.closed = new Promise((resolve) => this.socket.on('close', () => resolve()));
  }
  send(text: string): void {
    this.socket.write(text, 'latin1');
  }
  /** Waits until `re` matches what came back. */
  async expect(re: RegExp): Promise<void> {
    const ok = await waitFor(async () => (re.test(this.received) ? true : undefined), { timeoutMs: NOTICE_TIMEOUT_MS, intervalMs: 20 });
    assert.equal(ok, true, `expected ${re} in ${JSON.stringify(this.received.slice(0, 200))}`);
  }
  destroy(): void {
    this.socket.destroy();
  }
}

describe('review item 6: Connection cannot strip what the load balancer states or the retry depends on', () => {
  it('review item 6: a client naming our headers, Host and Idempotency-Key in Connection strips none of them, only its own', async () => {
    const b = await bed(0, 1);
    const r = await curl([
      '-X',
      'POST',
      '-H',
      'Connection: keep-alive, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, X-Request-Id, Forwarded, X-Real-IP, Idempotency-Key, Host, X-Hop',
      '-H',
      'Idempotency-Key: order-77',
      '-H',
      'X-Hop: mine',
      '-H',
      'X-End: kept',
      '--data',
      '{"n":1}',
      `${b.url}/orders`,
    ]);
    assert.equal(r.status, 200);
    const hit = b.apps[0]?.hits.find((h) => h.url === '/orders');
    assert.ok(hit, 'the app never saw the request');
    assert.equal(hit.headers['idempotency-key'], 'order-77', 'the Idempotency-Key was stripped');
    assert.equal(hit.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(hit.headers['x-forwarded-proto'], 'http');
    assert.equal(hit.headers['x-forwarded-host'], `${b.address}:${b.port}`);
    assert.equal(hit.headers.host, `${b.address}:${b.port}`);
    assert.match(String(hit.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    assert.equal(hit.headers['x-request-id'], r.headers['x-request-id']);
    // What the client may declare hop-by-hop, its own header, is still removed.
    assert.equal(hit.headers['x-hop'], undefined);
    assert.equal(hit.headers['x-end'], 'kept');
  });

  it('review item 6: a keyed POST is retried after a reset only carrying its key, whatever Connection says', async () => {
    const b = await bed(1, 2);
    const [resetting, healthy] = b.apps;
    assert.ok(resetting && healthy);
    resetting.reset = true;
    // Round robin: within a few requests one lands on the resetting backend first.
    for (let i = 0; i < 6 && resetting.hits.length === 0; i++) {
      const r = await curl(['-X', 'POST', '-H', 'Connection: Idempotency-Key', '-H', `Idempotency-Key: k-${i}`, '--data', '{}', `${b.url}/orders?i=${i}`]);
      assert.equal(r.status, 200, 'a keyed POST is retried on the healthy backend');
    }
    assert.ok(resetting.hits.length > 0, 'no POST reached the resetting backend: the test proved nothing');
    const url = resetting.hits[0]?.url;
    const attempts = [...resetting.hits, ...healthy.hits].filter((h) => h.url === url);
    assert.equal(attempts.length, 2, 'sent once, retried once');
    for (const a of attempts) assert.match(String(a.headers['idempotency-key']), /^k-\d$/, 'an attempt went out without the key it was retried for');
  });

  it("review item 6: a backend naming X-Request-Id in its Connection header cannot take the client's request id away", async () => {
    const raw = new RawApp(() => 'HTTP/1.1 200 OK\r\nConnection: close, X-Request-Id, X-Own\r\nX-Request-Id: from-app\r\nX-Own: gone\r\nContent-Length: 2\r\n\r\nok');
    const b = await bed(2, 1, {}, raw);
    const r = await curl([`${b.url}/x`]);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
    assert.ok(r.headers['x-request-id'], 'the client got no X-Request-Id to quote');
    assert.equal(r.headers['x-own'], undefined);
  });
});

describe('review item 11: load balancer resources are bounded', () => {
  it('review item 11: /-/stats is on the admin port only; /-/healthz stays on the traffic port', async () => {
    const b = await bed(3, 1);
    assert.equal((await curl([`${b.url}/-/stats`])).status, 404);
    assert.equal((await curl([`${b.url}/-/healthz`])).status, 200);
    const s = await json<Stats>(`${b.adminUrl}/-/stats`);
    assert.equal(s.backends.length, 1);
    assert.ok(s.limits.connections.max > 0);
    assert.match((await curl([`${b.adminUrl}/metrics`])).body, /hastack_lb_requests_total/);
  });

  it('review item 11: connections beyond lb.maxConnections get a 503 with Retry-After, and a freed slot serves again', async () => {
    const b = await bed(4, 1, { maxConnections: 3 });
    const held: RawClient[] = [];
    for (let i = 0; i < 3; i++) {
      const c = new RawClient(b.address, b.port);
      c.send(`GET /keep-${i} HTTP/1.1\r\nHost: a\r\n\r\n`);
      await c.expect(/^HTTP\/1\.1 200/);
      held.push(c);
    }
    const refused = await curl([`${b.url}/one-more`]);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['retry-after'], '1');
    assert.equal((JSON.parse(refused.body) as { error: { code: string } }).error.code, 'OVERLOADED');
    assert.equal(
      b.apps[0]?.hits.some((h) => h.url === '/one-more'),
      false,
    );
    held.pop()?.destroy();
    const served = await waitFor(async () => ((await curl([`${b.url}/after`])).status === 200 ? true : undefined), { timeoutMs: NOTICE_TIMEOUT_MS, intervalMs: 50 });
    assert.equal(served, true);
    for (const c of held) c.destroy();
    const s = await json<Stats>(`${b.adminUrl}/-/stats`);
    assert.ok(s.limits.connections.refused >= 1);
  });

  it('review item 11: request bodies buffered at once are bounded by lb.maxBufferedBodyBytes (503), and released', async () => {
    const b = await bed(5, 1, { maxBodyBytes: 16 * 1024, maxBufferedBodyBytes: 32 * 1024 });
    // Two uploads that declare 16 000 bytes and send 10: they hold 32 000 of the 32 768.
    const slow = [0, 1].map((i) => {
      const c = new RawClient(b.address, b.port);
      c.send(`POST /slow-${i} HTTP/1.1\r\nHost: a\r\nContent-Length: 16000\r\n\r\n0123456789`);
      return c;
    });
    await waitFor(async () => ((await json<Stats>(`${b.adminUrl}/-/stats`)).limits.bufferedBodyBytes.used === 32_000 ? true : undefined), {
      timeoutMs: NOTICE_TIMEOUT_MS,
      intervalMs: 20,
    });
    const declared = await curl(['-X', 'POST', '--data-binary', 'x'.repeat(8 * 1024), `${b.url}/declared`]);
    assert.equal(declared.status, 503);
    assert.equal(declared.headers['retry-after'], '1');
    const chunked = await curl(['-X', 'POST', '-H', 'Transfer-Encoding: chunked', '--data-binary', 'y'.repeat(8 * 1024), `${b.url}/chunked`]);
    assert.equal(chunked.status, 503);
    assert.equal((JSON.parse(chunked.body) as { error: { code: string } }).error.code, 'OVERLOADED');
    // The slow uploads finish and are served; their bytes are released.
    for (const c of slow) c.send('x'.repeat(15_990));
    for (const c of slow) await c.expect(/^HTTP\/1\.1 200/);
    for (const c of slow) c.destroy();
    assert.equal((await curl(['-X', 'POST', '--data-binary', 'x'.repeat(8 * 1024), `${b.url}/later`])).status, 200);
    const s = await json<Stats>(`${b.adminUrl}/-/stats`);
    assert.equal(s.limits.bufferedBodyBytes.used, 0);
    assert.equal(s.limits.bufferedBodyBytes.refused, 2);
    assert.deepEqual(b.apps[0]?.hits.map((h) => h.url).sort(), ['/later', '/slow-0', '/slow-1']);
  });

  it("review item 11: a backend's queue is bounded in length and wait (503), without counting against the backend", async () => {
    // fall 1: a single failure held against the backend would eject it. The probes get a second
    // (PATIENT_PROBES): with the bed's 150 ms, one probe of a CI machine starved of CPU timed out,
    // fall 1 marked the only backend down, and /queued then waited for a backend, not in its queue.
    const b = await bed(6, 1, { fall: 1, ...PATIENT_PROBES, backendMaxConnections: 1, backendQueue: 1, backendQueueTimeoutMs: 300 });
    const app = b.apps[0];
    assert.ok(app);
    const first = curl([`${b.url}/hold-1`]);
    await waitFor(async () => (app.held.length === 1 ? true : undefined), { timeoutMs: NOTICE_TIMEOUT_MS, intervalMs: 10 });
    // The one connection is busy: one request may wait (then times out), the next finds the queue full.
    const queued = curl([`${b.url}/queued`]);
    await waitFor(async () => ((await json<Stats>(`${b.adminUrl}/-/stats`)).backends[0]?.queued === 1 ? true : undefined), { timeoutMs: NOTICE_TIMEOUT_MS, intervalMs: 10 });
    const full = await curl([`${b.url}/full`]);
    assert.equal(full.status, 503);
    assert.equal(full.headers['retry-after'], '1');
    const timedOut = await queued;
    assert.equal(timedOut.status, 503);
    assert.equal((JSON.parse(timedOut.body) as { error: { code: string } }).error.code, 'OVERLOADED');
    app.release();
    assert.equal((await first).status, 200);
    const s = await json<Stats>(`${b.adminUrl}/-/stats`);
    assert.equal(s.limits.queueRefused, 2);
    assert.equal(s.backends[0]?.errors, 0, 'a busy backend was counted as failing');
    assert.equal(s.backends[0]?.healthy, true);
    assert.deepEqual(
      app.hits.map((h) => h.url),
      ['/hold-1'],
    );
  });

  it('review item 11: a client that stops reading is cut after lb.clientSendTimeoutMs and its backend is not blamed', async () => {
    const b = await bed(7, 1, { fall: 1, ...PATIENT_PROBES, clientSendTimeoutMs: 300 });
    const c = new RawClient(b.address, b.port);
    c.socket.pause();
    c.send('GET /big HTTP/1.1\r\nHost: a\r\n\r\n');
    // A paused socket does not read the close; the load balancer's own count says it cut it.
    const cut = await waitFor(
      async () => {
        const st = await json<Stats>(`${b.adminUrl}/-/stats`);
        return st.limits.slowClientsCut === 1 && st.limits.connections.open === 0 ? true : undefined;
      },
      { timeoutMs: NOTICE_TIMEOUT_MS, intervalMs: 50 },
    );
    c.destroy();
    assert.equal(cut, true, 'the client that reads nothing was not cut');
    const s = await json<Stats>(`${b.adminUrl}/-/stats`);
    assert.equal(s.backends[0]?.errors, 0, 'the slow client was counted against the backend');
    assert.equal(s.backends[0]?.ejections, 0);
    assert.equal((await curl([`${b.url}/after`])).status, 200);
  });

  it('review item 11: header and idle time limits come from the lb config (slowloris, idle keep-alive)', async () => {
    const b = await bed(8, 1, { clientHeadersTimeoutMs: 200, clientRequestTimeoutMs: 400, clientIdleTimeoutMs: 300 });
    // Headers that never end: cut.
    const loris = new RawClient(b.address, b.port);
    loris.send('GET /loris HTTP/1.1\r\nHost: a\r\n');
    const drip = setInterval(() => loris.send('X-A: b\r\n'), 50);
    try {
      await within(loris.closed, 'the load balancer cutting headers that never end');
    } finally {
      clearInterval(drip);
    }
    // A served keep-alive connection left idle: closed by the load balancer.
    const idle = new RawClient(b.address, b.port);
    idle.send('GET /one HTTP/1.1\r\nHost: a\r\n\r\n');
    await idle.expect(/^HTTP\/1\.1 200/);
    await within(idle.closed, 'the load balancer closing an idle keep-alive connection');
    assert.equal(
      b.apps[0]?.hits.some((h) => h.url === '/loris'),
      false,
    );
  });
});

describe('panic routing: no backend healthy, some only slow to answer their probes', () => {
  it('requests still reach the backends whose probes connect and go unanswered, never one that refuses', async () => {
    const b = await bed(12, 2);
    const [a1, a2] = b.apps;
    assert.ok(a1 && a2);
    const stats = (): Promise<Stats> => json<Stats>(`${b.adminUrl}/-/stats`);
    const until = async (what: string, ok: (s: Stats) => boolean): Promise<Stats> => {
      const s = await waitFor(
        async () => {
          const now = await stats();
          return ok(now) ? now : undefined;
        },
        { timeoutMs: NOTICE_TIMEOUT_MS, intervalMs: 50 },
      ).catch(() => undefined);
      return s ?? assert.fail(`${what}: ${JSON.stringify(await stats())}`);
    };
    // Both app servers too busy for their probes: both go down, and the load balancer keeps
    // sending to them rather than answering every client 503.
    a1.slowReady = true;
    a2.slowReady = true;
    await until('both backends down by late probes, and panicking', (s) => s.panicking && s.backends.every((x) => x.state === 'down'));
    for (let i = 0; i < 4; i++) assert.equal((await curl([`${b.url}/busy-${i}`])).status, 200, 'answered by a backend that is down only for being slow');
    assert.ok(a1.hits.some((h) => h.url.startsWith('/busy')) && a2.hits.some((h) => h.url.startsWith('/busy')), 'both slow backends served');
    // One of them goes away (its connections refused): it takes nothing, the slow one everything.
    await a2.close();
    await until('the refusing backend out of the panic set', (s) => s.panicking && s.backends[1]?.state === 'down' && s.backends[1].panicEligible === false);
    await waitFor(async () => ((await curl([`${b.url}/probe-refused`])).status === 200 ? true : undefined), { timeoutMs: NOTICE_TIMEOUT_MS, intervalMs: 50 });
    const attemptsOn2 = async (): Promise<number> => {
      const x = (await stats()).backends[1];
      return (x?.requests ?? 0) + (x?.errors ?? 0);
    };
    const before = await attemptsOn2();
    for (let i = 0; i < 4; i++) assert.equal((await curl([`${b.url}/after-${i}`])).status, 200);
    assert.equal(await attemptsOn2(), before, 'no attempt went to the backend that refuses connections');
    // Its probes answered again: healthy, and the panic is over.
    a1.slowReady = false;
    a1.release();
    await until('the slow backend healthy again, no panic', (s) => !s.panicking && s.backends.some((x) => x.healthy));
  });
});

describe('review item 12: the load balancer refuses ambiguous responses from a backend', () => {
  const answers: Record<string, string> = {
    // Transfer-Encoding split over two lines: "chunked, gzip" is not chunked (RFC 9110 §5.3).
    '/te-split': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    // A control character at the end of a value, which String.trim() used to hide.
    '/vt': 'HTTP/1.1 200 OK\r\nX-A: v\x0b\r\nContent-Length: 2\r\n\r\nok',
    '/cr': 'HTTP/1.1 200 OK\r\nX-A: v\r\r\nContent-Length: 2\r\n\r\nok',
    '/dup-length': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok',
    '/chunk-ws': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\xa0\r\nhello\r\n0\r\n\r\n',
    // obs-text is valid in a value and must arrive untouched (not trimmed as if it were space).
    '/nbsp': 'HTTP/1.1 200 OK\r\nX-A: \xa0v\xa0\r\nContent-Length: 2\r\n\r\nok',
  };

  it('review item 12: 502 for a split Transfer-Encoding, hidden control characters, a repeated Content-Length; obs-text kept', async () => {
    const raw = new RawApp((path) => answers[path] ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    // fall 10: the 502s below must not eject the backend (each counts as a failed request). The
    // raw backend, the balancer and curl's spawns share this process: under CI's load a 150 ms
    // health check or a 200 ms liveness probe went unanswered and ejected the only backend (503).
    // Neither is what this test is about: both get a second.
    const b = await bed(9, 1, { fall: 10, ...PATIENT_PROBES }, raw, { stall: { sweepMs: 25, stallMs: 150, livenessTimeoutMs: 1_000 } });
    for (const path of ['/te-split', '/vt', '/cr', '/dup-length']) {
      const r = await curl([`${b.url}${path}`]);
      assert.equal(r.status, 502, `${path}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    // The head was fine and the body is not: the response is cut, never passed on as complete.
    const cut = await curl([`${b.url}/chunk-ws`]).catch(() => undefined);
    assert.ok(cut === undefined || cut.body !== 'hello', `/chunk-ws: ${JSON.stringify(cut)}`);
    const ok = await curl([`${b.url}/nbsp`]);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['x-a'], '\xa0v\xa0');
  });
});
