import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { UpstreamPool, type UpstreamAttempt, type UpstreamHandler, type UpstreamPoolOptions, type UpstreamRequest } from './upstream.js';

// The lb unit tests' block (127.0.72.x); .40 is used by nothing else.
const HOST = '127.0.72.40';
const OPTS: UpstreamPoolOptions = {
  maxConnections: 4,
  maxQueue: 100,
  queueTimeoutMs: 30_000,
  keepAliveMs: 60_000,
  connectTimeoutMs: 1_000,
  headersTimeoutMs: 30_000,
  bodyTimeoutMs: 30_000,
  maxHeaderBytes: 16 * 1024,
};

interface Outcome {
  readonly status: number;
  readonly headers: string[];
  readonly body: string;
}

/** Collects one attempt's outcome; the promise rejects with the attempt's error. */
class Collector implements UpstreamHandler {
  attempt: UpstreamAttempt | undefined;
  status = 0;
  headers: string[] = [];
  chunks: Buffer[] = [];
  readonly done: Promise<Outcome>;
  private resolve!: (o: Outcome) => void;
  private reject!: (e: Error) => void;
  constructor() {
    this.done = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
  }
  onStart(a: UpstreamAttempt): void {
    this.attempt = a;
  }
  onHeaders(status: number, headers: string[]): void {
    this.status = status;
    this.headers = headers;
  }
  onData(chunk: Buffer): boolean {
    this.chunks.push(Buffer.from(chunk));
    return true;
  }
  onComplete(last: Buffer | undefined): void {
    if (last !== undefined) this.chunks.push(Buffer.from(last));
    this.resolve({ status: this.status, headers: this.headers, body: Buffer.concat(this.chunks).toString() });
  }
  onError(err: Error): void {
    this.reject(err);
  }
}

const GET: UpstreamRequest = { method: 'GET', path: '/x', headers: ['host', 'example'], body: undefined };

/**
 * A real TCP backend that answers each request (head, plus body by Content-Length) with what
 * `answer` returns for it; `undefined` leaves the request unanswered.
 */
class ScriptedBackend {
  connections = 0;
  readonly requests: string[] = [];
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  constructor(
    readonly port: number,
    public answer: (req: string, socket: net.Socket) => string | undefined,
  ) {
    this.server = net.createServer((s) => {
      this.connections += 1;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      let buf = '';
      s.on('data', (d) => {
        buf += d.toString('latin1');
        for (;;) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const m = /content-length: (\d+)/i.exec(buf.slice(0, end));
          const total = end + 4 + (m ? Number(m[1]) : 0);
          if (buf.length < total) return;
          const req = buf.slice(0, total);
          buf = buf.slice(total);
          this.requests.push(req);
          const out = this.answer(req, s);
          if (out !== undefined) s.write(out, 'latin1');
        }
      });
    });
  }
  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.port, HOST, resolve));
  }
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function run(pool: UpstreamPool, req: UpstreamRequest = GET): Collector {
  const c = new Collector();
  pool.dispatch(req, c);
  return c;
}

describe('UpstreamPool against a real TCP backend', () => {
  const backend = new ScriptedBackend(8401, () => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=72\r\n\r\nok');
  before(() => backend.listen());
  after(() => backend.close());

  it('reuses one keep-alive connection for sequential requests and sends the body with its length', async () => {
    const pool = new UpstreamPool(HOST, backend.port, OPTS);
    const before = backend.connections;
    assert.deepEqual(await run(pool).done, { status: 200, headers: ['Content-Length', '2', 'Keep-Alive', 'timeout=72'], body: 'ok' });
    await run(pool, { method: 'POST', path: '/orders', headers: ['host', 'example', 'idempotency-key', 'k1'], body: Buffer.from('{"a":1}') }).done;
    assert.equal(backend.connections - before, 1);
    const post = backend.requests.at(-1) as string;
    assert.match(post, /^POST \/orders HTTP\/1\.1\r\nhost: example\r\nidempotency-key: k1\r\ncontent-length: 7\r\n\r\n\{"a":1\}$/);
    await pool.close();
  });

  it('queues requests beyond maxConnections on the connections it has', async () => {
    const pool = new UpstreamPool(HOST, backend.port, { ...OPTS, maxConnections: 1 });
    const before = backend.connections;
    const all = await Promise.all([run(pool).done, run(pool).done, run(pool).done]);
    assert.deepEqual(
      all.map((o) => o.body),
      ['ok', 'ok', 'ok'],
    );
    assert.equal(backend.connections - before, 1);
    await pool.close();
  });

  it('decodes a chunked body, skips 1xx answers and closes after Connection: close', async () => {
    const prev = backend.answer;
    backend.answer = () =>
      'HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n';
    try {
      const pool = new UpstreamPool(HOST, backend.port, OPTS);
      const before = backend.connections;
      const o = await run(pool).done;
      assert.equal(o.status, 200);
      assert.equal(o.body, 'abcde');
      await run(pool).done;
      assert.equal(backend.connections - before, 2, 'Connection: close is honoured');
      await pool.close();
    } finally {
      backend.answer = prev;
    }
  });
});

describe('UpstreamPool failures', () => {
  it('reports a refused connection with the socket code (retry.ts: connect)', async () => {
    const pool = new UpstreamPool(HOST, 8409, OPTS);
    await assert.rejects(run(pool).done, { code: 'ECONNREFUSED' });
    await pool.close();
  });

  it('reports a connection closed before the answer as UPSTREAM_CLOSED (retry.ts: reset)', async () => {
    const backend = new ScriptedBackend(8402, (_req, s) => {
      s.end();
      return undefined;
    });
    await backend.listen();
    try {
      const pool = new UpstreamPool(HOST, backend.port, OPTS);
      await assert.rejects(run(pool).done, { code: 'UPSTREAM_CLOSED' });
      await pool.close();
    } finally {
      await backend.close();
    }
  });

  it('reports a malformed answer as UPSTREAM_BAD_RESPONSE (never retried)', async () => {
    const backend = new ScriptedBackend(8403, () => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nok');
    await backend.listen();
    try {
      const pool = new UpstreamPool(HOST, backend.port, OPTS);
      await assert.rejects(run(pool).done, { code: 'UPSTREAM_BAD_RESPONSE' });
      await pool.close();
    } finally {
      await backend.close();
    }
  });

  it('refuses response headers over maxHeaderBytes, whole or in pieces', async () => {
    const big = `X-Big: ${'x'.repeat(2_000)}\r\n`;
    const backend = new ScriptedBackend(8406, () => `HTTP/1.1 200 OK\r\n${big}Content-Length: 0\r\n\r\n`);
    await backend.listen();
    try {
      const pool = new UpstreamPool(HOST, backend.port, { ...OPTS, maxHeaderBytes: 1_024 });
      await assert.rejects(run(pool).done, { code: 'UPSTREAM_BAD_RESPONSE' });
      backend.answer = () => `HTTP/1.1 200 OK\r\n${big}`;
      await assert.rejects(run(pool).done, { code: 'UPSTREAM_BAD_RESPONSE' });
      await pool.close();
    } finally {
      await backend.close();
    }
  });

  it("aborts an unanswered attempt with the caller's error and frees its connection", async () => {
    const backend = new ScriptedBackend(8404, () => undefined);
    await backend.listen();
    try {
      const pool = new UpstreamPool(HOST, backend.port, { ...OPTS, maxConnections: 1 });
      const first = run(pool);
      const second = run(pool);
      // Wait until the backend holds the first request, then abort both (the second is queued).
      while (backend.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
      first.attempt?.abort(Object.assign(new Error('stalled'), { code: 'TEST_STALLED' }));
      second.attempt?.abort();
      await assert.rejects(first.done, { code: 'TEST_STALLED' });
      await assert.rejects(second.done, { code: 'UPSTREAM_ABORTED' });
      await pool.close();
    } finally {
      await backend.close();
    }
  });

  it('destroy() fails running requests and close() then resolves', async () => {
    const backend = new ScriptedBackend(8405, () => undefined);
    await backend.listen();
    try {
      const pool = new UpstreamPool(HOST, backend.port, OPTS);
      const c = run(pool);
      while (backend.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
      const closed = pool.close();
      pool.destroy();
      await assert.rejects(c.done, { code: 'UPSTREAM_POOL_CLOSED' });
      await closed;
      await assert.rejects(run(pool).done, { code: 'UPSTREAM_POOL_CLOSED' });
    } finally {
      await backend.close();
    }
  });
});
