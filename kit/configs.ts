/**
 * Config builders for the shapes tests repeat: a config placed on a test's row of the address
 * table (cluster name, addresses, netns /24, admin port), the presets with the example ERP, and
 * the node lists several tests share. A test writes what is its own (a setting it exercises) and
 * takes the rest from here.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { preset, type ConfigInput } from '../src/config/index.js';
import { REPO_ROOT } from './paths.js';
import { testRange, type TestId } from './addresses.js';

type NodeInput = NonNullable<ConfigInput['nodes']>[number];
type ServiceName = NodeInput['services'][number];

/** The example ERP as the cluster's app. */
export const ERP_APP = { module: path.join(REPO_ROOT, 'examples/erp') } as const;

/** A test fixture app under test/ (`test/chaos/fixtures/broken-erp.ts`). */
export const fixtureApp = (rel: string): { module: string } => ({ module: path.join(REPO_ROOT, rel) });

/**
 * `config` on the test's row: its cluster name (the row's first unless `cluster`), `addressBase`
 * of the row's span `span` (default the first), `netns.addressBase` (the row's private /24
 * number `netns`, default the first, on the netns substrate or when `netns` is given: for
 * `up --substrate netns`) and the span's admin port. Nodes without an address get `.first`,
 * `.first+1`, ... of the span when it does not start at .1 (local substrate).
 */
export function onRange(id: TestId, config: ConfigInput, opts: { cluster?: string; span?: number; netns?: number } = {}): ConfigInput {
  const r = testRange(id);
  const span = r.row.loopback[opts.span ?? 0];
  if (span === undefined) throw new Error(`test ${id} has no loopback span ${opts.span ?? 0} in kit/addresses.ts`);
  const netns = config.substrate === 'netns' || opts.netns !== undefined;
  const privateBase = r.row.private[opts.netns ?? 0];
  const first = span.first ?? 1;
  const nodes =
    netns || first === 1 || config.nodes === undefined ? config.nodes : config.nodes.map((n, i) => (n.address === undefined ? { ...n, address: `${span.base}.${first + i}` } : n));
  return {
    ...config,
    cluster: opts.cluster ?? r.cluster,
    addressBase: span.base,
    ...(netns && privateBase !== undefined ? { netns: { ...config.netns, addressBase: privateBase } } : {}),
    ...(span.admin !== undefined && span.admin !== 9090 ? { supervisor: { ...config.supervisor, adminPort: span.admin } } : {}),
    ...(nodes !== undefined ? { nodes } : {}),
  };
}

/** The `simple` preset (two servers carrying everything, replication) with the ERP, on the test's row. */
export function simpleCluster(id: TestId, extra: Partial<ConfigInput> = {}, opts: Parameters<typeof onRange>[2] = {}): ConfigInput {
  return onRange(id, { ...preset('simple'), app: ERP_APP, ...extra }, opts);
}

/** The `ideal` preset (every tier on its own nodes) with the ERP, on the test's row. */
export function idealCluster(id: TestId, extra: Partial<ConfigInput> = {}, opts: Parameters<typeof onRange>[2] = {}): ConfigInput {
  return onRange(id, { ...preset('ideal'), app: ERP_APP, ...extra }, opts);
}

/** The Python example's folder (examples/python): its app, worker, migration and configs. */
const PYTHON_EXAMPLE_DIR = path.join(REPO_ROOT, 'examples/python');

/**
 * The Python example's own config (`examples/python/hastack.yaml`, `ideal`; or
 * `hastack.simple.yaml`) on the test's row, its `app.dir` pointed at the example where it is (the
 * test writes the config elsewhere).
 */
export function pythonExample(id: TestId, variant: 'ideal' | 'simple'): ConfigInput {
  const file = path.join(PYTHON_EXAMPLE_DIR, variant === 'ideal' ? 'hastack.yaml' : 'hastack.simple.yaml');
  const config = YAML.parse(fs.readFileSync(file, 'utf8')) as ConfigInput;
  return onRange(id, { ...config, app: { ...config.app, dir: PYTHON_EXAMPLE_DIR } });
}

/** `failover.auto` on with a detection of `detectionMs` (2 s: a dead primary refuses at once, its replica's IO thread reconnects every second). */
export function autoFailover(detectionMs = 2_000): NonNullable<ConfigInput['failover']> {
  return { ...preset('simple').failover, auto: true, detectionMs };
}

/**
 * The `simple` preset on the netns substrate (replication, `failover.auto` with 2 s detection),
 * with the primary's semi-sync timeout `semiSyncTimeoutMs`: the partition scenarios of the
 * database tier.
 */
export function netnsAutoFailover(id: TestId, semiSyncTimeoutMs: number, opts: { readonly twoMachines?: boolean } = {}): ConfigInput {
  return simpleCluster(id, {
    substrate: 'netns',
    failover: autoFailover(2_000),
    database: { mode: 'replication', semiSyncTimeoutMs },
    ...(opts.twoMachines === true ? twoMachines() : {}),
  });
}

/**
 * `simple` as a user with only two machines runs it: no witness, so no etcd quorum (one
 * controller decides, as before issue 23) and two Sentinels.
 */
export function twoMachines(): Pick<ConfigInput, 'nodes'> {
  const nodes = (preset('simple').nodes ?? []).filter((n) => n.name !== 'witness');
  return { nodes: nodes.map((n) => ({ ...n, services: n.services.filter((s) => s !== 'etcd') })) };
}

/**
 * Two load-balancer nodes (`lb1`, `lb2`, each with DNS) in front of one `core` node carrying the
 * rest: the smallest cluster where a client can move between balancers through DNS.
 */
export function twoLbNodes(): NodeInput[] {
  return [
    { name: 'lb1', services: ['lb', 'dns'] },
    { name: 'lb2', services: ['lb', 'dns'] },
    { name: 'core', services: ['mariadb', 'redis', 'sentinel', 'memcached', 'app', 'worker'] },
  ];
}

/** Every tier on one node, `solo`. */
const SOLO: readonly ServiceName[] = ['mariadb', 'redis', 'memcached', 'app', 'worker', 'lb'];

/**
 * One node carrying every tier (`solo`), plus a second app server `app2` when `app2`, so the load
 * balancer alternates between two. DNS only when `dns` (nothing resolves the name otherwise).
 */
export function soloNodes(opts: { app2?: boolean; dns?: boolean } = {}): NodeInput[] {
  return [{ name: 'solo', services: [...SOLO, ...(opts.dns === true ? (['dns'] as const) : [])] }, ...(opts.app2 === true ? [{ name: 'app2', services: ['app' as const] }] : [])];
}

/**
 * The `ideal` preset's nodes trimmed to what a partition scenario needs on a 2-core machine: its
 * two lb+dns nodes, two app servers with Sentinels, `app3` with the third Sentinel and the one
 * memcached (no app), one worker, and `redis` Redis and `db` MariaDB nodes.
 */
export function partitionNodes(opts: { redis: number; db: number }): NodeInput[] {
  const ideal = preset('ideal').nodes ?? [];
  const keep = (name: string): NodeInput => ideal.find((n) => n.name === name) ?? assert.fail(`the ideal preset has no node ${name}`);
  const many = (prefix: string, n: number, kind: ServiceName): NodeInput[] => Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i + 1}`, services: [kind] }));
  return [
    ...['lb1', 'lb2', 'app1', 'app2'].map(keep),
    { name: 'app3', services: ['sentinel', 'memcached'] },
    keep('worker1'),
    ...many('redis', opts.redis, 'redis'),
    ...many('db', opts.db, 'mariadb'),
  ];
}

/** MariaDB nodes `db1`..`dbN` and a `front` node with what the schema requires (redis, app, lb). */
export function dbNodes(count: number, front: readonly ServiceName[] = ['redis', 'app', 'lb']): NodeInput[] {
  return [...Array.from({ length: count }, (_, i) => ({ name: `db${i + 1}`, services: ['mariadb' as const] })), { name: 'front', services: [...front] }];
}
