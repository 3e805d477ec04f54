import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ENGINE_SECRETS, parseConfig, resolveTopology, type SecretName, type Topology } from '../config/index.js';
import { secretsOf } from '../registry/index.js';
import { ROTATABLE, type EngineSecret } from '../failover/index.js';
import { parseSecretsRequest, secretsFileText } from './rotate-agent.js';
import { planHostRotation, type HostStep } from './rotate-plan.js';

/** Two database hosts with Redis and a Sentinel each, an app host, a load-balancer host; the controller on `ops`. */
function shop(): Topology {
  const config = parseConfig({
    cluster: 'shop',
    substrate: 'hosts',
    nodes: [
      { name: 'db1', address: '10.0.0.1', ssh: 'root@10.0.0.1', services: ['mariadb', 'redis', 'sentinel', 'app', 'worker'] },
      { name: 'db2', address: '10.0.0.2', ssh: 'root@10.0.0.2', services: ['mariadb', 'redis', 'sentinel', 'app', 'worker'] },
      { name: 'edge', address: '10.0.0.3', ssh: 'root@10.0.0.3', services: ['lb', 'dns'] },
      { name: 'ops', address: '10.0.0.4', ssh: 'root@10.0.0.4', services: ['sentinel'] },
    ],
    hosts: { controller: 'ops' },
  });
  return resolveTopology(config, { stateRoot: '/ignored', configDir: '/ignored' });
}

/** What each node holds, as deploy computes it (the controller's node: everything). */
function heldBy(topo: Topology): Map<string, SecretName[]> {
  return new Map(topo.nodes.map((n) => [n.name, n.name === 'ops' ? [...ENGINE_SECRETS] : ENGINE_SECRETS.filter((k) => n.services.some((kind) => secretsOf(kind).includes(k)))]));
}

const ids = (steps: readonly HostStep[]): string[] => steps.map((s) => s.id);
const firstIndex = (steps: readonly HostStep[], prefix: string): number => steps.findIndex((s) => s.id.startsWith(prefix));
const lastIndex = (steps: readonly HostStep[], prefix: string): number => steps.map((s) => s.id.startsWith(prefix)).lastIndexOf(true);

describe('review item 3: secrets rotate on hosts, the plan', () => {
  it('every engine takes both passwords before any host gets its new file; the clients restart after; the old passwords go last', () => {
    const topo = shop();
    const steps = planHostRotation(topo, [...ROTATABLE], heldBy(topo));
    const lastAccept = Math.max(
      lastIndex(steps, 'redis-accept'),
      lastIndex(steps, 'sentinel-accept'),
      lastIndex(steps, 'db-accept'),
      lastIndex(steps, 'db-root-accept'),
      lastIndex(steps, 'db-repl-replica'),
    );
    const save = ids(steps).indexOf('save');
    assert.ok(lastAccept < save, 'engines accept the new passwords before they are saved anywhere');
    assert.ok(save < firstIndex(steps, 'push:'), "the operator's file first: a cut after a push still finds the new values here");
    assert.ok(lastIndex(steps, 'push:') < firstIndex(steps, 'restart:'), 'a unit restarts only once its host holds the new file');
    const firstDrop = Math.min(...['db-drop-old', 'db-root-drop-old', 'redis-drop-old', 'sentinel-drop-old'].map((p) => firstIndex(steps, p)));
    assert.ok(lastIndex(steps, 'restart:') < firstDrop, 'the old passwords go only after every client restarted');
    assert.equal(new Set(ids(steps)).size, steps.length, 'step ids are unique (the journal records them)');
  });

  it('pushes only to hosts holding a rotated secret; restarts our own processes and the controller one at a time, never an engine', () => {
    const topo = shop();
    const steps = planHostRotation(topo, [...ROTATABLE], heldBy(topo));
    assert.deepEqual(
      steps.filter((s) => s.id.startsWith('push:')).map((s) => s.id),
      ['push:db1', 'push:db2', 'push:ops'],
      'the load-balancer host holds no password: nothing to push',
    );
    assert.deepEqual(
      steps.filter((s) => s.action.do === 'restart').map((s) => s.id),
      ['restart:db1/app', 'restart:db1/worker', 'restart:db2/app', 'restart:db2/worker', 'restart:ops/controller'],
    );
    const ctl = steps.find((s) => s.id === 'restart:ops/controller');
    assert.deepEqual(ctl?.action, { do: 'restart', node: 'ops', unit: 'hastack-shop-controller' });
  });

  it('rotating only the app database password: no Redis, Sentinel or root step; the app servers and workers still restart', () => {
    const topo = shop();
    const names: EngineSecret[] = ['dbAppPassword'];
    const steps = planHostRotation(topo, names, heldBy(topo));
    assert.deepEqual(
      ids(steps).filter((i) => !i.startsWith('restart:') && !i.startsWith('push:')),
      ['db-accept:hastack', 'save', 'db-drop-old:hastack'],
    );
    assert.equal(steps.filter((s) => s.id.startsWith('restart:')).length, 5);
  });

  it('the agent request never echoes a password when it is refused, and the file is written exactly as apply writes it', () => {
    assert.throws(
      () => parseSecretsRequest(JSON.stringify({ op: 'redis-accept', id: 'db1/redis', next: 'the-new-secret', old: 42 })),
      (e: Error) => /old/.test(e.message) && !e.message.includes('the-new-secret'),
    );
    assert.throws(() => parseSecretsRequest('{"op":"flushall","id":"db1/redis"}'), /not a secrets request/);
    const req = parseSecretsRequest(JSON.stringify({ op: 'write-secrets', secrets: { dbAppPassword: 'a', redisPassword: 'r' } }));
    assert.equal(req.op, 'write-secrets');
    if (req.op === 'write-secrets') assert.equal(secretsFileText(req.secrets), '{\n  "redisPassword": "r",\n  "dbAppPassword": "a"\n}\n', 'canonical order, as install.ts');
  });
});
