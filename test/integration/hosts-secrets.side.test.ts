// lane: hosts (a host bed, not in CI: it boots its hosts and deploys over SSH; npm run test:hosts)
/**
 * Secrets on real hosts (a host bed: namespaces with their own sshd): `deploy` ships each host
 * only the passwords its services need (the load-balancer host holds none), refuses to run when
 * the operator's secrets.json is missing or differs from what the hosts hold (naming the host
 * and the secret, changing nothing), and `hastack secrets pull` recovers the file from the hosts;
 * `hastack secrets rotate` on the hosts under an order load through the load balancer (a second
 * app host, `second`, keeps the service up while each app server restarts), cleanly and killed
 * mid-way then run again. Addresses 10.213.205.x (the bed's bridge side, .254, is the operator's
 * machine, allowed the database admin account by database.adminFrom), cluster "h5ahostsecrets".
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import YAML from 'yaml';
import type { ConfigInput } from '../../src/config/index.js';
import { CLI, runCli, tempDir } from '../helpers/cli.js';
import { hostBedNames, startHostBed, type HostBed } from '../helpers/hostbed.js';
import { getOrder, postOrder, restock } from '../helpers/orders.js';
import { redisCliFrom } from '../helpers/redis-cli.js';

const run = promisify(execFile);
const BASE = '10.213.205';
/** The load balancer on `edge` (the bed's second host). */
const LB = `http://${BASE}.2:8080`;
/** What `secrets rotate` changes (vrrpPassword and sessionKey are not engine passwords). */
const ROTATED = ['redisPassword', 'sentinelPassword', 'dbRootPassword', 'dbAppPassword', 'dbReplPassword'] as const;
type Rotated = Record<(typeof ROTATED)[number], string>;

const CLUSTER = 'h5ahostsecrets';
const HOST_SECRETS = `/var/lib/hastack/${CLUSTER}/secrets.json`;

/** The engine passwords of a secrets.json (vrrpPassword is keepalived's, carried only with lb.vip, which this cluster has not). */
function engineSecrets(text: string): Record<string, string> {
  const { vrrpPassword: _vrrp, ...rest } = JSON.parse(text) as Record<string, string>;
  return rest;
}

/** The real redis-cli from the operator's machine; the password in REDISCLI_AUTH, never in argv. */
// From the `second` host (a cluster node): Redis and Sentinel answer only the cluster's nodes.
const redisCli = (port: number, password: string, ...cmd: string[]): Promise<string> => redisCliFrom(`${hostBedNames(BASE).nsPrefix}second`, `${BASE}.1`, port, password, ...cmd);

/** The real mariadb client from the operator's machine (the bridge's .254); the password in MYSQL_PWD. */
async function mariadb(user: string, password: string): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await run('mariadb', ['-h', `${BASE}.1`, '-P', '3306', '-u', user, '--batch', '--skip-column-names', '--connect-timeout=5', '-e', 'SELECT CURRENT_USER()'], {
      env: { ...process.env, MYSQL_PWD: password },
      timeout: 20_000,
    });
    return { ok: true, out: r.stdout };
  } catch (e) {
    return { ok: false, out: String((e as { stderr?: string }).stderr ?? e) };
  }
}

/**
 * Orders through the load balancer, one writer, until stopped: bounded in count (6,000: about
 * 25 a second here, so beyond a rotation's minute or two) and time (8 minutes) so a hung run
 * cannot loop forever.
 */
function orderLoad(tag: string): { stop: () => Promise<{ acked: number[]; failed: number; statuses: string }> } {
  let running = true;
  const acked: number[] = [];
  let failed = 0;
  const statuses = new Map<number, number>();
  const done = (async () => {
    const deadline = Date.now() + 8 * 60_000;
    for (let i = 0; i < 6_000 && running && Date.now() < deadline; i++) {
      const o = await postOrder(LB, `${tag}-${i}`);
      if (o.ok && o.id !== undefined) acked.push(o.id);
      else {
        failed++;
        statuses.set(o.status, (statuses.get(o.status) ?? 0) + 1);
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return { acked, failed, statuses: [...statuses].map(([k, v]) => `HTTP ${k}: ${v}`).join(', ') };
    },
  };
}

/** Ends, by pid, every process whose command line names `dir` (the ssh clients and masters of a killed CLI), then removes `dir`. */
async function endProcessesUnder(dir: string): Promise<void> {
  const matching = (): number[] =>
    fs
      .readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .flatMap((pid) => {
        try {
          return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir) ? [Number(pid)] : [];
        } catch {
          return [];
        }
      });
  for (const pid of matching()) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone already
    }
  }
  // ssh exits on SIGTERM at once; 10 s bounds the wait.
  const deadline = Date.now() + 10_000;
  while (matching().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(matching(), [], `processes of the killed CLI still running`);
  fs.rmSync(dir, { recursive: true, force: true });
}

describe('secrets on hosts: a subset per host, deploy refuses a mismatch, secrets pull, secrets rotate', { timeout: 30 * 60_000 }, () => {
  const dir = tempDir('h5a-hosts-secrets');
  const configFile = path.join(dir, 'hastack.yaml');
  const operatorSecrets = path.join(dir, '.hastack', CLUSTER, 'secrets.json');
  let bed: HostBed;
  let killedTmp: string | undefined;
  const deploy = (timeoutMs = 400_000) => runCli(['deploy', '-f', configFile], { cwd: dir, timeoutMs });
  const hostFile = async (host: string): Promise<string> => (await bed.exec(host, `cat ${HOST_SECRETS}`)).stdout;

  before(async () => {
    bed = await startHostBed({ hosts: ['server', 'edge', 'second'], addressBase: BASE });
    const [server, edge, second] = bed.hosts;
    if (!server || !edge || !second) throw new Error('three hosts');
    const config: ConfigInput = {
      cluster: CLUSTER,
      substrate: 'hosts',
      nodes: [
        { name: 'server', address: server.address, ssh: server.sshTarget, services: ['mariadb', 'redis', 'sentinel', 'memcached', 'app', 'worker'] },
        { name: 'edge', address: edge.address, ssh: edge.sshTarget, services: ['lb', 'dns'] },
        // A second app server: a rolling restart keeps one serving (item 3's rotation under load).
        { name: 'second', address: second.address, ssh: second.sshTarget, services: ['app', 'worker'] },
      ],
      redis: { quorum: 1 },
      database: { semiSync: false, adminFrom: [`${BASE}.254`] },
      // A test bed: the order load logs in as the ERP's demo clerk, which hosts get only when asked.
      app: { demoData: true },
      hosts: { controller: 'server', identityFile: bed.identityFile, knownHostsFile: bed.knownHostsFile },
    };
    fs.writeFileSync(configFile, YAML.stringify(config));
    const r = await deploy();
    if (r.code !== 0) throw new Error(`deploy failed:\n${r.stdout}\n${r.stderr}`);
  });
  after(async () => {
    if (killedTmp !== undefined) fs.rmSync(killedTmp, { recursive: true, force: true });
    await runCli(['down', '-f', configFile], { cwd: dir, timeoutMs: 150_000 }).catch(() => undefined);
    await bed?.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('review item 4: the load-balancer host holds none of the passwords; the database host holds what its services need', async () => {
    const edge = JSON.parse(await hostFile('edge')) as Record<string, string>;
    assert.deepEqual(Object.keys(edge), [], `edge holds ${Object.keys(edge).join(', ')}`);
    const server = JSON.parse(await hostFile('server')) as Record<string, string>;
    const mine = engineSecrets(fs.readFileSync(operatorSecrets, 'utf8'));
    assert.deepEqual(server, mine, "the controller's host holds every password, equal to the operator's");
    // The services' own copies (read as their own users) hold their kind's secrets only.
    const lbCopy = (await bed.exec('edge', `cat /var/lib/hastack/${CLUSTER}/edge/lb/secrets.json`)).stdout;
    assert.deepEqual(JSON.parse(lbCopy), {});
    const appCopy = JSON.parse((await bed.exec('server', `cat /var/lib/hastack/${CLUSTER}/server/app/secrets.json`)).stdout) as Record<string, string>;
    assert.equal(appCopy['dbRootPassword'], undefined, "the app server's copy lacks the database admin password");
    assert.equal(appCopy['dbAppPassword'], mine['dbAppPassword']);
    const mode = (await bed.exec('edge', `stat -c %a ${HOST_SECRETS}`)).stdout.trim();
    assert.equal(mode, '600');
  });

  it('review item 3: deploy refuses when the operator lost secrets.json, changes nothing; secrets pull recovers it', async () => {
    const before = await hostFile('server');
    const saved = fs.readFileSync(operatorSecrets, 'utf8');
    fs.renameSync(operatorSecrets, `${operatorSecrets}.lost`);
    const r = await deploy();
    assert.notEqual(r.code, 0, 'deploy must refuse');
    assert.match(r.stderr + r.stdout, /secrets\.json is missing, but server, second already hold this.*secrets pull/s);
    assert.equal(fs.existsSync(operatorSecrets), false, 'no new secrets were made');
    assert.equal(await hostFile('server'), before, 'the host kept its passwords');

    const pull = await runCli(['secrets', 'pull', '-f', configFile], { cwd: dir, timeoutMs: 60_000 });
    assert.equal(pull.code, 0, pull.stdout + pull.stderr);
    assert.deepEqual(engineSecrets(fs.readFileSync(operatorSecrets, 'utf8')), engineSecrets(saved));
    assert.equal(fs.statSync(operatorSecrets).mode & 0o777, 0o600);
  });

  it("review item 3: deploy refuses when the operator's passwords differ from the hosts', naming the host and the secret", async () => {
    const good = fs.readFileSync(operatorSecrets, 'utf8');
    const other = { ...(JSON.parse(good) as Record<string, string>), dbRootPassword: 'not-the-hosts-password' };
    fs.writeFileSync(operatorSecrets, JSON.stringify(other), { mode: 0o600 });
    const before = await hostFile('server');
    const r = await deploy();
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout, /hold other passwords than .*server: dbRootPassword/);
    assert.doesNotMatch(r.stderr + r.stdout, /not-the-hosts-password/);
    assert.equal(await hostFile('server'), before);
    fs.writeFileSync(operatorSecrets, good, { mode: 0o600 });
    const again = await deploy();
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /nothing to change/);
  });
  const operatorRotated = (): Rotated => JSON.parse(fs.readFileSync(operatorSecrets, 'utf8')) as Rotated;
  const journalFile = path.join(dir, '.hastack', CLUSTER, 'secrets-rotation.json');

  /** After a finished rotation from `old`: new passwords everywhere, the old ones refused, deploy content. */
  async function assertRotated(old: Rotated): Promise<void> {
    const now = operatorRotated();
    for (const k of ROTATED) assert.notEqual(now[k], old[k], `${k} changed`);
    assert.equal(fs.existsSync(journalFile), false, 'the journal is gone once done');
    // Each host holds its new subset, 0600.
    assert.deepEqual(JSON.parse(await hostFile('server')), engineSecrets(fs.readFileSync(operatorSecrets, 'utf8')));
    const second = JSON.parse(await hostFile('second')) as Record<string, string>;
    assert.equal(second['dbAppPassword'], now.dbAppPassword);
    assert.equal(second['dbRootPassword'], undefined, 'the app host still lacks the admin password');
    assert.deepEqual(JSON.parse(await hostFile('edge')), {});
    for (const h of ['server', 'second']) assert.equal((await bed.exec(h, `stat -c %a ${HOST_SECRETS}`)).stdout.trim(), '600');
    // The real clients: the new passwords log in, the old ones are refused.
    assert.equal(await redisCli(6379, now.redisPassword, 'PING'), 'PONG');
    assert.match(await redisCli(6379, old.redisPassword, 'PING'), /WRONGPASS|NOAUTH/);
    assert.equal(await redisCli(26379, now.sentinelPassword, 'PING'), 'PONG');
    assert.match(await redisCli(26379, old.sentinelPassword, 'PING'), /WRONGPASS|NOAUTH/);
    for (const [user, k] of [
      ['hastack', 'dbAppPassword'],
      ['hastack_admin', 'dbRootPassword'],
    ] as const) {
      const good = await mariadb(user, now[k]);
      assert.ok(good.ok, `${user} with the new password: ${good.out}`);
      const bad = await mariadb(user, old[k]);
      assert.equal(bad.ok, false, `${user} with the old password must be refused`);
      assert.match(bad.out, /Access denied/);
    }
    const events = fs.readFileSync(path.join(dir, '.hastack', CLUSTER, 'events.jsonl'), 'utf8');
    assert.match(events, /secrets rotate: done/);
    for (const k of ROTATED) assert.equal(events.includes(now[k]) || events.includes(old[k]), false, 'no password in the event log');
    // deploy compares the hosts' fingerprints with the operator's file: the same, nothing to do.
    const d = await deploy();
    assert.equal(d.code, 0, d.stdout + d.stderr);
    assert.doesNotMatch(d.stdout + d.stderr, /hold other passwords|SECRETS_MISMATCH/);
    assert.match(d.stdout, /nothing to change/, 'the pushed files are what deploy would write: no unit restarts');
  }

  it('review item 3: secrets rotate on hosts under order load: 0 orders fail, the old Redis, Sentinel and MariaDB passwords are refused, deploy finds no mismatch', async () => {
    // Both rotations' loads took about 4,000 orders here; 10,000 is the most one receipt takes (MAX_QTY).
    await restock(LB, 'WIDGET-RED', 10_000, 'sh-rotate-stock');
    const first = await postOrder(LB, 'sh-before-rotate');
    assert.ok(first.ok && first.id !== undefined, `an order before: ${first.status}`);
    const old = operatorRotated();

    const dry = await runCli(['secrets', 'rotate', '--dry-run', '-f', configFile], { cwd: dir });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /server\/redis: Redis accepts the new password beside the old/);
    assert.match(dry.stdout, /second: its new secrets\.json/);
    assert.match(dry.stdout, /second\/app: restarted with the new passwords/);
    assert.doesNotMatch(dry.stdout, /edge: its new secrets/, 'the load-balancer host holds no password');
    assert.deepEqual(operatorRotated(), old, 'a dry run changes nothing');
    assert.equal(fs.existsSync(journalFile), false);

    const load = orderLoad('sh-during');
    const r = await runCli(['secrets', 'rotate', '-f', configFile], { cwd: dir, timeoutMs: 400_000 });
    const l = await load.stop();
    process.stdout.write(r.stdout);
    process.stdout.write(`orders during the rotation: ${l.acked.length} acknowledged, ${l.failed} failed (${l.statuses})\n`);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /\[\d+\/\d+\] second\/app: restarted/, 'progress is shown step by step');
    assert.ok(l.acked.length > 0, 'orders were taken during the rotation');
    assert.equal(l.failed, 0, 'no order fails while the passwords change (each engine takes both until every client moved over)');
    for (const id of [first.id, ...l.acked.slice(-5)]) assert.equal((await getOrder(LB, id)).status, 200, `order ${id} is there`);
    await assertRotated(old);
  });

  it('review item 3: a rotation on hosts killed mid-way (one host has its new file) converges when run again, under load', async () => {
    const old = operatorRotated();
    // The killed CLI's ssh control sockets live under its own TMPDIR: its leftovers are found by that path.
    // Short (unix socket paths are at most 108 bytes); removed by endProcessesUnder, or by after().
    const tmp = fs.mkdtempSync('/tmp/shk-');
    killedTmp = tmp;
    const load = orderLoad('sh-interrupted');
    let out = '';
    const child = spawn(process.execPath, [CLI, 'secrets', 'rotate', '-f', configFile], { cwd: dir, env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
    const cut = /\] server: its new secrets\.json/;
    await new Promise<void>((resolve) => {
      // Bounded: a rotation that never reaches the push is killed at 5 minutes and fails below.
      const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (cut.test(out) && child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
      });
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    await endProcessesUnder(tmp);
    process.stdout.write(`killed after:\n${out}`);
    assert.match(out, cut, 'killed after the first host got its new file');
    assert.equal(child.signalCode, 'SIGKILL');
    const journal = JSON.parse(fs.readFileSync(journalFile, 'utf8')) as { next: Partial<Rotated> };
    assert.equal(operatorRotated().dbAppPassword, journal.next.dbAppPassword, "the operator's file was saved before any push");
    assert.equal((JSON.parse(await hostFile('server')) as Record<string, string>)['dbAppPassword'], journal.next.dbAppPassword);

    const refused = await deploy();
    assert.notEqual(refused.code, 0, 'deploy must not push over an unfinished rotation');
    assert.match(refused.stderr + refused.stdout, /"secrets rotate" is unfinished/);

    const again = await runCli(['secrets', 'rotate', '-f', configFile], { cwd: dir, timeoutMs: 400_000 });
    const l = await load.stop();
    process.stdout.write(again.stdout);
    process.stdout.write(`orders during the interrupted rotation and its re-run: ${l.acked.length} acknowledged, ${l.failed} failed (${l.statuses})\n`);
    assert.equal(again.code, 0, again.stderr + again.stdout);
    assert.match(again.stdout, /resuming the rotation of/);
    for (const k of ROTATED) assert.equal(operatorRotated()[k], journal.next[k], `${k}: the new password of the interrupted run, kept`);
    assert.equal(l.failed, 0);
    await assertRotated(old);
  });
});
