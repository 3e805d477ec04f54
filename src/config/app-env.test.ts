import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { appEnvironment, MASK, maskAppEnvironment } from './app-env.js';
import { CONTRACT_ENV_NAMES } from './app-schema.js';
import { parseConfig } from './load.js';
import { preset } from './presets.js';
import { resolveTopology } from './topology.js';

const secrets = { dbAppPassword: 'db p@ss/word', redisPassword: 'r:edis', sentinelPassword: 'sent' };

function ideal(extra: Record<string, unknown> = {}) {
  return resolveTopology(parseConfig({ ...preset('ideal'), ...extra }), { stateRoot: '/tmp/x', configDir: '/srv/app' });
}

describe('the environment contract', () => {
  it('app3 of the ideal preset: its own address, the local endpoints, every sentinel and memcached node', () => {
    const env = appEnvironment(ideal(), secrets, 'app3', 'app');
    assert.deepEqual(Object.keys(env).sort(), [...CONTRACT_ENV_NAMES].sort());
    assert.equal(env.HOST, '127.0.10.5');
    assert.equal(env.PORT, '8000');
    assert.equal(env.HASTACK_NODE, 'app3');
    // The password is URL-encoded inside the URLs, plain in DB_PASSWORD.
    assert.equal(env.DATABASE_URL, 'mysql://hastack:db%20p%40ss%2Fword@127.0.10.5:6033/app');
    assert.equal(env.DATABASE_READ_URL, 'mysql://hastack:db%20p%40ss%2Fword@127.0.10.5:6034/app');
    assert.equal(env.DB_HOST, '127.0.10.5');
    assert.equal(env.DB_PORT, '6033');
    assert.equal(env.DB_READ_PORT, '6034');
    assert.equal(env.DB_USER, 'hastack');
    assert.equal(env.DB_PASSWORD, 'db p@ss/word');
    assert.equal(env.DB_NAME, 'app');
    assert.equal(env.REDIS_URL, 'redis://:r%3Aedis@127.0.10.5:6380/0');
    assert.equal(env.REDIS_SENTINELS, '127.0.10.3:26379,127.0.10.4:26379,127.0.10.5:26379');
    assert.equal(env.REDIS_MASTER_NAME, 'hastack');
    assert.equal(env.REDIS_SENTINEL_PASSWORD, 'sent');
    assert.equal(env.MEMCACHED_SERVERS, '127.0.10.8:11211,127.0.10.9:11211');
  });

  it('a worker node gets it too (PORT: the app tier port), with worker.env on top of app.env', () => {
    const topo = ideal({ app: { command: 'serve', env: { A: '1' } }, worker: { command: 'work', env: { B: '2' } } });
    const env = appEnvironment(topo, secrets, 'worker1', 'worker');
    assert.equal(env.HOST, '127.0.10.6');
    assert.equal(env.PORT, '8000');
    assert.equal(env.A, '1');
    assert.equal(env.B, '2');
    assert.equal(appEnvironment(topo, secrets, 'app1', 'app').B, undefined);
  });

  it('ports come from config.ports when set (the endpoints kinds, once they exist)', () => {
    const env = appEnvironment(ideal({ ports: { app: 9000 } }), secrets, 'app1', 'app');
    assert.equal(env.PORT, '9000');
  });

  it('a node without app or worker: a typed error naming the nodes that have one', () => {
    assert.throws(
      () => appEnvironment(ideal(), secrets, 'db1', 'app'),
      (e: unknown) => e instanceof HastackError && e.code === ErrorCode.NODE_HAS_NO_APP && /app1, app2, app3, worker1, worker2/.test(e.message),
    );
    assert.throws(
      () => appEnvironment(ideal(), secrets, 'nope', 'app'),
      (e: unknown) => e instanceof HastackError && e.code === ErrorCode.NOT_FOUND,
    );
  });

  it('masking hides every password, in URLs too, and secret-looking extra variables', () => {
    const env = appEnvironment(ideal({ app: { command: 's', env: { SECRET_KEY: 'k', DEBUG: '0' } }, worker: { command: 'w' } }), secrets, 'app1', 'app');
    const m = maskAppEnvironment(env);
    const all = JSON.stringify(m);
    for (const s of ['db p@ss/word', 'db%20p%40ss%2Fword', 'r:edis', 'r%3Aedis', 'sent"']) assert.ok(!all.includes(s), `${s} leaked: ${all}`);
    assert.equal(m.DATABASE_URL, `mysql://hastack:${MASK}@127.0.10.3:6033/app`);
    assert.equal(m.REDIS_URL, `redis://:${MASK}@127.0.10.3:6380/0`);
    assert.equal(m.DB_PASSWORD, MASK);
    assert.equal(m.SECRET_KEY, MASK);
    assert.equal(m.DEBUG, '0');
    assert.equal(m.DB_USER, 'hastack');
  });
});
