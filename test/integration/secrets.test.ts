/**
 * The cluster's passwords on a running `simple` cluster with real engines and real clients:
 * the database admin account logs in only from the cluster's own addresses while the app's
 * account (its own, with its database's grants only) works from anywhere; `hastack secrets
 * rotate` changes every engine's password with the cluster serving orders, after which the
 * new passwords log in (redis-cli, mariadb) and the old ones are refused.
 * Address range 127.0.205.x (127.0.205.99: a machine outside the cluster), cluster "h5asecrets".
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { preset } from '../../src/config/index.js';
import { portOpen } from '../../src/shared/net.js';
import { waitFor } from '../../src/shared/retry.js';
import { REPO_ROOT, runCli } from '../helpers/cli.js';
import { upCluster, type TestCluster } from '../helpers/cluster.js';
import { getOrder, postOrder, restock } from '../helpers/orders.js';
import { redisCli as redisCliAt } from '../helpers/redis-cli.js';
import { testRange } from '../../kit/addresses.js';

const run = promisify(execFile);
const BASE = testRange('secrets').base;
const OUTSIDE = `${BASE}.99`;
const LB = `http://${BASE}.1:8080`;
const CLUSTER = 'h5asecrets';

type Secrets = Record<'redisPassword' | 'sentinelPassword' | 'dbRootPassword' | 'dbAppPassword' | 'dbReplPassword', string>;
/** What `secrets rotate` changes (vrrpPassword, keepalived's, is not an engine password). */
const ROTATED: ReadonlyArray<keyof Secrets> = ['redisPassword', 'sentinelPassword', 'dbRootPassword', 'dbAppPassword', 'dbReplPassword'];

/**
 * The real mariadb client, its connection leaving from `bind` (another machine's address): the
 * MariaDB client has no --bind-address, so it goes through a socat relay that
 * connects out from `bind`. The password is in the environment (MYSQL_PWD), never in argv.
 */
async function mariadb(o: { host: string; user: string; password: string; bind: string; sql: string; columns?: boolean }): Promise<{ ok: boolean; out: string }> {
  const relayPort = 13306;
  const relay = spawn('socat', [`TCP-LISTEN:${relayPort},bind=${OUTSIDE},reuseaddr,fork`, `TCP:${o.host}:3306,bind=${o.bind}`], { stdio: 'ignore' });
  try {
    await waitFor(async () => ((await portOpen(OUTSIDE, relayPort, 200)) ? true : undefined), { timeoutMs: 10_000 });
    const args = ['-h', OUTSIDE, '-P', String(relayPort), '-u', o.user, '--batch', ...(o.columns ? [] : ['--skip-column-names']), '--connect-timeout=5', '-e', o.sql];
    try {
      const r = await run('mariadb', args, { env: { ...process.env, MYSQL_PWD: o.password }, timeout: 20_000 });
      return { ok: true, out: r.stdout };
    } catch (e) {
      return { ok: false, out: String((e as { stderr?: string }).stderr ?? e) };
    }
  } finally {
    relay.kill('SIGKILL');
    await new Promise((r) => (relay.exitCode !== null || relay.signalCode !== null ? r(undefined) : relay.once('exit', r)));
  }
}

/** The real redis-cli; the password in REDISCLI_AUTH. */
const redisCli = (port: number, password: string, ...cmd: string[]): Promise<string> => redisCliAt(`${BASE}.1`, port, password, ...cmd);

describe("the cluster's passwords on a running simple cluster", { timeout: 600_000 }, () => {
  let c: TestCluster;
  let secretsPath: string;
  const readSecrets = (): Secrets => JSON.parse(fs.readFileSync(secretsPath, 'utf8')) as Secrets;

  before(async () => {
    c = await upCluster('h5a-secrets', { ...preset('simple'), cluster: CLUSTER, addressBase: BASE, app: { module: path.join(REPO_ROOT, 'examples/erp') } });
    secretsPath = path.join(c.dir, '.hastack', CLUSTER, 'secrets.json');
  });
  after(async () => {
    await c?.down();
  });

  it("review item 4: the database admin account logs in only from the cluster's addresses; the app has its own account with its database only", async () => {
    const s = readSecrets();
    const admin = { host: `${BASE}.1`, user: 'hastack_admin', password: s.dbRootPassword, sql: 'SELECT CURRENT_USER()' };
    const fromNode = await mariadb({ ...admin, bind: `${BASE}.2` });
    assert.ok(fromNode.ok, `admin from the standby's address: ${fromNode.out}`);
    const fromOutside = await mariadb({ ...admin, bind: OUTSIDE });
    assert.equal(fromOutside.ok, false, 'the admin account must not log in from outside the cluster');
    assert.match(fromOutside.out, /Access denied/);
    // root likewise (its host part is the machine's own loopback only)
    assert.equal((await mariadb({ ...admin, user: 'root', bind: OUTSIDE })).ok, false);

    const app = { host: `${BASE}.1`, user: 'hastack', password: s.dbAppPassword, bind: OUTSIDE };
    const appIn = await mariadb({ ...app, sql: 'SHOW GRANTS' });
    assert.ok(appIn.ok, `the app's account: ${appIn.out}`);
    assert.doesNotMatch(appIn.out, /ALL PRIVILEGES ON \*\.\*|SUPER|GRANT OPTION/, 'the app account holds no global admin privilege');
    assert.equal((await mariadb({ ...app, sql: 'SELECT COUNT(*) FROM mysql.user' })).ok, false, 'the app account cannot read the account table');
    assert.notEqual(s.dbAppPassword, s.dbRootPassword);
  });

  it('review item 3: secrets rotate changes every password with the cluster serving; new ones log in, old ones are refused', async () => {
    await restock(LB, 'WIDGET-RED', 3_000, 'h5a-rotate');
    const first = await postOrder(LB, 'h5a-before-rotate');
    assert.ok(first.ok && first.id !== undefined, `an order before: ${first.status}`);
    const old = readSecrets();

    const dry = await runCli(['secrets', 'rotate', '--dry-run', '-f', c.configFile], { cwd: c.dir });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /Redis accepts the new password beside the old/);
    assert.deepEqual(readSecrets(), old, 'a dry run changes nothing');

    // Orders keep coming while the rotation runs (one writer, bounded in count and time).
    let rotating = true;
    const acked: number[] = [];
    let failed = 0;
    const statuses = new Map<number, number>();
    const load = (async () => {
      const deadline = Date.now() + 240_000;
      for (let i = 0; i < 2_000 && rotating && Date.now() < deadline; i++) {
        const o = await postOrder(LB, `h5a-during-${i}`);
        if (o.ok && o.id !== undefined) acked.push(o.id);
        else {
          failed++;
          statuses.set(o.status, (statuses.get(o.status) ?? 0) + 1);
        }
      }
    })();
    const r = await runCli(['secrets', 'rotate', '-f', c.configFile], { cwd: c.dir, timeoutMs: 300_000 });
    rotating = false;
    await load;
    process.stdout.write(r.stdout);
    process.stdout.write(`orders during the rotation: ${acked.length} acknowledged, ${failed} failed (${[...statuses].map(([k, v]) => `HTTP ${k}: ${v}`).join(', ')})\n`);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.ok(acked.length > 0, 'orders were taken during the rotation');
    assert.equal(failed, 0, 'no order is refused while the passwords change (each engine takes both until the clients moved over)');
    const now = readSecrets();
    for (const k of ROTATED) assert.notEqual(now[k], old[k], `${k} changed`);
    assert.equal(fs.statSync(secretsPath).mode & 0o777, 0o600);
    assert.equal(fs.existsSync(path.join(c.dir, '.hastack', CLUSTER, 'secrets-rotation.json')), false, 'the journal is gone once done');

    // Redis and Sentinel: the new password, not the old.
    assert.equal(await redisCli(6379, now.redisPassword, 'PING'), 'PONG');
    assert.match(await redisCli(6379, old.redisPassword, 'PING'), /WRONGPASS|NOAUTH/);
    assert.equal(await redisCli(26379, now.sentinelPassword, 'PING'), 'PONG');
    assert.match(await redisCli(26379, old.sentinelPassword, 'PING'), /WRONGPASS|NOAUTH/);
    // Redis replication still authenticated: the standby's replica has its link up.
    const replica = await run('redis-cli', ['-h', `${BASE}.2`, '-p', '6379', 'INFO', 'replication'], { env: { ...process.env, REDISCLI_AUTH: now.redisPassword } });
    assert.match(replica.stdout, /master_link_status:up/);

    // MariaDB: admin and app accounts with the new passwords only; replication running.
    const db = (user: string, password: string) => mariadb({ host: `${BASE}.1`, user, password, bind: `${BASE}.2`, sql: 'SELECT 1' });
    assert.ok((await db('hastack_admin', now.dbRootPassword)).ok);
    assert.equal((await db('hastack_admin', old.dbRootPassword)).ok, false);
    assert.ok((await db('hastack', now.dbAppPassword)).ok);
    assert.equal((await db('hastack', old.dbAppPassword)).ok, false);
    const slave = await mariadb({ host: `${BASE}.2`, user: 'hastack_admin', password: now.dbRootPassword, bind: `${BASE}.2`, sql: 'SHOW SLAVE STATUS\\G', columns: true });
    assert.match(slave.out, /Slave_IO_Running: Yes/);
    assert.match(slave.out, /Slave_SQL_Running: Yes/);

    // The app still takes and serves orders, and every service is healthy.
    const after1 = await postOrder(LB, 'h5a-after-rotate');
    assert.ok(after1.ok && after1.id !== undefined, `an order after: ${after1.status}`);
    assert.equal((await getOrder(LB, first.id)).status, 200);
    assert.equal((await getOrder(LB, after1.id)).status, 200);
    for (const id of acked) assert.equal((await getOrder(LB, id)).status, 200, `order ${id} acknowledged during the rotation is there`);
    const st = await runCli(['status', '-f', c.configFile], { cwd: c.dir });
    assert.equal(st.code, 0, st.stdout);
    const events = fs.readFileSync(path.join(c.dir, '.hastack', CLUSTER, 'events.jsonl'), 'utf8');
    assert.match(events, /secrets rotate: done/);
    for (const k of ROTATED) assert.equal(events.includes(now[k]), false, 'no password in the event log');
  });
  it('review item 3: an interrupted rotation resumes from its journal with the same new password', async () => {
    const before = readSecrets();
    const stateDir = path.join(c.dir, '.hastack', CLUSTER);
    // As if "secrets rotate redisPassword" had stopped after its first step on one Redis server.
    const next = 'resumed-redis-password-0123456789';
    const journal = {
      startedAt: new Date().toISOString(),
      names: ['redisPassword'],
      old: { redisPassword: before.redisPassword },
      next: { redisPassword: next },
      done: [] as string[],
    };
    fs.writeFileSync(path.join(stateDir, 'secrets-rotation.json'), JSON.stringify(journal), { mode: 0o600 });
    const other = await runCli(['secrets', 'rotate', 'dbAppPassword', '-f', c.configFile], { cwd: c.dir });
    assert.notEqual(other.code, 0, 'another rotation must wait for the unfinished one');
    assert.match(other.stderr, /unfinished rotation of redisPassword/);
    const r = await runCli(['secrets', 'rotate', '-f', c.configFile], { cwd: c.dir, timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /resuming the rotation of redisPassword/);
    assert.equal(readSecrets().redisPassword, next);
    assert.equal(readSecrets().dbAppPassword, before.dbAppPassword);
    assert.equal(await redisCli(6379, next, 'PING'), 'PONG');
    assert.match(await redisCli(6379, before.redisPassword, 'PING'), /WRONGPASS|NOAUTH/);
    const order = await postOrder(LB, 'h5a-after-resume');
    assert.ok(order.ok, `an order after the resumed rotation: ${order.status}`);
  });
});
