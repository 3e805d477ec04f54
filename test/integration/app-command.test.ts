import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CONTRACT_ENV_NAMES, readSecrets, readTopology, type ConfigInput } from '../../src/config/index.js';
import { readEventsFrom } from '../../src/shared/events.js';
import { onRange, soloNodes } from '../../kit/configs.js';
import { testRange } from '../../kit/addresses.js';
import { runCli } from '../helpers/cli.js';
import { writeCluster, type TestCluster } from '../helpers/cluster.js';

/**
 * A command app (issue 19): any HTTP server on $HOST:$PORT, with a worker command and an
 * app.migrate, on one cluster: `solo` (database, Redis, memcached, app, worker, lb) and `app2`
 * (a second app server, so the load balancer alternates). Then the same cluster with an app
 * command that exits at once: `up` stops with the command, its exit status and its log tail.
 * The app never connects to the endpoints (DATABASE_URL's port may have no listener yet).
 */

const range = testRange('app-command');
const DB_ADDRESS = range.address(1);

/** The app: answers / with its node, /env with the contract it got (a test app only: it shows the passwords). */
const APP_JS = `
const http = require('node:http');
const names = JSON.parse(process.env.CONTRACT_NAMES_JSON);
http.createServer((req, res) => {
  if (req.url === '/env') {
    const env = Object.fromEntries(names.map((n) => [n, process.env[n]]));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ env, cwd: process.cwd() }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('hello from ' + process.env.HASTACK_NODE + '\\n');
}).listen(Number(process.env.PORT), process.env.HOST);
`;

/** The worker: records the contract it got once, then idles (hastack keeps it running). */
const WORKER_JS = `
const fs = require('node:fs');
fs.writeFileSync('worker-' + process.env.HASTACK_NODE + '.json', JSON.stringify({ DATABASE_URL: process.env.DATABASE_URL, REDIS_URL: process.env.REDIS_URL, MEMCACHED_SERVERS: process.env.MEMCACHED_SERVERS }));
setInterval(() => undefined, 60000);
`;

/**
 * app.migrate: appends one line per run, then, still under the lock, asks the database (directly,
 * as the app's account; the password from the environment, never argv) whether the lock row is
 * held right now.
 */
const MIGRATE_SH = `set -e
echo "ran on $HASTACK_NODE as $DB_USER" >> migrate-runs.txt
MYSQL_PWD="$DB_PASSWORD" mariadb --no-defaults -h "$TEST_DB_ADDRESS" -P 3306 -u "$DB_USER" -N -B "$DB_NAME" \\
  -e "SELECT CONCAT('held=', COUNT(*)) FROM hastack_locks WHERE name = 'migrations' AND holder IS NOT NULL AND expires_at > NOW(3)" >> migrate-runs.txt
echo "migrate output line"
`;

function config(command: string): ConfigInput {
  return onRange('app-command', {
    nodes: soloNodes({ app2: true }),
    app: {
      command,
      dir: 'site',
      healthPath: '/',
      migrate: 'sh ./migrate.sh',
      env: { APP_NODE_BIN: process.execPath, CONTRACT_NAMES_JSON: JSON.stringify(CONTRACT_ENV_NAMES), TEST_DB_ADDRESS: DB_ADDRESS },
    },
    worker: { command: 'exec "$APP_NODE_BIN" worker.cjs' },
  });
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, text: await res.text() };
}

describe('a command app (app.command, worker.command, app.migrate) and the environment contract', () => {
  let cluster: TestCluster | undefined;
  let upOutput = '';
  const need = (): TestCluster => cluster ?? assert.fail('the cluster is not up');

  before(async () => {
    const c = writeCluster('app-command', config('exec "$APP_NODE_BIN" app.cjs'));
    cluster = c;
    const site = path.join(c.dir, 'site');
    fs.mkdirSync(site);
    fs.writeFileSync(path.join(site, 'app.cjs'), APP_JS);
    fs.writeFileSync(path.join(site, 'worker.cjs'), WORKER_JS);
    fs.writeFileSync(path.join(site, 'migrate.sh'), MIGRATE_SH);
    const res = await runCli(['up', '--detach', '--no-install', '-f', c.configFile], { cwd: c.dir, timeoutMs: 240_000 });
    upOutput = res.stdout + res.stderr;
    assert.equal(res.code, 0, `up failed:\n${upOutput}`);
  });

  after(async () => {
    await cluster?.down();
  });

  it('every app server gets the contract, with its own HOST and PORT, in app.dir', async () => {
    const topo = readTopology(need().stateDir);
    const secrets = readSecrets(need().stateDir);
    for (const node of ['solo', 'app2']) {
      const addr = topo.nodes.find((n) => n.name === node)?.address ?? assert.fail(node);
      const r = await get(`http://${addr}:8000/env`);
      assert.equal(r.status, 200);
      const body = JSON.parse(r.text) as { env: Record<string, string>; cwd: string };
      assert.equal(body.cwd, path.join(need().dir, 'site'));
      assert.equal(body.env.HOST, addr);
      assert.equal(body.env.PORT, '8000');
      assert.equal(body.env.HASTACK_NODE, node);
      assert.equal(body.env.DB_PASSWORD, secrets.dbAppPassword);
      assert.equal(body.env.DATABASE_URL, `mysql://hastack:${encodeURIComponent(secrets.dbAppPassword)}@${addr}:6033/app`);
      assert.equal(body.env.REDIS_URL, `redis://:${encodeURIComponent(secrets.redisPassword)}@${addr}:6380/0`);
      assert.equal(body.env.MEMCACHED_SERVERS, `${DB_ADDRESS}:11211`);
      // `hastack env NODE --json --show-secrets` prints exactly what the process got.
      const shown = await runCli(['env', node, '--json', '--show-secrets', '-f', need().configFile], { cwd: need().dir });
      assert.equal(shown.code, 0, shown.stderr);
      const printed = JSON.parse(shown.stdout) as Record<string, string>;
      for (const name of CONTRACT_ENV_NAMES) assert.equal(printed[name], body.env[name], name);
    }
  });

  it('hastack env masks the passwords unless asked', async () => {
    const secrets = readSecrets(need().stateDir);
    const r = await runCli(['env', 'app2', '-f', need().configFile], { cwd: need().dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^DB_PASSWORD=\*{8}$/m);
    assert.match(r.stdout, /^DATABASE_URL='?mysql:\/\/hastack:\*{8}@/m);
    for (const s of [secrets.dbAppPassword, secrets.redisPassword, secrets.sentinelPassword, encodeURIComponent(secrets.dbAppPassword)]) {
      assert.ok(!r.stdout.includes(s), 'a password was printed without --show-secrets');
    }
    assert.match(r.stderr, /--show-secrets/);
  });

  it('the load balancer serves both command app servers', async () => {
    const seen = new Set<string>();
    // Bounded: round-robin over two healthy backends shows both within a few requests.
    for (let i = 0; i < 20 && seen.size < 2; i++) {
      const r = await get(`http://${DB_ADDRESS}:8080/`);
      assert.equal(r.status, 200);
      seen.add(r.text.trim());
    }
    assert.deepEqual([...seen].sort(), ['hello from app2', 'hello from solo']);
  });

  it('app.migrate ran once, under the cluster-wide lock, its output in the event log', () => {
    const runs = fs.readFileSync(path.join(need().dir, 'site', 'migrate-runs.txt'), 'utf8');
    assert.equal(runs, 'ran on solo as hastack\nheld=1\n');
    const { events } = readEventsFrom(need().stateDir, 0);
    const done = events.filter((e) => e.message === 'migrations done');
    assert.equal(done.length, 1);
    assert.match(String((done[0]?.data as { output?: string } | undefined)?.output), /migrate output line/);
  });

  it('the worker command runs with the contract; a killed one is restarted', async () => {
    const file = path.join(need().dir, 'site', 'worker-solo.json');
    const env = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>;
    assert.match(env.DATABASE_URL ?? '', new RegExp(`@${DB_ADDRESS.replace(/\./g, '\\.')}:6033/app$`));
    const st = await runCli(['status', '--json', '-f', need().configFile], { cwd: need().dir });
    const worker = (JSON.parse(st.stdout) as { services: Array<{ node: string; service: string; healthy: boolean; detail?: string }> }).services.find(
      (s) => s.service === 'worker',
    );
    assert.equal(worker?.healthy, true, JSON.stringify(worker));
    assert.equal(worker?.detail, 'running');
    // Kill the command itself (not hastack's parent): it is restarted, with backoff, under the same parent.
    const health = async (): Promise<{ status: string; pid: number | null; restarts: number }> =>
      JSON.parse((await get(`http://${DB_ADDRESS}:8100/healthz`)).text) as { status: string; pid: number | null; restarts: number };
    const before = await health();
    assert.ok(before.pid !== null);
    process.kill(before.pid, 'SIGKILL');
    let now = await health();
    // Bounded: the first backoff is at most restartBackoffMinMs (200 ms), plus a second to count as up.
    for (let i = 0; i < 100 && !(now.status === 'running' && now.pid !== before.pid); i++) {
      await new Promise((r) => setTimeout(r, 100));
      now = await health();
    }
    assert.equal(now.status, 'running', JSON.stringify(now));
    assert.notEqual(now.pid, before.pid);
    assert.equal(now.restarts, before.restarts + 1);
  });

  it('an app command that exits at once: up stops with the command, its exit status and its log tail', async () => {
    const c = need();
    const down = await runCli(['down', '-f', c.configFile], { cwd: c.dir, timeoutMs: 150_000 });
    assert.equal(down.code, 0, down.stderr);
    fs.writeFileSync(c.configFile, JSON.stringify(config('echo "boom: cannot bind $HOST:$PORT" >&2; exit 7')));
    const res = await runCli(['up', '--detach', '--no-install', '-f', c.configFile], { cwd: c.dir, timeoutMs: 240_000 });
    const out = res.stdout + res.stderr;
    assert.notEqual(res.code, 0, out);
    assert.match(out, /app did not start: the process exited during start \(exit status 7\)/);
    assert.match(out, /boom: cannot bind 127\.0\.220\.\d:8000/);
    assert.match(out, /the app command exited with exit status 7: echo "boom/);
  });
});
