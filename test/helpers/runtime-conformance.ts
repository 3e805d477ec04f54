/**
 * The Runtime interface's guarantees (src/substrate/runtime.ts), checked the same way on every
 * implementation, through `runtimeFor` (src/runtime) only. Two test files use it: the supervised
 * runtime (runtime-conformance.test.ts: `local` always, `netns` as root) and the hosts runtime on
 * the namespace host bed (runtime-conformance-hosts.side.test.ts, second lane: it mostly waits on
 * ssh and deploy). One small cluster per runtime: n1 carries the database (replication, one
 * node), Redis and memcached; n2 the app and the load balancer. Each file passes its own addresses.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { readSecrets, type ConfigInput, type Secrets, type ServiceInstance, type Topology } from '../../src/config/index.js';
import { type Runtime } from '../../src/runtime/index.js';
import { HastackError } from '../../src/shared/errors.js';
import { waitFor } from '../../src/shared/retry.js';
import { type ClusterStatus } from '../../src/substrate/index.js';
import { pidAlive } from './cli.js';
import { connects } from './netns.js';

/** A fresh datadir, the app's migrations and a node restart each take seconds; two minutes means stuck. */
const HEALTH_TIMEOUT_MS = 120_000;

export const SERVICES = {
  n1: ['mariadb', 'redis', 'memcached'],
  n2: ['app', 'lb'],
} as const;

export function baseConfig(cluster: string, addressBase: string, netnsBase: string): ConfigInput {
  return {
    cluster,
    addressBase,
    netns: { addressBase: netnsBase },
    redis: { quorum: 1 },
    database: { mode: 'replication' },
    // Short restart delays: nothing here waits for a crash loop.
    supervisor: { restartBackoffMinMs: 100, restartBackoffMaxMs: 1_000 },
    nodes: [
      { name: 'n1', services: [...SERVICES.n1] },
      { name: 'n2', services: [...SERVICES.n2] },
    ],
  };
}

/** What one runtime under test provides: its cluster, how it first comes up, and what it may leave. */
export interface Bed {
  readonly topo: Topology;
  readonly runtime: Runtime;
  /** First start: the supervised runtime's own `up`; on hosts, `hastack deploy` (which installs). */
  bringUp(): Promise<void>;
  /** What of the runtime's own scaffolding is left after `down` (namespaces, processes on a host). */
  leftovers(): Promise<string[]>;
  /**
   * Whether a TCP connection to `host:port` opens, tried where a client of the cluster runs: this
   * machine by default; on hosts a cluster node (Redis and memcached answer only the cluster's nodes).
   */
  connects?(host: string, port: number): Promise<string>;
  teardown(): Promise<void>;
}

function procState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

export function conformance(name: string, skip: string | false, makeBed: () => Promise<Bed>): void {
  describe(`runtime conformance: ${name}`, { skip, timeout: 15 * 60_000 }, () => {
    let bed: Bed;
    let rt: Runtime;
    let secrets: Secrets;
    /** Every pid a status row named: none may be alive once the runtime is down. */
    const seen = new Set<number>();
    const svc = (node: string, kind: string): ServiceInstance => {
      const s = bed.topo.services.find((x) => x.node === node && x.kind === kind);
      if (!s) throw new Error(`no ${node}/${kind}`);
      return s;
    };
    const status = async (): Promise<ClusterStatus> => {
      const s = await rt.status(secrets);
      for (const row of s.services) if (row.pid !== null) seen.add(row.pid);
      return s;
    };
    const row = (s: ClusterStatus, node: string, service: string) => s.services.find((x) => x.node === node && x.service === service);
    const pidsOf = (s: ClusterStatus, node: string): number[] => s.services.filter((x) => x.node === node && x.pid !== null).map((x) => x.pid as number);
    /** Waits (bounded) until `ok` holds of a status; fails with the last status's unhealthy rows. */
    const until = async (what: string, ok: (s: ClusterStatus) => boolean): Promise<ClusterStatus> => {
      let last: ClusterStatus | undefined;
      const r = await waitFor(
        async () => {
          last = await status();
          return ok(last) ? last : undefined;
        },
        { timeoutMs: HEALTH_TIMEOUT_MS, intervalMs: 500 },
      );
      assert.ok(r, `${what}; last status: ${JSON.stringify(last?.services.filter((x) => !x.healthy))}`);
      return r;
    };
    const allHealthy = (s: ClusterStatus): boolean => s.services.length > 0 && s.services.every((x) => x.healthy && x.pid !== null);

    before(async () => {
      bed = await makeBed();
      rt = bed.runtime;
    });
    after(async () => {
      await rt?.down().catch(() => undefined);
      await bed?.teardown();
    });

    it('up: every service healthy, each with a live pid', async () => {
      await bed.bringUp();
      secrets = readSecrets(bed.topo.stateDir);
      const s = await until('every service healthy after up', allHealthy);
      assert.equal(s.services.length, SERVICES.n1.length + SERVICES.n2.length);
      for (const x of s.services) assert.ok(x.pid !== null && pidAlive(x.pid), `${x.node}/${x.service} pid ${x.pid} alive`);
    });

    it('logs: the tail of a service log; an unknown node is NOT_FOUND', async () => {
      const tails = await rt.logs('n1', 'redis', 20);
      assert.ok(tails.length >= 1, 'one log at least');
      assert.ok(
        tails.some((t) => t.text.trim().length > 0),
        `some text: ${JSON.stringify(tails)}`,
      );
      await assert.rejects(rt.logs('nope', undefined, 5), (e: unknown) => e instanceof HastackError && e.code === 'NOT_FOUND');
    });

    it('reach: how this machine reaches a service answers', async () => {
      const db = rt.reach(svc('n1', 'mariadb'));
      if (db.via === 'socket') assert.ok(fs.existsSync(db.path), `socket ${db.path}`);
      else assert.equal(await connects(db.host, db.port), 'open');
      const redis = rt.reach(svc('n1', 'redis'));
      assert.equal(redis.via, 'tcp');
      if (redis.via === 'tcp') assert.equal(await (bed.connects ?? connects)(redis.host, redis.port), 'open');
    });

    it('kill-node: every process of the node dies and stays down until heal-node, which brings it back healthy', async () => {
      const before = pidsOf(await status(), 'n2');
      assert.equal(before.length, SERVICES.n2.length);
      await rt.fault({ action: 'kill-node', node: 'n2' });
      assert.ok(
        await waitFor(async () => (before.every((p) => !pidAlive(p)) ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 }),
        `killed: ${before.filter(pidAlive).join(' ')}`,
      );
      // Long enough for a restart with the 100 ms backoff above to have happened, were one coming.
      await new Promise((r) => setTimeout(r, 3_000));
      const down = await status();
      for (const kind of SERVICES.n2) {
        const x = row(down, 'n2', kind);
        assert.equal(x?.healthy, false, `n2/${kind} stays down`);
        assert.ok(x?.pid === null || x?.pid === undefined || !pidAlive(x.pid), `n2/${kind} has no live process`);
      }
      await rt.fault({ action: 'heal-node', node: 'n2' });
      const healed = await until('n2 healthy again after heal-node', allHealthy);
      for (const p of pidsOf(healed, 'n2')) assert.ok(!before.includes(p), 'new processes');
    });

    it('pause-node freezes the node (not restarted); resume-node thaws the same processes', async () => {
      const before = pidsOf(await status(), 'n2');
      await rt.fault({ action: 'pause-node', node: 'n2' });
      try {
        assert.ok(
          await waitFor(async () => (before.every((p) => procState(p) === 'T') ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 }),
          `stopped: ${before.map((p) => `${p}:${procState(p)}`).join(' ')}`,
        );
        const lb = svc('n2', 'lb');
        assert.equal(await connects(lb.address, lb.port), 'open', "a paused server's socket still accepts (the kernel does), it just never answers");
      } finally {
        await rt.fault({ action: 'resume-node', node: 'n2' });
      }
      const after = await until('n2 healthy after resume-node', allHealthy);
      assert.deepEqual(pidsOf(after, 'n2').sort(), [...before].sort(), 'the same processes, not restarted');
    });

    it('network faults where the runtime has them, refused where not', async () => {
      if (!rt.capabilities.networkFaults) {
        await assert.rejects(rt.fault({ action: 'partition', sides: [['n1'], ['n2']] }), (e: unknown) => e instanceof HastackError && e.code === 'BAD_REQUEST');
        return;
      }
      const lb = svc('n2', 'lb');
      await rt.fault({ action: 'isolate', node: 'n2', fromHost: true });
      try {
        assert.equal(await connects(lb.address, lb.port), 'timeout', 'an isolated node drops packets');
      } finally {
        await rt.fault({ action: 'heal-partition' });
      }
      assert.equal(await connects(lb.address, lb.port), 'open');
    });

    it('faults name nodes that exist', async () => {
      await assert.rejects(rt.fault({ action: 'kill-node', node: 'nope' }), (e: unknown) => e instanceof HastackError && e.code === 'NOT_FOUND');
    });

    it("the crash plan's fence and role record: a node fenced as replica comes back read-only; recorded primary, it is primary again", async () => {
      const db = svc('n1', 'mariadb');
      assert.equal(row(await status(), 'n1', 'mariadb')?.role, 'primary');
      // The fence's order: kill and keep down, record the role while the node is down, restart.
      await rt.fenceNode('n1');
      await rt.recordRole(db, 'replica');
      await rt.fault({ action: 'heal-node', node: 'n1' });
      await until('n1/mariadb back as a replica', (s) => row(s, 'n1', 'mariadb')?.role === 'replica' && row(s, 'n1', 'mariadb')?.healthy === true);
      await rt.fenceNode('n1');
      await rt.recordRole(db, 'primary');
      await rt.fault({ action: 'heal-node', node: 'n1' });
      await until('n1/mariadb back as the primary, every service healthy', (s) => row(s, 'n1', 'mariadb')?.role === 'primary' && allHealthy(s));
    });

    it('down stops everything: no process left, nothing of the runtime left', async () => {
      const r = await rt.down();
      assert.equal(r.wasRunning, true);
      const alive = [...seen].filter(pidAlive);
      assert.deepEqual(alive, [], `still alive: ${alive.join(' ')}`);
      assert.deepEqual(await bed.leftovers(), []);
      const s = await rt.status(secrets, 1_000);
      assert.ok(
        s.services.every((x) => !x.healthy),
        'nothing answers',
      );
    });

    it("up again after down (the runtime's own up), then down: still nothing left", async () => {
      await rt.up();
      await until('every service healthy after up again', allHealthy);
      await rt.down();
      const alive = [...seen].filter(pidAlive);
      assert.deepEqual(alive, [], `still alive: ${alive.join(' ')}`);
      assert.deepEqual(await bed.leftovers(), []);
    });
  });
}
