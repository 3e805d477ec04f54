import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseGtidPos, planRoutes, type NodeState } from '../clients/db/index.js';
import { parseConfig, preset, resolveTopology, servicesOf } from '../config/index.js';
import { decideReaders, decideWriter, EMPTY_MEMORY, type DbMemory } from './db-decide.js';
import { renderHaproxyConfig } from './haproxy.js';
import { LagClock } from './lag.js';
import { redisRouting } from './redis.js';

const gtid = (seq: number): string => `0-1-${seq}`;
const primary = (id: string, seq: number): NodeState => ({ id, reachable: true, readOnly: false, binlogPos: gtid(seq), slavePos: '', replication: 'none' });
const replica = (id: string, applied: number, sql = true): NodeState => ({
  id,
  reachable: true,
  readOnly: true,
  binlogPos: gtid(applied),
  slavePos: gtid(applied),
  replication: { ioRunning: true, sqlRunning: sql },
});
const demoted = (id: string, seq: number): NodeState => ({ ...primary(id, seq), readOnly: true }) as NodeState;
const down = (id: string): NodeState => ({ id, reachable: false, error: 'connect ECONNREFUSED' });
const galera = (id: string, state = 4): NodeState => ({
  id,
  reachable: true,
  readOnly: false,
  binlogPos: '',
  slavePos: '',
  replication: 'none',
  galera: { localState: state, ready: state === 4, clusterStatus: 'Primary' },
});

const repl = (nodes: NodeState[]) => planRoutes(nodes, { mode: 'replication', maxLagTransactions: Number.MAX_SAFE_INTEGER });
const gal = (nodes: NodeState[]) => planRoutes(nodes, { mode: 'galera', maxLagTransactions: Number.MAX_SAFE_INTEGER });
const writerWas = (id: string): DbMemory => ({ ready: [id], unreachable: new Map() });

describe('db-endpoint: the writer', () => {
  it('sends new connections to the one writable primary', () => {
    const nodes = [primary('db1', 10), replica('db2', 10)];
    const { routing } = decideWriter(repl(nodes), nodes, EMPTY_MEMORY);
    assert.deepEqual(routing.ready, ['db1']);
    assert.deepEqual(routing.cut, []);
  });
  it('a primary fenced read-only loses its connections at once, and new ones are held', () => {
    const nodes = [demoted('db1', 10), replica('db2', 10)];
    const { routing } = decideWriter(repl(nodes), nodes, writerWas('db1'));
    assert.deepEqual(routing.ready, []);
    assert.deepEqual(
      routing.cut.map((c) => c.id),
      ['db1'],
    );
    assert.match(routing.detail, /holding/);
  });
  it('a writer that misses one probe round keeps its connections; the second round cuts them', () => {
    const nodes = [down('db1'), replica('db2', 10)];
    const first = decideWriter(repl(nodes), nodes, writerWas('db1'));
    assert.deepEqual(first.routing.ready, []);
    assert.deepEqual(first.routing.cut, []);
    const second = decideWriter(repl(nodes), nodes, first.memory);
    assert.deepEqual(
      second.routing.cut.map((c) => c.id),
      ['db1'],
    );
  });
  it('a promoted replica takes over and the old writer is cut', () => {
    const nodes = [down('db1'), primary('db2', 11)];
    const { routing } = decideWriter(repl(nodes), nodes, writerWas('db1'));
    assert.deepEqual(routing.ready, ['db2']);
    assert.deepEqual(
      routing.cut.map((c) => c.id),
      ['db1'],
    );
  });
  it('a split brain holds new connections and cuts both', () => {
    const nodes = [primary('db1', 10), primary('db2', 11)];
    const { routing } = decideWriter(repl(nodes), nodes, writerWas('db1'));
    assert.deepEqual(routing.ready, []);
    assert.match(routing.cut[0]?.why ?? '', /split brain/);
  });
  it('galera: the router writer (first synced node); a node leaving sync is cut', () => {
    const nodes = [galera('db1', 2), galera('db2'), galera('db3')];
    const { routing } = decideWriter(gal(nodes), nodes, writerWas('db1'));
    assert.deepEqual(routing.ready, ['db2']);
    assert.deepEqual(
      routing.cut.map((c) => c.id),
      ['db1'],
    );
  });
});

describe('db-read-endpoint: readable nodes', () => {
  const noLag = { lagS: () => 0, maxLagS: 5, timed: true };
  it('balances over the replicating replicas', () => {
    const nodes = [primary('db1', 10), replica('db2', 10), replica('db3', 10)];
    assert.deepEqual(decideReaders(repl(nodes), nodes, EMPTY_MEMORY, noLag).routing.ready, ['db2', 'db3']);
  });
  it('a replica too far behind takes no new connections but keeps its open ones', () => {
    const nodes = [primary('db1', 10), replica('db2', 10), replica('db3', 4)];
    const lag = { lagS: (id: string) => (id === 'db3' ? 9 : 0), maxLagS: 5, timed: true };
    const { routing } = decideReaders(repl(nodes), nodes, { ready: ['db2', 'db3'], unreachable: new Map() }, lag);
    assert.deepEqual(routing.ready, ['db2']);
    assert.deepEqual(routing.cut, []);
    assert.match(routing.detail, /db3 \(9\.0 s behind\)/);
  });
  it('falls back to the writer when no replica qualifies, and cuts a replica whose replication stopped', () => {
    const nodes = [primary('db1', 10), replica('db2', 10, false)];
    const { routing } = decideReaders(repl(nodes), nodes, { ready: ['db2'], unreachable: new Map() }, noLag);
    assert.deepEqual(routing.ready, ['db1']);
    assert.deepEqual(
      routing.cut.map((c) => c.id),
      ['db2'],
    );
  });
  it('galera: the synced nodes other than the writer', () => {
    const nodes = [galera('db1'), galera('db2'), galera('db3', 1)];
    assert.deepEqual(decideReaders(gal(nodes), nodes, EMPTY_MEMORY, { ...noLag, timed: false }).routing.ready, ['db2']);
  });
});

describe('replica lag from GTID positions', () => {
  it('is 0 when the replica has what the writer had last, the age of what it has otherwise', () => {
    const c = new LagClock(10_000);
    c.record(1_000, parseGtidPos(gtid(5)));
    c.record(2_000, parseGtidPos(gtid(8)));
    c.record(3_000, parseGtidPos(gtid(12)));
    assert.equal(c.lagS(parseGtidPos(gtid(12)), 3_100), 0);
    assert.equal(c.lagS(parseGtidPos(gtid(9)), 3_100), 1.1);
    assert.equal(c.lagS(parseGtidPos(gtid(4)), 3_100), Number.POSITIVE_INFINITY);
  });
  it('forgets what is older than it keeps', () => {
    const c = new LagClock(1_000);
    c.record(1_000, parseGtidPos(gtid(5)));
    c.record(5_000, parseGtidPos(gtid(9)));
    assert.equal(c.lagS(parseGtidPos(gtid(5)), 5_000), Number.POSITIVE_INFINITY);
  });
});

describe('redis-endpoint routing', () => {
  it('a confirmed new master is ready and the old one is cut', () => {
    const r = redisRouting({ master: 'redis2' }, 'redis1');
    assert.deepEqual(r.ready, ['redis2']);
    assert.deepEqual(
      r.cut.map((c) => c.id),
      ['redis1'],
    );
  });
  it('no confirmed master: held; the old one is cut only once it says replica', () => {
    assert.deepEqual(redisRouting({ master: undefined, demoted: [], why: 'x' }, 'redis1').cut, []);
    assert.deepEqual(
      redisRouting({ master: undefined, demoted: ['redis1'], why: 'x' }, 'redis1').cut.map((c) => c.id),
      ['redis1'],
    );
  });
});

describe('placement and HAProxy config', () => {
  it('endpoints.enabled puts the three endpoints on every app or worker node; off by default', () => {
    const on = resolveTopology(parseConfig({ ...preset('ideal'), endpoints: { enabled: true } }), { stateRoot: '/tmp/s', configDir: '/tmp' });
    assert.deepEqual(
      servicesOf(on, 'db-endpoint').map((s) => s.node),
      ['app1', 'app2', 'app3', 'worker1', 'worker2'],
    );
    assert.equal(servicesOf(on, 'redis-endpoint')[0]?.port, 6380);
    assert.equal(servicesOf(on, 'db-read-endpoint')[0]?.address, on.nodes.find((n) => n.name === 'app1')?.address);
    assert.ok(on.nodes.find((n) => n.name === 'worker1')?.services.includes('redis-endpoint'));
    const off = resolveTopology(parseConfig(preset('ideal')), { stateRoot: '/tmp/s', configDir: '/tmp' });
    assert.equal(servicesOf(off, 'db-endpoint').length, 0);
  });
  it('renders one disabled slot per node and the holder as the backup', () => {
    const cfg = renderHaproxyConfig({
      name: 'db-endpoint',
      bindAddress: '127.0.10.3',
      bindPort: 6033,
      servers: [{ id: 'db1', host: '127.0.10.13', port: 3306 }],
      holdPort: 40000,
      maxConnections: 1024,
      idleTimeoutS: 3600,
      socketPath: '/x/haproxy.sock',
    });
    assert.match(cfg, /bind 127\.0\.10\.3:6033/);
    assert.match(cfg, /server db1 127\.0\.10\.13:3306 disabled/);
    assert.match(cfg, /server hold_ 127\.0\.0\.1:40000 backup/);
    assert.match(cfg, /maxconn 1024/);
    assert.match(cfg, /stats socket \/x\/haproxy\.sock mode 600 level admin/);
  });
});
