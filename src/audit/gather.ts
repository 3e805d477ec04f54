import os from 'node:os';
import mysql from 'mysql2/promise';
import { substrateTraits, type Secrets, type Topology } from '../config/index.js';
import type { ProcessFact, ListenFact } from './facts.js';
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
  };
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

/** (f) What each store answers this machine without credentials. */
export async function probeStores(topo: Topology): Promise<StoreProbe[]> {
  return Promise.all(
    topo.services
      .filter((s) => s.kind === 'redis' || s.kind === 'sentinel' || s.kind === 'mariadb' || s.kind === 'memcached')
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
