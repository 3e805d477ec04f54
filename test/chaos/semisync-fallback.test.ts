/**
 * Review item 1 (issue 17), on the netns substrate (root only): the simple preset with
 * failover.auto. The standby is cut off from the primary (the host still sees both) until the
 * primary's semi-sync falls back to asynchronous; orders are then acknowledged with no copy on
 * the standby; the primary server dies. Promoting the standby would lose those orders: the
 * automatic mode must refuse (a `failover.refused` event saying why), `hastack failover` must
 * list what would be lost and refuse without `--accept-data-loss`, and once the primary server
 * is back every acknowledged order is there. Addresses 127.0.201.x, namespaces 10.213.201.0/24.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { request } from 'undici';
import { servicesOf, type Topology } from '../../src/config/index.js';
import { readAdminToken } from '../../src/control/index.js';
import { runCli } from '../helpers/cli.js';
import { useCluster, type TestCluster } from '../helpers/cluster.js';
import { netnsAutoFailover } from '../../kit/configs.js';
import { getOrder, postOrder } from '../helpers/orders.js';

const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : false;

interface Event {
  readonly type: string;
  readonly message: string;
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('review item 1: no automatic promotion past a semi-sync fallback (netns)', { skip, timeout: 8 * 60_000 }, () => {
  // Semi-sync timeout 2 s instead of the default 10 s: the fallback this test needs comes sooner; same mechanism.
  // Two machines (no witness, one deciding controller): with the etcd quorum, cutting the standby
  // off the primary may leave the primary's etcd member without a leader (the witness still hears
  // a leader on the standby), and the primary then fences itself before any order is acknowledged
  // without a replica. That path is safe too (the promotion refuses: standby lacks the
  // primary's binlog), but this test is about the decision rule after a fallback.
  const used = useCluster('r1-async', netnsAutoFailover('semisync-fallback', 2_000, { twoMachines: true }));
  let cluster: TestCluster;
  let topo: Topology;
  let admin: string;
  let lb: string;
  const events = (): Event[] => {
    try {
      return fs
        .readFileSync(path.join(topo.stateDir, 'events.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Event);
    } catch {
      return [];
    }
  };
  const fault = async (f: Record<string, unknown>): Promise<void> => {
    const res = await request(`${admin}/v1/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${readAdminToken(topo.stateDir)}` },
      body: JSON.stringify(f),
    });
    const text = await res.body.text();
    assert.equal(res.statusCode, 200, `fault ${JSON.stringify(f)}: ${text}`);
  };
  const acked: Array<{ key: string; id: number }> = [];

  before(async () => {
    cluster = used.cluster;
    topo = used.topo;
    admin = `http://${topo.admin.address}:${topo.admin.port}`;
    const primaryLb = servicesOf(topo, 'lb').find((s) => s.node === 'primary');
    assert.ok(primaryLb);
    lb = `http://${primaryLb.address}:${primaryLb.port}`;
  });

  it('review item 1: the automatic mode refuses to promote a standby that lacks acknowledged orders, and says why', async () => {
    const first = await postOrder(lb, 'r1-before');
    assert.ok(first.ok && first.id !== undefined, `an order before the fault: HTTP ${first.status}`);
    acked.push({ key: 'r1-before', id: first.id });

    // Replication cut: the standby's IO thread can no longer reach the primary; the host sees both.
    await fault({ action: 'partition', sides: [['primary'], ['standby']] });
    // Orders until the automatic mode has seen the fallback, then a few more: bounded in count and time.
    let afterFallback = 0;
    const deadline = Date.now() + 90_000;
    for (let i = 0; i < 200 && afterFallback < 5 && Date.now() < deadline; i++) {
      const seen = events().some((e) => e.type === 'failover.semisync' && /primary acknowledges commits without a replica/.test(e.message));
      const key = `r1-async-${i}`;
      const r = await postOrder(lb, key);
      if (r.ok && r.id !== undefined) {
        acked.push({ key, id: r.id });
        if (seen) afterFallback++;
      } else {
        await sleep(200);
      }
    }
    assert.ok(
      afterFallback >= 5,
      `orders acknowledged after the fallback was seen: ${afterFallback}; events: ${events()
        .filter((e) => e.type.startsWith('failover'))
        .map((e) => e.message)
        .join(' | ')}`,
    );

    // The primary server dies (kept down until healed).
    await fault({ action: 'kill-node', node: 'primary' });
    let refused: Event | undefined;
    for (let i = 0; i < 120 && !refused; i++) {
      refused = events().find((e) => e.type === 'failover.refused');
      if (!refused) await sleep(500);
    }
    for (const e of events().filter((x) => x.type.startsWith('failover'))) process.stdout.write(`  ${e.type}: ${e.message}\n`);
    assert.ok(refused, 'a failover.refused event');
    assert.match(refused.message, /refusing to fail over: primary primary unreachable/);
    assert.match(refused.message, /acknowledging commits without a replica \(semi-sync fell back to asynchronous\)/);
    assert.match(refused.message, /the replicas lack \d+ transaction\(s\) it acknowledged/);
    // A few more cycles: it keeps refusing, and nothing was promoted.
    await sleep(4_000);
    assert.equal(events().filter((e) => e.type === 'failover.done' || /failing over/.test(e.message)).length, 0, 'no failover ran');
  });

  it('review item 1: hastack failover lists what would be lost and refuses without --accept-data-loss', async () => {
    const dry = await runCli(['failover', '--dry-run', '-f', cluster.configFile], { cwd: cluster.dir, timeoutMs: 60_000 });
    process.stdout.write(`\n--- hastack failover --dry-run:\n${dry.stdout}${dry.stderr}\n`);
    assert.equal(dry.code, 1);
    assert.match(dry.stdout, /would lose:/);
    assert.match(dry.stdout, /standby lacks \d+ transaction\(s\) known to be acknowledged: domain 0: \d+/);
    assert.match(dry.stderr, /--accept-data-loss/);
    const real = await runCli(['failover', '--yes', '-f', cluster.configFile], { cwd: cluster.dir, timeoutMs: 60_000 });
    assert.equal(real.code, 1, real.stdout);
    assert.match(real.stdout, /would lose:/);
    assert.equal(fs.existsSync(path.join(topo.stateDir, 'failover-journal.json')), false, 'nothing was started');
  });

  it('review item 1: 0 acknowledged orders lost once the primary server is back', async () => {
    await fault({ action: 'heal-partition' });
    await fault({ action: 'heal-node', node: 'primary' });
    const missing = async (): Promise<string[]> => {
      const out: string[] = [];
      for (const a of acked) {
        const r = await getOrder(lb, a.id).catch(() => ({ status: 0, body: {} as Record<string, unknown> }));
        if (r.status !== 200 || r.body['idempotencyKey'] !== a.key) out.push(`${a.key} (id ${a.id}): HTTP ${r.status}`);
      }
      return out;
    };
    let lost = await missing();
    for (let i = 0; i < 60 && lost.length > 0; i++) {
      await sleep(1_000);
      lost = await missing();
    }
    process.stdout.write(`acknowledged orders: ${acked.length}, lost: ${lost.length}\n`);
    assert.deepEqual(lost, [], 'acknowledged orders lost');
    // The standby caught up: semi-sync is on again and the window closed.
    let closed = false;
    for (let i = 0; i < 60 && !closed; i++) {
      closed = events().some((e) => e.type === 'failover.semisync' && /semi-sync on again on primary/.test(e.message));
      if (!closed) await sleep(1_000);
    }
    assert.ok(closed, 'semi-sync on again once the standby caught up');
  });
});
