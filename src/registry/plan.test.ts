import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig, preset, resolveTopology, servicesOf, type ConfigInput, type ServiceInstance, type ServiceKind, type Topology } from '../config/index.js';
import { startPlan, stopGraceMs, stopOrder, stopPlan, type StartStep } from './plan.js';

const topo = (name: 'ideal' | 'simple') => resolveTopology(parseConfig(preset(name)), { stateRoot: '/tmp/s', configDir: '/tmp' });
/** `ideal` with a replicated database (primary db1, replicas db2 and db3). */
const replicated = () => {
  const p = preset('ideal');
  return resolveTopology(parseConfig({ ...p, database: { mode: 'replication' } }), { stateRoot: '/tmp/s', configDir: '/tmp' });
};

describe('start plan', () => {
  it('follows the dependency order, primary before replicas', () => {
    const labels = startPlan(replicated()).map((s) => (s.type === 'start' ? `${s.label}:${s.services.map((x) => x.node).join(',')}` : s.type));
    assert.deepEqual(labels, [
      'database primary:db1',
      'database replicas:db2,db3',
      'redis master:redis1',
      'redis replicas:redis2,redis3',
      'sentinels:app1,app2,app3',
      'sentinels-ready',
      'memcached:cache1,cache2',
      'migrate',
      'app servers:app1,app2,app3',
      'workers:worker1,worker2',
      'load balancers:lb1,lb2',
      'dns:lb1,lb2',
    ]);
  });

  it('with endpoints on, starts them after the engines and Sentinels, before the migrations and the app', () => {
    const p = preset('simple');
    const t = resolveTopology(parseConfig({ ...p, endpoints: { enabled: true } }), { stateRoot: '/tmp/s', configDir: '/tmp' });
    const labels = startPlan(t).map((s) => (s.type === 'start' ? s.label : s.type));
    const at = (l: string): number => labels.indexOf(l);
    assert.ok(at('database endpoints') > at('sentinels-ready') && at('database endpoints') > at('memcached'), labels.join(' | '));
    assert.ok(at('redis endpoints') < at('migrate') && at('migrate') < at('app servers'), labels.join(' | '));
    assert.deepEqual(
      servicesOf(t, 'db-endpoint').map((s) => s.node),
      ['primary', 'standby'],
    );
  });

  it('starts every service exactly once', () => {
    for (const name of ['ideal', 'simple'] as const) {
      const t = topo(name);
      const started = startPlan(t).flatMap((s) => (s.type === 'start' ? s.services.map((x) => x.id) : []));
      assert.deepEqual([...started].sort(), t.services.map((s) => s.id).sort());
    }
  });
});

describe('start plan in galera mode', () => {
  // `ideal` is a three-node Galera cluster.
  const galera = () => topo('ideal');

  it('starts the bootstrap node alone, then one joiner at a time', () => {
    const labels = startPlan(galera(), 'db2')
      .filter((s) => s.type === 'start' && s.services.some((x) => x.kind === 'mariadb'))
      .map((s) => (s.type === 'start' ? s.services.map((x) => x.node).join(',') : ''));
    assert.deepEqual(labels, ['db2', 'db1', 'db3']);
  });
});

describe('stop plan', () => {
  it('is the reverse: front door first, database primary last', () => {
    const groups = stopPlan(topo('simple')).map((g) => g.map((s) => s.id).join(','));
    assert.equal(groups[0], 'primary/dns,standby/dns');
    // The decision quorum (issue 23) outlives the database it decides about.
    assert.equal(groups[groups.length - 1], 'primary/etcd,standby/etcd,witness/etcd');
    assert.equal(groups[groups.length - 2], 'primary/mariadb');
    assert.equal(groups[groups.length - 3], 'standby/mariadb');
  });
});

/**
 * The plan as src/control/plan.ts wrote it by hand before the registry, frozen here: the plan the
 * descriptors derive must stay the same, step for step, on every layout below.
 */
const reference = {
  startPlan(topo: Topology, dbPrimary: string = topo.initialDbPrimary): StartStep[] {
    const steps: StartStep[] = [];
    const group = (label: string, services: ServiceInstance[]): void => {
      if (services.length > 0) steps.push({ type: 'start', label, services });
    };
    // The decision quorum (issue 23) came later: first, before the database it decides about.
    group('etcd quorum', servicesOf(topo, 'etcd'));
    const dbs = servicesOf(topo, 'mariadb');
    group(
      'database primary',
      dbs.filter((s) => s.node === dbPrimary),
    );
    if (topo.config.database.mode === 'galera') {
      for (const s of dbs.filter((x) => x.node !== dbPrimary)) group(`database node ${s.node} (joins)`, [s]);
    } else {
      group(
        'database replicas',
        dbs.filter((s) => s.node !== dbPrimary),
      );
    }
    const redis = servicesOf(topo, 'redis');
    group(
      'redis master',
      redis.filter((s) => s.node === topo.initialRedisMaster),
    );
    group(
      'redis replicas',
      redis.filter((s) => s.node !== topo.initialRedisMaster),
    );
    const sentinels = servicesOf(topo, 'sentinel');
    group('sentinels', sentinels);
    if (sentinels.length > 0) steps.push({ type: 'sentinels-ready' });
    group('memcached', servicesOf(topo, 'memcached'));
    steps.push({ type: 'migrate' });
    group('app servers', servicesOf(topo, 'app'));
    group('workers', servicesOf(topo, 'worker'));
    group('load balancers', servicesOf(topo, 'lb'));
    group('dns', servicesOf(topo, 'dns'));
    return steps;
  },
  // The local endpoints (issue 19) came later: after the app, before the engines.
  STOP_ORDER: ['dns', 'lb', 'worker', 'app', 'redis-endpoint', 'db-read-endpoint', 'db-endpoint', 'memcached', 'sentinel', 'redis', 'mariadb', 'etcd'] as readonly ServiceKind[],
  stopPlan(topo: Topology): ServiceInstance[][] {
    const groups: ServiceInstance[][] = [];
    for (const kind of reference.STOP_ORDER) {
      const of = servicesOf(topo, kind);
      if (kind === 'mariadb' || kind === 'redis') {
        const first = kind === 'mariadb' ? topo.initialDbPrimary : topo.initialRedisMaster;
        groups.push(
          of.filter((s) => s.node !== first),
          of.filter((s) => s.node === first),
        );
      } else {
        groups.push(of);
      }
    }
    return groups.filter((g) => g.length > 0);
  },
  stopGraceMs(kind: ServiceKind): number {
    if (kind === 'mariadb') return 30_000;
    if (kind === 'app' || kind === 'worker') return 15_000;
    if (kind.endsWith('-endpoint')) return 5_000;
    return 10_000;
  },
};

function layouts(): Array<{ name: string; topo: Topology }> {
  const at = (input: ConfigInput): Topology => resolveTopology(parseConfig(input), { stateRoot: '/tmp/s', configDir: '/tmp' });
  const ideal = preset('ideal');
  const simple = preset('simple');
  // one machine with everything: no replicas, no joiners
  const tiny: ConfigInput = {
    cluster: 'tiny',
    redis: { quorum: 1 },
    nodes: [{ name: 'one', services: ['mariadb', 'redis', 'sentinel', 'memcached', 'app', 'worker', 'lb', 'dns'] }],
  };
  // three machines carrying everything, Redis master and database primary on different ones
  const shared: ConfigInput = {
    cluster: 'shared',
    database: { mode: 'galera' },
    nodes: [
      { name: 'm1', services: ['lb', 'dns', 'app', 'worker', 'sentinel', 'memcached', 'redis'] },
      { name: 'm2', services: ['mariadb', 'redis', 'sentinel', 'app', 'lb'] },
      { name: 'm3', services: ['mariadb', 'sentinel', 'memcached', 'worker'] },
      { name: 'm4', services: ['mariadb', 'app'] },
    ],
  };
  return [
    { name: 'ideal (galera)', topo: at(ideal) },
    { name: 'ideal (replication)', topo: at({ ...ideal, database: { mode: 'replication' } }) },
    { name: 'simple', topo: at(simple) },
    { name: 'shared nodes (galera)', topo: at(shared) },
    { name: 'tiny', topo: at(tiny) },
  ];
}

const ids = (steps: StartStep[]): string[] => steps.map((s) => (s.type === 'start' ? `${s.label}:${s.services.map((x) => x.id).join(',')}` : s.type));

describe('the plan derived from the descriptors equals the hand-written one it replaced', () => {
  for (const { name, topo: t } of layouts()) {
    it(`start and stop plans of ${name}`, () => {
      assert.deepEqual(ids(startPlan(t)), ids(reference.startPlan(t)));
      for (const db of servicesOf(t, 'mariadb')) assert.deepEqual(ids(startPlan(t, db.node)), ids(reference.startPlan(t, db.node)), `primary ${db.node}`);
      const stop = (g: ServiceInstance[][]) => g.map((x) => x.map((s) => s.id).join(','));
      assert.deepEqual(stop(stopPlan(t)), stop(reference.stopPlan(t)));
    });
  }

  it('stop order and stop grace', () => {
    assert.deepEqual(stopOrder(), reference.STOP_ORDER);
    for (const k of reference.STOP_ORDER) assert.equal(stopGraceMs(k), reference.stopGraceMs(k), k);
  });
});
