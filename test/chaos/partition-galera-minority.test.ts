/**
 * `partition-galera-minority` on the netns substrate (root only), three Galera nodes: the writer
 * is isolated from every other node; while cut off it refuses queries (probed directly from the
 * host, which still reaches it), the majority keeps taking orders through the routers, no
 * acknowledged order is lost and no read misses an acknowledged order. Addresses 127.0.69.x,
 * namespaces 10.213.71.0/24. Nothing of hastack's network may be left afterwards.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import { readSecrets, servicesOf, type Topology } from '../../src/config/index.js';
import { DB_USERS } from '../../src/engines/index.js';
import { sleep } from '../../src/shared/retry.js';
import { runCli } from '../helpers/cli.js';
import { followEvents, useCluster } from '../helpers/cluster.js';
import { ERP_APP, onRange, partitionNodes } from '../../kit/configs.js';

const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : false;

function printReport(stdout: string, scenario: string): void {
  const at = stdout.indexOf(`scenario ${scenario}  (`);
  process.stdout.write(`\n${at >= 0 ? stdout.slice(at) : stdout}\n`);
}

interface DirectProbe {
  readonly node: string;
  readonly ok: boolean;
  readonly error?: string;
}

/** One query as the app user over TCP, as a client outside the cluster would send it. */
async function queryDirect(topo: Topology, appPassword: string, svc: { address: string; port: number }): Promise<string | undefined> {
  // 1 s: a serving node answers in ms; a refusing one errors at once.
  let c: mysql.Connection | undefined;
  try {
    c = await mysql.createConnection({ host: svc.address, port: svc.port, user: DB_USERS.app, password: appPassword, database: topo.config.database.name, connectTimeout: 1_000 });
    c.on('error', () => undefined);
    await c.query({ sql: 'SELECT COUNT(*) AS n FROM sales_orders', timeout: 1_000 });
    return undefined;
  } catch (e) {
    return String((e as Error).message).slice(0, 100);
  } finally {
    c?.destroy();
  }
}

describe('partition-galera-minority: three Galera nodes, the writer cut off', { skip, timeout: 6 * 60_000 }, () => {
  // The ideal preset's shape, trimmed to what the scenario needs on a 2-core machine.
  const used = useCluster(
    'galera-partition',
    onRange('partition-galera-minority', { substrate: 'netns', app: ERP_APP, nodes: partitionNodes({ redis: 2, db: 3 }), database: { mode: 'galera' } }),
  );

  it('the isolated writer refuses queries until the heal; the majority keeps taking orders; 0 lost, no stale read', async () => {
    const { cluster, topo } = used;
    const secrets = readSecrets(topo.stateDir);
    const dbs = servicesOf(topo, 'mariadb');
    const json = path.join(cluster.dir, 'pgm.json');
    let cut = false;
    let healed = false;
    let healedAtMs = Number.POSITIVE_INFINITY;
    const follow = followEvents(topo.stateDir, (e) => {
      if (e.type === 'fault.injected' && e.message.startsWith('network: ')) cut = true;
      if (e.type === 'fault.healed' && e.message.startsWith('network healed')) {
        healed = true;
        healedAtMs = Date.parse(e.ts);
      }
    });
    const run = runCli(['chaos', 'run', 'partition-galera-minority', '--duration', '24', '--json', json, '-f', cluster.configFile], { cwd: cluster.dir, timeoutMs: 200_000 });
    // Bounded: 30 s for the fault to go in (it lands at a quarter of the run).
    for (let i = 0; i < 300 && !cut; i++) {
      follow();
      await sleep(100);
    }
    assert.ok(cut, 'the isolation was injected');
    // Every node, directly, every 250 ms until the heal (bounded: 60 s, 240 rounds).
    const probed: Array<{ endedAt: number; probes: DirectProbe[] }> = [];
    const deadline = Date.now() + 60_000;
    for (let i = 0; i < 240 && Date.now() < deadline; i++) {
      follow();
      if (healed) break;
      const probes = await Promise.all(
        dbs.map(async (s): Promise<DirectProbe> => {
          const error = await queryDirect(topo, secrets.dbAppPassword, s);
          return { node: s.node, ok: error === undefined, ...(error === undefined ? {} : { error }) };
        }),
      );
      probed.push({ endedAt: Date.now(), probes });
      await sleep(250);
    }
    const res = await run;
    follow();
    // Only rounds answered before the heal was logged (the rules were gone by then): a round
    // in flight at the heal may rightly see the node back.
    const rounds = probed.filter((x) => x.endedAt < healedAtMs).map((x) => x.probes);
    printReport(res.stdout, 'partition-galera-minority');
    assert.ok(fs.existsSync(json), `no report:\n${res.stdout}\n${res.stderr}`);
    const r = JSON.parse(fs.readFileSync(json, 'utf8')) as Record<string, unknown> & { faults: Array<{ description: string; injectedAt: number; healedAt: number }> };
    const fault = r.faults[0];
    const isolated = /isolate (\S+)/.exec(fault?.description ?? '')?.[1];
    assert.ok(isolated && dbs.some((d) => d.node === isolated), `the fault isolated a db node: ${fault?.description ?? '-'}`);
    const mine = rounds.map((x) => x.find((p) => p.node === isolated) as DirectProbe);
    const firstRefusal = mine.findIndex((p) => !p.ok);
    const others = rounds.flatMap((x) => x.filter((p) => p.node !== isolated));
    process.stdout.write(
      `direct queries to ${isolated} while cut off: ${mine.length}, answered ${mine.filter((p) => p.ok).length}, first refusal at probe ${firstRefusal} ` +
        `(${[...new Set(mine.filter((p) => !p.ok).map((p) => p.error))].join(' | ')}); to the majority: ${others.filter((p) => p.ok).length}/${others.length} answered\n`,
    );
    // The minority stops serving, and once it has, it does not serve again while cut off.
    assert.ok(firstRefusal >= 0, `${isolated} answered every query while cut off`);
    assert.deepEqual(
      mine.slice(firstRefusal).filter((p) => p.ok),
      [],
      `${isolated} served queries again while still cut off`,
    );
    // The majority kept taking orders while the partition held.
    assert.equal(typeof r.firstWriteAfterFaultMs, 'number', 'no order acknowledged after the isolation');
    assert.ok(fault && fault.injectedAt + (r.firstWriteAfterFaultMs as number) < fault.healedAt, 'the majority took an order while the writer was cut off');
    assert.equal(r.lostWrites, 0, 'acknowledged orders lost');
    assert.equal(r.duplicateWrites, 0);
    assert.equal(r.staleReads, 0, 'a read did not find an acknowledged order');
    assert.equal(res.code, 0, `a promise broke: ${JSON.stringify(r.promisesBroken)}`);
  });
});
