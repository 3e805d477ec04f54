import assert from 'node:assert/strict';
import http from 'node:http';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import { Packet, TCPClient, UDPClient } from 'dns2';
import { parseConfig, resolveTopology, servicesOf, type Secrets, type Topology } from '../config/index.js';
import type { ServiceContext } from '../registry/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import type { Closeable } from '../shared/lifecycle.js';
import { waitFor } from '../shared/retry.js';
import { stableShuffle } from './client.js';
import { resolveService, startDns } from './index.js';

process.env.HASTACK_LOG_LEVEL ??= 'silent';

const FAKE_SECRETS: Secrets = {
  redisPassword: 'test',
  sentinelPassword: 'test',
  dbRootPassword: 'test',
  dbAppPassword: 'test',
  dbReplPassword: 'test',
  sessionKey: 'test',
};

const NAME = 'shop.hastack.test';
/** Per-server timeout for queries in these tests; loopback answers take well under 1 ms. */
const QUERY_TIMEOUT_MS = 1_000;
/** Test-only bound on waiting for the DNS server's probes to notice a change. */
const NOTICE_TIMEOUT_MS = 10_000;

/** A stand-in load balancer: answers `/-/healthz` with 200 or 503, and can die. */
class FakeLb {
  status = 200;
  private readonly server = http.createServer((req, res) => {
    res.writeHead(req.url === '/-/healthz' ? this.status : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: this.status === 200, backends: [] }));
  });

  listen(address: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, address, () => resolve());
    });
  }

  kill(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

function topology(block: number): Topology {
  const b = block * 10;
  const config = parseConfig({
    cluster: `dnstest${block}`,
    addressBase: '127.0.71',
    serviceName: NAME,
    dns: { ttlS: 3 },
    nodes: [
      { name: 'edge1', address: `127.0.71.${b + 1}`, services: ['lb', 'dns'] },
      { name: 'edge2', address: `127.0.71.${b + 2}`, services: ['lb', 'dns'] },
      // Required by the config rules; never started here.
      { name: 'rest', address: `127.0.71.${b + 9}`, services: ['app', 'mariadb', 'redis'] },
    ],
  });
  return resolveTopology(config, { stateRoot: os.tmpdir(), configDir: os.tmpdir() });
}

const sorted = (a: readonly string[]): string[] => [...a].sort();

describe('dns', () => {
  const topo = topology(0);
  const lbSvcs = servicesOf(topo, 'lb');
  const dnsSvcs = servicesOf(topo, 'dns');
  const lbAddresses = lbSvcs.map((s) => s.address);
  const servers = dnsSvcs.map((s) => ({ address: s.address, port: s.port }));
  const lbs: FakeLb[] = [];
  const running: Closeable[] = [];

  /** Waits until DNS server `index` answers `NAME` with exactly `expected`. */
  async function waitForAnswer(expected: readonly string[], index = 0): Promise<void> {
    let last: string[] = [];
    const ok = await waitFor(
      async () => {
        last = sorted((await resolveService(servers.slice(index, index + 1), NAME, QUERY_TIMEOUT_MS)).addresses);
        return JSON.stringify(last) === JSON.stringify(sorted(expected)) ? true : undefined;
      },
      { timeoutMs: NOTICE_TIMEOUT_MS, intervalMs: 100 },
    );
    assert.equal(ok, true, `answer stayed ${JSON.stringify(last)}, expected ${JSON.stringify(expected)}`);
  }

  before(async () => {
    for (const s of lbSvcs) {
      const lb = new FakeLb();
      await lb.listen(s.address, s.port);
      lbs.push(lb);
    }
    for (const svc of dnsSvcs) {
      const ctx: ServiceContext = { topo, secrets: FAKE_SECRETS, svc, asRoot: false };
      running.push(await startDns(ctx));
    }
  });

  after(async () => {
    for (const r of running) await r.close();
    for (const lb of lbs) await lb.kill();
  });

  it('answers the service name with both load balancers and the configured TTL', async () => {
    const answer = await resolveService(servers, NAME, QUERY_TIMEOUT_MS);
    assert.deepEqual(sorted(answer.addresses), sorted(lbAddresses));
    assert.equal(answer.ttlS, 3);
  });

  it("answers dns2's own UDP and TCP clients alike", async () => {
    const [s] = servers;
    assert.ok(s);
    const udp = await UDPClient({ dns: s.address, port: s.port, timeout: QUERY_TIMEOUT_MS })(NAME, 'A');
    assert.equal(udp.header.rcode, 0);
    assert.deepEqual(sorted(udp.answers.map((a) => String(a.address))), sorted(lbAddresses));
    const tcp = await TCPClient({ dns: s.address, port: s.port })(NAME, 'A');
    assert.equal(tcp.header.rcode, 0);
    assert.deepEqual(sorted(tcp.answers.map((a) => String(a.address))), sorted(lbAddresses));
  });

  it('rotates the order of the addresses between queries', async () => {
    const [s] = servers;
    assert.ok(s);
    const firsts = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = await UDPClient({ dns: s.address, port: s.port, timeout: QUERY_TIMEOUT_MS })(NAME, 'A');
      firsts.add(String(r.answers[0]?.address));
    }
    assert.deepEqual(sorted([...firsts]), sorted(lbAddresses));
  });

  it('shuffles the answer on the client side, in one stable order per process', async () => {
    const first = await resolveService(servers, NAME, QUERY_TIMEOUT_MS);
    assert.deepEqual(sorted(first.addresses), sorted(lbAddresses));
    // The servers rotate their answers; the client's order does not follow them.
    for (let i = 0; i < 4; i++) assert.deepEqual((await resolveService(servers, NAME, QUERY_TIMEOUT_MS)).addresses, first.addresses);
    const list = Array.from({ length: 8 }, (_, i) => `10.0.0.${i}`);
    assert.deepEqual(stableShuffle(list, 1), stableShuffle([...list].reverse(), 1), 'the order depends on the set, not on how it came');
    const orders = new Set(Array.from({ length: 20 }, (_, salt) => stableShuffle(list, salt).join(',')));
    assert.ok(orders.size > 10, 'other processes (salts) get other orders');
    // Dropping an address keeps the others in their order.
    const full = stableShuffle(list, 7);
    assert.deepEqual(
      stableShuffle(list.slice(1), 7),
      full.filter((a) => a !== list[0]),
    );
  });

  it('answers SOA and NS for the zone and refuses names outside it', async () => {
    const [s] = servers;
    assert.ok(s);
    const ask = UDPClient({ dns: s.address, port: s.port, timeout: QUERY_TIMEOUT_MS });
    const soa = await ask('hastack.test', 'SOA');
    assert.equal(soa.header.rcode, 0);
    assert.equal(soa.answers[0]?.primary, 'ns1.hastack.test');
    const ns = await ask('hastack.test', 'NS');
    assert.deepEqual(
      ns.answers.map((a) => a.ns),
      ['ns1.hastack.test', 'ns2.hastack.test'],
    );
    assert.deepEqual(
      ns.additionals.map((a) => a.address),
      dnsSvcs.map((d) => d.address),
    );
    const outside = await ask('www.example.com', 'A');
    assert.equal(outside.header.rcode, 5);
    await assert.rejects(resolveService(servers, 'www.example.com', QUERY_TIMEOUT_MS), (e: unknown) => e instanceof HastackError && e.code === ErrorCode.UPSTREAM_UNAVAILABLE);
  });

  it('says NXDOMAIN for other names', async () => {
    const [s] = servers;
    assert.ok(s);
    const r = await UDPClient({ dns: s.address, port: s.port, timeout: QUERY_TIMEOUT_MS })('nope.hastack.test', 'A');
    assert.equal(r.header.rcode, 3);
    await assert.rejects(resolveService(servers, 'nope.hastack.test', QUERY_TIMEOUT_MS), (e: unknown) => e instanceof HastackError && e.code === ErrorCode.NOT_FOUND);
  });

  it('has the name but no AAAA record', async () => {
    const [s] = servers;
    assert.ok(s);
    const r = await UDPClient({ dns: s.address, port: s.port, timeout: QUERY_TIMEOUT_MS })(NAME, 'AAAA');
    assert.equal(r.header.rcode, 0);
    assert.equal(r.answers.filter((a) => a.type === Packet.TYPE.AAAA).length, 0);
  });

  it('moves on to the next server when one does not answer', async () => {
    // Nothing listens on .8: UDP gives no error there, only the timeout.
    const answer = await resolveService([{ address: '127.0.71.8', port: 5353 }, ...servers], NAME, 300);
    assert.deepEqual(sorted(answer.addresses), sorted(lbAddresses));
  });

  it('fails with UPSTREAM_UNAVAILABLE when no server answers', async () => {
    await assert.rejects(
      resolveService([{ address: '127.0.71.8', port: 5353 }], NAME, 200),
      (e: unknown) => e instanceof HastackError && e.code === ErrorCode.UPSTREAM_UNAVAILABLE && e.message.includes('127.0.71.8:5353'),
    );
  });

  it('drops a load balancer that reports itself unhealthy, and takes it back', async () => {
    const [lb1] = lbs;
    assert.ok(lb1);
    lb1.status = 503;
    await waitForAnswer(lbAddresses.slice(1));
    lb1.status = 200;
    await waitForAnswer(lbAddresses);
  });

  it('drops a load balancer that died', async () => {
    await lbs[0]?.kill();
    await waitForAnswer(lbAddresses.slice(1));
    // The other DNS server, probing on its own, comes to the same view.
    await waitForAnswer(lbAddresses.slice(1), 1);
  });

  it('answers with every load balancer when none is healthy', async () => {
    const [, lb2] = lbs;
    assert.ok(lb2);
    lb2.status = 503;
    await waitForAnswer(lbAddresses);
  });
});
