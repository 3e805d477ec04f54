import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { ZodIssue } from 'zod';
import { ConfigError, ErrorCode, HastackError } from '../shared/errors.js';
import { configSchema, DEFAULT_PORTS, httpsPort, type Config, type ConfigInput, type ServiceKind } from './schema.js';
import { nodeAddress } from './topology.js';

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
  checkCrossFieldRules(result.data);
  return result.data;
}

const REQUIRED: readonly ServiceKind[] = ['mariadb', 'redis', 'app', 'lb'];

function checkCrossFieldRules(c: Config): void {
  const names = new Map<string, number>();
  const addresses = new Map<string, number>();
  c.nodes.forEach((n, i) => {
    const prev = names.get(n.name);
    if (prev !== undefined) throw new ConfigError(`nodes[${i}].name`, `"${n.name}" is already the name of nodes[${prev}]`);
    names.set(n.name, i);
    if (n.address !== undefined) {
      if (c.substrate === 'local' && !n.address.startsWith('127.')) {
        throw new ConfigError(`nodes[${i}].address`, 'the local substrate needs a loopback address (127.x.y.z)');
      }
      if (c.substrate === 'netns' && !n.address.startsWith(`${c.netns.addressBase}.`)) {
        throw new ConfigError(`nodes[${i}].address`, `the netns substrate needs an address in ${c.netns.addressBase}.0/24 (netns.addressBase)`);
      }
      if (n.address === `${c.addressBase}.254` || n.address === `${c.netns.addressBase}.254`) {
        throw new ConfigError(`nodes[${i}].address`, `${n.address} is reserved for the supervisor's admin API`);
      }
      const other = addresses.get(n.address);
      if (other !== undefined) throw new ConfigError(`nodes[${i}].address`, `${n.address} is already used by nodes[${other}]`);
      addresses.set(n.address, i);
    }
    if (c.substrate === 'hosts') {
      if (n.address === undefined) throw new ConfigError(`nodes[${i}].address`, 'is required with "substrate: hosts": the address the other machines reach this one at');
      if (n.ssh === undefined) throw new ConfigError(`nodes[${i}].ssh`, 'is required with "substrate: hosts": how deploy reaches the machine, like root@10.0.0.5');
    } else if (n.ssh !== undefined) {
      throw new ConfigError(`nodes[${i}].ssh`, `is only used with "substrate: hosts" (this file says "${c.substrate}")`);
    }
    const seen = new Set<string>();
    n.services.forEach((s, j) => {
      if (seen.has(s)) throw new ConfigError(`nodes[${i}].services[${j}]`, `"${s}" is listed twice on this node`);
      seen.add(s);
    });
  });
  if (c.nodes.length > 250) throw new ConfigError('nodes', 'at most 250 nodes fit in one address base');
  const count = (k: ServiceKind): number => c.nodes.filter((n) => (n.services as readonly ServiceKind[]).includes(k)).length;
  for (const k of REQUIRED) {
    if (count(k) === 0) throw new ConfigError('nodes', `no node carries "${k}"; the cluster needs at least one`);
  }
  const sentinels = count('sentinel');
  if (sentinels > 0 && c.redis.quorum > sentinels) {
    throw new ConfigError('redis.quorum', `is ${c.redis.quorum} but only ${sentinels} node(s) run a sentinel`);
  }
  if (c.database.mode === 'galera') {
    // Quorum is a majority of the nodes: with two, losing either one stops every write.
    if (count('mariadb') < 3) {
      throw new ConfigError(
        'database.mode',
        `galera needs at least 3 nodes carrying "mariadb" (found ${count('mariadb')}): with fewer, one lost node leaves no majority; add nodes or use "replication"`,
      );
    }
  }
  if (c.lb.vip !== undefined) {
    const vip = c.lb.vip;
    if (c.substrate === 'local' && !vip.startsWith('127.')) throw new ConfigError('lb.vip', 'the local substrate needs a spare loopback address (127.x.y.z)');
    const used = c.nodes.findIndex((n, i) => (n.address ?? nodeAddress(c.addressBase, i)) === vip);
    if (used >= 0) throw new ConfigError('lb.vip', `${vip} is the address of nodes[${used}]; the floating address must be a spare one`);
    if (vip === `${c.addressBase}.254`) throw new ConfigError('lb.vip', `${vip} is reserved for the supervisor's admin API`);
    if (count('lb') < 2) throw new ConfigError('lb.vip', 'a floating address needs at least two nodes carrying "lb" to float between');
  }
  checkVrrp(c);
  const tls = c.lb.tls;
  if (tls !== undefined) {
    if (c.substrate === 'hosts' && tls.certificates === undefined && tls.acme === undefined && tls.local !== true) {
      throw new ConfigError('lb.tls', 'on real hosts give "certificates" (PEM files) or "acme"; a certificate of the cluster\'s own CA ("local: true") is trusted by no browser');
    }
    const https = httpsPort(c);
    if (https === (c.ports.lb ?? DEFAULT_PORTS.lb)) throw new ConfigError('ports.https', `is ${https}, the load balancers' HTTP port; pick another`);
    if (https === c.lb.metricsPort) throw new ConfigError('ports.https', `is ${https}, the load balancers' admin port (lb.metricsPort); pick another`);
  }
  const acme = c.lb.tls?.acme;
  if (acme !== undefined) {
    // HTTP-01 reaches the load balancers through the names' A records: only the service name is
    // one the DNS tier serves (src/dns), so any other name could never validate.
    acme.names.forEach((n, i) => {
      if (n.toLowerCase() !== c.serviceName.toLowerCase()) {
        throw new ConfigError(
          `lb.tls.acme.names[${i}]`,
          `"${n}" is not a name the DNS tier serves (it answers "${c.serviceName}", the serviceName); HTTP-01 could never reach a load balancer for it`,
        );
      }
    });
    if (count('lb') === 0) throw new ConfigError('lb.tls.acme', 'needs at least one node carrying "lb" to answer the HTTP-01 challenges');
    if (count('mariadb') === 0) throw new ConfigError('lb.tls.acme', 'keeps its shared state in the database: add a node carrying "mariadb"');
  }
  if (c.lb.healthTimeoutMs >= c.lb.healthIntervalMs) {
    throw new ConfigError('lb.healthTimeoutMs', `must be below lb.healthIntervalMs (${c.lb.healthIntervalMs})`);
  }
  if (c.supervisor.restartBackoffMinMs > c.supervisor.restartBackoffMaxMs) {
    throw new ConfigError('supervisor.restartBackoffMinMs', 'must not exceed supervisor.restartBackoffMaxMs');
  }
  if (c.hosts.controller !== undefined && !c.nodes.some((n) => n.name === c.hosts.controller)) {
    throw new ConfigError('hosts.controller', `names no node of this cluster; nodes: ${c.nodes.map((n) => n.name).join(', ')}`);
  }
  if (c.app.command !== undefined && count('worker') > 0 && c.worker.command === undefined) {
    // The module worker runs a module app's jobs; a command app's jobs are its own worker's.
    throw new ConfigError(
      'worker.command',
      `is required: app.command is set and ${count('worker')} node(s) carry "worker"; give the worker's command, or remove "worker" from those nodes`,
    );
  }
  if (c.worker.command !== undefined && count('worker') === 0) {
    throw new ConfigError('worker.command', 'is set but no node carries "worker"; add "worker" to a node\'s services');
  }
  if (c.backup.target !== undefined && !c.nodes.some((n) => n.name === c.backup.target)) {
    throw new ConfigError('backup.target', `names no node of this cluster; nodes: ${c.nodes.map((n) => n.name).join(', ')}`);
  }
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

export function loadConfigFile(file: string): Config {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new HastackError(ErrorCode.CONFIG_NOT_FOUND, `cannot read ${file}; run "hastack init" to write one`);
  }
  return parseConfigYaml(text);
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
function checkVrrp(c: Config): void {
  const version = c.lb.vrrpVersion;
  if (version !== undefined && c.substrate !== 'hosts') {
    throw new ConfigError(
      'lb.vrrpVersion',
      `applies only to "substrate: hosts" (keepalived moves lb.vip there); on ${c.substrate} the load balancers' own heartbeat does, every lb.vipIntervalMs: remove it`,
    );
  }
  const ms = c.lb.vipIntervalMs;
  if (c.substrate !== 'hosts' || ms === undefined) return;
  if ((version ?? 2) === 2) {
    if (ms % 1000 !== 0 || ms > 255_000) {
      throw new ConfigError(
        'lb.vipIntervalMs',
        `is ${ms}, but VRRPv2 advertises every whole second (1000 to 255000); for sub-second adverts set "lb.vrrpVersion: 3" (it has no authentication: see README "Floating address on hosts")`,
      );
    }
  } else if (ms % 10 !== 0 || ms > 40_950) {
    throw new ConfigError('lb.vipIntervalMs', `is ${ms}, but VRRPv3 advertises in hundredths of a second: use a multiple of 10 from 50 to 40950`);
  }
}
