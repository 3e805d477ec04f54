import { SECRET_NAMES, type SecretName, type ServiceKind } from '../config/index.js';
import { SERVICES } from './kinds.js';

/**
 * Which secrets each kind of service reads (each descriptor's `secrets`), the one table behind
 * what a node carries. A node holds the union over its services (plus everything on the
 * controller's node, which runs failover, backups and status against every tier): a load
 * balancer or memcached node holds none, and only database nodes and the controller hold the
 * database admin password.
 */
export function secretsOf(kind: ServiceKind): readonly SecretName[] {
  return SERVICES[kind].secrets;
}

/** What a node running `kinds` (and, when `controller`, the controller and backups) must hold. Pure. */
export function secretNeeds(kinds: readonly ServiceKind[], roles: { controller?: boolean; backup?: boolean } = {}): SecretName[] {
  if (roles.controller === true) return [...SECRET_NAMES];
  const want = new Set<SecretName>(kinds.flatMap((k) => secretsOf(k)));
  // `hastack backup` on the backup node: mariabackup as root and a Redis BGSAVE on a replica.
  if (roles.backup === true) for (const k of ['dbRootPassword', 'redisPassword', 'sentinelPassword'] as const) want.add(k);
  return SECRET_NAMES.filter((k) => want.has(k));
}
