// lane: hosts (a host bed, not in CI: it boots its hosts and deploys over SSH; npm run test:hosts)
/**
 * `failover.fence` on three hosts (test/helpers/hostbed.ts; systemd or keeper per
 * HASTACK_BED_INIT): a machine that is gone. The test runs a small "power API" on the bed
 * bridge's .254 (the machine outside the hosts, as a BMC or a cloud API would be): `POST
 * /power-off?node=N` with a bearer token cuts the host's power (`bed.powerOff`). The fence
 * command is `curl` against it, its token read from a 0600 file (never in argv).
 *
 * Under the ERP workload the primary's machine loses power (no SSH, nothing answers): the crash
 * plan with a wrong token refuses to promote (FENCE_FAILED, the standby still read-only); with the
 * right one it resumes, powers the machine off through the API, promotes the standby: the chaos
 * table. Then the old primary's machine boots again: its database comes back read-only (a write
 * straight to it is refused), and orders through the load balancer never land on it. Then the
 * automatic mode on the controller's host does the same by itself, with the token file there.
 * Addresses 10.213.228.x, the power API on .254:8228.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { findScenario, reportJson, reportText, runChaos, type Scenario } from '../../src/chaos/index.js';
import { preset, readSecrets, readTopology, servicesOf, type Secrets, type Topology } from '../../src/config/index.js';
import { runtimeFor, type Runtime } from '../../src/runtime/index.js';
import { waitFor } from '../../src/shared/retry.js';
import { testRange } from '../../kit/addresses.js';
import { autoFailover } from '../../kit/configs.js';
import { runCli } from '../helpers/cli.js';
import type { HostBed } from '../helpers/hostbed.js';
import { simpleOnBed, useBedCluster } from '../helpers/hosts-config.js';
import { postOrder } from '../helpers/orders.js';

const exec = promisify(execFile);
const range = testRange('hosts-fence');
const POWER_API = `http://${range.privateBase ?? ''}.254:8228`;
const CLUSTER = range.cluster;
// The token is read by curl from a header file (`-H @file`): never in argv, the config or a log.
const FENCE = `curl -fsS -m 30 -X POST -H @"\${FENCE_AUTH:-/etc/hastack/fence-auth}" "${POWER_API}/power-off?node=$HASTACK_FENCE_NODE"`;

interface SqlResult {
  readonly code: number;
  readonly out: string;
}

/** The `mariadb` client, the password in its environment (MYSQL_PWD), never in argv. */
async function sql(host: string, port: number, user: string, password: string, query: string, db?: string): Promise<SqlResult> {
  try {
    const r = await exec('mariadb', ['-h', host, '-P', String(port), '-u', user, '--connect-timeout=3', '-N', '-B', ...(db ? [db] : []), '-e', query], {
      env: { ...process.env, MYSQL_PWD: password },
      timeout: 15_000,
    });
    return { code: 0, out: r.stdout.trim() };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : 1, out: `${x.stdout ?? ''}${x.stderr ?? ''}`.trim() };
  }
}

/**
 * The runtime with the chaos fault `kill-node` turned into a power cut (`bed.powerOff`): not
 * hastack's kill over SSH. The heal leaves the machine off (the test boots it), and the health
 * wait after the run leaves out a machine that is off.
 */
function poweredRuntime(bed: HostBed, runtime: Runtime, off: Set<string>): Runtime {
  return {
    kind: runtime.kind,
    capabilities: runtime.capabilities,
    up: (o) => runtime.up(o),
    down: (o) => runtime.down(o),
    status: async (s, t) => {
      const st = await runtime.status(s, t);
      return { ...st, services: st.services.filter((x) => !off.has(x.node)) };
    },
    logs: (n, s, l) => runtime.logs(n, s, l),
    fault: async (f) => {
      if (f.action === 'kill-node') {
        await bed.powerOff(f.node);
        off.add(f.node);
        return { node: f.node, power: 'off' };
      }
      if (f.action === 'heal-node' && off.has(f.node)) return { node: f.node, power: 'still off' };
      return runtime.fault(f);
    },
    fenceNode: (n) => runtime.fenceNode(n),
    recordRole: (s, r) => runtime.recordRole(s, r),
    reach: (s) => runtime.reach(s),
  };
}

/** The server scenario, its fault the power of the database primary's machine. */
function powerOffScenario(): Scenario {
  const server = findScenario('server');
  assert.ok(server);
  return {
    ...server,
    name: 'power-off',
    description: "the primary's machine loses power (nothing answers, SSH included)",
    faults: [{ target: 'role:db-primary', action: 'kill-node' }],
  };
}

describe('failover.fence: a primary whose machine is gone (power API on the bridge)', { timeout: 15 * 60_000 }, () => {
  const token = randomBytes(24).toString('hex');
  const used = useBedCluster('hosts-fence', { failover: { ...preset('simple').failover, fence: FENCE, fenceTimeoutMs: 40_000 } });
  const { dir, configFile } = used;
  const goodAuth = path.join(dir, 'fence-auth');
  const badAuth = path.join(dir, 'fence-auth-wrong');
  const calls: Array<{ node: string; status: number }> = [];
  let api: http.Server | undefined;
  let topo: Topology;
  let secrets: Secrets;

  const dbOf = (node: string): { host: string; port: number } => {
    const s = servicesOf(topo, 'mariadb').find((x) => x.node === node);
    assert.ok(s, `no mariadb on ${node}`);
    return { host: s.address, port: s.port };
  };
  const admin = (node: string, query: string): Promise<SqlResult> => {
    const d = dbOf(node);
    return sql(d.host, d.port, 'hastack_admin', secrets.dbRootPassword, query);
  };

  before(async () => {
    fs.writeFileSync(goodAuth, `Authorization: Bearer ${token}\n`, { mode: 0o600 });
    fs.writeFileSync(badAuth, `Authorization: Bearer not-${token}\n`, { mode: 0o600 });
    const { bed } = used;
    const want = Buffer.from(`Bearer ${token}`);
    api = http.createServer((req, res) => {
      req.resume();
      const url = new URL(req.url ?? '/', POWER_API);
      const node = url.searchParams.get('node') ?? '';
      const reply = (status: number, text: string): void => {
        calls.push({ node, status });
        res.writeHead(status, { 'content-type': 'text/plain' }).end(`${text}\n`);
      };
      const got = Buffer.from(req.headers.authorization ?? '');
      if (req.method !== 'POST' || url.pathname !== '/power-off') return reply(404, 'no such call');
      if (got.length !== want.length || !timingSafeEqual(got, want)) return reply(401, 'power API: bad token');
      if (!bed.hosts.some((h) => h.name === node)) return reply(404, `power API: no machine ${node}`);
      // Answers once the machine is off (nothing of it runs): the fence's confirmation.
      bed.powerOff(node).then(
        () => reply(200, `power API: ${node} is off`),
        (e: unknown) => reply(500, `power API: ${String(e)}`),
      );
    });
    // Bounded like any listener: a few connections, a minute per request at most.
    api.maxConnections = 8;
    api.requestTimeout = 60_000;
    api.headersTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      api?.once('error', reject);
      api?.listen(8228, `${range.privateBase ?? ''}.254`, resolve);
    });
  });
  after(async () => {
    await new Promise((resolve) => (api ? api.close(resolve) : resolve(undefined)));
  });

  it('deploy; the dry run shows the fence command it would run', async () => {
    process.stdout.write(`host bed: ${used.bed.init} on every host\n`);
    const d = await runCli(['deploy', '-f', configFile], { cwd: dir, timeoutMs: 300_000 });
    assert.equal(d.code, 0, d.stdout + d.stderr);
    topo = readTopology(path.join(dir, '.hastack', CLUSTER));
    secrets = readSecrets(topo.stateDir);
    const dry = await runCli(['failover', '--dry-run', '-f', configFile], { cwd: dir, timeoutMs: 60_000 });
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.match(
      dry.stdout,
      /1 fence {5}primary: .*if its machine does not answer over SSH: run failover\.fence here \(curl -fsS .*power-off\?node=\$HASTACK_FENCE_NODE"\) with HASTACK_FENCE_NODE=primary HASTACK_FENCE_ADDRESS=\S+ HASTACK_CLUSTER=fencehosts/,
    );
    assert.equal(calls.length, 0, 'a dry run powers nothing off');
  });

  it("the primary's machine loses power under load: a failing fence refuses, the right one fences and promotes; 0 lost", async () => {
    const { bed } = used;
    const off = new Set<string>();
    const powered = poweredRuntime(bed, await runtimeFor(topo), off);
    const scenario = powerOffScenario();
    let refused: { code: number; out: string; standbyReadOnly: string; ms: number } | undefined;
    let plan: { code: number; out: string } | undefined;
    const result = await runChaos({
      topo,
      secrets,
      runtime: powered,
      scenario,
      durationS: 20,
      seed: 1,
      clients: 8,
      onProgress: (l) => process.stdout.write(`${l}\n`),
      afterInject: async () => {
        const t0 = Date.now();
        const bad = await runCli(['failover', '--yes', '-f', configFile], { cwd: dir, timeoutMs: 120_000, env: { FENCE_AUTH: badAuth } });
        const ms = Date.now() - t0;
        refused = { code: bad.code, out: bad.stdout + bad.stderr, standbyReadOnly: (await admin('standby', 'SELECT @@read_only')).out, ms };
        const good = await runCli(['failover', '--yes', '-f', configFile], { cwd: dir, timeoutMs: 180_000, env: { FENCE_AUTH: goodAuth } });
        plan = { code: good.code, out: good.stdout + good.stderr };
        if (good.code !== 0) throw new Error(`the crash plan failed:\n${plan.out}`);
      },
    });
    const report = reportJson(result, scenario.expectedFailure);
    process.stdout.write(
      `\n--- the refused run (wrong token), ${refused?.ms ?? '?'} ms:\n${refused?.out ?? ''}\n--- the crash plan:\n${plan?.out ?? ''}\n${reportText(result, scenario.expectedFailure)}\n`,
    );
    process.stdout.write(`power API calls: ${JSON.stringify(calls)}\n`);

    assert.ok(refused && plan);
    assert.notEqual(refused.code, 0, refused.out);
    assert.match(refused.out, /primary's machine does not answer .* and failover\.fence exited 22 .*nothing was promoted/s);
    assert.equal(refused.standbyReadOnly, '1', 'the standby was promoted although the fence failed');
    assert.equal(plan.code, 0, plan.out);
    assert.match(plan.out, /resuming failover fo-\S+ \(primary → standby\); done: preflight/);
    assert.match(plan.out, /fence done \(\d+ ms\): primary: its machine does not answer; powered off by failover\.fence \(exit 0/);
    assert.deepEqual(
      calls.map((c) => `${c.node}:${c.status}`),
      ['primary:401', 'primary:200'],
    );
    assert.equal((report.crashPlan as { ok: boolean } | null)?.ok, true);
    assert.ok((report.ackedWrites as number) > 0);
    assert.equal(report.lostWrites, 0);
    assert.equal(report.duplicateWrites, 0);
    assert.equal(report.jobsLost, 0);
    assert.equal(typeof report.firstWriteAfterFaultMs, 'number', 'an order started after the power loss succeeded');
    assert.deepEqual(result.checked.broken, []);
    // Every step in the event log, the command's exit and output with it (the token never).
    const events = fs.readFileSync(path.join(topo.stateDir, 'events.jsonl'), 'utf8');
    assert.match(events, /failover\.fence.*running failover\.fence \(HASTACK_FENCE_NODE=primary/);
    assert.match(events, /failover\.fence for primary exited 22 .*"output":"curl: \(22\) The requested URL returned error: 401"/);
    assert.match(events, /failover\.fence for primary exited 0/);
    assert.match(events, /"type":"failover\.failed".*"code":"FENCE_FAILED"/);
    assert.match(events, /"type":"failover\.done"/);
    assert.doesNotMatch(events, new RegExp(token));
  });

  it("the old primary's machine boots again: its database comes back read-only and takes no write", async () => {
    const { bed } = used;
    await bed.boot('primary');
    if (bed.init === 'keeper') {
      // The keeper starts nothing at boot (systemd does: every enabled unit): start the database's
      // unit as systemd would, through the agent.
      const start = await bed.exec('primary', `/opt/hastack/bin/hastack _agent start hastack-${CLUSTER}-primary-mariadb --state /var/lib/hastack/${CLUSTER}`, {
        timeoutMs: 120_000,
      });
      assert.equal(start.code, 0, start.stdout + start.stderr);
    }
    const answer = await waitFor(async () => ((await admin('primary', 'SELECT @@read_only')).code === 0 ? true : undefined), { timeoutMs: 120_000, intervalMs: 500 });
    assert.equal(answer, true, 'the old primary did not come back');
    assert.equal((await admin('primary', 'SELECT @@read_only')).out, '1');
    const log = await bed.exec('primary', `cat /var/lib/hastack/${CLUSTER}/primary/mariadb/install-db.log /var/lib/hastack/${CLUSTER}/primary/mariadb/hastack-db.json`);
    assert.match(log.stdout, /recorded primary, but standby\/mariadb answers as the writable primary .*starting read-only as a replica/);
    assert.match(log.stdout, /"role": "replica"/);
    // A write straight to it as the app's user: refused (ERROR 1290, --read-only).
    const d = dbOf('primary');
    const w = await sql(d.host, d.port, 'hastack', secrets.dbAppPassword, 'CREATE TABLE IF NOT EXISTS fence_probe (i INT)', topo.config.database.name);
    assert.notEqual(w.code, 0, 'the old primary took a write');
    assert.match(w.out, /1290|read-only|read_only/i);
    // Orders through the load balancer: all taken, none on the old primary (no transaction of its
    // own server id beyond what it had).
    const own = (await admin('primary', 'SELECT @@server_id')).out;
    const mine = async (): Promise<string> =>
      (await admin('primary', 'SELECT @@gtid_binlog_pos')).out
        .split(',')
        .filter((g) => g.split('-')[1] === own)
        .join(',');
    const before = await mine();
    // Under systemd the old primary's own load balancer and app server came back too: orders go
    // through it as well (its app writes to the one writable node).
    const lbs = servicesOf(topo, 'lb').filter((s) => s.node === 'standby' || (bed.init === 'systemd' && s.node === 'primary'));
    for (const lb of lbs) {
      const base = `http://${lb.address}:${lb.port}`;
      const first = await waitFor(async () => ((await postOrder(base, `fence-after-boot-${lb.node}-0`)).ok ? true : undefined), { timeoutMs: 60_000, intervalMs: 1_000 });
      assert.equal(first, true, `no order through ${lb.node}'s load balancer`);
      for (let i = 1; i < 10; i++) {
        const o = await postOrder(base, `fence-after-boot-${lb.node}-${i}`);
        assert.ok(o.ok, `order ${i} through ${lb.node}'s load balancer: ${o.status}`);
      }
    }
    assert.equal(await mine(), before, 'an order was written on the old primary');
    assert.equal((await admin('standby', 'SELECT @@read_only')).out, '0');
  });

  it('failover.auto on the controller host: the new primary loses power; a failing fence holds, the right one fences and promotes', async () => {
    const { bed } = used;
    // Rebuild the old primary (its datadir aside: it may hold a tail the standby never had), turn
    // the automatic mode on; the controller on ops runs the fence command with the token file there.
    const unit = `hastack-${CLUSTER}-primary-mariadb`;
    const agent = `/opt/hastack/bin/hastack _agent %s --state /var/lib/hastack/${CLUSTER}`;
    const stop = await bed.exec('primary', `${agent.replace('%s', `stop ${unit}`)} && rm -rf /var/lib/hastack/${CLUSTER}/primary/mariadb/data`, { timeoutMs: 120_000 });
    assert.equal(stop.code, 0, stop.stdout + stop.stderr);
    const opsAuth = await bed.exec('ops', `umask 077 && printf 'Authorization: Bearer not-%s\\n' ${token} > /etc/hastack/fence-auth`);
    assert.equal(opsAuth.code, 0, opsAuth.stderr);
    fs.writeFileSync(configFile, YAML.stringify(simpleOnBed(bed, CLUSTER, { failover: { ...autoFailover(2_000), fence: FENCE, fenceTimeoutMs: 40_000 } })));
    const d = await runCli(['deploy', '-f', configFile], { cwd: dir, timeoutMs: 300_000 });
    assert.equal(d.code, 0, d.stdout + d.stderr);
    assert.match(d.stdout, /primary\/mariadb healthy \(replica/);
    topo = readTopology(path.join(dir, '.hastack', CLUSTER));
    calls.length = 0;

    const off = new Set<string>();
    const scenario = powerOffScenario();
    const autoLog = `/var/lib/hastack/${CLUSTER}/failover-auto.log`;
    let held: { line: string; primaryReadOnly: string } | undefined;
    const result = await runChaos({
      topo,
      secrets,
      runtime: poweredRuntime(bed, await runtimeFor(topo), off),
      scenario,
      durationS: 20,
      seed: 2,
      clients: 8,
      onProgress: (l) => process.stdout.write(`${l}\n`),
      // Nobody runs the crash plan: this only watches the controller, then gives it the right token.
      afterInject: async () => {
        const line = await waitFor(async () => (await bed.exec('ops', `grep -m1 'FAILED: standby.s machine does not answer' ${autoLog}`)).stdout.trim() || undefined, {
          timeoutMs: 60_000,
          intervalMs: 500,
        });
        held = { line: line ?? '(no refusal logged)', primaryReadOnly: (await admin('primary', 'SELECT @@read_only')).out };
        await bed.exec('ops', `umask 077 && printf 'Authorization: Bearer %s\\n' ${token} > /etc/hastack/fence-auth`);
        const promoted = await waitFor(async () => ((await admin('primary', 'SELECT @@read_only')).out === '0' ? true : undefined), { timeoutMs: 90_000, intervalMs: 300 });
        if (promoted !== true) throw new Error('the controller did not promote the primary');
      },
    });
    const report = reportJson(result, scenario.expectedFailure);
    process.stdout.write(
      `\n--- the controller held (wrong token): ${held?.line ?? ''}\n${reportText(result, scenario.expectedFailure)}\npower API calls: ${JSON.stringify(calls)}\n`,
    );
    assert.ok(held);
    assert.match(held.line, /failover\.fence exited 22/);
    assert.equal(held.primaryReadOnly, '1', 'promoted although the fence failed');
    assert.equal(calls[0]?.status, 401);
    assert.deepEqual(
      calls.filter((c) => c.status === 200).map((c) => c.node),
      ['standby'],
    );
    assert.equal((report.crashPlan as { ok: boolean } | null)?.ok, true);
    assert.equal(report.lostWrites, 0);
    assert.equal(report.duplicateWrites, 0);
    assert.equal(report.jobsLost, 0);
    assert.equal(typeof report.firstWriteAfterFaultMs, 'number', 'an order started after the power loss succeeded');
    const events = (await bed.exec('ops', `cat /var/lib/hastack/${CLUSTER}/events.jsonl`)).stdout;
    assert.match(events, /failover\.fence for standby exited 0/);
    assert.match(events, /failover fo-\S+ done: primary is primary/);
    assert.doesNotMatch(events, new RegExp(token));
  });
});
