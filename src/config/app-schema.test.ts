import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../shared/errors.js';
import { parseConfig } from './load.js';
import { appHealthPath, appReadiness, appReadyPath, isCommandApp, stopsMainFirst } from './schema.js';

function rejected(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the config to be rejected');
}

const nodes = (services: string[] = ['lb', 'app', 'mariadb', 'redis']): Record<string, unknown> => ({ nodes: [{ name: 'a', services }] });

describe('app.module / app.command', () => {
  it('neither: the example ERP, as before (module app, /healthz, LB on /readyz)', () => {
    const c = parseConfig(nodes());
    assert.equal(c.app.module, 'examples/erp');
    assert.equal(isCommandApp(c), false);
    assert.equal(appHealthPath(c), '/healthz');
    assert.equal(appReadyPath(c), '/readyz');
  });

  it('a command app: no module, health path / by default; the LB asks /readyz on its readiness port (port + 1, or app.readyPort)', () => {
    const c = parseConfig({ ...nodes(), app: { command: 'exec python3 -m http.server --bind "$HOST" "$PORT"' } });
    assert.equal(c.app.module, undefined);
    assert.equal(isCommandApp(c), true);
    assert.equal(appHealthPath(c), '/');
    assert.equal(appReadyPath(c), '/');
    assert.equal(appReadyPath(parseConfig({ ...nodes(), app: { command: 'x', healthPath: '/up' } })), '/up');
    assert.deepEqual(appReadiness(c, 8000), { port: 8001, path: '/readyz' });
    assert.deepEqual(appReadiness(parseConfig({ ...nodes(), app: { command: 'x', readyPort: 9100 } }), 8000), { port: 9100, path: '/readyz' });
    // Its stop signal goes to hastack's process alone, which drains before it stops the command.
    assert.equal(stopsMainFirst(c, 'app'), true);
    assert.equal(stopsMainFirst(c, 'worker'), false);
  });

  it('a module app: the LB asks its own /readyz; its stop signal goes to the whole group', () => {
    const c = parseConfig(nodes());
    assert.deepEqual(appReadiness(c, 8000), { port: 8000, path: '/readyz' });
    assert.equal(stopsMainFirst(c, 'app'), false);
  });

  it('both: one error naming both keys', () => {
    const e = rejected(() => parseConfig({ ...nodes(), app: { module: 'examples/erp', command: 'x' } }));
    assert.equal(e.key, 'app');
    assert.match(e.message, /app\.module and app\.command/);
  });

  it('neither, but keys of a command app: an error naming both keys', () => {
    const e = rejected(() => parseConfig({ ...nodes(), app: { dir: 'myapp', migrate: './migrate.sh' } }));
    assert.equal(e.key, 'app');
    assert.match(e.message, /neither app\.module nor app\.command/);
    assert.match(e.message, /app\.migrate/);
  });

  it('app.migrate belongs to command apps', () => {
    assert.equal(rejected(() => parseConfig({ ...nodes(), app: { module: 'm', migrate: 'x' } })).key, 'app.migrate');
  });

  it('app.env refuses the contract names and HASTACK_*; accepts others', () => {
    assert.equal(rejected(() => parseConfig({ ...nodes(), app: { command: 'x', env: { DATABASE_URL: 'mysql://elsewhere' } } })).key, 'app.env.DATABASE_URL');
    assert.equal(rejected(() => parseConfig({ ...nodes(), app: { command: 'x', env: { HASTACK_X: '1' } } })).key, 'app.env.HASTACK_X');
    assert.equal(rejected(() => parseConfig({ ...nodes(), app: { command: 'x', env: { '1BAD': '1' } } })).key, 'app.env.1BAD');
    assert.deepEqual(parseConfig({ ...nodes(), app: { command: 'x', env: { DJANGO_SETTINGS_MODULE: 'site.settings' } } }).app.env, { DJANGO_SETTINGS_MODULE: 'site.settings' });
  });

  it('app.healthPath and app.packages are checked', () => {
    assert.equal(rejected(() => parseConfig({ ...nodes(), app: { command: 'x', healthPath: 'healthz' } })).key, 'app.healthPath');
    assert.equal(rejected(() => parseConfig({ ...nodes(), app: { command: 'x', packages: ['gunicorn', 'Bad Name'] } })).key, 'app.packages[1]');
    assert.deepEqual(parseConfig({ ...nodes(), app: { command: 'x', packages: ['gunicorn', 'python3-pymysql'] } }).app.packages, ['gunicorn', 'python3-pymysql']);
  });
});

describe('worker.command', () => {
  const withWorker = nodes(['lb', 'app', 'mariadb', 'redis', 'worker']);

  it('a command app with worker nodes needs worker.command', () => {
    const e = rejected(() => parseConfig({ ...withWorker, app: { command: 'x' } }));
    assert.equal(e.key, 'worker.command');
    const c = parseConfig({ ...withWorker, app: { command: 'x' }, worker: { command: 'python3 worker.py', env: { QUEUES: 'default' } } });
    assert.equal(c.worker.command, 'python3 worker.py');
  });

  it('worker.command with no worker node is an error; worker.env refuses contract names', () => {
    assert.equal(rejected(() => parseConfig({ ...nodes(), app: { command: 'x' }, worker: { command: 'w' } })).key, 'worker.command');
    assert.equal(rejected(() => parseConfig({ ...withWorker, app: { command: 'x' }, worker: { command: 'w', env: { REDIS_URL: 'x' } } })).key, 'worker.env.REDIS_URL');
  });
});

describe('failover.verify', () => {
  it('an HTTP request with defaults, or a command; nothing else', () => {
    const c = parseConfig({ ...nodes(), failover: { verify: { path: '/api/ping' } } });
    assert.deepEqual(c.failover.verify, { method: 'GET', path: '/api/ping', headers: {}, expectStatus: 200 });
    const post = parseConfig({
      ...nodes(),
      failover: { verify: { method: 'POST', path: '/api/orders', body: '{}', headers: { 'content-type': 'application/json' }, expectStatus: 201 } },
    });
    assert.equal(post.failover.verify && 'method' in post.failover.verify ? post.failover.verify.expectStatus : 0, 201);
    assert.deepEqual(parseConfig({ ...nodes(), failover: { verify: { command: './check.sh' } } }).failover.verify, { command: './check.sh' });
    assert.equal(parseConfig(nodes()).failover.verify, undefined);
    assert.match(rejected(() => parseConfig({ ...nodes(), failover: { verify: { path: 'nope' } } })).key, /^failover\.verify/);
  });
});
