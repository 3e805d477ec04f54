import type { ClusterEvent } from '../../shared/events.js';
import type { ServiceStatus } from '../status.js';

/** Roles worth a line on the timeline when they move: who is primary or master. */
const ROLE_KINDS = new Set(['mariadb', 'redis']);
/** Roles a probe reports for a healthy data node; anything else (`redis`, `mariadb`) is "unknown". */
const KNOWN_ROLES = new Set(['primary', 'replica', 'master']);

/**
 * What changed between two status snapshots that the event log does not say: a Redis master
 * moved by Sentinel, a database promoted, a service that turned unhealthy or healthy again
 * (a frozen node logs nothing). Pure; `ts` is the time of the newer snapshot.
 */
export function observedChanges(prev: readonly ServiceStatus[], cur: readonly ServiceStatus[], ts: string): ClusterEvent[] {
  const before = new Map(prev.map((s) => [`${s.node}/${s.service}`, s]));
  const out: ClusterEvent[] = [];
  for (const s of cur) {
    const id = `${s.node}/${s.service}`;
    const p = before.get(id);
    if (!p) continue;
    if (p.healthy !== s.healthy) {
      out.push({
        ts,
        type: 'health.changed',
        message: s.healthy ? `${id} is healthy again (${s.role})` : `${id} turned unhealthy: ${s.detail ?? 'no detail'}`,
        node: s.node,
        service: s.service,
        data: { healthy: s.healthy },
      });
    }
    if (ROLE_KINDS.has(s.service) && KNOWN_ROLES.has(s.role) && KNOWN_ROLES.has(p.role) && p.role !== s.role) {
      out.push({ ts, type: 'role.changed', message: `${id} is now ${s.role} (was ${p.role})`, node: s.node, service: s.service, data: { from: p.role, to: s.role } });
    }
  }
  return out;
}
