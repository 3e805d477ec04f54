/**
 * The decision quorum's etcd (issue 23) with three real members, brought up once: authentication
 * is on (nothing without the root password), exactly one controller leads the election, the
 * leader's controller killed (its lease neither renewed nor revoked) is taken over, and so is a
 * leader whose node's etcd member dies. A lease holder cut off from the majority (its member
 * frozen with SIGSTOP) sees its lease lapse (the primary's self-fence point) while etcd still
 * holds the key: the fence comes before the expiry. Times are printed, never asserted.
 * Addresses 127.0.234.1-3 (kit/addresses.ts row `quorum-election`); qm1's MariaDB, Redis, app and lb are in the config (a cluster needs them) but never started.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EngineHarness, engineBed } from '../../kit/engines.js';
import { onRange } from '../../kit/configs.js';
import type mysql from 'mysql2/promise';
import { EtcdClient, EtcdError, adminConnection, etcdClientFor } from '../../src/engines/index.js';
import { readEventsFrom, type ClusterEvent } from '../../src/shared/events.js';
import {
  BEAT_MS,
  ElectionThread,
  FENCE_AFTER_MS,
  moveEtcdLeaderOff,
  GuardThread,
  KeptLease,
  LEASE_TTL_S,
  KEEPALIVE_MS,
  MAIN_STUCK_MS,
  TERM_MS,
  leaderKey,
  primaryLeaseKey,
  quorumClient,
  readAutoMode,
  readJournal,
  SharedRecords,
  writeAutoMode,
  type Journal,
} from '../../src/failover/index.js';
import { waitFor } from '../../src/shared/retry.js';

const NODES = ['qm1', 'qm2', 'qm3'];

describe('etcd quorum: auth, one leader, takeover, a lease lapses before etcd drops it', { timeout: 120_000 }, () => {
  const bed = engineBed(
    'quorum-election',
    onRange('quorum-election', {
      cluster: 'qmelect',
      nodes: NODES.map((name, i) => ({ name, services: i === 0 ? (['etcd', 'mariadb', 'redis', 'app', 'lb'] as const).slice() : ['etcd' as const] })),
    }),
  );
  const engines = new EngineHarness();
  // The controllers' election as the supervisor runs it: on its own thread (election-thread.ts).
  const thread = new ElectionThread(bed.topo, bed.secrets, NODES);
  const views = NODES.map((n) => thread.election(n));
  const leaders = (): string[] => views.filter((v) => v.isLeader()).map((v) => v.identity);
  // Sampled every 10 ms while the election runs: never two controllers acting at once.
  let mostAtOnce = 0;
  const sampler = setInterval(() => (mostAtOnce = Math.max(mostAtOnce, leaders().length)), 10);

  before(async () => {
    // Together: a member is healthy only once a majority runs.
    await Promise.all(NODES.map((n) => engines.start(bed.ctxOf(n, 'etcd'))));
  });
  after(async () => {
    clearInterval(sampler);
    await thread.close();
    await engines.stopAll();
    fs.rmSync(bed.stateRoot, { recursive: true, force: true });
  });

  it('refuses every request without the root password; with it, reads and writes', async () => {
    const svc = bed.ctxOf('qm1', 'etcd').svc;
    await assert.rejects(etcdClientFor(svc, undefined).put('/x', 'y'), (e: unknown) => e instanceof EtcdError);
    await assert.rejects(new EtcdClient({ host: svc.address, port: svc.port }, { user: 'root', password: 'wrong' }).put('/x', 'y'));
    const c = etcdClientFor(svc, bed.secrets.etcdRootPassword);
    await c.put('/hastack/qmelect/probe', 'ok');
    assert.equal((await c.get('/hastack/qmelect/probe'))?.value, 'ok');
    const conf = fs.readFileSync(`${svc.dir}/etcd.conf.yml`);
    assert.equal(fs.statSync(`${svc.dir}/etcd.conf.yml`).mode & 0o777, 0o600);
    assert.ok(!conf.includes(bed.secrets.etcdRootPassword ?? '-'), 'no password in the config');
  });

  it('exactly one controller leads; its controller killed, another takes over within 2 s; its etcd member killed, again', async () => {
    thread.start();
    const first = await waitFor(async () => (leaders().length === 1 ? leaders()[0] : undefined), { timeoutMs: 10_000, intervalMs: 50 });
    assert.ok(first, 'a leader within 10 s');
    const c = etcdClientFor(bed.ctxOf('qm1', 'etcd').svc, bed.secrets.etcdRootPassword);
    assert.equal((await c.get(leaderKey(bed.topo)))?.value, first);

    // The leader's controller "killed": it stops beating and never resigns.
    const t0 = Date.now();
    views.find((v) => v.identity === first)?.abandon();
    const second = await waitFor(async () => (leaders().length === 1 ? leaders()[0] : undefined), { timeoutMs: 10_000, intervalMs: 10 });
    const takeoverMs = Date.now() - t0;
    assert.ok(second && second !== first, `a new leader (was ${first}, now ${String(second)})`);
    assert.equal((await c.get(leaderKey(bed.topo)))?.value, second, 'etcd names the new leader');
    process.stdout.write(`  # controller ${first} killed → ${second} leads after ${takeoverMs} ms (a beat every ${BEAT_MS} ms, taken over ${TERM_MS} ms after the last)\n`);

    // The new leader's own etcd member SIGKILLed: its controller cannot beat; the third takes over.
    const t1 = Date.now();
    await engines.kill(`${String(second)}/etcd`);
    const third = await waitFor(async () => (leaders().length === 1 && leaders()[0] !== second ? leaders()[0] : undefined), { timeoutMs: 15_000, intervalMs: 10 });
    process.stdout.write(`  # ${String(second)}'s etcd member killed → ${String(third)} leads after ${Date.now() - t1} ms\n`);
    assert.ok(third && third !== first && third !== second);
    assert.equal(mostAtOnce, 1, 'never two controllers acting at once');
    await engines.start(bed.ctxOf(String(second), 'etcd'), { afterHealthy: false });
    // The next test freezes a member: the restarted one must have rejoined first.
    const whole = await waitFor(
      async () => ((await Promise.all(NODES.map((n) => etcdClientFor(bed.ctxOf(n, 'etcd').svc, undefined).healthy()))).every((h) => h.healthy) ? true : undefined),
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    assert.ok(whole, 'the restarted member rejoined the cluster');
  });

  it('a holder cut off from the majority sees its lease lapse (its fence point) while etcd still holds the key', async () => {
    const holderNode = 'qm3';
    const lease = new KeptLease(quorumClient(bed.topo, holderNode, bed.secrets.etcdRootPassword));
    await lease.tick();
    assert.ok(lease.id, `a lease: ${lease.lastError ?? ''}`);
    const other = etcdClientFor(bed.ctxOf('qm1', 'etcd').svc, bed.secrets.etcdRootPassword);
    const key = '/hastack/qmelect/primary-test';
    await other.put(key, holderNode, lease.id);
    // Not etcd's leader (as the controllers keep the primary's node: etcd-leader.ts): freezing a
    // leader would make the other members elect one, and a read meanwhile fail ("leader changed").
    await moveEtcdLeaderOff(bed.topo, bed.secrets.etcdRootPassword, holderNode);
    // Cut off: its member frozen (no answer at all), as a partition would leave it.
    const member = engines.get(`${holderNode}/etcd`);
    assert.ok(member);
    const cutAt = Date.now();
    engines.signal(`${holderNode}/etcd`, 'SIGSTOP');
    try {
      const margin = LEASE_TTL_S * 1000 - FENCE_AFTER_MS;
      const fencedAt = await waitFor(
        async () => {
          await lease.tick();
          return lease.valid(margin) ? undefined : Date.now();
        },
        { timeoutMs: 5_000, intervalMs: KEEPALIVE_MS },
      );
      assert.ok(fencedAt, 'the lease lapsed on the holder side');
      const stillHeld = (await other.get(key))?.value;
      assert.equal(stillHeld, holderNode, 'etcd still holds the key when the holder fences itself');
      const goneAt = await waitFor(async () => ((await other.get(key)) === undefined ? Date.now() : undefined), { timeoutMs: 10_000, intervalMs: 50 });
      assert.ok(goneAt, 'the key goes with the lease');
      process.stdout.write(`  # cut off → self-fence point after ${fencedAt - cutAt} ms; key gone from etcd after ${goneAt - cutAt} ms\n`);
      assert.ok(fencedAt < goneAt);
    } finally {
      engines.signal(`${holderNode}/etcd`, 'SIGCONT');
    }
  });

  it('the primary guard stuck (failpoint): the watchdog fences its primary before etcd drops the lease, and starts the guards again', async () => {
    const db = bed.ctxOf('qm1', 'mariadb');
    await engines.start(db);
    const killed: string[] = [];
    // The guards' thread hangs at the first round that finds its guard holding the primary.
    process.env['HASTACK_FAILPOINTS'] = 'guard.stuck-while-primary';
    const thread = new GuardThread(bed.topo, bed.secrets, { killNode: async (node) => void killed.push(node), isAlive: () => true });
    thread.start();
    delete process.env['HASTACK_FAILPOINTS'];
    const etcd = etcdClientFor(bed.ctxOf('qm1', 'etcd').svc, bed.secrets.etcdRootPassword);
    const key = primaryLeaseKey(bed.topo);
    const events = (): ClusterEvent[] => readEventsFrom(bed.topo.stateDir, 0).events.filter((e) => e.type === 'quorum.fence');
    try {
      const claimedAt = await waitFor(async () => ((await etcd.get(key))?.value === 'qm1' ? Date.now() : undefined), { timeoutMs: 15_000, intervalMs: 20 });
      assert.ok(claimedAt, 'the guard claims the primary key');
      const fence = await waitFor(async () => events().find((e) => e.data?.['watchdog'] === true), { timeoutMs: 10_000, intervalMs: 20 });
      assert.ok(fence, "the watchdog fenced the stuck guard's primary");
      const fencedAt = Date.parse(fence.ts);
      // Fenced through SQL, not by killing the node: read-only, and the app refused.
      assert.deepEqual(killed, []);
      const c = await adminConnection(db);
      try {
        const [r] = (await c.query<mysql.RowDataPacket[]>('SELECT @@read_only AS ro, @@global.max_user_connections AS m'))[0];
        assert.equal(Number(r?.['ro']), 1, 'read_only');
        assert.ok(Number(r?.['m']) < 0, 'closed to the app');
      } finally {
        await c.end();
      }
      await assert.rejects(bed.appConnection(db.svc), 'the app cannot connect to the fenced primary');
      const goneAt = await waitFor(async () => ((await etcd.get(key)) === undefined ? Date.now() : undefined), { timeoutMs: 10_000, intervalMs: 20 });
      assert.ok(goneAt, "the stuck guard's lease runs out");
      process.stdout.write(
        `  # guard stuck after its claim: fenced by the watchdog ${fencedAt - claimedAt} ms after the claim, key gone ${goneAt - claimedAt} ms after it\n  # ${fence.message}\n`,
      );
      assert.ok(fencedAt < goneAt, 'the fence came before etcd let the lease go');
      await waitFor(async () => events().find((e) => /guards' thread exited/.test(e.message)), { timeoutMs: 5_000, intervalMs: 50 });
      // The new thread's guard finds its server read-only and not fenced by itself: it claims nothing.
      await new Promise((r) => setTimeout(r, 1_500));
      assert.equal(await etcd.get(key), undefined, 'nobody claims the fenced server back');
    } finally {
      await thread.close();
    }
  });

  it("the watchdog: while the controllers' own thread is stuck the leader steps down; once it runs again, one leads again", async () => {
    const c = etcdClientFor(bed.ctxOf('qm2', 'etcd').svc, bed.secrets.etcdRootPassword);
    assert.ok(await waitFor(async () => (leaders().length === 1 ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 }), 'a leader to start from');
    const before = (await c.get(leaderKey(bed.topo)))?.createRevision;
    // This thread is the controllers' (as the supervisor's or a host's controller process): blocked.
    const until = Date.now() + MAIN_STUCK_MS + 1_000;
    while (Date.now() < until) {
      // busy: no timer, no pulse
    }
    const stuck = readEventsFrom(bed.topo.stateDir, 0).events.filter((e) => e.type === 'quorum.leader' && /stuck/.test(e.message));
    assert.ok(stuck.length > 0, 'the election thread logged its step-down');
    assert.ok(await waitFor(async () => (leaders().length === 1 ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 }), 'a leader again');
    assert.notEqual((await c.get(leaderKey(bed.topo)))?.createRevision, before, 'the key was given up and taken anew');
  });

  it('hosts: the records the controllers share go through etcd (each machine has its own state directory)', async () => {
    // Two controllers' machines: the same cluster, two state directories, one etcd.
    const [a, b] = ['a', 'b'].map((m) => ({ ...bed.topo, stateDir: path.join(bed.stateRoot, `machine-${m}`) }));
    assert.ok(a && b);
    for (const t of [a, b]) fs.mkdirSync(t.stateDir, { recursive: true });
    const ra = new SharedRecords(a, quorumClient(a, 'qm1', bed.secrets.etcdRootPassword));
    const rb = new SharedRecords(b, quorumClient(b, 'qm2', bed.secrets.etcdRootPassword));
    // The leader on a writes a journal and pushes it; b becomes the leader and pulls it.
    const journal: Journal = {
      kind: 'failover',
      id: 'fo-test',
      startedAt: new Date().toISOString(),
      plan: { from: 'qm1', to: 'qm2', fromReachable: false, repoint: [], because: [], facts: [] },
      steps: {},
      runs: 1,
    };
    fs.writeFileSync(path.join(a.stateDir, 'failover-journal.json'), JSON.stringify(journal));
    await ra.push();
    await rb.pull();
    assert.equal(readJournal(b.stateDir)?.id, 'fo-test', "b resumes a's journal");
    // The mode: paused on b's machine (the operator), seen by a at its next cycle; the newer wins.
    writeAutoMode(b.stateDir, { state: 'paused', why: 'maintenance', by: 'operator' });
    await rb.syncMode();
    await ra.syncMode();
    assert.equal(readAutoMode(a.stateDir).state, 'paused');
    writeAutoMode(a.stateDir, { state: 'on', by: 'operator' }, new Date(Date.now() + 1_000));
    await ra.syncMode();
    await rb.syncMode();
    assert.equal(readAutoMode(b.stateDir).state, 'on', 'the newer change wins');
  });
});
