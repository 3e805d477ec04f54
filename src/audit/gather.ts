import os from 'node:os';
import mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { substrateTraits, type Secrets, type ServiceInstance, type Topology } from '../config/index.js';
import { adminConnection, adminHosts, closeConnection, DB_USERS } from '../engines/index.js';
import { describeError } from '../shared/errors.js';
import type { DbAccount, ProcessFact, ListenFact } from './facts.js';
import { scanStateDir } from './files.js';
import { firstLine } from './probes.js';
import { listenersOf, uidOf, withDescendants } from './proc.js';
import type { AuditScope, StoreProbe } from './checks.js';

/** A refused login answers at once; 3 s means the server is not answering at all. */
const DB_CONNECT_TIMEOUT_MS = 3_000;

export function scopeOf(topo: Topology, controllerNode?: string): AuditScope {
  return {
    cluster: topo.cluster,
    substrate: topo.config.substrate,
    nodesAreMachines: substrateTraits(topo.config).nodesAreMachines,
    nodes: new Map(topo.nodes.map((n) => [n.name, n.address])),
    services: new Map(topo.services.map((s) => [s.id, s.node])),
    admin: topo.admin,
    ...(controllerNode !== undefined ? { controllerNode } : {}),
    ...(topo.services.some((s) => s.kind === 'mariadb') ? { dbAllowedHosts: adminHosts(topo), dbWildcardByDesign: [DB_USERS.app, DB_USERS.repl] } : {}),
  };
}

/** A query of mysql.user answers in milliseconds; 5 s means the server is stuck. */
const DB_ACCOUNTS_TIMEOUT_MS = 5_000;

/**
 * (g) `mysql.user` of the first of `dbs` that answers, as root over its socket (on hosts: the
 * host's own node) or the admin account: who may log in from where. Accounts replicate, so one
 * node tells the cluster's; a problem when none answers.
 */
export async function readDbAccounts(topo: Topology, secrets: Secrets, dbs: readonly ServiceInstance[]): Promise<{ accounts?: DbAccount[]; problem?: string }> {
  const errors: string[] = [];
  for (const svc of dbs) {
    try {
      const c = await adminConnection({ topo, secrets, svc, asRoot: os.userInfo().uid === 0 }, DB_ACCOUNTS_TIMEOUT_MS);
      try {
        const [rows] = await c.query<RowDataPacket[]>({ sql: 'SELECT User AS u, Host AS h FROM mysql.user', timeout: DB_ACCOUNTS_TIMEOUT_MS });
        return { accounts: rows.map((r) => ({ user: String(r['u']), host: String(r['h']) })) };
      } finally {
        await closeConnection(c);
      }
    } catch (e) {
      errors.push(`${svc.id}: ${describeError(e)}`);
    }
  }
  return dbs.length === 0 ? {} : { problem: `cannot read the database accounts (mysql.user): ${errors.join('; ')}` };
}

/** Listeners and uids of processes by owner (a service id, or `admin`), each with its descendants. */
export function processFacts(owners: ReadonlyMap<string, number>): { listens: ListenFact[]; processes: ProcessFact[] } {
  const listens: ListenFact[] = [];
  const processes: ProcessFact[] = [];
  for (const [owner, pid] of owners) {
    const uid = uidOf(pid);
    if (uid === undefined) continue;
    processes.push({ owner, pid, uid });
    for (const l of listenersOf(withDescendants(pid))) listens.push({ owner, pid: l.pid, address: l.address, port: l.port });
  }
  return { listens, processes };
}

/** Every value that must never sit in a world-readable file. */
export function secretValues(secrets: Secrets | Record<string, string>, adminToken?: string): string[] {
  return [...Object.values(secrets).filter((v): v is string => typeof v === 'string'), ...(adminToken !== undefined ? [adminToken] : [])];
}

export { scanStateDir };

async function mariadbOpen(host: string, port: number): Promise<boolean> {
  // root with no password, and a made-up name (an anonymous account matches any name).
  for (const user of ['root', 'hastack-audit-nobody']) {
    try {
      const c = await mysql.createConnection({ host, port, user, password: '', connectTimeout: DB_CONNECT_TIMEOUT_MS });
      await c.end().catch(() => undefined);
      return true;
    } catch {
      // refused: what we want
    }
  }
  return false;
}

/** (f) What each store (or those of `only`) answers this machine without credentials. */
export async function probeStores(topo: Topology, only?: (s: ServiceInstance) => boolean): Promise<StoreProbe[]> {
  return Promise.all(
    topo.services
      .filter((s) => s.kind === 'redis' || s.kind === 'sentinel' || s.kind === 'mariadb' || s.kind === 'memcached')
      .filter((s) => only === undefined || only(s))
      .map(async (s): Promise<StoreProbe> => {
        const kind = s.kind as StoreProbe['kind'];
        if (kind === 'mariadb') return { service: s.id, kind, answer: (await mariadbOpen(s.address, s.port)) ? 'login ok' : undefined };
        const answer = await firstLine(s.address, s.port, kind === 'memcached' ? 'version\r\n' : 'PING\r\n');
        return { service: s.id, kind, answer };
      }),
  );
}

/** Whether this machine carries one of the nodes' addresses (then memcached may answer it). */
export function thisMachineIsNode(topo: Topology): boolean {
  const mine = new Set(Object.values(os.networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address)));
  return topo.nodes.some((n) => mine.has(n.address));
}
