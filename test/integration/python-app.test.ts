/**
 * The Python example (examples/python) on real engines, with no hastack app tier in between: the
 * test plays the supervisor (MariaDB, Redis, memcached through their drivers), hands the app the
 * environment contract by hand, runs the migration, Debian's gunicorn and the worker, and drives
 * them with curl. What it shows: clear 4xx on bad input, a write stored once per idempotency key,
 * jobs completed from the Redis doorbell and, with the wake-up lost or Redis gone, by the sweep;
 * the cache used and a dead memcached a miss; SIGTERM a clean exit for both processes.
 * Addresses: its row `python-app` in kit/addresses.ts.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { DB_USERS } from '../../src/engines/index.js';
import { waitFor } from '../../src/shared/retry.js';
import { assertFree, engineBed, EngineHarness, finishEngineTest, waitListening } from '../../kit/engines.js';
import { REPO_ROOT } from '../../kit/paths.js';
import { redisCli } from '../helpers/redis-cli.js';

const run = promisify(execFile);
const APP_DIR = path.join(REPO_ROOT, 'examples/python');
// Debian's interpreter and gunicorn: `python3` on PATH may be a pyenv shim without the packages.
const PYTHON = '/usr/bin/python3';
const GUNICORN = '/usr/bin/gunicorn';
const HAVE_PYTHON_PACKAGES = spawnSync(PYTHON, ['-c', 'import pymysql, redis, pymemcache, gunicorn'], { stdio: 'ignore' }).status === 0 && fs.existsSync(GUNICORN);

const bed = engineBed('python-app', {
  database: { mode: 'replication', bufferPoolMb: 32, semiSync: false },
  redis: { maxmemoryMb: 16 },
  memcached: { memoryMb: 8 },
  nodes: [{ name: 'solo', services: ['mariadb', 'redis', 'memcached', 'app', 'worker', 'lb'] }],
});
const { topo, secrets, ctxOf, stateRoot } = bed;
const db = ctxOf('solo', 'mariadb');
const rds = ctxOf('solo', 'redis');
const mc = ctxOf('solo', 'memcached');
const HOST = db.svc.address;
const APP_PORT = 8000;
const WORKER_PORT = 8100;
const BASE = `http://${HOST}:${APP_PORT}`;
const engines = new EngineHarness();
const timings: string[] = [];

/** The environment contract, as hastack's app tier hands it (here: straight at the engines, no endpoints). */
function contractEnv(port: number): Record<string, string> {
  const dbUrl = `mysql://${DB_USERS.app}:${encodeURIComponent(secrets.dbAppPassword)}@${HOST}:${db.svc.port}/${topo.config.database.name}`;
  return {
    HOST,
    PORT: String(port),
    HASTACK_NODE: 'solo',
    DATABASE_URL: dbUrl,
    DATABASE_READ_URL: dbUrl,
    REDIS_URL: `redis://:${encodeURIComponent(secrets.redisPassword)}@${HOST}:${rds.svc.port}/0`,
    MEMCACHED_SERVERS: `${HOST}:${mc.svc.port}`,
    // Debian's modules only, whatever a developer's PYTHONPATH says.
    PYTHONPATH: '',
    PYTHONDONTWRITEBYTECODE: '1',
  };
}

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly headers: string;
}

/** curl, the status, headers and parsed JSON body (10 s bound: the app answers in milliseconds). */
async function curl(method: string, urlPath: string, opts: { body?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const args = ['-s', '-m', '10', '-X', method, '-D', '-', '-w', '\n%{http_code}'];
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}: ${v}`);
  if (opts.body !== undefined) args.push('--data-binary', '@-');
  const child = execFile('curl', [...args, `${BASE}${urlPath}`], { maxBuffer: 1024 * 1024, timeout: 15_000 });
  // EPIPE here only means curl stopped reading its stdin: the server answered early (a 413
  // before the whole body), which is what some cases test.
  child.stdin?.on('error', () => undefined);
  child.stdin?.end(opts.body ?? '');
  const out = await new Promise<string>((resolve, reject) => {
    let s = '';
    child.stdout?.on('data', (d: Buffer) => (s += d.toString()));
    child.once('error', reject);
    // 'close', not 'exit': the output may still be arriving when the process has exited.
    child.once('close', () => resolve(s));
  });
  const lines = out.split('\n');
  const status = Number(lines.pop());
  const text = lines.join('\n');
  const split = text.indexOf('\r\n\r\n');
  const headers = split < 0 ? text : text.slice(0, split);
  const rawBody = split < 0 ? '' : text.slice(split + 4);
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(rawBody) as Record<string, unknown>;
  } catch {
    body = { raw: rawBody };
  }
  return { status, body, headers };
}

const json = { 'content-type': 'application/json' };
const errorCode = (a: Answer): unknown => (a.body.error as { code?: unknown } | undefined)?.code;

async function sql<T>(query: string, params: unknown[] = []): Promise<T[]> {
  const c = await bed.appConnection(db.svc);
  try {
    const [rows] = await c.query(query, params);
    return rows as T[];
  } finally {
    await c.end();
  }
}

function startApp(): void {
  engines.spawn('app', GUNICORN, ['-c', 'gunicorn.conf.py', 'app:application'], { cwd: APP_DIR, env: contractEnv(APP_PORT), logFile: path.join(stateRoot, 'app.log') });
}

function startWorker(): void {
  engines.spawn('worker', PYTHON, ['worker.py'], {
    cwd: APP_DIR,
    env: { ...contractEnv(APP_PORT), WORKER_HEALTH_PORT: String(WORKER_PORT) },
    logFile: path.join(stateRoot, 'worker.log'),
  });
}

/** Polls GET /records/ID until its job is done (15 s bound: the doorbell takes ms, the sweep 2-5 s). */
async function waitDone(id: number): Promise<Answer | undefined> {
  return waitFor(
    async () => {
      const a = await curl('GET', `/records/${id}`);
      return a.body.status === 'done' ? a : undefined;
    },
    { timeoutMs: 15_000, intervalMs: 200 },
  ).catch(() => undefined);
}

describe(
  'the Python example on real engines',
  { skip: HAVE_PYTHON_PACKAGES ? false : 'needs gunicorn python3-pymysql python3-redis python3-pymemcache (apt-get install)', timeout: 180_000 },
  () => {
    before(async () => {
      await assertFree([db.svc, rds.svc, mc.svc, { address: HOST, port: APP_PORT }, { address: HOST, port: WORKER_PORT }]);
      const t = Date.now();
      await Promise.all([engines.start(db), engines.start(rds), engines.start(mc)]);
      timings.push(`engines up: ${Date.now() - t} ms`);
    });
    after(() => finishEngineTest(engines, stateRoot, timings));

    it('migrate.py creates the schema, and a second run applies nothing', async () => {
      const first = await run(PYTHON, ['migrate.py'], { cwd: APP_DIR, env: { ...process.env, ...contractEnv(APP_PORT) }, timeout: 60_000 });
      assert.match(first.stderr, /2 migration\(s\) applied/);
      const second = await run(PYTHON, ['migrate.py'], { cwd: APP_DIR, env: { ...process.env, ...contractEnv(APP_PORT) }, timeout: 60_000 });
      assert.match(second.stderr, /0 migration\(s\) applied/);
      const tables = await sql<{ t: string }>('SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ? ORDER BY 1', [topo.config.database.name]);
      assert.deepEqual(tables.map((r) => r.t).sort(), ['record_jobs', 'records', 'schema_migrations']);
    });

    it('gunicorn serves it: /healthz, and the worker answers its own /healthz', async () => {
      startApp();
      startWorker();
      assert.ok(await waitListening(HOST, APP_PORT), 'gunicorn did not listen');
      assert.ok(await waitListening(HOST, WORKER_PORT), 'the worker did not listen');
      const h = await curl('GET', '/healthz');
      assert.equal(h.status, 200);
      assert.equal(h.body.node, 'solo');
      const w = await run('curl', ['-s', '-m', '5', `http://${HOST}:${WORKER_PORT}/healthz`]);
      assert.equal(w.stdout, '{"ok":true}');
    });

    it('bad input is a clear 4xx, never a 500', async () => {
      const cases: Array<[string, Promise<Answer>, number, string]> = [
        ['no key', curl('POST', '/records', { body: '{"data":"x"}', headers: json }), 400, 'IDEMPOTENCY_KEY_REQUIRED'],
        ['bad key', curl('POST', '/records', { body: '{"data":"x"}', headers: { ...json, 'idempotency-key': 'has space' } }), 400, 'BAD_IDEMPOTENCY_KEY'],
        ['not JSON', curl('POST', '/records', { body: '{"data":', headers: { ...json, 'idempotency-key': 'k-bad-json' } }), 400, 'BAD_JSON'],
        ['no data', curl('POST', '/records', { body: '{"other":1}', headers: { ...json, 'idempotency-key': 'k-no-data' } }), 400, 'BAD_DATA'],
        ['an array', curl('POST', '/records', { body: '[1]', headers: { ...json, 'idempotency-key': 'k-array' } }), 400, 'BAD_BODY'],
        ['text/plain', curl('POST', '/records', { body: '{"data":"x"}', headers: { 'content-type': 'text/plain', 'idempotency-key': 'k-text' } }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
        ['too big', curl('POST', '/records', { body: JSON.stringify({ data: 'x'.repeat(70_000) }), headers: { ...json, 'idempotency-key': 'k-big' } }), 413, 'BODY_TOO_LARGE'],
        ['bad id', curl('GET', '/records/abc'), 400, 'BAD_ID'],
        ['unknown id', curl('GET', '/records/999999'), 404, 'NOT_FOUND'],
        ['unknown route', curl('GET', '/nowhere'), 404, 'NOT_FOUND'],
        ['wrong method', curl('DELETE', '/records'), 405, 'METHOD_NOT_ALLOWED'],
      ];
      for (const [what, answer, status, code] of cases) {
        const a = await answer;
        assert.equal(a.status, status, `${what}: ${JSON.stringify(a.body)}`);
        assert.equal(errorCode(a), code, what);
      }
      const stored = await sql<{ n: number }>("SELECT COUNT(*) AS n FROM records WHERE idem_key LIKE 'k-%'");
      assert.equal(Number(stored[0]?.n), 0, 'no bad request stored anything');
    });

    it('one record per idempotency key: a retry gets the same record, other data under the key is a 409', async () => {
      const headers = { ...json, 'idempotency-key': 'py-once-1' };
      const first = await curl('POST', '/records', { body: '{"data":"hello"}', headers });
      assert.equal(first.status, 201, JSON.stringify(first.body));
      assert.equal(first.body.job, 'queued');
      const again = await curl('POST', '/records', { body: '{"data":"hello"}', headers });
      assert.equal(again.status, 200);
      assert.equal(again.body.id, first.body.id);
      const other = await curl('POST', '/records', { body: '{"data":"other"}', headers });
      assert.equal(other.status, 409);
      assert.equal(errorCode(other), 'IDEMPOTENCY_KEY_REUSED');
      // Ten retries at once of one new key: still one record.
      const burst = await Promise.all(
        Array.from({ length: 10 }, () => curl('POST', '/records', { body: '{"data":"burst"}', headers: { ...json, 'idempotency-key': 'py-burst' } })),
      );
      assert.equal(burst.filter((a) => a.status === 201).length, 1, JSON.stringify(burst.map((a) => a.status)));
      assert.equal(burst.filter((a) => a.status === 200).length, 9);
      assert.equal(new Set(burst.map((a) => a.body.id)).size, 1);
      // The crash plan's check (failover.verify in hastack.yaml): a replay of the record migrate.py wrote.
      const verify = await curl('POST', '/records', { body: '{"data":"hastack failover verify"}', headers: { ...json, 'idempotency-key': 'hastack-failover-verify' } });
      assert.equal(verify.status, 200, JSON.stringify(verify.body));
      const rows = await sql<{ n: number }>("SELECT COUNT(*) AS n FROM records WHERE idem_key IN ('py-once-1', 'py-burst')");
      assert.equal(Number(rows[0]?.n), 2);
    });

    it('the worker completes the job from the doorbell; a done record is then read from the cache', async () => {
      const w = await curl('POST', '/records', { body: '{"data":"job me"}', headers: { ...json, 'idempotency-key': 'py-job-1' } });
      assert.equal(w.body.wake, true);
      const done = await waitDone(w.body.id as number);
      assert.ok(done, 'the job was completed');
      assert.equal(done.body.result, (await sql<{ h: string }>("SELECT SHA2('job me', 256) AS h"))[0]?.h);
      const jobs = await sql<{ via: string; runs: number }>('SELECT via, runs FROM record_jobs WHERE record_id = ?', [w.body.id]);
      assert.deepEqual(jobs, [{ via: 'queue', runs: 1 }]);
      const cached = await curl('GET', `/records/${String(w.body.id)}`);
      assert.match(cached.headers, /x-read-from: cache/i);
      const byKey = await curl('GET', '/records?key=py-job-1');
      assert.equal(byKey.body.id, w.body.id);
      const recent = await curl('GET', '/records');
      assert.ok(Array.isArray(recent.body.records) && recent.body.records.length > 0);
    });

    it('a lost wake-up (the list gone, as after a Redis failover) is found by the sweep', async () => {
      await engines.stop('worker');
      const w = await curl('POST', '/records', { body: '{"data":"swept"}', headers: { ...json, 'idempotency-key': 'py-swept-1' } });
      assert.equal(w.status, 201);
      // What an asynchronous replica promoted before it got the push looks like: no wake-up at all.
      await redisCli(HOST, rds.svc.port, secrets.redisPassword, 'DEL', 'py:jobs');
      startWorker();
      assert.ok(await waitDone(w.body.id as number), 'the sweep completed the job');
      const jobs = await sql<{ via: string; runs: number }>('SELECT via, runs FROM record_jobs WHERE record_id = ?', [w.body.id]);
      assert.deepEqual(jobs, [{ via: 'sweep', runs: 1 }]);
    });

    it('with Redis down a write still succeeds (its job is in the database) and is completed by the sweep', async () => {
      await engines.stop(rds.svc.id);
      const t = Date.now();
      const w = await curl('POST', '/records', { body: '{"data":"no redis"}', headers: { ...json, 'idempotency-key': 'py-noredis-1' } });
      timings.push(`write with Redis down: ${Date.now() - t} ms`);
      assert.equal(w.status, 201, JSON.stringify(w.body));
      assert.equal(w.body.wake, false);
      assert.ok(await waitDone(w.body.id as number), 'the sweep completed the job');
    });

    it('a dead memcached is a miss, never an error', async () => {
      await engines.stop(mc.svc.id, 'SIGKILL');
      const a = await curl('GET', '/records?key=py-job-1');
      assert.equal(a.status, 200);
      const b = await curl('GET', `/records/${String(a.body.id)}`);
      assert.equal(b.status, 200);
      assert.doesNotMatch(b.headers, /x-read-from: cache/i);
    });

    it('SIGTERM: gunicorn and the worker exit 0', async () => {
      const app = engines.get('app');
      const worker = engines.get('worker');
      assert.ok(app && worker);
      process.kill(app.pid, 'SIGTERM');
      process.kill(worker.pid, 'SIGTERM');
      await Promise.all([app.exited, worker.exited]);
      assert.equal(app.exitCode, 0);
      assert.equal(worker.exitCode, 0);
      assert.match(fs.readFileSync(worker.logFile, 'utf8'), /stopped: \d+ job\(s\) completed from the queue/);
    });
  },
);
