// lane: hosts (a host bed, not in CI: it boots its hosts and deploys over SSH; npm run test:hosts)
/**
 * The `ideal` preset's database (Galera, `database.mode: galera`) deployed with `hastack deploy`
 * on four namespace hosts (test/helpers/hostbed.ts; systemd as PID 1 unless `HASTACK_BED_INIT=keeper`):
 * db1-db3 each carry a Galera node, a Redis and a Sentinel (memcached on two), `edge` the load
 * balancer, DNS, app, worker and controller (test/helpers/hosts-config.ts `galeraOnBed`). One
 * bring-up for:
 * 1. deploy bootstraps a new cluster, the joiners get their data by mariabackup SST between
 *    hosts (TLS), the SST password is never in any process's argv, Galera's ports are closed to
 *    strangers;
 * 2. the `db-primary` and `redis-master` chaos scenarios against it, with their tables;
 * 3. every Galera host loses power under load (db1 first, then db2 and db3 at once), the load
 *    stops; `hastack db recover` restarts the cluster from the most advanced node (not db1): the
 *    position each node had and the node that bootstrapped are printed; every acknowledged order
 *    is there (read on the bootstrapped node);
 * 4. every host rebooted at once; `hastack deploy` brings the cluster back (systemd brings the
 *    units back by itself and deploy recovers Galera; with the keeper deploy starts everything):
 *    every service healthy, every order of (3) read back through the app, a new one taken.
 * Addresses 10.213.227.x (kit/addresses.ts `hosts-galera`).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { printChaosReport, runCli, tempDir } from '../helpers/cli.js';
import { readSecrets, readTopology } from '../../src/config/index.js';
import { adminConnection, closeConnection } from '../../src/engines/index.js';
import { call, erpLogin } from '../helpers/erp.js';
import { startHostBed, type HostBed } from '../helpers/hostbed.js';
import { galeraOnBed } from '../helpers/hosts-config.js';
import { restock } from '../helpers/orders.js';
import { testRange } from '../../kit/addresses.js';

const R = testRange('hosts-galera');
const DBS = ['db1', 'db2', 'db3'] as const;
/** Bounds of the order load: never more than this many orders, nor longer than this. */
const LOAD_MAX_ORDERS = 600;
const LOAD_MAX_MS = 120_000;
const LOAD_CLIENTS = 4;
/** Orders acknowledged while db1 is off, before the other two lose power: writes went on without it. */
const ORDERS_WITHOUT_DB1 = 15;

interface Acked {
  readonly key: string;
  readonly id: number;
}

/** One order with the given session (a fresh one after Redis lost its sessions); undefined when refused. */
async function placeOrder(base: string, key: string, cookie: string): Promise<number | undefined> {
  try {
    const r = await call(base, 'POST', '/api/orders', { customer: key, lines: [{ sku: 'WIDGET-RED', qty: 1 }] }, { cookie, 'idempotency-key': key });
    return (r.status === 200 || r.status === 201) && r.body['id'] !== undefined ? Number(r.body['id']) : undefined;
  } catch {
    return undefined;
  }
}

/** Bounded order load through the load balancer: stops on `stop()`, at the count or time bound. */
function orderLoad(base: string, prefix: string, cookie: string): { acked: Acked[]; failed: () => number; stop: () => Promise<void> } {
  const acked: Acked[] = [];
  let failed = 0;
  let stopped = false;
  let n = 0;
  const t0 = Date.now();
  const loop = async (): Promise<void> => {
    while (!stopped && n < LOAD_MAX_ORDERS && Date.now() - t0 < LOAD_MAX_MS) {
      const key = `${prefix}-${n++}`;
      const id = await placeOrder(base, key, cookie);
      if (id !== undefined) acked.push({ key, id });
      else {
        failed++;
        // A refused order while the database is gone: do not spin.
        await new Promise((res) => setTimeout(res, 100));
      }
    }
  };
  const loops = Array.from({ length: LOAD_CLIENTS }, loop);
  return {
    acked,
    failed: () => failed,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** Every acknowledged order read back through the app, with a fresh login (Redis sessions may be gone). */
async function missingOrders(base: string, acked: readonly Acked[]): Promise<string[]> {
  const cookie = await erpLogin(base);
  const missing: string[] = [];
  for (const a of acked) {
    const r = await call(base, 'GET', `/api/orders/${a.id}`, undefined, { cookie });
    if (r.status !== 200 || r.body['idempotencyKey'] !== a.key) missing.push(`${a.key} (id ${a.id}: HTTP ${r.status})`);
  }
  return missing;
}

/** The lines `db recover` (and deploy) print for the recovery: each node's position and the choice. */
function recoveryTable(out: string): { rows: Array<{ node: string; grastate: string; recovered: string }>; bootstrap: string; from: string } {
  const rows = [...out.matchAll(/galera recovery: (db\d): grastate (\S+) safe_to_bootstrap=\d(?:, wsrep-recover (\S+))?/g)].map((m) => ({
    node: m[1] as string,
    grastate: m[2] as string,
    recovered: m[3] ?? '-',
  }));
  const b = /galera recovery: bootstrap (\S+) from (\S+):/.exec(out);
  return { rows, bootstrap: b?.[1] ?? '', from: b?.[2] ?? '' };
}

function printRecovery(title: string, out: string, seqnoAtCrash?: Record<string, string>): ReturnType<typeof recoveryTable> {
  const t = recoveryTable(out);
  const lines = t.rows.map((r) => {
    const pos = r.recovered !== '-' ? r.recovered : r.grastate;
    const seqno = pos.slice(pos.lastIndexOf(':') + 1);
    return `  ${r.node.padEnd(5)} ${(seqnoAtCrash?.[r.node] ?? '').padEnd(14)} ${r.grastate.slice(r.grastate.lastIndexOf(':') + 1).padStart(8)}  ${seqno.padStart(8)}  ${r.node === t.bootstrap ? 'BOOTSTRAPPED' : 'joined'}`;
  });
  process.stdout.write(
    `\n--- ${title}: Galera position (cluster ${t.from.split(':')[0] ?? '?'}) per node\n  node  off at         grastate  recovered seqno (uuid:seqno, Galera's GTID)\n${lines.join('\n')}\n  bootstrap: ${t.bootstrap} from ${t.from}\n`,
  );
  return t;
}

describe('the ideal preset (Galera) on four hosts over SSH', { timeout: 20 * 60_000 }, () => {
  const dir = tempDir('hgalera');
  const configFile = path.join(dir, 'hastack.yaml');
  const lb = `http://${R.privateBase}.4:8080`;
  let bed: HostBed;
  const cli = (args: string[], timeoutMs = 300_000) => runCli([...args, '-f', configFile], { cwd: dir, timeoutMs });
  const status = async (): Promise<{ healthy: number; total: number; text: string }> => {
    const r = await cli(['status'], 60_000);
    const m = /(\d+)\/(\d+) services healthy/.exec(r.stdout);
    return { healthy: Number(m?.[1] ?? 0), total: Number(m?.[2] ?? -1), text: r.stdout };
  };
  const allAcked: Acked[] = [];

  before(async () => {
    bed = await startHostBed({ hosts: [...DBS, 'edge'], addressBase: R.privateBase ?? '', init: process.env['HASTACK_BED_INIT'] === 'keeper' ? 'keeper' : 'systemd' });
    fs.writeFileSync(configFile, YAML.stringify(galeraOnBed(bed, R.cluster)));
  });
  after(async () => {
    await runCli(['down', '-f', configFile], { cwd: dir, timeoutMs: 150_000 }).catch(() => undefined);
    await bed?.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('deploy bootstraps a new Galera cluster; the joiners get their data by mariabackup SST over TLS; the SST password is in no argv', async () => {
    // Every process's argv on this machine (the hosts' processes included), sampled during the
    // deploy: the SST (the donor's mariabackup and the joiner's script) runs inside it.
    const secretsFile = path.join(dir, '.hastack', R.cluster, 'secrets.json');
    let password: string | undefined;
    const seen: string[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        if (password === undefined && fs.existsSync(secretsFile)) password = (JSON.parse(fs.readFileSync(secretsFile, 'utf8')) as { dbRootPassword: string }).dbRootPassword;
        if (password !== undefined) {
          for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
            let argv = '';
            try {
              argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
            } catch {
              continue;
            }
            if (argv.includes(password)) seen.push(argv.split('\0').slice(0, 3).join(' '));
          }
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const r = await cli(['deploy']).finally(() => (sampling = false));
    await sampler;
    process.stdout.write(`\n--- deploy (from nothing):\n${r.stdout}`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /galera: no node ever joined a cluster: db1 bootstraps a new one/);
    assert.match(r.stdout, /db3\/mariadb healthy \(galera, synced, cluster size 3/);
    assert.deepEqual(seen, [], 'the database root password (the SST credentials) was in a process argv');
    for (const h of ['db2', 'db3']) {
      const log = (await bed.exec(h, `cat /var/lib/hastack/${R.cluster}/${h}/mariadb/mariadb.err`)).stdout;
      assert.match(log, /mariabackup SST started on joiner/, `${h} joined without a mariabackup SST`);
      assert.match(log, /Using openssl based encryption with socat/, `${h}'s SST was not encrypted`);
    }
    // Galera's group, IST and SST ports answer cluster nodes only.
    const rules = (await bed.exec('db1', `iptables -S hastack-${R.cluster}`)).stdout;
    for (const port of [4567, 4568, 4444]) assert.match(rules, new RegExp(`--dport ${port} .*-j REJECT`), `port ${port} is not closed to strangers`);
    const st = await status();
    assert.equal(st.healthy, st.total, st.text);
    await restock(lb, 'WIDGET-RED', 5_000, `${R.cluster}-stock`);
  });

  for (const scenario of ['db-primary', 'redis-master']) {
    it(`chaos ${scenario} against the deployed Galera cluster: every promise kept`, async () => {
      const json = path.join(dir, `${scenario}.json`);
      const res = await cli(['chaos', 'run', scenario, '--duration', '16', '--json', json], 240_000);
      printChaosReport(res.stdout, scenario);
      assert.ok(fs.existsSync(json), `no report:\n${res.stdout}\n${res.stderr}`);
      const rep = JSON.parse(fs.readFileSync(json, 'utf8')) as Record<string, number | null> & { promisesBroken: unknown };
      assert.ok((rep.ackedWrites ?? 0) > 0, 'no order was acknowledged');
      assert.ok(rep.firstWriteAfterFaultMs !== null, `no order started after the fault was acknowledged:\n${res.stdout}`);
      assert.equal(rep.lostWrites, 0);
      assert.equal(rep.duplicateWrites, 0);
      assert.equal(rep.jobsLost, 0);
      assert.equal(res.code, 0, `a promise broke: ${JSON.stringify(rep.promisesBroken)}\n${res.stdout}`);
    });
  }

  it('every Galera host loses power under load; db recover restarts the cluster from the most advanced node; no acknowledged order lost', async () => {
    const load = orderLoad(lb, `${R.cluster}-crash`, await erpLogin(lb));
    const waitAcked = async (n: number): Promise<void> => {
      const deadline = Date.now() + 60_000;
      while (load.acked.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(load.acked.length >= n, `only ${load.acked.length} orders acknowledged (${load.failed()} failed)`);
    };
    const offAt: Record<string, string> = {};
    try {
      await waitAcked(10);
      await bed.powerOff('db1');
      offAt['db1'] = `${load.acked.length} acked`;
      // The two others keep a majority: writes go on without db1, so it falls behind.
      const before = load.acked.length;
      await waitAcked(before + ORDERS_WITHOUT_DB1);
      await Promise.all([bed.powerOff('db2'), bed.powerOff('db3')]);
      offAt['db2'] = offAt['db3'] = `${load.acked.length} acked`;
      // The load meets a cluster with no database for a moment, then stops.
      await new Promise((r) => setTimeout(r, 2_000));
    } finally {
      await load.stop();
    }
    const crashed = [...load.acked];
    allAcked.push(...crashed);
    process.stdout.write(`\n--- order load: ${crashed.length} acknowledged, ${load.failed()} failed (refused while the database was gone)\n`);
    await Promise.all(DBS.map((h) => bed.boot(h)));

    const rec = await cli(['db', 'recover']);
    process.stdout.write(`\n--- hastack db recover (${bed.init}):\n${rec.stdout}${rec.stderr}`);
    assert.equal(rec.code, 0, rec.stdout + rec.stderr);
    const t = printRecovery('full crash, db recover', rec.stdout, offAt);
    assert.equal(t.rows.length, 3, rec.stdout);
    const seqno = (node: string): number => {
      const row = t.rows.find((x) => x.node === node);
      const pos = row?.recovered !== '-' ? row?.recovered : row.grastate;
      return Number(pos?.slice(pos.lastIndexOf(':') + 1));
    };
    // db1 lost power first: the others committed more, and one of them bootstrapped.
    assert.ok(seqno('db1') < seqno('db2') && seqno('db1') < seqno('db3'), rec.stdout);
    assert.notEqual(t.bootstrap, 'db1');
    assert.equal(seqno(t.bootstrap), Math.max(...DBS.map(seqno)));
    assert.match(rec.stdout, /galera cluster recovered: .* every node is synced/);

    // Read back on the node that bootstrapped, as the operator's admin account (the app needs
    // Redis, whose hosts are still down under the keeper: the next test's deploy starts them).
    const topo = readTopology(path.join(dir, '.hastack', R.cluster));
    const svc = topo.services.find((x) => x.id === `${t.bootstrap}/mariadb`) ?? assert.fail('no bootstrap service');
    const ids = crashed.map((a) => a.id);
    // From this machine (database.adminFrom): over TCP as the admin account.
    const conn = await adminConnection({ topo, secrets: readSecrets(topo.stateDir), svc, asRoot: false }, 10_000);
    let found: Array<Record<string, unknown>>;
    try {
      [found] = (await conn.query(`SELECT id, idempotency_key AS k FROM \`${topo.config.database.name}\`.sales_orders WHERE id IN (?)`, [ids])) as unknown as [
        Array<Record<string, unknown>>,
      ];
    } finally {
      await closeConnection(conn);
    }
    const byId = new Map(found.map((r) => [Number(r['id']), String(r['k'])]));
    const lost = crashed.filter((a) => byId.get(a.id) !== a.key).map((a) => `${a.key} (id ${a.id})`);
    process.stdout.write(`--- after db recover: ${crashed.length - lost.length} of ${crashed.length} acknowledged orders on ${t.bootstrap}, ${lost.length} lost\n`);
    assert.deepEqual(lost, [], 'acknowledged orders lost');
  });

  it('every host rebooted at once: deploy brings the Galera cluster back from the most advanced node and starts the rest', async () => {
    await Promise.all(bed.hosts.map((h) => bed.reboot(h.name)));
    const d = await cli(['deploy']);
    process.stdout.write(
      `\n--- deploy (every host rebooted, ${bed.init}):\n${d.stdout
        .split('\n')
        .filter((l) => !/ wrote /.test(l))
        .join('\n')}`,
    );
    assert.equal(d.code, 0, d.stdout + d.stderr);
    const t = printRecovery('every host rebooted, deploy', d.stdout);
    assert.equal(t.rows.length, 3, d.stdout);
    assert.match(d.stdout, /galera recovery: \S+ is Primary/);
    const st = await status();
    assert.equal(st.healthy, st.total, st.text);
    assert.deepEqual(await missingOrders(lb, allAcked), [], 'acknowledged orders lost');
    assert.ok((await placeOrder(lb, `${R.cluster}-after-reboot`, await erpLogin(lb))) !== undefined, 'an order after the reboot was refused');
  });
});
