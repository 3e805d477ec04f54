import path from 'node:path';
import YAML from 'yaml';
import type { ZodIssue } from 'zod';
import { ConfigError } from '../shared/errors.js';
import { configSchema, DEFAULT_PORTS, httpsPort, type Config, type ConfigInput, type ServiceKind } from './schema.js';
import { nodeAddress, resolveTopology } from './topology.js';

/** `nodes.2.services.0` → `nodes[2].services[0]`: the way a person points at a YAML key. */
export function formatKey(p: ReadonlyArray<string | number>): string {
  let out = '';
  for (const part of p) out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  return out === '' ? '(top level)' : out;
}

function issueToError(issue: ZodIssue): ConfigError {
  if (issue.code === 'unrecognized_keys') {
    const base = formatKey(issue.path);
    const keys = issue.keys.join(', ');
    return new ConfigError(base === '(top level)' ? keys : `${base}.${keys}`, 'unknown key (check the spelling)');
  }
  return new ConfigError(formatKey(issue.path), issue.message);
}

/** Defaults, then the schema, then cross-field rules; the first problem found is thrown. */
export function parseConfig(input: unknown): Config {
  const result = configSchema.safeParse(input ?? {});
  if (!result.success) {
    const first = result.error.issues[0];
    throw first ? issueToError(first) : new ConfigError('(top level)', 'invalid');
  }
  const first = crossFieldProblems(result.data)[0];
  if (first !== undefined) throw first;
  return result.data;
}

/**
 * Every cross-field problem of a config the schema accepted, in rule order (`hastack config
 * validate` shows them all). A rule that throws rather than reports ends the list with its error.
 */
export function crossFieldProblems(c: Config): ConfigError[] {
  const problems: ConfigError[] = [];
  try {
    checkCrossFieldRules(c, (e) => void problems.push(e));
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems.push(e);
  }
  return problems;
}

type Report = (e: ConfigError) => void;

const REQUIRED: readonly ServiceKind[] = ['mariadb', 'redis', 'app', 'lb'];

function checkCrossFieldRules(c: Config, report: Report): void {
  const fail = (key: string, reason: string): void => report(new ConfigError(key, reason));
  const names = new Map<string, number>();
  c.nodes.forEach((n, i) => {
    const prev = names.get(n.name);
    if (prev !== undefined) fail(`nodes[${i}].name`, `"${n.name}" is already the name of nodes[${prev}]`);
    names.set(n.name, i);
    if (n.address !== undefined) {
      if (c.substrate === 'local' && !n.address.startsWith('127.')) {
        fail(`nodes[${i}].address`, 'the local substrate needs a loopback address (127.x.y.z)');
      }
      if (c.substrate === 'netns' && !n.address.startsWith(`${c.netns.addressBase}.`)) {
        fail(`nodes[${i}].address`, `the netns substrate needs an address in ${c.netns.addressBase}.0/24 (netns.addressBase)`);
      }
      if (n.address === `${c.addressBase}.254` || n.address === `${c.netns.addressBase}.254`) {
        fail(`nodes[${i}].address`, `${n.address} is reserved for the supervisor's admin API`);
      }
    }
    if (c.substrate === 'hosts') {
      if (n.address === undefined) fail(`nodes[${i}].address`, 'is required with "substrate: hosts": the address the other machines reach this one at');
      if (n.ssh === undefined) fail(`nodes[${i}].ssh`, 'is required with "substrate: hosts": how deploy reaches the machine, like root@10.0.0.5');
    } else if (n.ssh !== undefined) {
      fail(`nodes[${i}].ssh`, `is only used with "substrate: hosts" (this file says "${c.substrate}")`);
    }
    const seen = new Set<string>();
    n.services.forEach((s, j) => {
      if (seen.has(s)) fail(`nodes[${i}].services[${j}]`, `"${s}" is listed twice on this node`);
      seen.add(s);
    });
  });
  if (c.nodes.length > 250) fail('nodes', 'at most 250 nodes fit in one address base');
  const count = (k: ServiceKind): number => c.nodes.filter((n) => (n.services as readonly ServiceKind[]).includes(k)).length;
  for (const k of REQUIRED) {
    if (count(k) === 0) fail('nodes', `no node carries "${k}"; the cluster needs at least one`);
  }
  const sentinels = count('sentinel');
  if (sentinels > 0 && c.redis.quorum > sentinels) {
    fail('redis.quorum', `is ${c.redis.quorum} but only ${sentinels} node(s) run a sentinel`);
  }
  if (c.database.mode === 'galera') {
    // Quorum is a majority of the nodes: with two, losing either one stops every write.
    if (count('mariadb') < 3) {
      fail(
        'database.mode',
        `galera needs at least 3 nodes carrying "mariadb" (found ${count('mariadb')}): with fewer, one lost node leaves no majority; add nodes or use "replication"`,
      );
    }
  }
  const delayed = c.database.delayedReplica;
  if (delayed !== undefined) {
    const node = c.nodes.find((n) => n.name === delayed.node);
    if (c.database.mode !== 'replication') fail('database.delayedReplica', 'needs database.mode replication (Galera nodes apply every write together)');
    else if (!node || !(node.services as readonly ServiceKind[]).includes('mariadb')) fail('database.delayedReplica.node', `"${delayed.node}" is no node carrying "mariadb"`);
    else if (c.nodes.indexOf(node) === c.nodes.findIndex((n) => (n.services as readonly ServiceKind[]).includes('mariadb')))
      fail('database.delayedReplica.node', `"${delayed.node}" is the first database node, the one that starts as the primary; name another`);
    else if (count('mariadb') < 3)
      fail('database.delayedReplica', 'needs at least 3 nodes carrying "mariadb": the delayed one is never promoted, so another replica must be there to fail over to');
  }
  // On hosts the archiver runs on the archive's machine (archiveNodeOf): it reads the binlog with
  // mariadb-binlog as the replication account, which only a database node has.
  if (c.substrate === 'hosts' && c.backup.binlogArchive && c.backup.target !== undefined) {
    const t = c.nodes.find((n) => n.name === c.backup.target);
    if (t && !(t.services as readonly ServiceKind[]).includes('mariadb'))
      fail(
        'backup.target',
        `on hosts the binlog archive is kept by backup.target's machine, which must carry "mariadb" ("${t.name}" does not); name a database node, and copy off the machines with backup.targets`,
      );
  }
  if (c.lb.vip !== undefined) {
    const vip = c.lb.vip;
    if (c.substrate === 'local' && !vip.startsWith('127.')) fail('lb.vip', 'the local substrate needs a spare loopback address (127.x.y.z)');
    const used = c.nodes.findIndex((n, i) => (n.address ?? nodeAddress(c.addressBase, i)) === vip);
    if (used >= 0) fail('lb.vip', `${vip} is the address of nodes[${used}]; the floating address must be a spare one`);
    if (vip === `${c.addressBase}.254`) fail('lb.vip', `${vip} is reserved for the supervisor's admin API`);
    if (count('lb') < 2) fail('lb.vip', 'a floating address needs at least two nodes carrying "lb" to float between');
  }
  checkVrrp(c, fail);
  checkAddressesAndPorts(c, fail);
  const tls = c.lb.tls;
  if (tls !== undefined) {
    if (c.substrate === 'hosts' && tls.certificates === undefined && tls.acme === undefined && tls.local !== true) {
      fail('lb.tls', 'on real hosts give "certificates" (PEM files) or "acme"; a certificate of the cluster\'s own CA ("local: true") is trusted by no browser');
    }
    const https = httpsPort(c);
    if (https === (c.ports.lb ?? DEFAULT_PORTS.lb)) fail('ports.https', `is ${https}, the load balancers' HTTP port; pick another`);
    if (https === c.lb.metricsPort) fail('ports.https', `is ${https}, the load balancers' admin port (lb.metricsPort); pick another`);
  }
  const acme = c.lb.tls?.acme;
  if (acme !== undefined) {
    // HTTP-01 reaches the load balancers through the names' A records: only the service name is
    // one the DNS tier serves (src/dns), so any other name could never validate.
    acme.names.forEach((n, i) => {
      if (n.toLowerCase() !== c.serviceName.toLowerCase()) {
        fail(
          `lb.tls.acme.names[${i}]`,
          `"${n}" is not a name the DNS tier serves (it answers "${c.serviceName}", the serviceName); HTTP-01 could never reach a load balancer for it`,
        );
      }
    });
    if (count('lb') === 0) fail('lb.tls.acme', 'needs at least one node carrying "lb" to answer the HTTP-01 challenges');
    if (count('mariadb') === 0) fail('lb.tls.acme', 'keeps its shared state in the database: add a node carrying "mariadb"');
  }
  if (c.lb.healthTimeoutMs >= c.lb.healthIntervalMs) {
    fail('lb.healthTimeoutMs', `must be below lb.healthIntervalMs (${c.lb.healthIntervalMs})`);
  }
  if (c.supervisor.restartBackoffMinMs > c.supervisor.restartBackoffMaxMs) {
    fail('supervisor.restartBackoffMinMs', 'must not exceed supervisor.restartBackoffMaxMs');
  }
  if (c.hosts.controller !== undefined && !c.nodes.some((n) => n.name === c.hosts.controller)) {
    fail('hosts.controller', `names no node of this cluster; nodes: ${c.nodes.map((n) => n.name).join(', ')}`);
  }
  if (c.app.command !== undefined && count('worker') > 0 && c.worker.command === undefined) {
    // The module worker runs a module app's jobs; a command app's jobs are its own worker's.
    fail('worker.command', `is required: app.command is set and ${count('worker')} node(s) carry "worker"; give the worker's command, or remove "worker" from those nodes`);
  }
  if (c.worker.command !== undefined && count('worker') === 0) {
    fail('worker.command', 'is set but no node carries "worker"; add "worker" to a node\'s services');
  }
  if (c.backup.target !== undefined && !c.nodes.some((n) => n.name === c.backup.target)) {
    fail('backup.target', `names no node of this cluster; nodes: ${c.nodes.map((n) => n.name).join(', ')}`);
  }
  (c.backup.targets ?? []).forEach((t, i) => {
    const node = typeof t === 'string' ? t : 'node' in t ? t.node : undefined;
    if (node !== undefined && !c.nodes.some((n) => n.name === node)) {
      throw new ConfigError(`backup.targets.${i}`, `names no node of this cluster; nodes: ${c.nodes.map((n) => n.name).join(', ')}`);
    }
    if (typeof t !== 'string' && 'dir' in t) {
      if (c.nodes.some((n) => n.name === t.name)) throw new ConfigError(`backup.targets.${i}.name`, `"${t.name}" is a node's name; a directory target needs a name of its own`);
      const names = (c.backup.targets ?? []).map((x) => (typeof x === 'string' ? x : 'node' in x ? x.node : x.name));
      if (names.indexOf(t.name) !== i) throw new ConfigError(`backup.targets.${i}.name`, `"${t.name}" names two targets; give each its own name`);
      const key = c.backup.keyFile;
      // An SSH target's dir is on another machine: the key file (on this one) cannot be inside it.
      if (!('ssh' in t) && key !== undefined && (key === t.dir || key.startsWith(`${t.dir.replace(/\/+$/, '')}/`))) {
        throw new ConfigError('backup.keyFile', `is inside the backup target ${t.name} (${t.dir}): whoever can read the backups would hold their key; keep it elsewhere`);
      }
    }
  });
}

export function parseConfigYaml(text: string): Config {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    const err = e as { message?: string; linePos?: Array<{ line: number; col: number }> };
    const pos = err.linePos?.[0];
    const where = pos ? `line ${pos.line}, column ${pos.col}` : '(file)';
    const reason = (err.message ?? String(e)).split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError(where, `not valid YAML: ${reason}`);
  }
  return parseConfig(doc);
}

export function renderConfigYaml(input: ConfigInput): string {
  const header = '# hastack cluster definition. Passwords are not kept here: `hastack up` generates them\n' + '# once into .hastack/<cluster>/secrets.json (mode 0600).\n';
  return header + YAML.stringify(input);
}

export const DEFAULT_CONFIG_FILE = 'hastack.yaml';

export function configDirOf(file: string): string {
  return path.dirname(path.resolve(file));
}

/**
 * `lb.vrrpVersion` and, on hosts, `lb.vipIntervalMs` as keepalived can say it: VRRPv2's
 * advert_int is whole seconds (1..255; keepalived would silently round anything else), VRRPv3's
 * centiseconds (0.01..40.95 s).
 */
function checkVrrp(c: Config, fail: (key: string, reason: string) => void): void {
  const version = c.lb.vrrpVersion;
  if (version !== undefined && c.substrate !== 'hosts') {
    return fail(
      'lb.vrrpVersion',
      `applies only to "substrate: hosts" (keepalived moves lb.vip there); on ${c.substrate} the load balancers' own heartbeat does, every lb.vipIntervalMs: remove it`,
    );
  }
  const ms = c.lb.vipIntervalMs;
  if (c.substrate !== 'hosts' || ms === undefined) return;
  if ((version ?? 2) === 2) {
    if (ms % 1000 !== 0 || ms > 255_000) {
      return fail(
        'lb.vipIntervalMs',
        `is ${ms}, but VRRPv2 advertises every whole second (1000 to 255000); for sub-second adverts set "lb.vrrpVersion: 3" (it has no authentication: see README "Floating address on hosts")`,
      );
    }
  } else if (ms % 10 !== 0 || ms > 40_950) {
    return fail('lb.vipIntervalMs', `is ${ms}, but VRRPv3 advertises in hundredths of a second: use a multiple of 10 from 50 to 40950`);
  }
}

/** Octets above 255 (the schema's pattern accepts any 1-3 digits). */
function badOctet(address: string): string | undefined {
  return address.split('.').find((o) => Number(o) > 255);
}

/**
 * What `up` and `deploy` would trip over later: an address that is no address, two nodes on one
 * address (given, or the one a node gets by its place), and two services of one node on one port,
 * the implicit ones included (the load balancers' admin and HTTPS ports, a command app's
 * readiness port).
 */
function checkAddressesAndPorts(c: Config, fail: (key: string, reason: string) => void): void {
  const octets: Array<[string, string | undefined]> = [
    ['addressBase', c.addressBase],
    ['netns.addressBase', c.netns.addressBase],
    ['lb.vip', c.lb.vip],
    ...c.nodes.map((n, i): [string, string | undefined] => [`nodes[${i}].address`, n.address]),
  ];
  let bad = false;
  for (const [key, a] of octets) {
    const o = a === undefined ? undefined : badOctet(a);
    if (o !== undefined) {
      bad = true;
      fail(key, `${a} is not an IPv4 address: ${o} is above 255`);
    }
  }
  if (bad || (c.substrate === 'hosts' && c.nodes.some((n) => n.address === undefined))) return;
  const base = c.substrate === 'netns' ? c.netns.addressBase : c.addressBase;
  const baseKey = c.substrate === 'netns' ? 'netns.addressBase' : 'addressBase';
  const seen = new Map<string, number>();
  c.nodes.forEach((n, i) => {
    const address = n.address ?? nodeAddress(base, i);
    const j = seen.get(address);
    if (j === undefined) {
      seen.set(address, i);
      return;
    }
    const other = c.nodes[j];
    // Point at an address the file gives: the later one if it does, else the earlier one.
    const key = n.address !== undefined ? `nodes[${i}].address` : `nodes[${j}].address`;
    const [given, placed] = n.address !== undefined ? [i, j] : [j, i];
    if (other?.address !== undefined && n.address !== undefined) fail(key, `${address} is already used by nodes[${j}]`);
    else fail(key, `${address} is already the address nodes[${placed}] gets by its place in the list (${baseKey}.${placed + 1}); give nodes[${given}] another one`);
  });
  const topo = resolveTopology(c, { stateRoot: '/', configDir: '/' });
  // One report per key: the same ports on every node that carries both say the same thing.
  const reported = new Set<string>();
  for (const node of topo.nodes) {
    // port → what listens there on this node, and the key that sets it
    const listeners: Array<{ port: number; what: string; key: string; given: boolean; owner: string }> = [];
    for (const s of topo.services.filter((x) => x.node === node.name)) {
      listeners.push({ port: s.port, what: s.kind, key: `ports.${s.kind}`, given: c.ports[s.kind] !== undefined, owner: s.kind });
      if (s.kind === 'lb' && c.lb.metricsPort > 0) listeners.push({ port: c.lb.metricsPort, what: "lb's admin port", key: 'lb.metricsPort', given: true, owner: 'lb' });
      if (s.kind === 'lb' && c.lb.tls !== undefined)
        listeners.push({ port: httpsPort(c), what: "lb's HTTPS port", key: 'ports.https', given: c.ports.https !== undefined, owner: 'lb' });
      if (s.kind === 'app' && c.app.command !== undefined) {
        const ready = c.app.readyPort ?? s.port + 1;
        listeners.push({ port: ready, what: "app's readiness port", key: 'app.readyPort', given: c.app.readyPort !== undefined, owner: 'app' });
      }
    }
    listeners.forEach((a, ai) => {
      listeners.slice(0, ai).forEach((b) => {
        // The load balancer's own ports against each other are the ports.https rules above.
        if (a.port !== b.port || (a.owner === 'lb' && b.owner === 'lb')) return;
        const [here, there] = a.given || !b.given ? [a, b] : [b, a];
        if (reported.has(here.key)) return;
        reported.add(here.key);
        const thereKey = there.given ? there.key : `${there.key}, by default`;
        fail(here.key, `${here.port} on node "${node.name}" (${node.address}) is also the port of its ${there.what} (${thereKey}); two services on one address need two ports`);
      });
    });
  }
}
