import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readSecrets, servicesOf, substrateTraits, type ServiceInstance, type Topology } from '../config/index.js';
import { adminConnection, askSentinelsForMaster, closeConnection, isWritable, mariadbPaths } from '../engines/index.js';
import { ConfigError, ErrorCode, HastackError } from '../shared/errors.js';
import { loadRunningTopology, type ConfigOptions } from './config-source.js';
import { requireRunning } from './running.js';

/** The [client] option file `mariadb --defaults-extra-file` reads: the password stays out of argv. */
export function mariadbClientOptions(socket: string, password: string): string {
  return `[client]\nuser=root\nsocket=${socket}\npassword=${password}\n`;
}

/** `db shell -- -e 'SELECT 1'`: commander hands the first argument after -- as NODE; an option is not a node. */
export function splitNode(node: string | undefined, rest: readonly string[]): [string | undefined, readonly string[]] {
  return node !== undefined && node.startsWith('-') ? [undefined, [node, ...rest]] : [node, rest];
}

function pick(topo: Topology, kind: 'mariadb' | 'redis', node: string | undefined): ServiceInstance[] {
  if (substrateTraits(topo.config).nodesAreMachines) {
    throw new ConfigError('substrate', `is "hosts": run the client on the node's machine (ssh to it, then mariadb / redis-cli as root)`);
  }
  const all = servicesOf(topo, kind);
  const chosen = node === undefined ? all : all.filter((s) => s.node === node);
  if (chosen.length === 0) {
    const where = all.map((s) => s.node).join(', ') || 'none';
    throw new HastackError(ErrorCode.USAGE, `no ${kind} service${node === undefined ? '' : ` on node "${node}"`} in cluster ${topo.cluster}; nodes with one: ${where}`);
  }
  return chosen;
}

/** `hastack db shell [NODE] [-- args]`: the mariadb client as root on the writable primary (default). */
export async function dbShell(nodeArg: string | undefined, rest: readonly string[], opts: ConfigOptions): Promise<void> {
  const [node, args] = splitNode(nodeArg, rest);
  const topo = loadRunningTopology(opts);
  // Usage first (a wrong node is 2 whatever the cluster's state), then a stopped cluster (1, with the start command).
  let svc = pick(topo, 'mariadb', node)[0] as ServiceInstance;
  requireRunning(topo, opts);
  const secrets = readSecrets(topo.stateDir);
  if (node === undefined) {
    for (const s of servicesOf(topo, 'mariadb')) {
      const c = await adminConnection({ topo, secrets, svc: s, asRoot: false }).catch(() => undefined);
      if (c === undefined) continue;
      const writable = await isWritable(c)
        .catch(() => false)
        .finally(() => closeConnection(c));
      if (writable) {
        svc = s;
        break;
      }
    }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-db-'));
  const file = path.join(dir, 'client.cnf');
  try {
    fs.writeFileSync(file, mariadbClientOptions(mariadbPaths(svc).socket, secrets.dbRootPassword), { mode: 0o600 });
    const r = spawnSync('mariadb', [`--defaults-extra-file=${file}`, ...args], { stdio: 'inherit' });
    process.exitCode = r.status ?? 1;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `hastack redis-cli [NODE] [-- args]`: redis-cli on the master Sentinel names (default), REDISCLI_AUTH carries the password. */
export async function redisCli(nodeArg: string | undefined, rest: readonly string[], opts: ConfigOptions): Promise<void> {
  const [node, args] = splitNode(nodeArg, rest);
  const topo = loadRunningTopology(opts);
  const svc = pick(topo, 'redis', node)[0] as ServiceInstance;
  requireRunning(topo, opts);
  const secrets = readSecrets(topo.stateDir);
  const addr = node === undefined ? ((await askSentinelsForMaster(topo, secrets)) ?? { host: svc.address, port: svc.port }) : { host: svc.address, port: svc.port };
  const r = spawnSync('redis-cli', ['-h', addr.host, '-p', String(addr.port), ...args], {
    stdio: 'inherit',
    env: { ...process.env, REDISCLI_AUTH: secrets.redisPassword },
  });
  process.exitCode = r.status ?? 1;
}
