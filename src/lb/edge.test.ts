/**
 * HTTP hygiene at the edge, with raw sockets: request smuggling attempts and slowloris never
 * reach an app server, and normal clients keep being served meanwhile. Every attack runs on the
 * plain listener and again over TLS on the HTTPS one (lb.tls, same handler and limits).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { parseConfig, resolveTopology, servicesOf } from '../config/index.js';
import type { ServiceContext } from '../registry/index.js';
import { startLb, type RunningLb } from './index.js';
import { makeTestCa, makeTestCert } from './tls/index.js';

process.env.HASTACK_LOG_LEVEL ??= 'silent';

/** Test-only bound for reading one raw answer; a loopback answer takes milliseconds. */
const READ_TIMEOUT_MS = 3_000;
/** Short client time limits so the slowloris test ends fast (behaviour, not timing). */
const HEADERS_TIMEOUT_MS = 400;
const REQUEST_TIMEOUT_MS = 800;

/** A backend that records every request it gets (besides /readyz). */
class RecordingApp {
  readonly seen: string[] = [];
  readonly server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url !== '/readyz') this.seen.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  listen(address: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, address, () => resolve());
    });
  }
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

type Transport = 'plain' | 'tls';
/** The HTTPS listener's port in this test, and the CA its certificate is signed by (set in before()). */
const HTTPS_PORT = 8443;
let caPem = '';

function connect(transport: Transport, address: string, port: number): net.Socket {
  return transport === 'plain' ? net.connect(port, address) : tls.connect({ host: address, port, ca: caPem, servername: 'edge.tls.test' });
}

/** Sends `text` on a fresh connection; resolves with what came back until the server closed or a pause. */
function raw(transport: Transport, address: string, port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(transport, address, port);
    let out = '';
    const done = (): void => {
      clearTimeout(t);
      s.destroy();
      resolve(out);
    };
    const t = setTimeout(done, READ_TIMEOUT_MS);
    s.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      // One complete answer is enough: our error bodies are small and sent with Content-Length.
      if (/\r\n\r\n/.test(out) && /content-length: (\d+)/i.test(out)) {
        const m = /content-length: (\d+)/i.exec(out);
        const body = out.slice(out.indexOf('\r\n\r\n') + 4);
        if (m && body.length >= Number(m[1])) done();
      }
    });
    s.on('close', done);
    s.on('error', done);
    s.write(text);
  });
}

function statusOf(answer: string): number {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(answer);
  return m ? Number(m[1]) : 0;
}

function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    (url.startsWith('https:') ? https : http)
      .get(url, { agent: false, ca: caPem, servername: 'edge.tls.test' }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

describe('edge hygiene', () => {
  const config = parseConfig({
    cluster: 'lbedge',
    addressBase: '127.0.72',
    nodes: [
      { name: 'lb', address: '127.0.72.1', services: ['lb'] },
      { name: 'app1', address: '127.0.72.2', services: ['app'] },
      { name: 'data', address: '127.0.72.9', services: ['mariadb', 'redis'] },
    ],
    lb: {
      healthIntervalMs: 200,
      healthTimeoutMs: 150,
      fall: 2,
      rise: 1,
      // Plain HTTP is not redirected here: its attacks must reach the proxy's parser.
      tls: { certificates: [{ certFile: 'edge.crt', keyFile: 'edge.key' }], redirectHttp: false },
    },
    ports: { https: HTTPS_PORT },
  });
  const certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-edge-tls-'));
  const topo = resolveTopology(config, { stateRoot: os.tmpdir(), configDir: path.join(certDir, 'ca') });
  const lbSvc = servicesOf(topo, 'lb')[0];
  const appSvc = servicesOf(topo, 'app')[0];
  assert.ok(lbSvc && appSvc);
  const app = new RecordingApp();
  let lb: RunningLb | undefined;
  const { address } = lbSvc;

  before(async () => {
    const ca = makeTestCa(path.join(certDir, 'ca'));
    makeTestCert(ca, 'edge', ['DNS:edge.tls.test']);
    caPem = fs.readFileSync(ca.crt, 'utf8');
    await app.listen(appSvc.address, appSvc.port);
    const ctx: ServiceContext = {
      topo,
      secrets: {
        redisPassword: 't',
        sentinelPassword: 't',
        dbRootPassword: 't',
        dbAppPassword: 't',
        dbReplPassword: 't',
        sessionKey: 't',
        tlsTicketSecret: 'edge-test-ticket-secret',
      },
      svc: lbSvc,
      asRoot: false,
    };
    lb = await startLb(ctx, { clientHeadersTimeoutMs: HEADERS_TIMEOUT_MS, clientRequestTimeoutMs: REQUEST_TIMEOUT_MS, metricsPort: 0 });
  });

  after(async () => {
    await lb?.close();
    await app.close();
    fs.rmSync(certDir, { recursive: true, force: true });
  });

  const attacks: ReadonlyArray<readonly [string, string]> = [
    [
      'Content-Length with Transfer-Encoding',
      'POST /smuggle-1 HTTP/1.1\r\nHost: a\r\nContent-Length: 30\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled-1 HTTP/1.1\r\n\r\n',
    ],
    ['Transfer-Encoding other than chunked', 'POST /smuggle-2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'],
    ['Transfer-Encoding twice', 'POST /smuggle-3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two differing Content-Lengths', 'POST /smuggle-4 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc'],
    ['two Host headers', 'GET /smuggle-5 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
    ['a malformed chunk size', 'POST /smuggle-6 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'],
    ['a space before the colon', 'GET /smuggle-7 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n'],
    ['an absolute-form target', 'GET http://evil.example/smuggle-8 HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['a non-numeric Content-Length', 'POST /smuggle-9 HTTP/1.1\r\nHost: a\r\nContent-Length: 1e2\r\n\r\n'],
    ['too many headers', `GET /smuggle-10 HTTP/1.1\r\nHost: a\r\n${Array.from({ length: 150 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`],
    ['oversize headers', `GET /smuggle-11 HTTP/1.1\r\nHost: a\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`],
    ['a bare LF in a header line', 'GET /smuggle-12 HTTP/1.1\r\nHost: a\nX-Y: z\r\n\r\n'],
  ];

  for (const transport of ['plain', 'tls'] as const) {
    const port = transport === 'plain' ? lbSvc.port : HTTPS_PORT;
    const scheme = transport === 'plain' ? 'http' : 'https';
    for (const [name, text] of attacks) {
      it(`refuses ${name} with a 4xx before any app server sees it (${transport})`, async () => {
        const answer = await raw(transport, address, port, text);
        const status = statusOf(answer);
        assert.ok(status >= 400 && status < 500, `got ${JSON.stringify(answer.slice(0, 80))}`);
        assert.deepEqual(app.seen, [], 'a smuggling attempt reached the app server');
      });
    }

    it(`still serves normal requests after all that (${transport})`, async () => {
      assert.equal(await get(`${scheme}://${address}:${port}/fine`), 200);
      assert.deepEqual(app.seen, ['GET /fine']);
      app.seen.length = 0;
    });

    it(`keeps serving normal clients during a slowloris attempt and cuts the slow connections (${transport})`, async () => {
      const slow: net.Socket[] = [];
      const closed: Array<Promise<void>> = [];
      // 100 connections that send a header line now and then, never finishing; and 2 slow bodies.
      for (let i = 0; i < 102; i++) {
        const s = connect(transport, address, port);
        s.on('error', () => {});
        closed.push(new Promise((resolve) => s.on('close', () => resolve())));
        s.write(i < 100 ? `GET /loris-${i} HTTP/1.1\r\nHost: a\r\n` : `POST /loris-${i} HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nab`);
        slow.push(s);
      }
      const drip = setInterval(() => {
        for (const s of slow) if (!s.destroyed) s.write(s === slow[100] || s === slow[101] ? 'c' : 'X-A: b\r\n');
      }, 50);
      try {
        const statuses = await Promise.all(Array.from({ length: 30 }, (_, i) => get(`${scheme}://${address}:${port}/normal-${i}`)));
        assert.deepEqual(statuses, Array(30).fill(200));
        // Every slow connection is cut by the load balancer's time limits, not by us.
        await Promise.all(closed);
      } finally {
        clearInterval(drip);
        for (const s of slow) s.destroy();
      }
      assert.equal(app.seen.filter((r) => r.includes('loris')).length, 0, 'a slow request reached the app server');
      assert.equal(app.seen.length, 30);
      app.seen.length = 0;
    });
  }

  it('serves Prometheus metrics on the admin port', async () => {
    assert.ok(lb?.metricsUrl);
    const text = await new Promise<string>((resolve, reject) => {
      http
        .get(lb?.metricsUrl ?? '', (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve(body));
        })
        .on('error', reject);
    });
    assert.match(text, /hastack_lb_requests_total\{status="200",lb="lb\/lb"\} \d+/);
    assert.match(text, /hastack_lb_requests_total\{status="400",lb="lb\/lb"\} \d+/);
    assert.match(text, /hastack_lb_request_duration_seconds_bucket\{le="0\.005",lb="lb\/lb"\} \d+/);
    assert.match(text, /hastack_lb_retries_total\{lb="lb\/lb"\} 0/);
    assert.match(text, /hastack_lb_backend_up\{backend="app1\/app",lb="lb\/lb"\} 1/);
    assert.match(text, /hastack_lb_backend_state_changes_total/);
  });
});
