/**
 * The workload's HTTP stack resends as browsers do (workload.ts MAX_RESENDS): a request on a
 * kept-alive connection that closes before any header of its answer goes out again at once on a
 * new connection; one on a connection made for it, or one whose headers came, does not. Against a
 * real HTTP server on 127.0.0.1 (an ephemeral port) that closes connections where the test says.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import { parseConfig, resolveTopology, type Topology } from '../config/index.js';
import { clientVisible, type Operation } from './history.js';
import { ServiceResolver } from './resolver.js';
import { Client } from './workload.js';

/** What the server does with the nth request on a connection (1 = the first). */
type Plan = (nth: number) => 'answer' | 'close' | 'headers-then-close';

class Server {
  plan: Plan = () => 'answer';
  private readonly served = new WeakMap<Socket, number>();
  readonly server = http.createServer({ keepAliveTimeout: 10_000 }, (req, res) => {
    const nth = (this.served.get(req.socket) ?? 0) + 1;
    this.served.set(req.socket, nth);
    req.resume();
    req.on('end', () => {
      const step = this.plan(nth);
      if (step === 'close') req.socket.destroy();
      else if (step === 'headers-then-close') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{"items":');
        setTimeout(() => req.socket.destroy(), 20);
      } else {
        res.setHeader('content-type', 'application/json');
        res.end('{"items":[]}');
      }
    });
  });

  port(): number {
    return (this.server.address() as AddressInfo).port;
  }
}

/** The DNS answer is fixed: the one stand-in server. */
class FixedResolver extends ServiceResolver {
  constructor(private readonly fixed: string[]) {
    super([], 'unused.test');
  }
  override resolve(): Promise<string[]> {
    return Promise.resolve(this.fixed);
  }
}

function topology(lbPort: number): Topology {
  const config = parseConfig({
    cluster: 'resendtest',
    serviceName: 'erp.resend.test',
    ports: { lb: lbPort },
    nodes: [
      { name: 'edge1', services: ['lb', 'dns'] },
      { name: 'rest', services: ['app', 'mariadb', 'redis'] },
    ],
  });
  return resolveTopology(config, { stateRoot: os.tmpdir(), configDir: os.tmpdir() });
}

/** Each attempt of `op` as [outcome, resent], and how many a user would have seen fail. */
function seen(op: Operation): { tries: Array<[string, boolean]>; visible: number } {
  const tries = op.tries ?? [];
  return { tries: tries.map((t) => [t.outcome, t.resent === true]), visible: tries.filter(clientVisible).length };
}

/** A workload client whose operations the test calls one by one: one GET each. */
class Probe extends Client {
  read(): Promise<Operation> {
    return this.withRetries(
      'list-items',
      3,
      5_000,
      () => this.attempt('GET', '/api/items'),
      (r) => (r.status === 200 ? { ok: true } : { ok: false, error: `HTTP ${r.status}` }),
    );
  }
}

describe('the workload resends as a browser does', () => {
  const s = new Server();
  let topo: Topology;
  before(async () => {
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    topo = topology(s.port());
  });
  after(async () => {
    s.server.closeAllConnections();
    await new Promise((resolve) => s.server.close(resolve));
  });

  /** Client 1 of 2 is naive (one request per operation), client 0 retries. */
  async function withClient(id: 0 | 1, body: (c: Probe) => Promise<void>): Promise<void> {
    const t0 = Date.now();
    const opts = { topo, clients: 2, naiveClients: 1, endsAt: () => 0, seed: 1, runId: 'resend', clock: () => Date.now() - t0 };
    const c = new Probe(id, opts, new FixedResolver(['127.0.0.1']));
    try {
      await body(c);
    } finally {
      await c.run(); // no operation (endsAt 0): closes the client's connections
    }
  }

  it('a naive request on a kept-alive connection closed before the answer goes out again, and nobody sees an error', async () => {
    s.plan = (nth) => (nth === 2 ? 'close' : 'answer');
    await withClient(1, async (c) => {
      assert.equal((await c.read()).ok, true);
      const op = await c.read();
      assert.equal(op.ok, true, JSON.stringify(op));
      assert.deepEqual(seen(op), {
        tries: [
          ['reset', true],
          ['ok', false],
        ],
        visible: 0,
      });
    });
  });

  it('a retrying client resends the same way, before any retry of its own', async () => {
    s.plan = (nth) => (nth === 2 ? 'close' : 'answer');
    await withClient(0, async (c) => {
      await c.read();
      const op = await c.read();
      assert.equal(op.ok, true);
      assert.equal(op.attempts, 2);
      assert.equal(op.tries?.[0]?.resent, true);
    });
  });

  it('a request on a connection made for it is not resent: the naive client shows the error', async () => {
    s.plan = () => 'close';
    await withClient(1, async (c) => {
      const op = await c.read();
      assert.equal(op.ok, false);
      assert.deepEqual(seen(op), { tries: [['reset', false]], visible: 1 });
    });
  });

  it('an answer whose headers came is not resent, even on a kept-alive connection', async () => {
    s.plan = (nth) => (nth === 2 ? 'headers-then-close' : 'answer');
    await withClient(1, async (c) => {
      await c.read();
      const op = await c.read();
      assert.equal(op.ok, false);
      assert.equal(op.attempts, 1);
      assert.equal(op.tries?.[0]?.resent, undefined);
    });
  });
});
