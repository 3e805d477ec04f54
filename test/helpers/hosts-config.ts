import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import YAML from 'yaml';
import { preset, type ConfigInput } from '../../src/config/index.js';
import { testRange, type TestId } from '../../kit/addresses.js';
import { runCli, tempDir } from './cli.js';
import { startHostBed, type BedHost, type BedInit, type HostBed } from './hostbed.js';

const ALL = ['mariadb', 'redis', 'sentinel', 'memcached', 'app', 'worker', 'lb', 'dns'] as const;

/**
 * The `simple` preset on a three-host bed (`primary`, `standby`, `ops`), as `substrate: hosts`:
 * the two servers carry every service; `ops` carries a third Sentinel (a majority without either
 * server) and the controller, with the app's demo data (`app.demoData`). `extra` overrides
 * top-level keys.
 */
export function simpleOnBed(bed: HostBed, cluster: string, extra: Partial<ConfigInput> = {}): ConfigInput {
  const [p, s, w] = bed.hosts;
  if (!p || !s || !w) throw new Error('the bed needs three hosts: primary, standby, ops');
  const base = preset('simple');
  // The test machine (the bed bridge's .254) runs failover and chaos against the database: it is
  // the operator's machine outside the cluster, allowed the admin account by database.adminFrom.
  const operator = p.address.replace(/\.\d+$/, '.254');
  return {
    ...base,
    database: { ...base.database, adminFrom: [operator] },
    cluster,
    substrate: 'hosts',
    nodes: [
      { name: 'primary', address: p.address, ssh: p.sshTarget, services: [...ALL] },
      { name: 'standby', address: s.address, ssh: s.sshTarget, services: [...ALL] },
      { name: 'ops', address: w.address, ssh: w.sshTarget, services: ['sentinel'] },
    ],
    hosts: { controller: 'ops', identityFile: bed.identityFile, knownHostsFile: bed.knownHostsFile },
    // A test bed, not a real deployment: the chaos workload and the crash plan's check log in as
    // the ERP's demo clerk, which hosts get only when asked.
    app: { demoData: true },
    ...extra,
  };
}

/**
 * The `ideal` preset's services (Galera `database.mode`) on a four-host bed, as `substrate: hosts`:
 * three database hosts (`db1`-`db3`) each carrying a Galera node, a Redis and a Sentinel (so a
 * lost host leaves two of three of each, a majority), memcached on the first two; `edge` carries
 * the load balancer, DNS, the app, the worker and the controller, and is never the target of a
 * fault. The test machine (the bed bridge's .254) is the operator's. `extra` overrides top-level keys.
 */
export function galeraOnBed(bed: HostBed, cluster: string, extra: Partial<ConfigInput> = {}): ConfigInput {
  const [a, b, c, e] = bed.hosts;
  if (!a || !b || !c || !e) throw new Error('the bed needs four hosts: db1, db2, db3, edge');
  const base = preset('ideal');
  const operator = a.address.replace(/\.\d+$/, '.254');
  const db = (h: BedHost, name: string, cache: boolean): NonNullable<ConfigInput['nodes']>[number] => ({
    name,
    address: h.address,
    ssh: h.sshTarget,
    services: ['mariadb', 'redis', 'sentinel', ...(cache ? (['memcached'] as const) : [])],
  });
  return {
    ...base,
    database: { ...base.database, adminFrom: [operator] },
    cluster,
    substrate: 'hosts',
    nodes: [db(a, 'db1', true), db(b, 'db2', true), db(c, 'db3', false), { name: 'edge', address: e.address, ssh: e.sshTarget, services: ['lb', 'dns', 'app', 'worker'] }],
    hosts: { controller: 'edge', identityFile: bed.identityFile, knownHostsFile: bed.knownHostsFile },
    app: { demoData: true },
    ...extra,
  };
}

/** A bed and a cluster config on it for a `describe`: read them inside tests. */
export interface UsedBed {
  readonly bed: HostBed;
  readonly dir: string;
  readonly configFile: string;
}

export interface UseBedOptions {
  /** Runs before `hastack down` in `after` (stop a load loop, print a figure). */
  readonly beforeDown?: () => void;
  /** What the hosts run as PID 1 (hostbed.ts `startHostBed`; default HASTACK_BED_INIT, else keeper). */
  readonly init?: BedInit;
  /** The hosts' names (default primary, standby, ops: what `simpleOnBed` needs). */
  readonly hosts?: readonly string[];
  /** An etcd member on every host (the decision quorum of failover.auto, issue 23). */
  readonly etcd?: boolean;
}

/** The config with an etcd member added to every node. */
function withEtcd(c: ConfigInput): ConfigInput {
  return { ...c, nodes: (c.nodes ?? []).map((n) => ({ ...n, services: [...n.services, 'etcd' as const] })) };
}

/**
 * Registers `before` (a host bed, three hosts unless `opts.hosts` says otherwise, on the test's
 * private /24 from kit/addresses.ts, the `simple` preset on it as `substrate: hosts`, written to
 * `hastack.yaml` in a temp dir) and `after` (`beforeDown`, `hastack down`, the bed's teardown,
 * the dir removed) in the calling `describe`.
 */
export function useBedCluster(id: TestId, extra: Partial<ConfigInput> = {}, opts: UseBedOptions = {}): UsedBed {
  const r = testRange(id);
  if (r.privateBase === undefined) throw new Error(`test ${id} has no private /24 in kit/addresses.ts`);
  const privateBase = r.privateBase;
  const dir = tempDir(`bed-${id}`);
  const configFile = path.join(dir, 'hastack.yaml');
  let bed: HostBed | undefined;
  before(async () => {
    bed = await startHostBed({ hosts: opts.hosts ?? ['primary', 'standby', 'ops'], addressBase: privateBase, ...(opts.init !== undefined ? { init: opts.init } : {}) });
    const config = simpleOnBed(bed, r.cluster, extra);
    fs.writeFileSync(configFile, YAML.stringify(opts.etcd === true ? withEtcd(config) : config));
  });
  after(async () => {
    opts.beforeDown?.();
    const t0 = Date.now();
    await runCli(['down', '-f', configFile], { cwd: dir, timeoutMs: 150_000 }).catch(() => undefined);
    const t1 = Date.now();
    await bed?.teardown();
    console.log(`# figure: hastack down ${t1 - t0} ms, bed teardown (${bed?.init ?? '-'}) ${Date.now() - t1} ms`);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    get bed() {
      return bed ?? assert.fail('the host bed is not up (its before hook failed)');
    },
    dir,
    configFile,
  };
}
