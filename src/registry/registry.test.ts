import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import YAML from 'yaml';
import { SERVICE_KINDS, parseConfig, preset, type Config, type SecretName, type ServiceKind } from '../config/index.js';
import { SERVICES, isEngineKind, isOwnKind, kindsInStartOrder } from './kinds.js';
import { enginePrograms, hostPrograms, machinePrograms, testSuitePrograms } from './needs.js';
import { SUBSTRATE_TOOLS, TEST_ONLY_TOOLS } from './programs.js';
import { targetRoles } from './roles.js';
import { secretNeeds, secretsOf } from './secrets.js';

describe('service registry', () => {
  it('every kind has one descriptor, under its own name, with a unique start rank', () => {
    for (const k of SERVICE_KINDS) assert.equal(SERVICES[k].kind, k);
    assert.deepEqual(Object.keys(SERVICES).sort(), [...SERVICE_KINDS].sort());
    const ranks = SERVICE_KINDS.map((k) => SERVICES[k].startRank);
    assert.equal(new Set(ranks).size, ranks.length, 'two kinds share a start rank: their order would be undefined');
    // the kinds that existed before the registry keep their order (a new kind may slot in between)
    const before = ['mariadb', 'redis', 'sentinel', 'memcached', 'app', 'worker', 'lb', 'dns'];
    assert.deepEqual(
      kindsInStartOrder().filter((k) => before.includes(k)),
      before,
    );
  });

  it('engines run Debian programs; our own tiers need only Node (keepalived beside the lb aside)', () => {
    for (const k of ['app', 'worker', 'lb', 'dns'] as const) assert.ok(isOwnKind(k) && !isEngineKind(k), k);
    for (const k of ['mariadb', 'redis', 'sentinel', 'memcached'] as const) assert.ok(isEngineKind(k) && !isOwnKind(k), k);
    for (const k of SERVICE_KINDS) assert.notEqual(isOwnKind(k), isEngineKind(k), k);
    for (const k of SERVICE_KINDS.filter(isEngineKind))
      assert.ok(
        SERVICES[k].programs.some((p) => p.required),
        `${k} has a required program`,
      );
    assert.equal(isOwnKind('toaster'), false);
  });

  it('the secrets of each kind are the table config/secrets.ts kept before (SECRETS_OF)', () => {
    const before: Partial<Record<ServiceKind, readonly SecretName[]>> = {
      mariadb: ['dbRootPassword', 'dbAppPassword', 'dbReplPassword', 'lbDbPassword'],
      redis: ['redisPassword'],
      sentinel: ['redisPassword', 'sentinelPassword'],
      app: ['dbAppPassword', 'redisPassword', 'sentinelPassword', 'sessionKey'],
      worker: ['dbAppPassword', 'redisPassword', 'sentinelPassword', 'sessionKey'],
      memcached: [],
      lb: ['vrrpPassword', 'tlsTicketSecret', 'lbDbPassword', 'lbStoreKey'],
      dns: [],
      etcd: ['etcdRootPassword'],
    };
    for (const [k, names] of Object.entries(before)) assert.deepEqual(secretsOf(k as ServiceKind), names, k);
    assert.deepEqual(secretNeeds(['lb', 'dns']), ['vrrpPassword', 'tlsTicketSecret', 'lbDbPassword', 'lbStoreKey']);
    assert.deepEqual(secretNeeds(['memcached'], { backup: true }), ['redisPassword', 'sentinelPassword', 'dbRootPassword']);
    assert.equal(secretNeeds([], { controller: true }).length, 11);
  });

  it('the chaos roles are the vocabulary chaos/faults.ts kept before', () => {
    const before: Record<string, { service: string; role?: string }> = {
      lb: { service: 'lb' },
      app: { service: 'app' },
      worker: { service: 'worker' },
      memcached: { service: 'memcached' },
      'redis-master': { service: 'redis', role: 'master' },
      'redis-replica': { service: 'redis', role: 'replica' },
      'db-primary': { service: 'mariadb', role: 'primary' },
      'db-replica': { service: 'mariadb', role: 'replica' },
      db: { service: 'mariadb' },
      sentinel: { service: 'sentinel' },
      dns: { service: 'dns' },
    };
    const roles = targetRoles();
    for (const [name, want] of Object.entries(before)) assert.deepEqual(roles.get(name), want, name);
  });

  it('the config sections that restart each kind are the ones hosts/units.ts listed before', () => {
    const before: Partial<Record<ServiceKind, readonly string[]>> = {
      mariadb: ['database'],
      redis: ['redis'],
      sentinel: ['redis'],
      memcached: ['memcached'],
      lb: ['lb', 'serviceName', 'database'],
      dns: ['dns', 'lb', 'serviceName'],
      app: ['app', 'database', 'redis', 'memcached', 'serviceName'],
      // 'worker' since issue 19: worker.command and worker.env (a command app's worker)
      worker: ['app', 'worker', 'database', 'redis', 'memcached', 'serviceName'],
    };
    for (const [k, sections] of Object.entries(before)) assert.deepEqual(SERVICES[k as ServiceKind].restartOn, sections, k);
  });
});

describe('Debian programs, from the registry', () => {
  const binaries = (list: ReadonlyArray<{ binary: string }>) => list.map((b) => b.binary).sort();

  it('doctor checks what ENGINE_BINARIES listed by hand before, each once, with its package', () => {
    const before = ['redis-server', 'redis-sentinel', 'memcached', 'mariadbd', 'mariadb-install-db', 'mariadb', 'mariabackup', 'libgalera_smm.so', 'socat', 'rsync', 'keepalived'];
    assert.deepEqual(
      binaries(enginePrograms()).filter((b) => before.includes(b)),
      [...before].sort(),
    );
    assert.equal(new Set(binaries(enginePrograms())).size, enginePrograms().length, 'each once');
    const byBinary = new Map(enginePrograms().map((b) => [b.binary, b]));
    assert.equal(byBinary.get('mariadbd')?.package, 'mariadb-server');
    assert.equal(byBinary.get('mariabackup')?.package, 'mariadb-backup');
    assert.equal(byBinary.get('libgalera_smm.so')?.package, 'galera-4');
    assert.equal(byBinary.get('redis-sentinel')?.package, 'redis-sentinel');
    // optional ones do not fail doctor on a machine that runs no Galera and no floating address
    for (const b of ['mariadb', 'libgalera_smm.so', 'socat', 'keepalived']) assert.equal(byBinary.get(b)?.required, false, b);
    // the registry's deploy-only fields do not leak into what doctor sees
    for (const b of enginePrograms()) assert.ok(!('onHostWhen' in b) && !('checkPackage' in b), b.binary);
  });

  it("a machine needs the engines plus its substrate's tools; the tests need everything, all required", () => {
    assert.deepEqual(binaries(machinePrograms('local')), binaries(enginePrograms()));
    assert.deepEqual(binaries(machinePrograms('netns')), binaries([...enginePrograms(), ...SUBSTRATE_TOOLS.netns]));
    const tests = testSuitePrograms();
    // Each once: a program both a kind and a substrate need (ssh: an SSH backup target, and hosts) counts once.
    assert.deepEqual(binaries(tests), [...new Set(binaries([...enginePrograms(), ...SUBSTRATE_TOOLS.netns, ...SUBSTRATE_TOOLS.hosts, ...TEST_ONLY_TOOLS]))]);
    assert.equal(new Set(binaries(tests)).size, tests.length, 'each once');
    assert.ok(tests.every((b) => b.required));
    // The etcd kind's packages reach `.ci/run` through `setup --tests` (a fresh machine has neither).
    const packages = new Set(tests.map((b) => b.package));
    for (const p of ['etcd-server', 'etcd-client']) assert.ok(packages.has(p), `setup --tests installs ${p}`);
  });

  it("the tests install every package the Python example's configs ask for (app.packages)", () => {
    const suite = new Set(testSuitePrograms().map((b) => b.package));
    for (const file of ['hastack.yaml', 'hastack.simple.yaml']) {
      // dist/src/registry/ -> the repository's examples/python/
      const text = fs.readFileSync(new URL(`../../../examples/python/${file}`, import.meta.url), 'utf8');
      const packages = (YAML.parse(text) as { app?: { packages?: string[] } }).app?.packages ?? [];
      assert.ok(packages.length > 0, file);
      for (const p of packages) assert.ok(suite.has(p), `${file}: app.packages ${p} is not in TEST_ONLY_TOOLS (src/registry/programs.ts)`);
    }
  });

  it("a host gets its kinds' programs, by configuration: Galera's only in galera mode, keepalived only with a floating address", () => {
    const replication: Config = parseConfig({ ...preset('simple'), database: { mode: 'replication' } });
    const galera: Config = parseConfig(preset('ideal'));
    assert.equal(galera.database.mode, 'galera');
    const db = hostPrograms(replication, ['mariadb', 'redis']);
    assert.deepEqual(binaries(db.binaries), ['mariabackup', 'mariadb', 'mariadb-install-db', 'mariadbd', 'redis-server', 'rsync']);
    assert.deepEqual(db.packages, []);
    assert.deepEqual(binaries(hostPrograms(galera, ['mariadb']).binaries), ['libgalera_smm.so', 'mariabackup', 'mariadb', 'mariadb-install-db', 'mariadbd', 'rsync', 'socat']);
    assert.deepEqual(hostPrograms(replication, ['lb', 'dns', 'app']), { binaries: [], packages: [] });
    const vip: Config = { ...replication, lb: { ...replication.lb, vip: '10.0.0.100' } };
    assert.deepEqual(hostPrograms(vip, ['lb']), { binaries: [], packages: ['keepalived'] });
    assert.deepEqual(hostPrograms(vip, ['app']).packages, []);
  });
});
